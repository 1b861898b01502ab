//! What the service manager sees: `EXTEND_TIMEOUT_USEC=` while migrations
//! run, `READY=1` once they are current and the listener is bound,
//! `WATCHDOG=1` while every apply worker is alive, `STOPPING=1` on shutdown,
//! and a one-line `STATUS=`. Without `NOTIFY_SOCKET` (not under systemd
//! `Type=notify`) every call is a no-op.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A worker's proof of life: when its loop last came round, on the
/// monotonic clock. The wall clock can be stepped (NTP, a resumed VM): a
/// jump forward would make every worker look stuck and get a healthy daemon
/// restarted, a jump back would hide a stuck one.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    /// When this heartbeat was made; clones share it.
    born: Instant,
    /// Milliseconds after `born` of the last beat.
    last_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat { born: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        self.last_ms.store(self.elapsed_ms(), Ordering::Relaxed);
    }

    fn age(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// How often [`extending_start_timeout`] asks for more time, and how much:
/// each extension outlasts the next one by 40 s, so a late tick on a busy
/// machine does not let the start time out.
const EXTEND_EVERY: Duration = Duration::from_secs(20);
const EXTEND_BY: Duration = Duration::from_secs(60);

/// Runs `work` (the migrations before `READY=1`) while telling the service
/// manager the start is still making progress: `EXTEND_TIMEOUT_USEC` at
/// once and every 20 s, with how long it has been running in `STATUS=`.
/// Under systemd's default `TimeoutStartSec=` (90 s) a long migration would
/// otherwise be killed and the unit restarted into the same migration.
pub async fn extending_start_timeout<F: Future>(what: &str, work: F) -> F::Output {
    keep_extending(work, EXTEND_EVERY, |elapsed| {
        let status = format!("{what} (for {} s)", elapsed.as_secs());
        let usec = u32::try_from(EXTEND_BY.as_micros()).unwrap_or(u32::MAX);
        notify(&[NotifyState::ExtendTimeoutUsec(usec), NotifyState::Status(&status)]);
    })
    .await
}

/// Calls `extend` at once and then every `every` until `work` is done.
async fn keep_extending<F: Future>(work: F, every: Duration, mut extend: impl FnMut(Duration)) -> F::Output {
    let started = Instant::now();
    extend(Duration::ZERO);
    let mut tick = tokio::time::interval_at(started + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => extend(started.elapsed()),
        }
    }
}

pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("draining: finishing requests and apply transactions")]);
}

/// Pings the watchdog at half its interval while every heartbeat is fresher
/// than the interval; a stuck worker stops the pings and systemd restarts
/// the service. Returns at once when no watchdog is configured.
pub async fn watchdog(workers: Vec<Heartbeat>, shutdown: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else { return };
    tracing::info!(interval_ms = interval.as_millis() as u64, "systemd watchdog enabled");
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        match workers.iter().map(Heartbeat::age).max() {
            Some(oldest) if oldest > interval => {
                tracing::error!(
                    stuck_ms = oldest.as_millis() as u64,
                    "an apply worker is stuck; not pinging the watchdog"
                );
            }
            _ => notify(&[NotifyState::Watchdog]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_long_start_is_extended_at_once_and_every_period_until_done() {
        let mut at = Vec::new();
        let work = async {
            tokio::time::sleep(Duration::from_secs(70)).await;
            "migrated"
        };
        let out = keep_extending(work, Duration::from_secs(20), |e| at.push(e.as_secs())).await;
        assert_eq!(out, "migrated");
        assert_eq!(at, vec![0, 20, 40, 60]);
    }

    /// The watchdog must not see a stuck worker as fresh, or a fresh one as
    /// stuck, when the wall clock is stepped (NTP, a VM resumed): the age
    /// follows the monotonic clock (tokio's, which a test can move).
    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_ages_with_the_monotonic_clock() {
        let heartbeat = Heartbeat::default();
        let clone = heartbeat.clone();
        tokio::time::advance(Duration::from_secs(45)).await;
        assert!(heartbeat.age() >= Duration::from_secs(45), "{:?}", heartbeat.age());
        clone.beat();
        assert!(heartbeat.age() < Duration::from_secs(1), "a clone's beat counts: {:?}", heartbeat.age());
    }
}
