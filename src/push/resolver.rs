//! The resolver: events the apply workers could not apply without asking
//! Stripe (see [`crate::push::apply::Step::Resolve`]) are settled here, after the
//! worker's transaction committed, so a slow or hanging Stripe holds no
//! database transaction, no connection and no apply worker.
//!
//! Events arrive with their lease (`inbox::defer`): they stay `pending`,
//! out of the claim's reach. The resolver groups them by object — one
//! retrieve per object settles every event queued for it — retrieves the
//! object at the pinned API version ([`Mirror::resolve`]) with a bounded
//! number of calls in flight, and records the outcomes. A failed call is a
//! failed attempt (`inbox::fail`: retried with backoff, parked after
//! `apply.max_attempts`); if the process dies, the lease runs out and any
//! worker claims the events again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::ApplyConfig;
use crate::ops::metrics::Metrics;
use crate::push::apply::{Outcome, Pending};
use crate::push::event::Kind;
use crate::storage::inbox;
use crate::storage::mirror::{Mirror, Resolved};

/// How long a deferred event stays out of the claim's reach. A call still
/// running when it ends is not repeated by this process (see `in_flight`).
pub const LEASE_SECS: f64 = 60.0;
/// Objects being retrieved at once.
const CONCURRENCY: usize = 8;

/// One deferred event.
#[derive(Debug, Clone)]
pub struct Job {
    pub event_id: String,
    pub event_type: String,
    pub pending: Pending,
}

/// Cheap to clone; every clone feeds the same resolver.
#[derive(Clone)]
pub struct Resolver {
    queue: mpsc::UnboundedSender<Job>,
    /// Events queued or being resolved by this process.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl Resolver {
    /// Starts the resolver on `tasks`; it stops at `shutdown` (calls in
    /// flight are dropped: their events' leases run out and they are
    /// claimed again).
    pub fn spawn(
        pool: PgPool,
        mirror: Mirror,
        config: ApplyConfig,
        metrics: Metrics,
        tasks: &mut JoinSet<()>,
        shutdown: CancellationToken,
    ) -> Resolver {
        let (queue, rx) = mpsc::unbounded_channel();
        let resolver = Resolver { queue, in_flight: Arc::default() };
        let run = Run { pool, mirror, config, metrics, in_flight: resolver.in_flight.clone() };
        tasks.spawn(run.run(rx, shutdown));
        resolver
    }

    /// Queues deferred events; ones already queued or resolving are skipped.
    pub fn submit(&self, jobs: Vec<Job>) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for job in jobs {
            if in_flight.insert(job.event_id.clone()) && self.queue.send(job).is_err() {
                return; // stopped: the leases bring the events back
            }
        }
    }

    /// Events queued or being resolved.
    pub fn busy(&self) -> usize {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

struct Run {
    pool: PgPool,
    mirror: Mirror,
    config: ApplyConfig,
    metrics: Metrics,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl Run {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Job>, shutdown: CancellationToken) {
        let run = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut calls = JoinSet::new();
        loop {
            let first = tokio::select! {
                job = rx.recv() => match job { Some(j) => j, None => break },
                _ = shutdown.cancelled() => break,
                Some(_) = calls.join_next(), if !calls.is_empty() => continue,
            };
            // Everything queued now, by object: one retrieve each.
            let mut groups: HashMap<(Kind, String), Vec<Job>> = HashMap::new();
            let mut next = Some(first);
            while let Some(job) = next.take().or_else(|| rx.try_recv().ok()) {
                groups.entry((job.pending.kind, job.pending.object_id.clone())).or_default().push(job);
            }
            for ((kind, id), jobs) in groups {
                let permit = tokio::select! {
                    p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                    _ = shutdown.cancelled() => return,
                };
                let (run, stop) = (run.clone(), shutdown.clone());
                calls.spawn(async move {
                    tokio::select! {
                        _ = run.settle(kind, &id, &jobs) => {}
                        _ = stop.cancelled() => {}
                    }
                    run.done(&jobs);
                    drop(permit);
                });
            }
        }
        calls.shutdown().await;
    }

    fn done(&self, jobs: &[Job]) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for job in jobs {
            in_flight.remove(&job.event_id);
        }
    }

    /// Retrieves one object and records the outcome of every event for it.
    async fn settle(&self, kind: Kind, id: &str, jobs: &[Job]) {
        let result = self.mirror.resolve(&self.pool, kind, id).await;
        let recorded = match result {
            Ok(resolved) => {
                let outcomes: Vec<(&str, Outcome)> =
                    jobs.iter().map(|j| (j.event_id.as_str(), outcome(&resolved, id, j.pending.why))).collect();
                let recorded = async {
                    let mut conn = self.pool.acquire().await?;
                    inbox::finish_pending(&mut conn, &outcomes).await
                }
                .await;
                if recorded.is_ok() {
                    for (job, (_, o)) in jobs.iter().zip(&outcomes) {
                        self.metrics.event_processed(o.status(), &job.event_type);
                    }
                }
                recorded
            }
            Err(e) => self.failed(jobs, &e.to_string()).await,
        };
        if let Err(e) = recorded {
            // The leases bring the events back to a worker.
            tracing::warn!(object = id, error = %e, "cannot record resolved events");
        }
    }

    async fn failed(&self, jobs: &[Job], error: &str) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        for job in jobs {
            let parked =
                inbox::fail(&mut conn, &job.event_id, error, self.config.max_attempts, self.config.retry_base_ms)
                    .await?;
            self.metrics.event_processed(if parked { "failed" } else { "retry" }, &job.event_type);
            tracing::warn!(event = %job.event_id, r#type = %job.event_type, parked, error, "event apply failed");
        }
        Ok(())
    }
}

fn outcome(resolved: &Resolved, id: &str, why: &'static str) -> Outcome {
    match resolved {
        Resolved::Deleted => Outcome::Applied("retrieved: deleted"),
        Resolved::Written(r) if r.written().any(|w| w == id) => Outcome::Applied(why),
        Resolved::Written(r) if r.deleted.iter().any(|w| w == id) => Outcome::Stale("object is deleted"),
        Resolved::Written(_) => Outcome::Stale("older than stored"),
    }
}
