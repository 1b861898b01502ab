//! Webhook endpoints (`endpoints`: the registry, which events each wants,
//! the API object), Stripe's signature scheme, and the background task that
//! delivers each event to every endpoint that wants it, with retries and
//! faults (`queue`).
//!
//! Signing: `Stripe-Signature: t=<unix>,v1=<hex hmac_sha256(secret,
//! "{t}.{body}")>`, one `v1=` per active secret (several while a secret is
//! being rolled), with `t` taken from the real clock at each attempt, as
//! receivers check it against theirs.

mod endpoints;
mod queue;

pub(crate) use endpoints::{deleted_json, is_known_event_type};
pub use endpoints::{WebhookEndpoint, MAX_ENDPOINTS_PER_ACCOUNT};
pub use queue::DeliveryStats;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::{watch, Notify};

use crate::clock::real_now;
use crate::events::Emitted;
use crate::faults::DeliveryFaults;
use crate::objects::random_id;
use crate::Shared;
use queue::{Job, Next, Queue};

/// The value of a `Stripe-Signature` header for `body` sent at `t`.
pub fn signature_header(secrets: &[String], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, t, body));
    }
    header
}

/// Hex HMAC-SHA256 of `"{t}.{body}"` under `secret`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// One HTTP delivery attempt, kept while the delivery log is on
/// ([`crate::Sim::record_deliveries`]): tests use it to know exactly which
/// events a receiver acknowledged, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub event: String,
    /// The endpoint's id (`we_…`).
    pub endpoint: String,
    /// The HTTP status, or `None` when no answer came (refused, reset, timeout).
    pub status: Option<u16>,
    /// 1 for the first try.
    pub attempt: u32,
    pub at: Instant,
}

impl DeliveryRecord {
    pub fn acknowledged(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

struct HubState {
    endpoints: Vec<WebhookEndpoint>,
    queue: Queue,
    /// Every attempt, while recording is on.
    log: Option<Vec<DeliveryRecord>>,
}

/// Endpoints plus the delivery queue. A std mutex: it is held only for
/// queue bookkeeping, never across an HTTP call.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    /// Wakes the worker when work arrives or a slot frees.
    wake: Notify,
    /// Wakes `wait_idle` callers on every change.
    changed: Notify,
    client: reqwest::Client,
}

impl Hub {
    pub fn new() -> Result<Hub, reqwest::Error> {
        let client = reqwest::Client::builder().user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks)").build()?;
        Ok(Hub {
            state: Mutex::new(HubState { endpoints: Vec::new(), queue: Queue::default(), log: None }),
            wake: Notify::new(),
            changed: Notify::new(),
            client,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock leaves plain counters behind; they
        // are still meaningful, so keep going rather than poison the sim.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register an endpoint under a fresh `we_…` id. With `limit`, refuse
    /// (`None`) when its account already has that many.
    pub fn add_endpoint(&self, mut ep: WebhookEndpoint, limit: Option<usize>) -> Option<WebhookEndpoint> {
        let mut st = self.lock();
        if limit.is_some_and(|max| st.endpoints.iter().filter(|e| e.account == ep.account).count() >= max) {
            return None;
        }
        ep.id = loop {
            let id = random_id(&mut fastrand::Rng::new(), "we_1", 23);
            if !st.endpoints.iter().any(|e| e.id == id) {
                break id;
            }
        };
        st.endpoints.push(ep.clone());
        Some(ep)
    }

    pub fn endpoint(&self, id: &str) -> Option<WebhookEndpoint> {
        self.lock().endpoints.iter().find(|e| e.id == id).cloned()
    }

    /// Change an endpoint in place; returns it as changed.
    pub fn update_endpoint(&self, id: &str, change: impl FnOnce(&mut WebhookEndpoint)) -> Option<WebhookEndpoint> {
        let mut st = self.lock();
        let ep = st.endpoints.iter_mut().find(|e| e.id == id)?;
        change(ep);
        Some(ep.clone())
    }

    pub fn remove_endpoint(&self, id: &str) -> bool {
        let mut st = self.lock();
        let before = st.endpoints.len();
        st.endpoints.retain(|e| e.id != id);
        st.endpoints.len() != before
    }

    /// Every endpoint, in registration order.
    pub fn endpoints(&self) -> Vec<WebhookEndpoint> {
        self.lock().endpoints.clone()
    }

    /// The endpoints an event of `account` of this type goes to, each with
    /// its pinned API version (`None`: the account default).
    pub fn targets(&self, account: &str, event_type: &str) -> Vec<(Arc<str>, Option<String>)> {
        let st = self.lock();
        st.endpoints
            .iter()
            .filter(|e| e.account == account && e.wants(event_type))
            .map(|e| (Arc::from(e.id.as_str()), e.api_version.clone()))
            .collect()
    }

    /// Queue one delivery of the event per `(endpoint, body)`.
    pub fn enqueue(&self, ev: &Emitted, deliveries: Vec<(Arc<str>, Arc<str>)>, faults: &DeliveryFaults) {
        if deliveries.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut st = self.lock();
        for (endpoint, body) in deliveries {
            let job = Job { endpoint, event: ev.id.clone(), body, created: ev.created, attempt: 0 };
            st.queue.push(job, faults, now);
        }
        drop(st);
        self.wake.notify_one();
        self.changed.notify_waiters();
    }

    pub fn stats(&self) -> DeliveryStats {
        let st = self.lock();
        DeliveryStats { pending: st.queue.pending() as u64, ..st.queue.stats }
    }

    pub fn reset_stats(&self) {
        self.lock().queue.stats = DeliveryStats::default();
    }

    /// Start (with an empty log) or stop recording every attempt.
    pub fn record(&self, on: bool) {
        self.lock().log = on.then(Vec::new);
    }

    pub fn log(&self) -> Vec<DeliveryRecord> {
        self.lock().log.clone().unwrap_or_default()
    }

    fn is_idle(&self) -> bool {
        self.lock().queue.pending() == 0
    }

    /// Resolve once nothing is queued, held, scheduled or in flight.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Register before checking, so a change in between still wakes us.
            notified.as_mut().enable();
            if self.is_idle() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_idle();
            }
        }
    }
}

enum Step {
    Send(Job, Box<WebhookEndpoint>),
    Wait(Option<Instant>),
}

/// The delivery loop: start every sendable delivery, sleep until the next
/// one is due or new work arrives, stop on shutdown.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let faults = shared.delivery_faults();
        let step = {
            let mut st = shared.hub.lock();
            loop {
                match st.queue.next(&faults, Instant::now()) {
                    Next::Send(job) => {
                        match st.endpoints.iter().find(|e| *e.id == *job.endpoint) {
                            Some(ep) if ep.is_enabled() => break Step::Send(job, Box::new(ep.clone())),
                            // The endpoint was removed or disabled after the
                            // event: Stripe sends nothing to it any more.
                            _ => st.queue.discard(),
                        }
                    }
                    Next::Wait(at) => break Step::Wait(at),
                }
            }
        };
        match step {
            Step::Send(job, ep) => {
                tokio::spawn(attempt(shared.clone(), job, ep, faults));
            }
            Step::Wait(at) => {
                // A discarded job may have been the last one pending.
                shared.hub.changed.notify_waiters();
                let sleep = async {
                    match at {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shared.hub.wake.notified() => {}
                    _ = sleep => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// One HTTP attempt; the outcome goes back into the queue.
async fn attempt(shared: Arc<Shared>, job: Job, ep: Box<WebhookEndpoint>, f: DeliveryFaults) {
    let t = real_now();
    let signature = signature_header(&ep.secrets, t, job.body.as_bytes());
    let result = shared
        .hub
        .client
        .post(&ep.url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .timeout(Duration::from_millis(f.timeout_ms.max(1)))
        .body(job.body.to_string())
        .send()
        .await;
    let status = match result {
        Ok(resp) => Some(resp.status().as_u16()),
        Err(e) => {
            tracing::debug!(endpoint = %ep.url, event = %job.event, error = %e, "webhook attempt failed");
            None
        }
    };
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let now = Instant::now();
    let mut st = shared.hub.lock();
    if let Some(log) = st.log.as_mut() {
        let record = DeliveryRecord {
            event: job.event.to_string(),
            endpoint: ep.id.clone(),
            status,
            attempt: job.attempt + 1,
            at: now,
        };
        log.push(record);
    }
    st.queue.finish(job, ok, &f, now);
    drop(st);
    shared.hub.wake.notify_one();
    shared.hub.changed.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_has_one_v1_per_secret() {
        let h = signature_header(&["whsec_a".into(), "whsec_b".into()], 1700000000, b"{}");
        let parts: Vec<&str> = h.split(',').collect();
        assert_eq!(parts[0], "t=1700000000");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], format!("v1={}", sign("whsec_a", 1700000000, b"{}")));
    }
}
