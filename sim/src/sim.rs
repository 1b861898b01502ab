//! The running simulator: configuration, the shared state every task sees,
//! and the `Sim` handle (start, addresses, clock, faults, webhooks,
//! snapshots, shutdown). Keys and API versions on the handle are in
//! `handle.rs`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::account::Accounts;
use crate::clock::Clock;
use crate::faults::{ApiFaults, DeliveryFaults, Faults, RequestStats, Traffic};
use crate::store::State;
use crate::versions::{ApiVersion, API_VERSION};
use crate::webhooks::{self, DeliveryRecord, DeliveryStats, Hub, WebhookEndpoint};
use crate::{api, SimError};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// The main account's secret key. Its prefix sets the mode: `sk_live_`
    /// or `rk_live_` make every object and event `livemode: true`. Default
    /// `sk_test_sim`.
    pub api_key: String,
    /// The main account's id, what `GET /v1/account` answers. Default
    /// `acct_1SimMain00000000`.
    pub account_id: String,
    /// The account's default API version: what requests without
    /// `Stripe-Version` and events (when they happen) are rendered in.
    /// Default the pinned `2026-08-26.dahlia`; see
    /// [`Sim::set_default_api_version`].
    pub default_api_version: String,
    /// Webhook endpoints to register at start: `(url, secrets)`.
    pub webhooks: Vec<(String, Vec<String>)>,
    /// Initial fault knobs.
    pub faults: Faults,
    /// How long `/v1/events` keeps events (Stripe: 30 days).
    pub event_retention_secs: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: "sk_test_sim".to_owned(),
            account_id: "acct_1SimMain00000000".to_owned(),
            default_api_version: API_VERSION.to_owned(),
            webhooks: Vec::new(),
            faults: Faults::default(),
            event_retention_secs: 30 * 24 * 3600,
        }
    }
}

/// State shared by the handle, the HTTP server and the delivery task.
pub(crate) struct Shared {
    /// A std RwLock: every critical section is short, CPU-only work (index
    /// lookups, string concatenation) and never spans an `.await`, so an
    /// async lock would only add overhead. Readers (API pages) run in
    /// parallel; mutations are serialized, which also fixes event order.
    state: RwLock<State>,
    pub clock: Clock,
    pub api_key: String,
    /// The main account (`acct_…`).
    pub account_id: String,
    /// Live mode (from the main key's prefix).
    pub livemode: bool,
    /// Every key: which account it reads and what it may not do.
    pub accounts: Accounts,
    /// What another account's key reads: nothing.
    pub empty: State,
    default_version: Mutex<ApiVersion>,
    pub event_retention_secs: i64,
    faults: Mutex<Faults>,
    traffic: Mutex<Traffic>,
    pub hub: Hub,
}

impl Shared {
    // Lock poisoning would mean a panic mid-update; the simulator's data is
    // still the best answer available, so recover the guard.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn traffic(&self) -> MutexGuard<'_, Traffic> {
        self.traffic.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn delivery_faults(&self) -> DeliveryFaults {
        self.faults().delivery.clone()
    }

    pub fn api_faults(&self) -> ApiFaults {
        self.faults().api.clone()
    }

    /// The account's default API version now.
    pub fn default_version(&self) -> ApiVersion {
        *self.default_version.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_default_version(&self, v: ApiVersion) {
        *self.default_version.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    /// An endpoint as the Dashboard makes one: all events, `api_version: null`.
    pub(crate) fn add_dashboard_endpoint(&self, url: String, secrets: Vec<String>) -> WebhookEndpoint {
        let ep = WebhookEndpoint {
            account: self.account_id.clone(),
            livemode: self.livemode,
            created: self.clock.now(),
            ..WebhookEndpoint::dashboard(url, secrets)
        };
        // No limit: tests may register as many as they like.
        self.hub.add_endpoint(ep.clone(), None).unwrap_or(ep)
    }
}

/// Stops the server and the delivery task when the last handle goes away.
struct Running {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// A running simulator. Cheap to clone; the last clone dropped stops it.
#[derive(Clone)]
pub struct Sim {
    pub(crate) shared: Arc<Shared>,
    running: Arc<Running>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("addr", &self.running.addr).finish()
    }
}

impl Sim {
    /// Bind, then spawn the HTTP server and the webhook delivery task.
    pub async fn start(config: SimConfig) -> Result<Sim, SimError> {
        if !crate::versions::is_known_api_version(&config.default_api_version) {
            return Err(SimError::UnknownApiVersion(config.default_api_version));
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr: config.listen, source })?;
        let default_version = ApiVersion::parse(&config.default_api_version).unwrap_or_else(ApiVersion::pinned);
        let hub = Hub::new()?;
        let livemode = crate::account::is_live_key(&config.api_key);
        let clock = Clock::default();
        let shared = Arc::new(Shared {
            state: RwLock::new(State::new(livemode)),
            accounts: Accounts::new(&config.api_key, &config.account_id, clock.now()),
            empty: State::default(),
            default_version: Mutex::new(default_version),
            clock,
            api_key: config.api_key,
            account_id: config.account_id,
            livemode,
            event_retention_secs: config.event_retention_secs,
            faults: Mutex::new(config.faults),
            traffic: Mutex::new(Traffic::default()),
            hub,
        });
        for (url, secrets) in config.webhooks {
            shared.add_dashboard_endpoint(url, secrets);
        }
        let (tx, rx) = watch::channel(false);
        let mut stop = rx.clone();
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let server = warp::serve(api::routes(shared.clone())).incoming(listener).graceful(signal).run();
        let server = tokio::spawn(server);
        tokio::spawn(webhooks::run(shared.clone(), rx));
        tracing::info!(%addr, "stripe simulator listening");
        Ok(Sim { shared, running: Arc::new(Running { addr, shutdown: tx, server: Mutex::new(Some(server)) }) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// `http://127.0.0.1:PORT` — what `STRIPE_API_BASE` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Stop serving and delivering. Waits up to a second for the server to
    /// finish open requests, then aborts it.
    pub async fn shutdown(&self) {
        let _ = self.running.shutdown.send(true);
        let handle = self.running.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut handle) = handle {
            if tokio::time::timeout(Duration::from_secs(1), &mut handle).await.is_err() {
                handle.abort();
            }
        }
    }

    /// Current simulated time (Unix seconds).
    pub fn now(&self) -> i64 {
        self.shared.clock.now()
    }

    /// Pin the clock at `ts`, or follow real time again with `None`.
    pub fn set_clock(&self, ts: Option<i64>) {
        self.shared.clock.set(ts);
    }

    /// Move the clock by `secs` (negative: backwards).
    pub fn advance(&self, secs: i64) {
        self.shared.clock.advance(secs);
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults().clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults() = faults;
    }

    /// Change some knobs in place: `sim.update_faults(|f| f.api.rate_limit_fraction = 0.5)`.
    pub fn update_faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.shared.faults());
    }

    /// Register an endpoint as the Dashboard makes one (every event type,
    /// `api_version: null`: events in the account's default version at the
    /// time they happen); every later event is delivered to it.
    pub fn add_webhook_endpoint(&self, url: impl Into<String>, secrets: Vec<String>) -> WebhookEndpoint {
        self.shared.add_dashboard_endpoint(url.into(), secrets)
    }

    /// Replace an endpoint's signing secrets (rotation: pass old and new).
    pub fn set_webhook_secrets(&self, endpoint_id: &str, secrets: Vec<String>) -> Result<(), SimError> {
        match self.shared.hub.update_endpoint(endpoint_id, |e| e.secrets = secrets) {
            Some(_) => Ok(()),
            None => Err(SimError::not_found("webhook_endpoint", endpoint_id)),
        }
    }

    pub fn remove_webhook_endpoint(&self, endpoint_id: &str) -> Result<(), SimError> {
        match self.shared.hub.remove_endpoint(endpoint_id) {
            true => Ok(()),
            false => Err(SimError::not_found("webhook_endpoint", endpoint_id)),
        }
    }

    /// Every endpoint of every account, registered here or created through
    /// `POST /v1/webhook_endpoints`, in registration order.
    pub fn webhook_endpoints(&self) -> Vec<WebhookEndpoint> {
        self.shared.hub.endpoints()
    }

    /// One endpoint by id.
    pub fn webhook_endpoint(&self, endpoint_id: &str) -> Option<WebhookEndpoint> {
        self.shared.hub.endpoint(endpoint_id)
    }

    /// Wait until no delivery is queued, held, scheduled or in flight.
    pub async fn wait_idle(&self, timeout: Duration) -> Result<(), SimError> {
        match self.shared.hub.wait_idle(timeout).await {
            true => Ok(()),
            false => Err(SimError::Timeout(timeout)),
        }
    }

    /// `wait_idle` with a generous 60 s bound (retries with backoff take a
    /// while when the receiver is down).
    pub async fn flush_webhooks(&self) -> Result<(), SimError> {
        self.wait_idle(Duration::from_secs(60)).await
    }

    pub fn delivery_stats(&self) -> DeliveryStats {
        self.shared.hub.stats()
    }

    /// Start (with an empty log) or stop recording every webhook attempt.
    pub fn record_deliveries(&self, on: bool) {
        self.shared.hub.record(on);
    }

    /// Every attempt since recording started, in completion order.
    pub fn delivery_log(&self) -> Vec<DeliveryRecord> {
        self.shared.hub.log()
    }

    pub fn request_stats(&self) -> RequestStats {
        self.shared.traffic().stats.clone()
    }

    /// Zero the API and delivery counters.
    pub fn reset_stats(&self) {
        self.shared.traffic().reset();
        self.shared.hub.reset_stats();
    }
}
