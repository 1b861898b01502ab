//! HTTP: the webhook endpoint, `/healthz`, `/readyz`, `/metrics`.
//!
//! The webhook path, top to bottom: the filter states the contract (path,
//! POST, body size, raw bytes) → [`receive`] verifies the signature on the raw
//! bytes → parses the envelope → stores it in the inbox (one committed
//! statement) → replies. Every status code is decided in [`Refusal::status`]
//! or [`recover`], nowhere else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::event::Envelope;
use crate::inbox::{self, Stored};
use crate::inbox_writer::{InboxWriter, StoreError};
use crate::metrics::Metrics;
use crate::signature::{self, SignatureError};

/// What the HTTP layer needs; cheap to clone into every request.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Group-commits events into the inbox.
    pub inbox: InboxWriter,
    pub secrets: Arc<Vec<SecretString>>,
    pub tolerance: Duration,
    pub metrics: Metrics,
    /// Wakes the apply workers when an event lands.
    pub wake: Arc<Notify>,
    /// Cancelled on shutdown: requests arriving after get 503.
    pub shutdown: CancellationToken,
}

/// Why a webhook was not accepted.
#[derive(Debug)]
enum Refusal {
    Signature(SignatureError),
    NotAnEvent,
    NotStorable,
    Unavailable,
    ShuttingDown,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Signature(_) | Refusal::NotAnEvent | Refusal::NotStorable => StatusCode::BAD_REQUEST,
            // Stripe retries 5xx with backoff for up to three days.
            Refusal::Unavailable | Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Refusal::Signature(e) => e.reason(),
            Refusal::NotAnEvent => "not_an_event",
            Refusal::NotStorable => "not_storable",
            Refusal::Unavailable => "database_unavailable",
            Refusal::ShuttingDown => "shutting_down",
        }
    }
}

/// Every route of the main listener: the webhook, `/healthz`, `/readyz`,
/// and `/metrics` unless metrics have their own listener ([`admin_routes`]).
pub fn routes(
    state: AppState,
    webhook_path: &str,
    max_body: u64,
    with_metrics: bool,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let path = Arc::new(webhook_path.to_string());
    let on_path = warp::path::full()
        .and_then(move |full: warp::path::FullPath| {
            let path = path.clone();
            async move {
                if full.as_str() == path.as_str() {
                    Ok(())
                } else {
                    Err(warp::reject::not_found())
                }
            }
        })
        .untuple_one();
    let webhook = on_path
        .and(warp::post())
        .and(warp::body::content_length_limit(max_body))
        .and(warp::header::optional::<String>("stripe-signature"))
        .and(warp::body::bytes())
        .and(with(state.clone()))
        .then(receive);
    let metrics_for_recover = state.metrics.clone();
    let admin = if with_metrics { admin_routes(state).boxed() } else { health_routes(state).boxed() };
    webhook.or(admin).unify().recover(move |r| recover(r, metrics_for_recover.clone())).unify()
}

fn health_routes(state: AppState) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let healthz = warp::path!("healthz").and(warp::get()).map(|| "ok".into_response());
    let readyz = warp::path!("readyz").and(warp::get()).and(with(state)).then(readyz);
    healthz.or(readyz).unify()
}

/// `/healthz`, `/readyz`, `/metrics`: what the metrics listener serves.
pub fn admin_routes(state: AppState) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let metrics = warp::path!("metrics").and(warp::get()).and(with(state.clone())).then(metrics);
    health_routes(state).or(metrics).unify()
}

fn with(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

async fn receive(signature: Option<String>, body: Bytes, state: AppState) -> warp::reply::Response {
    match accept(signature.as_deref(), &body, &state).await {
        Ok((stored, event_type)) => {
            let result = if stored == Stored::New { "stored" } else { "duplicate" };
            state.metrics.webhook_received(result);
            if stored == Stored::New {
                state.wake.notify_waiters();
            } else {
                state.metrics.event_processed("duplicate", &event_type);
            }
            json_reply(StatusCode::OK, &serde_json::json!({"received": true, "result": result}))
        }
        Err(refusal) => {
            state.metrics.webhook_rejected(refusal.reason());
            // One line, no payload, no secret.
            tracing::warn!(
                reason = refusal.reason(),
                status = refusal.status().as_u16(),
                bytes = body.len(),
                "webhook refused"
            );
            json_reply(refusal.status(), &serde_json::json!({"error": refusal.reason()}))
        }
    }
}

/// Verifies and stores one webhook; how it was stored, and the event type.
async fn accept(signature: Option<&str>, body: &Bytes, state: &AppState) -> Result<(Stored, String), Refusal> {
    if state.shutdown.is_cancelled() {
        return Err(Refusal::ShuttingDown);
    }
    let now = chrono::Utc::now().timestamp();
    signature::verify(signature, body, &state.secrets, now, state.tolerance).map_err(Refusal::Signature)?;
    let envelope = Envelope::parse(body).map_err(|_| Refusal::NotAnEvent)?;
    let text = std::str::from_utf8(body).map_err(|_| Refusal::NotAnEvent)?;
    let event_type = envelope.event_type.clone();
    let stored = state.inbox.store(envelope, text.to_string()).await.map_err(|e| match e {
        StoreError::NotStorable(_) => Refusal::NotStorable,
        StoreError::Unavailable(e) => {
            tracing::error!(error = %e, "cannot store webhook event");
            Refusal::Unavailable
        }
    })?;
    Ok((stored, event_type))
}

async fn readyz(state: AppState) -> warp::reply::Response {
    if state.shutdown.is_cancelled() {
        return warp::reply::with_status("shutting down", StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    match crate::db::migrations_current(&state.pool).await {
        Ok(true) => "ready".into_response(),
        Ok(false) => warp::reply::with_status("migrations pending", StatusCode::SERVICE_UNAVAILABLE).into_response(),
        Err(_) => warp::reply::with_status("database unreachable", StatusCode::SERVICE_UNAVAILABLE).into_response(),
    }
}

async fn metrics(state: AppState) -> warp::reply::Response {
    let (depth, oldest) = inbox::depth(&state.pool).await.unwrap_or((-1, -1.0));
    let queue = crate::db::notify_queue(&state.pool).await;
    let (usage, skipped) = queue.map(|q| (q.usage, q.skipped)).unwrap_or((-1.0, -1));
    state.metrics.set_notify_queue(usage, skipped);
    let body = state.metrics.render(depth, oldest);
    warp::reply::with_header(body, "content-type", crate::metrics::CONTENT_TYPE).into_response()
}

/// Maps warp's rejections to the answers in DESIGN.md's bad-input table.
async fn recover(rejection: Rejection, metrics: Metrics) -> Result<warp::reply::Response, Infallible> {
    use warp::reject::{InvalidHeader, LengthRequired, MethodNotAllowed, PayloadTooLarge};
    let (status, reason) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not_found")
    } else if rejection.find::<PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    } else if rejection.find::<MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    } else if rejection.find::<LengthRequired>().is_some() {
        (StatusCode::LENGTH_REQUIRED, "length_required")
    } else if rejection.find::<InvalidHeader>().is_some() {
        (StatusCode::BAD_REQUEST, "signature_malformed")
    } else {
        (StatusCode::BAD_REQUEST, "bad_request")
    };
    if status != StatusCode::NOT_FOUND {
        metrics.webhook_rejected(reason);
        tracing::warn!(reason, status = status.as_u16(), "request refused");
    }
    // A rejection is decided before the body is read; hyper then closes the
    // connection rather than read what is left. Say so, or a keep-alive
    // client (a proxy's upstream pool) sends its next webhook on a dead
    // connection and that one fails too.
    let mut reply = json_reply(status, &serde_json::json!({"error": reason}));
    reply.headers_mut().insert(warp::http::header::CONNECTION, warp::http::HeaderValue::from_static("close"));
    Ok(reply)
}

fn json_reply(status: StatusCode, body: &serde_json::Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// Binds `addr`. Separate from serving so callers learn the port (tests use
/// port 0) and a taken port is an error, not a panic.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves `routes` on `listener` until `stop`, then finishes the requests in
/// flight. (`stop` comes after draining: see `app::Running::join`.)
pub async fn serve<F>(listener: tokio::net::TcpListener, routes: F, stop: CancellationToken)
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    warp::serve(routes).incoming(listener).graceful(async move { stop.cancelled().await }).run().await;
}
