//! Wiring of `serve`: pool, migrations, Stripe client, apply workers, the
//! HTTP listener — started together and stopped together by one
//! cancellation token. Tests start the same thing in-process on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::mirror::Mirror;
use crate::server::{self, AppState};
use crate::store::Store;
use crate::stripe_client::{ApiError, StripeClient};
use crate::worker::Worker;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot connect to Postgres: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Api(#[from] ApiError),
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
        let pool = crate::db::connect(config.database_url()?, config.database.max_connections).await?;
        let metrics = Metrics::default();
        let api = match config.secret_key() {
            Ok(key) => Some(Arc::new(StripeClient::new(&config.stripe, key.clone(), metrics.clone())?)),
            Err(_) => None,
        };
        let mirror = Mirror { store: Arc::new(Store::new(&config.database.schema)), api };
        Ok(Context { pool, mirror, metrics })
    }
}

/// A running daemon.
pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub context: Context,
    tasks: JoinSet<()>,
}

impl Running {
    /// Waits until every task has stopped (after `shutdown` is cancelled).
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.join().await;
    }
}

/// Starts `serve`: migrations, workers, listener. Returns once listening.
pub async fn start(config: &Config) -> Result<Running, StartError> {
    let secrets = Arc::new(config.webhook_secrets()?.to_vec());
    let addr = config.listen_addr()?;
    let context = Context::connect(config).await?;
    crate::db::migrate(&context.pool, &config.database.schema).await?;
    let listener = server::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let shutdown = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    for _ in 0..config.apply.workers {
        let worker = Worker {
            pool: context.pool.clone(),
            mirror: context.mirror.clone(),
            config: config.apply.clone(),
            metrics: context.metrics.clone(),
            wake: wake.clone(),
        };
        tasks.spawn(worker.run(shutdown.clone()));
    }
    let inbox = crate::inbox_writer::InboxWriter::spawn(context.pool.clone(), 4, &mut tasks);
    let state = AppState {
        pool: context.pool.clone(),
        inbox,
        secrets,
        tolerance: config.tolerance(),
        metrics: context.metrics.clone(),
        wake,
        shutdown: shutdown.clone(),
    };
    if let Some(api) = context.mirror.api.clone() {
        let puller = Arc::new(crate::sync::Puller { pool: context.pool.clone(), mirror: context.mirror.clone(), api });
        let events = crate::schedule::Schedule::parse(&config.reconcile.events_schedule)
            .map_err(|e| ConfigError { key: "reconcile.events_schedule".into(), message: e.to_string() })?;
        let full = crate::schedule::Schedule::parse(&config.reconcile.full_schedule)
            .map_err(|e| ConfigError { key: "reconcile.full_schedule".into(), message: e.to_string() })?;
        let overlap = config.reconcile.overlap_secs;
        tasks.spawn(crate::jobs::schedule(puller, events, full, overlap, context.metrics.clone(), shutdown.clone()));
    } else {
        tracing::warn!("no STRIPE_SECRET_KEY: scheduled reconcile is off and same-second ties cannot be settled");
    }
    let path = config.webhook.path.clone();
    let max_body = config.webhook.max_body_bytes;
    tasks.spawn(async move { server::serve(listener, state, &path, max_body).await });
    tracing::info!(%addr, path = %config.webhook.path, workers = config.apply.workers, "serving");
    Ok(Running { addr, shutdown, context, tasks })
}
