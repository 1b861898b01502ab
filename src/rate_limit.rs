//! Our side of Stripe's rate limit: requests are spaced evenly (a GCRA with
//! no burst), shared by every task of the process. Spacing rather than a
//! bucket with burst means no one-second window ever holds more than `rate`
//! requests, which is what Stripe counts.
//!
//! Spaced exactly `1/rate` apart, `rate + 1` requests span exactly one
//! second, so the receiver counts `rate + 1` in a second as soon as the first
//! is delayed on its way by a millisecond more than the last (the chaos
//! suite saw 26 at 25/s). The spacing therefore includes a margin:
//! `rate + 1` consecutive requests span one second plus [`JITTER_MARGIN`].
//! The limit is per process (replicas and CLI runs each have their own).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Delivery jitter the spacing absorbs (5% of the rate at 25/s).
pub const JITTER_MARGIN: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    // A std Mutex: held for a few instructions, never across an await.
    next_free: Mutex<Instant>,
    waits: AtomicU64,
}

impl RateLimiter {
    /// `per_second == 0` means unlimited.
    pub fn new(per_second: u32) -> RateLimiter {
        let window = Duration::from_secs(1) + JITTER_MARGIN;
        let interval = if per_second == 0 { Duration::ZERO } else { window / per_second };
        RateLimiter { interval, next_free: Mutex::new(Instant::now()), waits: AtomicU64::new(0) }
    }

    /// Waits for this request's slot; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        if self.interval.is_zero() {
            return Duration::ZERO;
        }
        let slot = {
            let mut next = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        let now = Instant::now();
        if slot > now {
            self.waits.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep_until(slot.into()).await;
            return slot - now;
        }
        Duration::ZERO
    }

    /// How many requests had to wait for a slot.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_spaced_by_the_rate() {
        let limiter = RateLimiter::new(100);
        let start = Instant::now();
        for _ in 0..21 {
            limiter.acquire().await;
        }
        // 21 requests at 100/s: the last one waits for the 20th interval.
        assert!(start.elapsed() >= Duration::from_millis(195), "{:?}", start.elapsed());
        assert_eq!(limiter.waits(), 20);
    }

    #[test]
    fn rate_plus_one_requests_span_more_than_a_second() {
        for rate in [1, 20, 25, 80, 100] {
            let limiter = RateLimiter::new(rate);
            assert!(limiter.interval * rate >= Duration::from_secs(1) + JITTER_MARGIN, "{rate}/s");
        }
    }
}
