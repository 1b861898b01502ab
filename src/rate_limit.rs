//! Our side of Stripe's rate limit: requests are spaced `1/rate` apart
//! (a GCRA with no burst), shared by every task of the process. Spacing
//! rather than a bucket with burst means no one-second window ever holds more
//! than `rate` requests, which is what Stripe counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
        let interval =
            if per_second == 0 { Duration::ZERO } else { Duration::from_secs_f64(1.0 / f64::from(per_second)) };
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
}
