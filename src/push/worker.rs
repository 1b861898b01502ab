//! Apply workers: drain the inbox. Each pass claims a batch of due events
//! (`FOR UPDATE SKIP LOCKED`, so several workers and several daemons share
//! one inbox without applying an event twice), locks the objects it touches
//! in one global order (advisory locks, so concurrent batches queue instead
//! of deadlocking), writes the batch's upserts of each kind with one
//! statement, applies the other events one by one, and commits once: a burst
//! costs a few statements and one commit per batch.
//!
//! A worker never waits on Stripe: events that need an API answer are left
//! pending under a lease and handed to the [`Resolver`] after the commit.
//! If anything fails, the batch is redone with a savepoint per event, so a
//! failing event is rolled back alone and retried later with backoff (parked
//! as `failed` after `max_attempts`) while the rest is applied.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::ApplyConfig;
use crate::ops::metrics::Metrics;
use crate::push::apply::{apply_batch, apply_one, triage, Applied, InboxEvent, Outcome, Step};
use crate::push::resolver::{Job, Resolver, LEASE_SECS};
use crate::storage::identity::SharedScope;
use crate::storage::inbox;
use crate::storage::mirror::Mirror;
use crate::storage::store::Store;

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
    pub heartbeat: crate::ops::service::Heartbeat,
    /// The mode, account and API version events must belong to.
    pub scope: SharedScope,
    /// Settles, after the commit, the events that need the API.
    pub resolver: Resolver,
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
        let mut tx = crate::storage::db::begin_replayable(&self.pool).await?;
        let events = inbox::claim(&mut tx, self.config.batch_size).await?;
        if events.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        lock_objects(&mut tx, &events).await?;
        let scope = self.scope.get();
        let steps: Vec<Step> = events.iter().map(|ev| triage(ev, &scope, self.mirror.types)).collect();
        let (evs, sts): (Vec<&InboxEvent>, Vec<&Step>) = events.iter().zip(&steps).unzip();
        let results = match apply_batch(&mut tx, &self.mirror, &evs, &sts).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "batch write failed; redoing the batch one by one");
                tx.rollback().await?;
                return self.pass_one_by_one().await;
            }
        };
        let settled: Vec<(&InboxEvent, &Step, Applied)> =
            events.iter().zip(&steps).zip(results).map(|((ev, st), r)| (ev, st, r)).collect();
        self.conclude(tx, &settled).await?;
        Ok(events.len())
    }

    async fn pass_one_by_one(&self) -> Result<usize, sqlx::Error> {
        let mut tx = crate::storage::db::begin_replayable(&self.pool).await?;
        let events = inbox::claim(&mut tx, self.config.batch_size).await?;
        lock_objects(&mut tx, &events).await?;
        let scope = self.scope.get();
        let mut settled = Vec::with_capacity(events.len());
        let steps: Vec<Step> = events.iter().map(|ev| triage(ev, &scope, self.mirror.types)).collect();
        for (ev, step) in events.iter().zip(&steps) {
            sqlx::query("SAVEPOINT apply_one").execute(&mut *tx).await?;
            match apply_one(&mut tx, &self.mirror, ev, step).await {
                Ok(r) => {
                    sqlx::query("RELEASE SAVEPOINT apply_one").execute(&mut *tx).await?;
                    settled.push((ev, step, r));
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
        self.conclude(tx, &settled).await?;
        Ok(events.len())
    }

    /// Records the outcomes, leases the events that need the API, commits,
    /// and only then hands those to the resolver.
    async fn conclude(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        settled: &[(&InboxEvent, &Step<'_>, Applied)],
    ) -> Result<(), sqlx::Error> {
        let mut done: Vec<(&str, Outcome)> = Vec::with_capacity(settled.len());
        let mut deferred: Vec<(&str, &str)> = Vec::new();
        let mut jobs = Vec::new();
        for (ev, step, r) in settled {
            match r {
                Applied::Done(o) => done.push((ev.id.as_str(), *o)),
                Applied::Resolve(p) => {
                    deferred.push((ev.id.as_str(), p.why));
                    if let Step::OtherVersion(_, version) = step {
                        self.metrics.event_other_version(version);
                    }
                    jobs.push(Job { event_id: ev.id.clone(), event_type: ev.event_type.clone(), pending: p.clone() });
                }
            }
        }
        inbox::finish(&mut tx, &done).await?;
        inbox::defer(&mut tx, &deferred, LEASE_SECS).await?;
        tx.commit().await?;
        for (ev, _, r) in settled {
            if let Applied::Done(o) = r {
                self.record(ev, *o);
            }
        }
        self.resolver.submit(jobs);
        Ok(())
    }

    fn record(&self, ev: &InboxEvent, outcome: Outcome) {
        self.metrics.event_processed(outcome.status(), &ev.event_type);
        if let d @ (crate::push::apply::OTHER_MODE | crate::push::apply::OTHER_ACCOUNT) = outcome.detail() {
            self.metrics.event_isolated(d);
            tracing::warn!(event = %ev.id, r#type = %ev.event_type, reason = d, "event of another mode or account ignored: check the webhook endpoint and its secret");
        }
        tracing::debug!(event = %ev.id, r#type = %ev.event_type, outcome = outcome.status(), detail = outcome.detail(), "event processed");
    }
}

/// Locks every object the batch touches (the event's object: a parent with
/// its children, or a price with its plan twin) before any row is written:
/// see [`Store::lock_objects`]. The chaos suite's lossy scenarios lost 1 s
/// to `deadlock_timeout` per cycle, dozens per run, before batches did.
async fn lock_objects(tx: &mut sqlx::PgConnection, events: &[InboxEvent]) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = events.iter().filter_map(|e| e.object_id.as_deref()).collect();
    Store::lock_objects(tx, &ids).await
}
