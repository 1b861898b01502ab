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
//!
//! When Stripe's own limiter refuses a request anyway (another process
//! shares the account's budget), [`RateLimiter::slow_down`] widens the
//! spacing, down to an eighth of the configured rate; every success narrows
//! it back towards the configured rate. The floor is relative because 429s
//! that do not follow our rate (a fake injecting them at random, a
//! concurrency limiter) would otherwise widen it for ever: at 20 % of
//! answers 429, ×1.5 a refusal against −2 % a success only ever widens, and
//! a 25/s limiter sank to one request per 2 s (the chaos suite's API-trouble
//! scenario took ~8 minutes for 300 requests). Below the floor a refused
//! request just waits its turn again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Delivery jitter the spacing absorbs (5% of the rate at 25/s).
pub const JITTER_MARGIN: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct RateLimiter {
    /// The configured spacing (zero: unlimited).
    interval: Duration,
    // A std Mutex: held for a few instructions, never across an await.
    state: Mutex<Slots>,
    waits: AtomicU64,
}

#[derive(Debug)]
struct Slots {
    next_free: Instant,
    /// The spacing in force: `interval`, or wider after Stripe's 429s.
    current: Duration,
}

/// The spacing a refused request widens an unlimited limiter to (Stripe's
/// default per-operation rate, 25/s).
const FIRST_SLOWDOWN: Duration = Duration::from_millis(40);
/// The widest spacing the slowdown reaches, as a multiple of the configured
/// one (of [`FIRST_SLOWDOWN`] for an unlimited limiter)...
const SLOWEST_FACTOR: u32 = 8;
/// ... and in absolute terms.
const SLOWEST: Duration = Duration::from_secs(2);

impl RateLimiter {
    /// `per_second == 0` means unlimited.
    pub fn new(per_second: u32) -> RateLimiter {
        let window = Duration::from_secs(1) + JITTER_MARGIN;
        let interval = if per_second == 0 { Duration::ZERO } else { window / per_second };
        let state = Mutex::new(Slots { next_free: Instant::now(), current: interval });
        RateLimiter { interval, state, waits: AtomicU64::new(0) }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stripe refused a request of ours for its rate: space them half as
    /// much again, up to [`RateLimiter::slowest`].
    pub fn slow_down(&self) {
        let slowest = self.slowest();
        let mut s = self.slots();
        s.current = if s.current.is_zero() { FIRST_SLOWDOWN } else { (s.current * 3 / 2).min(slowest) };
    }

    /// The widest spacing: eight times the configured one, at most 2 s.
    fn slowest(&self) -> Duration {
        (self.interval.max(FIRST_SLOWDOWN) * SLOWEST_FACTOR).min(SLOWEST).max(self.interval)
    }

    /// A request succeeded: narrow the spacing by 2% towards the configured one.
    pub fn recover(&self) {
        let mut s = self.slots();
        if s.current > self.interval {
            let narrower = s.current * 49 / 50;
            s.current = if narrower < Duration::from_millis(1) { self.interval } else { narrower.max(self.interval) };
        }
    }

    /// The spacing in force now.
    pub fn spacing(&self) -> Duration {
        self.slots().current
    }

    /// Waits for this request's slot; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let slot = {
            let mut s = self.slots();
            if s.current.is_zero() {
                return Duration::ZERO;
            }
            let now = Instant::now();
            let slot = s.next_free.max(now);
            s.next_free = slot + s.current;
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
    fn a_refusal_widens_the_spacing_and_successes_narrow_it_back() {
        let limiter = RateLimiter::new(25);
        let base = limiter.spacing();
        limiter.slow_down();
        assert!(limiter.spacing() > base);
        for _ in 0..200 {
            limiter.recover();
        }
        assert_eq!(limiter.spacing(), base);
        let unlimited = RateLimiter::new(0);
        unlimited.slow_down();
        assert_eq!(unlimited.spacing(), FIRST_SLOWDOWN);
        for _ in 0..1000 {
            unlimited.recover();
        }
        assert!(unlimited.spacing().is_zero());
    }

    #[test]
    fn refusals_at_random_never_sink_the_rate_below_an_eighth() {
        let limiter = RateLimiter::new(25);
        let base = limiter.spacing();
        // One answer in five refused, whatever the rate: the spacing widens
        // on balance, and stops at eight times the configured one.
        for i in 0..1000 {
            if i % 5 == 0 {
                limiter.slow_down();
            } else {
                limiter.recover();
            }
        }
        assert!(limiter.spacing() > base * 4, "{:?}", limiter.spacing());
        assert!(limiter.spacing() <= base * SLOWEST_FACTOR, "{:?}", limiter.spacing());
        let unlimited = RateLimiter::new(0);
        for _ in 0..100 {
            unlimited.slow_down();
        }
        assert_eq!(unlimited.spacing(), FIRST_SLOWDOWN * SLOWEST_FACTOR);
        let slow = RateLimiter::new(1);
        for _ in 0..100 {
            slow.slow_down();
        }
        assert_eq!(slow.spacing(), SLOWEST, "never slower than one request per 2 s");
    }

    #[test]
    fn rate_plus_one_requests_span_more_than_a_second() {
        for rate in [1, 20, 25, 80, 100] {
            let limiter = RateLimiter::new(rate);
            assert!(limiter.interval * rate >= Duration::from_secs(1) + JITTER_MARGIN, "{rate}/s");
        }
    }
}
