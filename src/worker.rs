//! Apply workers: drain the inbox. Each pass claims a batch of due events
//! (`FOR UPDATE SKIP LOCKED`, so several workers and several daemons share
//! one inbox without applying an event twice), locks the objects it touches
//! in one global order (advisory locks, so concurrent batches queue instead
//! of deadlocking), writes the batch's upserts of
//! each kind with one statement, applies the other events one by one, and
//! commits once: a burst costs a few statements and one commit per batch.
//! If anything fails, the batch is redone with a savepoint per event, so a
//! failing event is rolled back alone and retried later with backoff (parked
//! as `failed` after `max_attempts`) while the rest is applied.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::apply::{apply, InboxEvent, Outcome};
use crate::config::ApplyConfig;
use crate::event::Kind;
use crate::inbox;
use crate::metrics::Metrics;
use crate::mirror::Mirror;

/// Pause after a pass that found fewer events than a batch.
const LINGER: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub struct Worker {
    pub pool: PgPool,
    pub mirror: Mirror,
    pub config: ApplyConfig,
    pub metrics: Metrics,
    pub wake: Arc<Notify>,
    /// Beaten once per loop; the systemd watchdog checks it.
    pub heartbeat: crate::service::Heartbeat,
}

impl Worker {
    /// Runs until `shutdown`; a pass in progress is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            self.heartbeat.beat();
            let idle = match self.pass().await {
                Ok(0) => Duration::from_millis(500),
                Ok(n) if n as i64 >= self.config.batch_size => continue,
                // The inbox is drained: let the next batch gather for a moment
                // (one pass per few events costs Postgres several times more).
                Ok(_) => LINGER,
                Err(e) => {
                    tracing::warn!(error = %e, "apply pass failed; retrying");
                    Duration::from_secs(1)
                }
            };
            // Woken by a new webhook; the timeout catches events stored by
            // other replicas and retries coming due.
            tokio::select! {
                _ = self.wake.notified(), if idle != LINGER => {}
                _ = tokio::time::sleep(idle) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// One pass: claim a batch, apply it, commit. Events are applied without
    /// savepoints first (the common case: nothing fails); if one fails, the
    /// batch is rolled back and redone with a savepoint per event, so only
    /// the failing one is retried. Returns how many events it handled.
    pub async fn pass(&self) -> Result<usize, sqlx::Error> {
        let started = std::time::Instant::now();
        let n = self.pass_batched().await?;
        if n > 0 {
            let elapsed = started.elapsed();
            self.metrics.apply_batch(elapsed.as_secs_f64());
            tracing::debug!(events = n, elapsed_ms = elapsed.as_millis() as u64, "applied a batch");
        }
        Ok(n)
    }

    async fn pass_batched(&self) -> Result<usize, sqlx::Error> {
        let mut tx = crate::db::begin_replayable(&self.pool).await?;
        let events = inbox::claim(&mut tx, self.config.batch_size).await?;
        if events.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        lock_objects(&mut tx, &events).await?;
        // Upserts of one kind are written together; the rest one by one after.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; events.len()];
        let mut groups: std::collections::HashMap<Kind, Vec<usize>> = std::collections::HashMap::new();
        let mut batched = Vec::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            let b = crate::apply::batchable(ev);
            if let Some((kind, _)) = &b {
                groups.entry(*kind).or_default().push(i);
            }
            batched.push(b);
        }
        // Kinds in a fixed order (and rows in id order, in `mirror`): workers
        // sharing the tables take row locks in one order, not deadlock.
        for (kind, idxs) in Kind::ALL.iter().filter_map(|k| groups.get_key_value(k)) {
            let items: Vec<_> =
                idxs.iter().filter_map(|&i| batched[i].as_ref().map(|(_, item)| (&events[i], item))).collect();
            match crate::apply::apply_upserts(&mut tx, &self.mirror, *kind, &items).await {
                Ok(list) => {
                    for (&i, outcome) in idxs.iter().zip(list) {
                        outcomes[i] = outcome;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "batch write failed; redoing the batch one by one");
                    tx.rollback().await?;
                    return self.pass_one_by_one().await;
                }
            }
        }
        for (i, ev) in events.iter().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            match apply(&mut tx, &self.mirror, ev).await {
                Ok(outcome) => outcomes[i] = Some(outcome),
                Err(e) => {
                    tracing::debug!(event = %ev.id, error = %e, "batch has a failing event; redoing it one by one");
                    tx.rollback().await?;
                    return self.pass_one_by_one().await;
                }
            }
        }
        let done: Vec<(&str, Outcome)> =
            events.iter().zip(&outcomes).filter_map(|(ev, o)| o.map(|o| (ev.id.as_str(), o))).collect();
        inbox::finish(&mut tx, &done).await?;
        tx.commit().await?;
        for (ev, outcome) in events.iter().zip(&outcomes) {
            if let Some(o) = outcome {
                self.record(ev, *o);
            }
        }
        Ok(events.len())
    }

    async fn pass_one_by_one(&self) -> Result<usize, sqlx::Error> {
        let mut tx = crate::db::begin_replayable(&self.pool).await?;
        let events = inbox::claim(&mut tx, self.config.batch_size).await?;
        lock_objects(&mut tx, &events).await?;
        let mut done = Vec::with_capacity(events.len());
        for ev in &events {
            sqlx::query("SAVEPOINT apply_one").execute(&mut *tx).await?;
            match apply(&mut tx, &self.mirror, ev).await {
                Ok(outcome) => {
                    sqlx::query("RELEASE SAVEPOINT apply_one").execute(&mut *tx).await?;
                    done.push((ev, outcome));
                }
                Err(e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT apply_one").execute(&mut *tx).await?;
                    let error = e.to_string();
                    let parked =
                        inbox::fail(&mut tx, &ev.id, &error, self.config.max_attempts, self.config.retry_base_ms)
                            .await?;
                    self.metrics.event_processed(if parked { "failed" } else { "retry" }, &ev.event_type);
                    tracing::warn!(event = %ev.id, r#type = %ev.event_type, parked, error = %error, "event apply failed");
                }
            }
        }
        let finished: Vec<(&str, Outcome)> = done.iter().map(|(ev, o)| (ev.id.as_str(), *o)).collect();
        inbox::finish(&mut tx, &finished).await?;
        tx.commit().await?;
        for (ev, outcome) in done {
            self.record(ev, outcome);
        }
        Ok(events.len())
    }

    fn record(&self, ev: &InboxEvent, outcome: Outcome) {
        self.metrics.event_processed(outcome.status(), &ev.event_type);
        tracing::debug!(event = %ev.id, r#type = %ev.event_type, outcome = outcome.status(), detail = outcome.detail(), "event processed");
    }
}

/// Advisory-lock namespace of the objects being applied (the two-key form;
/// `sync`'s run lock uses the one-key form, a separate key space).
const OBJECT_LOCKS: i32 = 0x534d_4f42; // "SMOB"

/// Locks every object the batch touches (the event's object: a parent with
/// its children, or a price with its plan twin), in one global order, before
/// any row is written. Workers and replicas whose batches share objects then
/// queue in that order instead of locking rows in batch order and
/// deadlocking: the chaos suite's lossy scenarios lost 1 s to
/// `deadlock_timeout` per cycle, dozens per run, and retried the victims.
async fn lock_objects(tx: &mut sqlx::PgConnection, events: &[InboxEvent]) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = events.iter().filter_map(|e| e.object_id.as_deref()).collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock($1, h)
         FROM (SELECT DISTINCT hashtext(id) AS h FROM UNNEST($2::text[]) AS id ORDER BY h) AS keys",
    )
    .bind(OBJECT_LOCKS)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
