//! The delivery queue as pure state: which delivery goes next, when, and
//! what happens after an attempt. Delivery faults (drop, duplicate, delay,
//! reorder by count, arrival time or event time) are applied when an event
//! enters the queue; retries re-enter it with backoff, independently of
//! newer events, as Stripe's do.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::faults::{roll, DeliveryFaults};

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub endpoint: Arc<str>,
    pub event: Arc<str>,
    pub body: Arc<str>,
    /// The event's `created` (event-time reorder windows).
    pub created: i64,
    /// Attempts already made.
    pub attempt: u32,
}

/// Delivery counters.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryStats {
    /// HTTP attempts made (first tries and retries).
    pub attempted: u64,
    /// Attempts answered 2xx.
    pub delivered: u64,
    /// Deliveries the drop fault swallowed.
    pub dropped: u64,
    /// Extra copies the duplicate fault added.
    pub duplicated: u64,
    /// Attempts that failed and were scheduled again.
    pub retried: u64,
    /// Deliveries abandoned after the last attempt.
    pub failed: u64,
    /// Deliveries waiting or in flight right now.
    pub pending: u64,
}

struct Timed {
    at: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    /// Reversed so the max-heap pops the earliest due job.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// What the worker should do next.
pub(crate) enum Next {
    Send(Job),
    /// Nothing sendable; wake at this instant (or when new work arrives).
    Wait(Option<Instant>),
}

#[derive(Default)]
pub(crate) struct Queue {
    ready: VecDeque<Job>,
    /// Reorder buffer and when its first job arrived.
    held: Vec<Job>,
    held_since: Option<Instant>,
    /// Event-time window (`created / reorder_window_secs`) of the held jobs.
    held_window: Option<i64>,
    timed: BinaryHeap<Timed>,
    seq: u64,
    pub in_flight: usize,
    pub stats: DeliveryStats,
}

impl Queue {
    /// A new event for an endpoint, with the delivery faults applied.
    pub fn push(&mut self, job: Job, f: &DeliveryFaults, now: Instant) {
        if roll(f.drop_fraction) {
            self.stats.dropped += 1;
            return;
        }
        let copies = if roll(f.duplicate_fraction) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            match f.random_delay() {
                Some(d) => self.schedule(job.clone(), now + d),
                None if f.reorder_window_secs > 0 => {
                    let window = job.created.div_euclid(i64::try_from(f.reorder_window_secs).unwrap_or(i64::MAX));
                    if self.held_window.is_some_and(|w| w != window) {
                        self.release_held();
                    }
                    self.held_window = Some(window);
                    self.held_since.get_or_insert(now);
                    self.held.push(job.clone());
                }
                None if f.reorder_window > 1 => {
                    self.held_since.get_or_insert(now);
                    self.held.push(job.clone());
                }
                None => self.ready.push_back(job.clone()),
            }
        }
    }

    /// The held jobs go out, shuffled.
    fn release_held(&mut self) {
        fastrand::shuffle(&mut self.held);
        self.ready.extend(self.held.drain(..));
        self.held_since = None;
        self.held_window = None;
    }

    fn schedule(&mut self, job: Job, at: Instant) {
        self.seq += 1;
        self.timed.push(Timed { at, seq: self.seq, job });
    }

    /// The next delivery to start, if concurrency allows one.
    pub fn next(&mut self, f: &DeliveryFaults, now: Instant) -> Next {
        while self.timed.peek().is_some_and(|t| t.at <= now) {
            if let Some(t) = self.timed.pop() {
                self.ready.push_back(t.job);
            }
        }
        let hold_until = self.held_since.map(|s| s + std::time::Duration::from_millis(f.reorder_window_ms));
        let full = match f.reorder_window_secs {
            // Event-time windows close when a later window starts (in `push`).
            0 => self.held.len() >= f.reorder_window.max(1),
            _ => f.reorder_window > 1 && self.held.len() >= f.reorder_window,
        };
        if !self.held.is_empty() && (full || hold_until.is_some_and(|t| t <= now)) {
            self.release_held();
        }
        if self.in_flight < f.concurrency.max(1) {
            if let Some(job) = self.ready.pop_front() {
                self.in_flight += 1;
                return Next::Send(job);
            }
        }
        let due = self.timed.peek().map(|t| t.at);
        let held = if self.held.is_empty() { None } else { hold_until };
        Next::Wait(match (due, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Book the outcome of an attempt; failed attempts are retried with
    /// backoff until `max_attempts`.
    pub fn finish(&mut self, mut job: Job, ok: bool, f: &DeliveryFaults, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.stats.attempted += 1;
        job.attempt += 1;
        if ok {
            self.stats.delivered += 1;
        } else if job.attempt < f.max_attempts.max(1) {
            self.stats.retried += 1;
            let at = now + f.backoff(job.attempt);
            self.schedule(job, at);
        } else {
            self.stats.failed += 1;
        }
    }

    /// A job whose endpoint vanished before it was sent.
    pub fn discard(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    pub fn pending(&self) -> usize {
        self.ready.len() + self.held.len() + self.timed.len() + self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn job(n: u32) -> Job {
        timed_job(n, 0)
    }

    fn timed_job(n: u32, created: i64) -> Job {
        Job {
            endpoint: Arc::from("we_1"),
            event: Arc::from(format!("evt_{n}")),
            body: Arc::from("{}"),
            created,
            attempt: 0,
        }
    }

    fn sent(q: &mut Queue, f: &DeliveryFaults, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while let Next::Send(j) = q.next(f, now) {
            out.push(j.event.to_string());
            q.finish(j, true, f, now);
        }
        out
    }

    #[test]
    fn plain_queue_is_fifo_and_retries_with_backoff() {
        let f = DeliveryFaults::default();
        let now = Instant::now();
        let mut q = Queue::default();
        (0..3).for_each(|n| q.push(job(n), &f, now));
        let Next::Send(first) = q.next(&f, now) else { panic!("expected a job") };
        assert!(matches!(q.next(&f, now), Next::Wait(None)), "concurrency 1");
        q.finish(first, false, &f, now);
        assert_eq!(sent(&mut q, &f, now), ["evt_1", "evt_2"]);
        let Next::Wait(Some(at)) = q.next(&f, now) else { panic!("retry should be scheduled") };
        assert_eq!(at - now, Duration::from_millis(50));
        assert_eq!(sent(&mut q, &f, at), ["evt_0"]);
        assert_eq!(q.stats.retried, 1);
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn reorder_window_releases_a_shuffled_batch() {
        let f = DeliveryFaults { reorder_window: 5, ..DeliveryFaults::default() };
        let now = Instant::now();
        let mut q = Queue::default();
        (0..4).for_each(|n| q.push(job(n), &f, now));
        assert!(sent(&mut q, &f, now).is_empty(), "held until the window fills");
        q.push(job(4), &f, now);
        let mut got = sent(&mut q, &f, now);
        got.sort();
        assert_eq!(got, ["evt_0", "evt_1", "evt_2", "evt_3", "evt_4"]);
    }

    #[test]
    fn event_time_windows_shuffle_within_and_keep_order_across() {
        let f = DeliveryFaults { reorder_window_secs: 5, reorder_window_ms: 60_000, ..DeliveryFaults::default() };
        let now = Instant::now();
        let mut q = Queue::default();
        // Events of seconds 100..=104 (one window), then 105..=106 (the next).
        for n in 0..40u32 {
            q.push(timed_job(n, 100 + i64::from(n / 8)), &f, now);
        }
        assert!(sent(&mut q, &f, now).is_empty(), "held while the window is open");
        for n in 40..56u32 {
            q.push(timed_job(n, 100 + i64::from(n / 8)), &f, now);
        }
        let first: Vec<String> = sent(&mut q, &f, now);
        assert_eq!(first.len(), 40, "the first window is released when the second starts");
        let mut sorted = first.clone();
        sorted.sort_by_key(|e| e[4..].parse::<u32>().unwrap());
        let expected: Vec<String> = (0..40).map(|n| format!("evt_{n}")).collect();
        assert_eq!(sorted, expected);
        assert_ne!(first, expected, "40 events shuffled stay in order with probability 1/40!");
        assert!(sent(&mut q, &f, now).is_empty(), "the last window waits for reorder_window_ms");
        let later = now + Duration::from_secs(61);
        let mut rest = sent(&mut q, &f, later);
        rest.sort();
        assert_eq!(rest.len(), 16);
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn drop_and_duplicate_are_counted() {
        let now = Instant::now();
        let mut q = Queue::default();
        let drop_all = DeliveryFaults { drop_fraction: 1.0, ..DeliveryFaults::default() };
        q.push(job(0), &drop_all, now);
        let dup_all = DeliveryFaults { duplicate_fraction: 1.0, ..DeliveryFaults::default() };
        q.push(job(1), &dup_all, now);
        assert_eq!(sent(&mut q, &dup_all, now), ["evt_1", "evt_1"]);
        assert_eq!((q.stats.dropped, q.stats.duplicated), (1, 1));
    }
}
