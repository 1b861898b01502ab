//! Runs of the pull path, as commands and as `serve`'s schedule: each run
//! takes the advisory lock (one at a time per database; others skip and say
//! so), is recorded in `stripe_mirror.runs`, and returns its counts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::pull::sync::{run_finished, run_started, Counts, Mode, Puller, RunLock, SyncError};
use crate::push::event::Kind;

/// The summary of one run, per object type.
#[derive(Debug, Default)]
pub struct Summary {
    pub per_kind: BTreeMap<&'static str, Counts>,
    pub events_listed: u64,
    pub events_new: u64,
    pub elapsed: Duration,
    /// False when another replica held the lock and this run did nothing.
    pub ran: bool,
}

impl Summary {
    /// Totals over every type, for metrics and `status`.
    pub fn totals(&self) -> Vec<(&'static str, u64)> {
        let mut t = Counts::default();
        for c in self.per_kind.values() {
            t.add(c);
        }
        vec![
            ("fetched", t.fetched),
            ("inserted", t.inserted),
            ("updated", t.updated),
            ("unchanged", t.unchanged),
            ("stale", t.stale),
            ("tombstoned", t.deleted),
            ("events_new", self.events_new),
        ]
    }

    pub fn print(&self) {
        println!(
            "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "type", "fetched", "inserted", "updated", "unchanged", "stale", "deleted"
        );
        for (kind, c) in &self.per_kind {
            match &c.skipped {
                Some(why) => println!("{kind:<22} skipped: {why}"),
                None => println!(
                    "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    kind, c.fetched, c.inserted, c.updated, c.unchanged, c.stale, c.deleted
                ),
            }
        }
        if self.events_listed > 0 {
            println!("events listed: {}, new to the inbox: {}", self.events_listed, self.events_new);
        }
        println!("elapsed: {:.1} s", self.elapsed.as_secs_f64());
    }
}

/// Sweeps every mirrored kind concurrently (each kind's pages in order); the
/// shared rate limiter keeps the total under the configured rate. A kind
/// listed per parent (payment methods per customer) starts once its
/// parent's sweep is done, since its parents are the parent table's rows.
/// A kind the key may not list is skipped with one warning and recorded in
/// the run's counts (`status` shows it); the run goes on.
async fn sweep_all(
    puller: &Arc<Puller>,
    mode: Mode,
    progress: Arc<dyn Fn(Kind, u64) + Send + Sync>,
) -> Result<BTreeMap<&'static str, Counts>, SyncError> {
    let types = puller.mirror.types;
    let mut set = tokio::task::JoinSet::new();
    let spawn = |set: &mut Sweeps, kind: Kind| spawn_sweep(set, puller, mode, &progress, kind);
    let mut waiting: Vec<Kind> = Vec::new();
    for kind in types.iter() {
        match sweep_after(kind) {
            Some(parent) if types.contains(parent) => waiting.push(kind),
            _ => spawn(&mut set, kind),
        }
    }
    let mut out = BTreeMap::new();
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        let done = match joined {
            Ok((kind, Ok(c))) => {
                out.insert(kind.object_name(), c);
                Some(kind)
            }
            Ok((kind, Err(SyncError::Unavailable { table, reason }))) => {
                tracing::warn!(table, reason = %reason, "type skipped; the run goes on (grant the key read access, or leave the type out of [mirror] objects)");
                out.insert(kind.object_name(), Counts { skipped: Some(reason), ..Counts::default() });
                Some(kind)
            }
            Ok((_, Err(e))) => {
                first_error.get_or_insert(e);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "sweep task panicked");
                None
            }
        };
        if let Some(parent) = done {
            for kind in waiting.iter().copied().filter(|k| sweep_after(*k) == Some(parent)) {
                spawn(&mut set, kind);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

type Sweeps = tokio::task::JoinSet<(Kind, Result<Counts, SyncError>)>;

/// The type whose sweep must finish before this one starts: a type listed
/// per parent waits for its parents' rows; a type whose child list is not
/// embedded (checkout sessions' line items) waits for the prices, because a
/// session stored unchanged keeps its line items only while the prices they
/// show equal the `prices` rows (`Store`'s unchanged-children check), which
/// must be this sweep's.
fn sweep_after(kind: Kind) -> Option<Kind> {
    kind.list_parent().or_else(|| {
        let paged_apart = kind.def().child.as_ref().is_some_and(|c| c.embedded.is_none());
        paged_apart.then(|| Kind::by_table("prices")).flatten()
    })
}

fn spawn_sweep(
    set: &mut Sweeps,
    puller: &Arc<Puller>,
    mode: Mode,
    progress: &Arc<dyn Fn(Kind, u64) + Send + Sync>,
    kind: Kind,
) {
    let (p, progress) = (puller.clone(), progress.clone());
    set.spawn(async move {
        let c = p.sweep_kind(kind, mode, &move |n| progress(kind, n)).await;
        (kind, c)
    });
}

/// `backfill`: resumes from checkpoints unless `restart`.
pub async fn backfill(
    puller: &Arc<Puller>,
    restart: bool,
    progress: Arc<dyn Fn(Kind, u64) + Send + Sync>,
) -> Result<Summary, SyncError> {
    let start = Instant::now();
    puller.check_identity().await?;
    let Some(lock) = RunLock::acquire_within(&puller.pool, Duration::from_secs(10)).await? else {
        tracing::warn!("another backfill or reconcile is running; not starting");
        return Err(SyncError::Busy);
    };
    if restart {
        crate::pull::sync::reset_backfill(&puller.pool).await?;
    }
    let run = run_started(&puller.pool, "backfill").await?;
    puller.mark_events_position(puller.events_position().await?).await?;
    let result = sweep_all(puller, Mode::Backfill, progress).await;
    finish(puller, run, &result, lock).await?;
    Ok(Summary { per_kind: result?, elapsed: start.elapsed(), ran: true, ..Summary::default() })
}

/// `reconcile`: events catch-up; with `full` (or when the cursor is too old
/// for the Events API) also the full sweep.
pub async fn reconcile(puller: &Arc<Puller>, full: bool, overlap_secs: i64) -> Result<Summary, SyncError> {
    let start = Instant::now();
    puller.check_identity().await?;
    let Some(lock) = RunLock::try_acquire(&puller.pool).await? else {
        tracing::info!("another replica is reconciling; skipping this run");
        return Ok(Summary { ran: false, ..Summary::default() });
    };
    let kind = if full { "reconcile_full" } else { "reconcile_events" };
    let run = run_started(&puller.pool, kind).await?;
    let result = async {
        let mut summary = Summary { ran: true, ..Summary::default() };
        // Without a usable cursor the sweep covers everything up to its own
        // start, and catch-up resumes there: events during the sweep are
        // replayed, and the next run is a catch-up again, not another sweep.
        let mut resume_at = None;
        match puller.catch_up_events(overlap_secs).await? {
            Some((listed, new)) => (summary.events_listed, summary.events_new) = (listed, new),
            None => {
                tracing::warn!("the Events API cursor is missing or older than Stripe keeps events (30 days); running a full sweep");
                resume_at = Some(puller.events_position().await?);
                (summary.events_listed, summary.events_new) = puller.catch_up_retained().await?;
            }
        }
        if full || resume_at.is_some() {
            summary.per_kind = sweep_all(puller, Mode::FullSweep, Arc::new(|_, _| {})).await?;
        }
        if let Some(at) = resume_at {
            puller.set_events_position(at - overlap_secs).await?;
        }
        Ok::<_, SyncError>(summary)
    }
    .await;
    let counts = result.as_ref().map(|s| &s.per_kind).ok();
    let json = serde_json::to_value(counts).unwrap_or_default();
    run_finished(&puller.pool, run, &json, result.as_ref().err().map(|e| e.to_string()).as_deref()).await?;
    lock.release().await?;
    let mut summary = result?;
    summary.elapsed = start.elapsed();
    Ok(summary)
}

async fn finish(
    puller: &Puller,
    run: i64,
    result: &Result<BTreeMap<&'static str, Counts>, SyncError>,
    lock: RunLock,
) -> Result<(), SyncError> {
    let json = serde_json::to_value(result.as_ref().ok()).unwrap_or_default();
    run_finished(&puller.pool, run, &json, result.as_ref().err().map(|e| e.to_string()).as_deref()).await?;
    lock.release().await?;
    Ok(())
}

/// `serve`'s schedule: events catch-up and full sweep on their cron
/// expressions, until `shutdown`. A failed run is logged and counted; the
/// next one comes on schedule. Shutdown during a run drops it at its next
/// await: a page's transaction is rolled back whole, the lock connection is
/// closed, and the next run records the abandoned one as `interrupted`.
pub async fn schedule(
    puller: Arc<Puller>,
    events: crate::ops::schedule::Schedule,
    full: crate::ops::schedule::Schedule,
    overlap_secs: i64,
    metrics: crate::ops::metrics::Metrics,
    shutdown: CancellationToken,
) {
    loop {
        let now = chrono::Utc::now();
        let next_events = events.next_after(now);
        let next_full = full.next_after(now);
        let (at, is_full) = match (next_events, next_full) {
            (Some(e), Some(f)) if f <= e => (f, true),
            (Some(e), _) => (e, false),
            (None, Some(f)) => (f, true),
            (None, None) => return,
        };
        let wait = (at - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        let kind = if is_full { "reconcile_full" } else { "reconcile_events" };
        let result = tokio::select! {
            r = reconcile(&puller, is_full, overlap_secs) => r,
            _ = shutdown.cancelled() => {
                tracing::info!(kind, "shutdown: reconcile stopped between pages; the next run starts over");
                return;
            }
        };
        match result {
            Ok(s) if s.ran => {
                metrics.run_finished(kind, "succeeded", &s.totals());
                tracing::info!(
                    kind,
                    events_new = s.events_new,
                    elapsed_ms = s.elapsed.as_millis() as u64,
                    "reconcile done"
                );
            }
            Ok(_) => metrics.run_finished(kind, "skipped", &[]),
            Err(e) => {
                metrics.run_finished(kind, "failed", &[]);
                tracing::error!(kind, error = format!("{e:#}"), "reconcile failed");
            }
        }
    }
}
