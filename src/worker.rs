//! Apply workers: drain the inbox. Each pass claims a batch of due events
//! (`FOR UPDATE SKIP LOCKED`, so several workers and several daemons share
//! one inbox without applying an event twice), applies each in its own
//! savepoint — a failing event is rolled back alone and retried later with
//! backoff, parked as `failed` after `max_attempts` — and commits the batch
//! once, so a burst costs one commit per batch rather than one per event.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::apply::apply;
use crate::config::ApplyConfig;
use crate::inbox;
use crate::metrics::Metrics;
use crate::mirror::Mirror;

#[derive(Clone)]
pub struct Worker {
    pub pool: PgPool,
    pub mirror: Mirror,
    pub config: ApplyConfig,
    pub metrics: Metrics,
    pub wake: Arc<Notify>,
}

impl Worker {
    /// Runs until `shutdown`; a pass in progress is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let idle = match self.pass().await {
                Ok(0) => Duration::from_millis(500),
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "apply pass failed; retrying");
                    Duration::from_secs(1)
                }
            };
            // Woken by a new webhook; the timeout catches events stored by
            // other replicas and retries coming due.
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// One pass: claim, apply, commit. Returns how many events it handled.
    pub async fn pass(&self) -> Result<usize, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let events = inbox::claim(&mut tx, self.config.batch_size).await?;
        for ev in &events {
            sqlx::query("SAVEPOINT apply_one").execute(&mut *tx).await?;
            match apply(&mut tx, &self.mirror, ev).await {
                Ok(outcome) => {
                    sqlx::query("RELEASE SAVEPOINT apply_one").execute(&mut *tx).await?;
                    inbox::finish(&mut tx, &ev.id, outcome).await?;
                    self.metrics.event_processed(outcome.status(), &ev.event_type);
                    tracing::debug!(event = %ev.id, r#type = %ev.event_type, outcome = outcome.status(), detail = outcome.detail(), "event processed");
                }
                Err(e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT apply_one").execute(&mut *tx).await?;
                    let error = e.to_string();
                    let parked =
                        inbox::fail(&mut tx, &ev.id, &error, self.config.max_attempts, self.config.retry_base_ms)
                            .await?;
                    let outcome = if parked { "failed" } else { "retry" };
                    self.metrics.event_processed(outcome, &ev.event_type);
                    tracing::warn!(event = %ev.id, r#type = %ev.event_type, parked, error = %error, "event apply failed");
                }
            }
        }
        tx.commit().await?;
        Ok(events.len())
    }
}
