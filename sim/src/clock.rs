//! The simulator clock: the "now" stamped into objects' and events'
//! `created` and into the API's `Date` header.
//!
//! Real time by default. Tests pin it (`set(Some(ts))`) to put several
//! events in one second, or shift it (`advance`) to backdate history. The
//! `Date` header follows this clock too, because the mirror compares it
//! with event `created` to decide which version is newer; a Date from a
//! different clock would make that comparison meaningless.

use std::sync::atomic::{AtomicI64, Ordering};

/// Sentinel for "not pinned" (no real timestamp is `i64::MIN`).
const UNPINNED: i64 = i64::MIN;

/// A settable, advanceable clock in Unix seconds.
#[derive(Debug)]
pub struct Clock {
    pinned: AtomicI64,
    offset: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { pinned: AtomicI64::new(UNPINNED), offset: AtomicI64::new(0) }
    }
}

impl Clock {
    /// Current simulated Unix time in seconds.
    pub fn now(&self) -> i64 {
        match self.pinned.load(Ordering::SeqCst) {
            UNPINNED => real_now() + self.offset.load(Ordering::SeqCst),
            ts => ts,
        }
    }

    /// Pin the clock at `ts` (it stops moving), or `None` to follow real time
    /// again (keeping any offset from `advance`).
    pub fn set(&self, ts: Option<i64>) {
        self.pinned.store(ts.unwrap_or(UNPINNED), Ordering::SeqCst);
    }

    /// Move the clock by `secs` (negative moves it back). A pinned clock
    /// stays pinned at the new second.
    pub fn advance(&self, secs: i64) {
        let pinned = self.pinned.load(Ordering::SeqCst);
        if pinned == UNPINNED {
            self.offset.fetch_add(secs, Ordering::SeqCst);
        } else {
            self.pinned.store(pinned + secs, Ordering::SeqCst);
        }
    }
}

/// Wall-clock Unix seconds (used where Stripe itself uses real time, such as
/// the webhook signature timestamp that receivers check against their clock).
pub fn real_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_clock_advances_and_unpins() {
        let c = Clock::default();
        c.set(Some(1_700_000_000));
        c.advance(5);
        assert_eq!(c.now(), 1_700_000_005);
        c.set(None);
        assert!((c.now() - real_now()).abs() <= 1);
        c.advance(-3600);
        assert!((c.now() - (real_now() - 3600)).abs() <= 1);
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
