//! Wiring of `serve`: pool, migrations, Stripe client, apply workers, the
//! HTTP listener — started together and stopped together by one
//! cancellation token. Tests start the same thing in-process on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::ops::metrics::Metrics;
use crate::ops::service::Heartbeat;
use crate::push::resolver::Resolver;
use crate::push::server::{self, AppState};
use crate::push::worker::Worker;
use crate::storage::mirror::Mirror;
use crate::storage::store::Store;
use crate::stripe::client::{ApiError, StripeClient};

/// Connections `serve` keeps for acknowledging webhooks, beside
/// `database.max_connections` for everything else.
pub const ACK_CONNECTIONS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot connect to Postgres: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] crate::storage::db::SchemaError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Identity(#[from] crate::storage::identity::IdentityError),
}

/// Everything a command needs to touch the mirror.
#[derive(Clone)]
pub struct Context {
    pub pool: PgPool,
    pub mirror: Mirror,
    pub metrics: Metrics,
}

impl Context {
    /// Connects, and builds the Stripe client when a key is configured.
    pub async fn connect(config: &Config) -> Result<Context, StartError> {
        let pool = crate::storage::db::connect(config.database_url()?, config.database.max_connections).await?;
        let metrics = Metrics::default();
        let api = match config.secret_key() {
            Ok(key) => Some(Arc::new(StripeClient::new(&config.stripe, key.clone(), metrics.clone())?)),
            Err(_) => None,
        };
        let store = Arc::new(Store::new(&config.database.schema));
        let mirror = Mirror { store, api, metrics: metrics.clone(), types: config.types()? };
        Ok(Context { pool, mirror, metrics })
    }
}

/// A running daemon.
pub struct Running {
    pub addr: SocketAddr,
    /// The metrics listener's address, when it has its own.
    pub metrics_addr: Option<SocketAddr>,
    /// Cancel to begin shutdown: webhooks get 503, workers and the scheduler
    /// stop after what they are doing; then the listeners close.
    pub shutdown: CancellationToken,
    pub context: Context,
    /// The connections that acknowledge webhooks (see [`ACK_CONNECTIONS`]).
    pub ack_pool: PgPool,
    /// Apply workers, the scheduler, the watchdog.
    background: JoinSet<()>,
    /// Listeners and the inbox writers that answer their requests.
    http: JoinSet<()>,
    http_stop: CancellationToken,
    stop_timeout: Duration,
}

impl Running {
    /// Waits for `shutdown`, then drains in order: the workers finish their
    /// transactions and the scheduler its page, while the listener answers
    /// 503; then the listener finishes the requests in flight and closes.
    /// Returns false when that took longer than `service.shutdown_timeout_secs`
    /// and the rest was abandoned (the inbox keeps what was acknowledged).
    pub async fn join(mut self) -> bool {
        self.shutdown.cancelled().await;
        let drain = async {
            while self.background.join_next().await.is_some() {}
            self.http_stop.cancel();
            while self.http.join_next().await.is_some() {}
        };
        let drained = tokio::time::timeout(self.stop_timeout, drain).await.is_ok();
        if !drained {
            tracing::warn!(timeout_s = self.stop_timeout.as_secs(), "shutdown timed out; abandoning the rest");
            self.background.abort_all();
            self.http.abort_all();
        }
        drained
    }

    pub async fn stop(self) -> bool {
        self.shutdown.cancel();
        self.join().await
    }
}

/// Starts `serve`: migrations, workers, listener. Returns once listening.
pub async fn start(config: &Config) -> Result<Running, StartError> {
    let secrets = Arc::new(config.webhook_secrets()?.to_vec());
    let addr = config.listen_addr()?;
    let metrics_addr = config.metrics_addr()?;
    let context = Context::connect(config).await?;
    let migrating = crate::storage::db::migrate(&context.pool, &config.database.schema);
    crate::ops::service::extending_start_timeout("applying database migrations", migrating).await?;
    let last_reconcile: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(finished_at))::float8 FROM stripe_mirror.runs
         WHERE kind LIKE 'reconcile%' AND status = 'succeeded'",
    )
    .fetch_one(&context.pool)
    .await?;
    context.metrics.set_last_reconcile_success(last_reconcile.unwrap_or(0.0));
    let listener = server::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let metrics_listener = match metrics_addr {
        Some(a) => Some(server::bind(a).await.map_err(|source| StartError::Bind { addr: a, source })?),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let shutdown = CancellationToken::new();
    let http_stop = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let mut background = JoinSet::new();
    let key = config.secret_key().ok();
    let scope = crate::storage::identity::scope_at_start(&context.pool, key, &config.stripe.api_version).await?;
    if let Some(key) = key {
        let control = crate::stripe::control::Control::new(&config.stripe, key)
            .map_err(|e| ConfigError { key: "stripe.api_base".into(), message: e.to_string() })?;
        // In the background: a Stripe outage must not keep webhooks out.
        background.spawn(crate::storage::identity::learn(
            context.pool.clone(),
            Arc::new(control),
            key.clone(),
            config.stripe.account_id.clone(),
            config.stripe.api_version.clone(),
            scope.clone(),
            shutdown.clone(),
        ));
    }
    let resolver = Resolver::spawn(
        context.pool.clone(),
        context.mirror.clone(),
        config.apply.clone(),
        context.metrics.clone(),
        &mut background,
        shutdown.clone(),
    );
    let mut heartbeats = Vec::new();
    for _ in 0..config.apply.workers {
        let worker = Worker {
            pool: context.pool.clone(),
            mirror: context.mirror.clone(),
            config: config.apply.clone(),
            metrics: context.metrics.clone(),
            wake: wake.clone(),
            heartbeat: Heartbeat::default(),
            scope: scope.clone(),
            resolver: resolver.clone(),
        };
        heartbeats.push(worker.heartbeat.clone());
        background.spawn(worker.run(shutdown.clone()));
    }
    background.spawn(crate::ops::service::watchdog(heartbeats, shutdown.clone()));
    // Retention: the privacy setting where its trigger reads it, and the
    // daily prune (one replica at a time, under its advisory lock).
    crate::ops::privacy::store_setting(&context.pool, config.privacy.redact_deleted_customers).await?;
    background.spawn(crate::ops::retention::daily(
        context.pool.clone(),
        context.mirror.store.clone(),
        config.retention.clone(),
        config.privacy.clone(),
        shutdown.clone(),
    ));
    if let Some(puller) = crate::pull::sync::Puller::new(context.pool.clone(), context.mirror.clone(), config) {
        let puller = Arc::new(puller);
        let events = crate::ops::schedule::Schedule::parse(&config.reconcile.events_schedule)
            .map_err(|e| ConfigError { key: "reconcile.events_schedule".into(), message: e.to_string() })?;
        let full = crate::ops::schedule::Schedule::parse(&config.reconcile.full_schedule)
            .map_err(|e| ConfigError { key: "reconcile.full_schedule".into(), message: e.to_string() })?;
        let overlap = config.reconcile.overlap_secs;
        background.spawn(crate::pull::jobs::schedule(
            puller,
            events,
            full,
            overlap,
            context.metrics.clone(),
            shutdown.clone(),
        ));
    } else {
        tracing::warn!("no STRIPE_SECRET_KEY: scheduled reconcile is off and same-second ties cannot be settled");
    }
    let mut http = JoinSet::new();
    // The acknowledgements have connections of their own: a sweep or a burst
    // of applies using the whole main pool never delays a 2xx.
    let ack_pool = crate::storage::db::connect_for_acks(config.database_url()?, ACK_CONNECTIONS).await?;
    let inbox = crate::push::inbox_writer::InboxWriter::spawn(ack_pool.clone(), ACK_CONNECTIONS as usize, &mut http);
    let state = AppState {
        pool: context.pool.clone(),
        inbox,
        secrets,
        tolerance: config.tolerance(),
        metrics: context.metrics.clone(),
        wake,
        shutdown: shutdown.clone(),
    };
    let routes = server::routes(state.clone(), &config.webhook, metrics_listener.is_none());
    let max_connections = config.webhook.max_connections;
    http.spawn(server::serve(listener, routes, http_stop.clone(), max_connections));
    if let Some(l) = metrics_listener {
        http.spawn(server::serve(l, server::admin_routes(state), http_stop.clone(), max_connections));
    }
    tracing::info!(%addr, metrics = ?metrics_addr, path = %config.webhook.path, workers = config.apply.workers, "serving");
    let stop_timeout = Duration::from_secs(config.service.shutdown_timeout_secs);
    Ok(Running { addr, metrics_addr, shutdown, context, ack_pool, background, http, http_stop, stop_timeout })
}
