//! Fault knobs (API answers and webhook deliveries), the API rate limiters,
//! and the per-route request counters tests read to check client behaviour.
//!
//! Rate limits as Stripe states them (docs.stripe.com/rate-limits): an
//! account-wide limit and one per API operation (method + path template:
//! every `GET /v1/customers/{id}` shares one budget, every `GET
//! /v1/customers` list another). A 429 from a limiter says which in
//! `Stripe-Rate-Limited-Reason` (`global-rate`, `endpoint-rate`, …); a 429
//! without it is something else, such as a `lock_timeout`.
//!
//! Every knob is a plain field so tests and `/_sim/faults` can change them
//! while traffic flows; the running server reads them on each request or
//! delivery.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// All fault knobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    pub api: ApiFaults,
    pub delivery: DeliveryFaults,
}

/// How the `/v1` API misbehaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiFaults {
    /// Fraction of requests answered 429 `rate_limit`, as Stripe's
    /// concurrency limiter answers a burst
    /// (`Stripe-Rate-Limited-Reason: global-concurrency`).
    pub rate_limit_fraction: f64,
    /// `Retry-After` (seconds) on every 429 of a limiter.
    pub retry_after_secs: u64,
    /// Fraction of requests answered 429 `lock_timeout` (another request
    /// holds the object; no `Stripe-Rate-Limited-Reason`; Stripe's clients
    /// retry it).
    pub lock_timeout_fraction: f64,
    /// Fraction of requests answered 500 `api_error`.
    pub server_error_fraction: f64,
    /// Fraction of requests answered only after `slow_ms`.
    pub slow_fraction: f64,
    pub slow_ms: u64,
    /// Requests per second allowed for the account (sliding one-second
    /// window); the excess is answered 429 `rate_limit` with
    /// `Stripe-Rate-Limited-Reason: global-rate`.
    pub max_requests_per_sec: Option<u32>,
    /// Requests per second allowed for each API operation (method + path
    /// template), 0 = no limit (the default; Stripe's is 25). The excess is
    /// answered 429 `rate_limit` with `Stripe-Rate-Limited-Reason:
    /// endpoint-rate`.
    pub per_operation_requests_per_sec: u32,
    /// Answer `GET /v1/subscription_items?subscription=` for a canceled
    /// subscription as Stripe does: an empty list, although the subscription
    /// still embeds its items (truncated at ten with `has_more`). Off by
    /// default, which lists every item as before, so a mirror that pages a
    /// canceled subscription's truncated items keeps passing until it
    /// tolerates the empty answer.
    pub canceled_subscription_items_empty: bool,
    /// Until this instant every request hangs (answered only when the window
    /// closes), so clients hit their timeouts. Set with [`ApiFaults::hang_for`].
    #[serde(skip)]
    pub hang_until: Option<Instant>,
}

impl Default for ApiFaults {
    fn default() -> Self {
        ApiFaults {
            rate_limit_fraction: 0.0,
            retry_after_secs: 1,
            lock_timeout_fraction: 0.0,
            server_error_fraction: 0.0,
            slow_fraction: 0.0,
            slow_ms: 0,
            max_requests_per_sec: None,
            per_operation_requests_per_sec: 0,
            canceled_subscription_items_empty: false,
            hang_until: None,
        }
    }
}

impl ApiFaults {
    /// Hang every request arriving in the next `d`.
    pub fn hang_for(&mut self, d: Duration) {
        self.hang_until = Some(Instant::now() + d);
    }
}

/// How webhook delivery misbehaves, and its retry policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryFaults {
    /// Fraction of deliveries never sent.
    pub drop_fraction: f64,
    /// Fraction of deliveries sent twice.
    pub duplicate_fraction: f64,
    /// Shuffle deliveries within batches of this many events (0 or 1: off)…
    pub reorder_window: usize,
    /// …or of whatever arrived within this many ms, whichever fills first.
    pub reorder_window_ms: u64,
    /// Shuffle deliveries of events whose `created` falls in the same
    /// N-second window of the simulated clock (0: off). A window is released
    /// when an event of a later window is queued, or after
    /// `reorder_window_ms` (so the last one does not wait forever). This is
    /// how Stripe's disorder looks: events close in time arrive in any order.
    pub reorder_window_secs: u64,
    /// Each delivery waits a random time in this range first.
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    /// Deliveries in flight at once (1 keeps Stripe's usual order).
    pub concurrency: usize,
    /// Attempts per delivery before giving up (Stripe: ~3 days of retries).
    pub max_attempts: u32,
    /// Retry backoff: first wait, doubling up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Per-attempt HTTP timeout.
    pub timeout_ms: u64,
}

impl Default for DeliveryFaults {
    fn default() -> Self {
        DeliveryFaults {
            drop_fraction: 0.0,
            duplicate_fraction: 0.0,
            reorder_window: 0,
            reorder_window_ms: 200,
            reorder_window_secs: 0,
            delay_min_ms: 0,
            delay_max_ms: 0,
            concurrency: 1,
            max_attempts: 10,
            initial_backoff_ms: 50,
            max_backoff_ms: 2000,
            timeout_ms: 10_000,
        }
    }
}

impl DeliveryFaults {
    /// Wait before attempt number `attempt + 1` (attempt counts from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        Duration::from_millis(exp.min(self.max_backoff_ms))
    }

    pub(crate) fn random_delay(&self) -> Option<Duration> {
        if self.delay_max_ms == 0 {
            return None;
        }
        let lo = self.delay_min_ms.min(self.delay_max_ms);
        Some(Duration::from_millis(fastrand::u64(lo..=self.delay_max_ms)))
    }
}

/// Whether a fraction-valued fault fires now.
pub(crate) fn roll(fraction: f64) -> bool {
    fraction > 0.0 && fastrand::f64() < fraction
}

/// API requests counted by route and status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestStats {
    /// All `/v1` requests received.
    pub total: u64,
    /// Route (`GET /v1/customers/{id}`) → HTTP status → count.
    pub by_route: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Most requests received within any one-second window.
    pub peak_per_second: u32,
    /// 429s by reason: the `Stripe-Rate-Limited-Reason` they carried
    /// (`global-rate`, `endpoint-rate`, `global-concurrency`), or
    /// `lock_timeout` for the ones without it.
    pub limited: BTreeMap<String, u64>,
}

impl RequestStats {
    /// Requests answered with `status` on any route.
    pub fn count_status(&self, status: u16) -> u64 {
        self.by_route.values().filter_map(|m| m.get(&status)).sum()
    }

    /// 429s answered for `reason` (see [`RequestStats::limited`]).
    pub fn limited_by(&self, reason: &str) -> u64 {
        self.limited.get(reason).copied().unwrap_or(0)
    }
}

/// Which limiter refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    /// The account-wide limit.
    Global,
    /// The limit of this one operation.
    Endpoint,
}

/// Sliding one-second windows for the rate limiter and the peak counter.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub stats: RequestStats,
    /// Every request in the last second (peak measurement).
    seen: VecDeque<Instant>,
    /// Requests let through in the last second (account limiter).
    admitted: VecDeque<Instant>,
    /// The same per operation (route label).
    admitted_per_op: HashMap<String, VecDeque<Instant>>,
}

impl Traffic {
    /// Note an arriving request.
    pub fn arrive(&mut self, now: Instant) {
        prune(&mut self.seen, now);
        self.seen.push_back(now);
        self.stats.total += 1;
        let n = u32::try_from(self.seen.len()).unwrap_or(u32::MAX);
        self.stats.peak_per_second = self.stats.peak_per_second.max(n);
    }

    /// Rate limiters: admit the request unless `global` requests of the
    /// account, or `per_op` (0: no limit) of this operation, were admitted in
    /// the last second. A refused request uses neither budget.
    pub fn admit(&mut self, now: Instant, op: &str, global: Option<u32>, per_op: u32) -> Result<(), Limited> {
        if let Some(limit) = global {
            prune(&mut self.admitted, now);
            if self.admitted.len() >= limit as usize {
                return Err(Limited::Global);
            }
        }
        if per_op > 0 {
            let seen = self.admitted_per_op.entry(op.to_owned()).or_default();
            prune(seen, now);
            if seen.len() >= per_op as usize {
                return Err(Limited::Endpoint);
            }
            seen.push_back(now);
        }
        if global.is_some() {
            self.admitted.push_back(now);
        }
        Ok(())
    }

    /// Count a 429 under its reason.
    pub fn limited(&mut self, reason: &str) {
        *self.stats.limited.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn answered(&mut self, route: &str, status: u16) {
        *self.stats.by_route.entry(route.to_owned()).or_default().entry(status).or_default() += 1;
    }

    pub fn reset(&mut self) {
        *self = Traffic::default();
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let d = DeliveryFaults::default();
        let ms: Vec<u128> = (1..=8).map(|a| d.backoff(a).as_millis()).collect();
        assert_eq!(ms, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn limiter_admits_n_per_second() {
        let mut t = Traffic::default();
        let now = Instant::now();
        let admitted = (0..5).filter(|_| t.admit(now, "GET /v1/customers", Some(3), 0).is_ok()).count();
        assert_eq!(admitted, 3);
        assert!(t.admit(now + Duration::from_millis(1001), "GET /v1/customers", Some(3), 0).is_ok());
    }

    #[test]
    fn each_operation_has_its_own_budget_inside_the_accounts() {
        let mut t = Traffic::default();
        let now = Instant::now();
        let list = (0..4).map(|_| t.admit(now, "GET /v1/customers", Some(5), 2)).collect::<Vec<_>>();
        assert_eq!(list, [Ok(()), Ok(()), Err(Limited::Endpoint), Err(Limited::Endpoint)]);
        assert_eq!(t.admit(now, "GET /v1/customers/{id}", Some(5), 2), Ok(()));
        assert_eq!(t.admit(now, "GET /v1/customers/{id}", Some(5), 2), Ok(()));
        assert_eq!(t.admit(now, "GET /v1/invoices", Some(5), 2), Ok(()));
        assert_eq!(t.admit(now, "GET /v1/prices", Some(5), 2), Err(Limited::Global), "5 admitted this second");
    }
}
