//! What the service manager sees: `READY=1` once migrations are current and
//! the listener is bound, `WATCHDOG=1` while every apply worker is alive,
//! `STOPPING=1` on shutdown, and a one-line `STATUS=`. Without
//! `NOTIFY_SOCKET` (not under systemd `Type=notify`) every call is a no-op.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

/// A worker's proof of life: the last time (Unix ms) its loop came round.
#[derive(Clone, Debug)]
pub struct Heartbeat(Arc<AtomicI64>);

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat(Arc::new(AtomicI64::new(now_ms())))
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        self.0.store(now_ms(), Ordering::Relaxed);
    }

    fn age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.0.load(Ordering::Relaxed)).max(0) as u64)
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify the service manager");
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
