//! HTTP: the webhook endpoint, `/healthz`, `/readyz`, `/metrics`.
//!
//! The webhook path, top to bottom: the filter states the contract (path,
//! POST, headers, the body as a stream) → [`receive`] admits the body
//! ([`crate::push::body`]: its declared size, the in-flight budget) → reads it →
//! verifies the signature on the raw bytes → parses the envelope → stores it
//! in the inbox (one committed statement) → replies. A request refused before
//! its body is read has the body drained first, so the client reads the
//! answer. Every status code is decided in [`Refusal::status`] or
//! [`recover`], nowhere else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use futures_util::Stream;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::ops::metrics::Metrics;
use crate::push::body::{self, BodyError, Budget};
use crate::push::event::Envelope;
use crate::push::inbox_writer::{InboxWriter, StoreError};
use crate::push::signature::{self, SignatureError};
use crate::storage::inbox::{self, Stored};

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

/// `Retry-After` on a 503 for a full in-flight budget, seconds.
const RETRY_AFTER_SECS: &str = "5";

/// Why a webhook was not accepted.
#[derive(Debug)]
enum Refusal {
    Body(BodyError),
    Signature(SignatureError),
    NotAnEvent,
    NotStorable,
    Unavailable,
    ShuttingDown,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Body(BodyError::LengthRequired) => StatusCode::LENGTH_REQUIRED,
            Refusal::Body(BodyError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Body(BodyError::Slow) => StatusCode::REQUEST_TIMEOUT,
            Refusal::Body(BodyError::Broken) | Refusal::Signature(_) | Refusal::NotAnEvent | Refusal::NotStorable => {
                StatusCode::BAD_REQUEST
            }
            // Stripe retries 5xx with backoff for up to three days.
            Refusal::Body(BodyError::Overloaded) | Refusal::Unavailable | Refusal::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Refusal::Body(BodyError::LengthRequired) => "length_required",
            Refusal::Body(BodyError::TooLarge) => "body_too_large",
            Refusal::Body(BodyError::Overloaded) => "overloaded",
            Refusal::Body(BodyError::Broken) => "bad_request",
            Refusal::Body(BodyError::Slow) => "body_timeout",
            Refusal::Signature(e) => e.reason(),
            Refusal::NotAnEvent => "not_an_event",
            Refusal::NotStorable => "not_storable",
            Refusal::Unavailable => "database_unavailable",
            Refusal::ShuttingDown => "shutting_down",
        }
    }
}

/// What the webhook reads from the request head before the body.
struct Head {
    length: Option<u64>,
    /// `Expect: 100-continue`: the client sends the body only if asked to,
    /// so a refusal needs no draining.
    expects_continue: bool,
    signature: Option<String>,
}

/// Every route of the main listener: the webhook, `/healthz`, `/readyz`,
/// and `/metrics` unless metrics have their own listener ([`admin_routes`]).
pub fn routes(
    state: AppState,
    webhook: &crate::config::WebhookConfig,
    with_metrics: bool,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let path = Arc::new(webhook.path.clone());
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
    let budget = Budget::new(webhook.max_body_bytes, webhook.max_bytes_in_flight, state.metrics.clone());
    let head = warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("expect"))
        .and(warp::header::optional::<String>("stripe-signature"))
        .map(|length, expect: Option<String>, signature| Head {
            length,
            expects_continue: expect.is_some_and(|e| e.eq_ignore_ascii_case("100-continue")),
            signature,
        });
    let webhook = on_path
        .and(warp::post())
        .and(head)
        .and(warp::body::stream())
        .and(with(state.clone()))
        .then(move |head, body, state| receive(head, body, state, budget.clone()));
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

async fn receive<S, B>(head: Head, body: S, state: AppState, budget: Budget) -> warp::reply::Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let admitted = if state.shutdown.is_cancelled() {
        Err(Refusal::ShuttingDown)
    } else {
        budget.admit(head.length).await.map_err(Refusal::Body)
    };
    let (result, drained) = match admitted {
        Ok(admitted) => {
            let result = match body::read(body.as_mut(), &admitted).await {
                Ok(bytes) => accept(head.signature.as_deref(), bytes, &state).await,
                Err(e) => Err(Refusal::Body(e)),
            };
            // A body not read to its end leaves the connection unusable.
            let whole = !matches!(result, Err(Refusal::Body(_)));
            (result, whole)
        }
        Err(refusal) => {
            let futile = head.expects_continue || head.length.is_none_or(|l| l > body::LINGER_BYTES);
            let drained = !futile && body::linger(body.as_mut()).await;
            (Err(refusal), drained)
        }
    };
    match result {
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
        Err(refusal) => refused(refusal, head.length, drained, &state.metrics),
    }
}

/// The answer to a refused webhook: counted, one log line (no payload, no
/// secret), `Retry-After` when the budget was full, `Connection: close` when
/// the body was left unread.
fn refused(refusal: Refusal, length: Option<u64>, drained: bool, metrics: &Metrics) -> warp::reply::Response {
    metrics.webhook_rejected(refusal.reason());
    tracing::warn!(reason = refusal.reason(), status = refusal.status().as_u16(), bytes = length, "webhook refused");
    let mut reply = json_reply(refusal.status(), &serde_json::json!({"error": refusal.reason()}));
    let headers = reply.headers_mut();
    if matches!(refusal, Refusal::Body(BodyError::Overloaded)) {
        headers.insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    if !drained {
        // Hyper closes a connection whose body is left unread; say so, or a
        // keep-alive client reuses it (see `recover`).
        headers.insert(warp::http::header::CONNECTION, warp::http::HeaderValue::from_static("close"));
    }
    reply
}

/// Verifies and stores one webhook; how it was stored, and the event type.
async fn accept(signature: Option<&str>, body: Vec<u8>, state: &AppState) -> Result<(Stored, String), Refusal> {
    if state.shutdown.is_cancelled() {
        return Err(Refusal::ShuttingDown);
    }
    let now = chrono::Utc::now().timestamp();
    signature::verify(signature, &body, &state.secrets, now, state.tolerance).map_err(Refusal::Signature)?;
    let envelope = Envelope::parse(&body).map_err(|_| Refusal::NotAnEvent)?;
    // The inbox keeps the text as signed; no copy of the body.
    let text = String::from_utf8(body).map_err(|_| Refusal::NotAnEvent)?;
    let event_type = envelope.event_type.clone();
    let stored = state.inbox.store(envelope, text).await.map_err(|e| match e {
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
    match crate::storage::db::migrations_current(&state.pool).await {
        Ok(true) => "ready".into_response(),
        Ok(false) => warp::reply::with_status("migrations pending", StatusCode::SERVICE_UNAVAILABLE).into_response(),
        Err(_) => warp::reply::with_status("database unreachable", StatusCode::SERVICE_UNAVAILABLE).into_response(),
    }
}

async fn metrics(state: AppState) -> warp::reply::Response {
    let (depth, oldest) = inbox::depth(&state.pool).await.unwrap_or((-1, -1.0));
    let queue = crate::storage::db::notify_queue(&state.pool).await;
    let (usage, skipped) = queue.map(|q| (q.usage, q.skipped)).unwrap_or((-1.0, -1));
    state.metrics.set_notify_queue(usage, skipped);
    let body = state.metrics.render(depth, oldest);
    warp::reply::with_header(body, "content-type", crate::ops::metrics::CONTENT_TYPE).into_response()
}

/// Maps warp's rejections to the answers in docs/design.md's bad-input table.
async fn recover(rejection: Rejection, metrics: Metrics) -> Result<warp::reply::Response, Infallible> {
    use warp::reject::{InvalidHeader, MethodNotAllowed};
    let (status, reason) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not_found")
    } else if rejection.find::<MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
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

/// Largest read buffer hyper keeps per connection. Its default (~400 KiB)
/// is reached by any connection that streams a large body, and it stays
/// allocated while the connection lives: 256 connections flooding 1 MiB
/// bodies held ~290 MiB although the bodies admitted were capped at 64 MiB.
const CONNECTION_BUFFER: usize = 64 * 1024;
/// A client that has not sent a whole request head by then is disconnected,
/// so a connection slot cannot be held by sending nothing.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `routes` on `listener` until `stop`, then finishes the requests in
/// flight. (`stop` comes after draining: see `app::Running::join`.) At most
/// `max_connections` connections are served at once: the next is accepted
/// only when one closes, and until then waits in the kernel's backlog.
///
/// This is warp's own serve loop with the limits warp does not expose (its
/// listener trait is private): hyper's per-connection buffer, the header
/// read timeout, the connection cap.
pub async fn serve<F>(listener: tokio::net::TcpListener, routes: F, stop: CancellationToken, max_connections: usize)
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections.clamp(1, Semaphore::MAX_PERMITS)));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(CONNECTION_BUFFER).timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stop.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: a busy loop would not help.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(warp::service(routes.clone()));
        let connection =
            graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            // A client gone mid-request is not our error; hyper says why at debug.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
