//! Retention: `stripe-mirror prune`, and the daily pass inside `serve`.
//!
//! One pass ([`prune`]) redacts deleted customers' data when
//! `[privacy] redact_deleted_customers` is on (see [`crate::ops::privacy`]),
//! deletes inbox events `applied`, `ignored` or `stale` whose Stripe
//! `created` is older than `retention.events_days` (`pending` and `failed`
//! are kept whatever their age), and prunes the change feed by the same age.
//! Deletes go in batches of [`BATCH`] rows, one transaction each, with a
//! short pause between them, so neither the apply workers nor the readers
//! wait on a long transaction (a writing transaction left open would also
//! hold the change feed back).
//!
//! The pass runs under an advisory lock, so with several replicas one does
//! it, and is recorded in `stripe_mirror.runs` (kind `prune`), where `status`
//! shows it and where [`daily`] reads when the last one succeeded.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::{PrivacyConfig, RetentionConfig};
use crate::storage::store::Store;

/// Rows deleted per statement.
pub const BATCH: i64 = 10_000;
/// Between batches: lets the apply workers and the WAL writer breathe.
const PAUSE: Duration = Duration::from_millis(50);
/// Advisory lock key (one-key form): one prune at a time per database.
pub const LOCK_KEY: i64 = 0x534d_5052_554e_4521; // "SMPRUNE!"
/// How often `serve` prunes, counted from the last successful pass.
pub const EVERY: Duration = Duration::from_secs(24 * 3600);
/// `serve`'s first pass waits this long after start: a daemon restarted in
/// a loop does not prune in a loop, and startup stays quick.
pub const AFTER_START: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub events_deleted: u64,
    pub changes_deleted: u64,
    pub customers_redacted: u64,
    pub events_redacted: u64,
    /// The feed's new horizon: `changes_after` refuses positions below it.
    /// (Not a count: left out of the run's counts, which `status` sums.)
    #[serde(skip)]
    pub changes_pruned_through: i64,
    /// False when another replica held the lock and this pass did nothing.
    #[serde(skip)]
    pub ran: bool,
}

/// One pass now (`stripe-mirror prune`): stores the privacy setting, then
/// prunes under the lock. Returns `ran: false` if another replica is at it.
pub async fn prune(
    pool: &PgPool,
    store: &Store,
    retention: &RetentionConfig,
    privacy: &PrivacyConfig,
) -> Result<Pruned, PruneError> {
    crate::ops::privacy::store_setting(pool, privacy.redact_deleted_customers).await?;
    let Some(lock) = crate::pull::sync::RunLock::try_acquire_key(pool, LOCK_KEY).await? else {
        tracing::info!("another replica is pruning; skipping");
        return Ok(Pruned::default());
    };
    let run = run_started(pool).await?;
    let result = pass(pool, store, retention).await;
    let (counts, error) = match &result {
        Ok(p) => (serde_json::json!({ "prune": p }), None),
        Err(e) => (serde_json::json!({}), Some(e.to_string())),
    };
    crate::pull::sync::run_finished(pool, run, &counts, error.as_deref()).await?;
    lock.release().await?;
    result
}

async fn pass(pool: &PgPool, store: &Store, retention: &RetentionConfig) -> Result<Pruned, PruneError> {
    let redacted = crate::ops::privacy::redact(pool, store).await?;
    let cutoff = chrono::Utc::now().timestamp() - i64::from(retention.events_days) * 86_400;
    let events_deleted = delete_events(pool, cutoff).await?;
    let (changes_deleted, changes_pruned_through) = delete_changes(pool, cutoff).await?;
    let out = Pruned {
        events_deleted,
        changes_deleted,
        customers_redacted: redacted.customers,
        events_redacted: redacted.events,
        changes_pruned_through,
        ran: true,
    };
    tracing::info!(
        events_deleted,
        changes_deleted,
        customers_redacted = redacted.customers,
        events_redacted = redacted.events,
        events_days = retention.events_days,
        "pruned"
    );
    Ok(out)
}

/// Deletes finished inbox events created before `cutoff` (Unix seconds), a
/// batch per statement: the batch's upper bound is read first (the
/// `created` of the [`BATCH`]th oldest deletable event), then everything
/// below it goes in one range delete. Both walk `events_created_idx`; a
/// `DELETE … WHERE id IN (SELECT … LIMIT $n)` instead gets a generic plan
/// that joins the batch to a scan of the whole inbox.
async fn delete_events(pool: &PgPool, cutoff: i64) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let upto: Option<i64> = sqlx::query_scalar(
            "SELECT created FROM stripe_mirror.events
             WHERE created < $1 AND status IN ('applied', 'ignored', 'stale')
             ORDER BY created OFFSET $2 LIMIT 1",
        )
        .bind(cutoff)
        .bind(BATCH - 1)
        .fetch_optional(pool)
        .await?;
        // Events of the bound's own second go with this batch.
        let below = upto.map_or(cutoff, |c| (c + 1).min(cutoff));
        total += sqlx::query(
            "DELETE FROM stripe_mirror.events WHERE created < $1 AND status IN ('applied', 'ignored', 'stale')",
        )
        .bind(below)
        .execute(pool)
        .await?
        .rows_affected();
        if upto.is_none() || below == cutoff {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Prunes the change feed: every change below the first one (in position
/// order) written at or after `cutoff`. Cutting at a position rather than
/// deleting every old row leaves no hole a reader could stand in: positions
/// follow xids, which are not strictly in time order. Never beyond what
/// readers can see yet. Batches as for the inbox (bound first, then a range
/// delete on the primary key); each moves the horizon in the same
/// statement, so a reader sees the rows or the horizon that says they are
/// gone. Returns (changes deleted, the horizon).
async fn delete_changes(pool: &PgPool, cutoff: i64) -> Result<(u64, i64), sqlx::Error> {
    let bound: i64 = sqlx::query_scalar(
        "SELECT least(
           (SELECT position FROM stripe_mirror.changes WHERE changed_at >= to_timestamp($1)
            ORDER BY position LIMIT 1),
           stripe_mirror.changes_limit())",
    )
    .bind(cutoff as f64)
    .fetch_one(pool)
    .await?;
    let mut total = 0;
    loop {
        let upto: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM stripe_mirror.changes WHERE position < $1 ORDER BY position OFFSET $2 LIMIT 1",
        )
        .bind(bound)
        .bind(BATCH - 1)
        .fetch_optional(pool)
        .await?;
        let below = upto.map_or(bound, |p| p + 1);
        let n: i64 = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM stripe_mirror.changes WHERE position < $1 RETURNING position),
             moved AS (
               UPDATE stripe_mirror.changes_horizon
               SET pruned_through = greatest(pruned_through, (SELECT max(position) FROM gone))
               WHERE EXISTS (SELECT 1 FROM gone))
             SELECT count(*) FROM gone",
        )
        .bind(below)
        .fetch_one(pool)
        .await?;
        total += n as u64;
        if upto.is_none() {
            break;
        }
        tokio::time::sleep(PAUSE).await;
    }
    let horizon =
        sqlx::query_scalar("SELECT pruned_through FROM stripe_mirror.changes_horizon").fetch_one(pool).await?;
    Ok((total, horizon))
}

/// Records the pass in `stripe_mirror.runs`. A `prune` still `running` was
/// abandoned (we hold the lock): it is marked `interrupted` first. Runs of
/// other kinds are not ours to mark.
async fn run_started(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_mirror.runs SET status = 'interrupted', finished_at = now(),
                error = 'the process stopped before the run finished'
         WHERE kind = 'prune' AND status = 'running'",
    )
    .execute(pool)
    .await?;
    sqlx::query_scalar("INSERT INTO stripe_mirror.runs (kind) VALUES ('prune') RETURNING id").fetch_one(pool).await
}

/// When the next pass is due: [`EVERY`] after the last successful one, and
/// not before [`AFTER_START`] has passed since `started` (Unix seconds).
pub fn next_due(last_success: Option<i64>, started: i64) -> i64 {
    let earliest = started + AFTER_START.as_secs() as i64;
    last_success.map_or(earliest, |l| (l + EVERY.as_secs() as i64).max(earliest))
}

async fn last_success(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM max(started_at))::int8 FROM stripe_mirror.runs
         WHERE kind = 'prune' AND status = 'succeeded'",
    )
    .fetch_one(pool)
    .await
}

/// `serve`'s retention loop: a pass when due (see [`next_due`]; the last
/// success is read from the database, so replicas and restarts share one
/// schedule), until `shutdown`. Every sleep, and the pass itself, ends at
/// shutdown (a batch in flight is rolled back; the next pass redoes it). A
/// failed pass is logged and tried again an hour later.
pub async fn daily(
    pool: PgPool,
    store: std::sync::Arc<Store>,
    retention: RetentionConfig,
    privacy: PrivacyConfig,
    shutdown: CancellationToken,
) {
    let started = chrono::Utc::now().timestamp();
    let mut retry_at: Option<i64> = None;
    loop {
        let due = match last_success(&pool).await {
            Ok(last) => next_due(last, started).max(retry_at.unwrap_or(i64::MIN)),
            Err(e) => {
                tracing::warn!(error = %e, "retention: cannot read the last prune; trying again in an hour");
                chrono::Utc::now().timestamp() + 3600
            }
        };
        let wait = (due - chrono::Utc::now().timestamp()).max(0) as u64;
        // Re-read at least hourly: another replica may have pruned meanwhile.
        let wait = Duration::from_secs(wait.min(3600));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        if chrono::Utc::now().timestamp() < due {
            continue;
        }
        let result = tokio::select! {
            r = prune(&pool, &store, &retention, &privacy) => r,
            _ = shutdown.cancelled() => return,
        };
        let now = chrono::Utc::now().timestamp();
        retry_at = match result {
            Ok(p) if p.ran => None,
            // Another replica held the lock: its success shows soon.
            Ok(_) => Some(now + 600),
            Err(e) => {
                tracing::error!(error = %e, "prune failed; trying again in an hour");
                Some(now + 3600)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_pass_waits_after_start_and_then_comes_daily() {
        let start = 1_000_000;
        let grace = AFTER_START.as_secs() as i64;
        let day = EVERY.as_secs() as i64;
        assert_eq!(next_due(None, start), start + grace);
        // Pruned long ago: due, but not before the grace after start.
        assert_eq!(next_due(Some(start - 3 * day), start), start + grace);
        // Pruned an hour before start (another replica): a day after that.
        assert_eq!(next_due(Some(start - 3600), start), start - 3600 + day);
    }
}
