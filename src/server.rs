//! HTTP: the webhook endpoint, `/healthz`, `/readyz`, `/metrics`.
//!
//! The webhook path, top to bottom: the filter states the contract (path,
//! POST, headers, the body as a stream) → [`receive`] admits the body (its
//! declared size under the limit and within the in-flight budget) → reads it
//! → verifies the signature on the raw bytes → parses the envelope → stores
//! it in the inbox (one committed statement) → replies. A request refused
//! before its body is read has the body drained first ([`linger`]), so the
//! client reads the answer. Every status code is decided in
//! [`Refusal::status`] or [`recover`], nowhere else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
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

/// A request answered before its body is read (refused by size, budget or
/// shutdown) has up to this much of the body read and discarded first, for
/// at most [`LINGER_TIME`]. Hyper closes a connection whose request body was
/// left unread; a client still sending then gets a broken pipe, not the
/// answer (measured: 35 of 40 signed 2 MiB posts never saw their 413).
const LINGER_BYTES: u64 = 8 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(5);
/// How long a request waits for room in the in-flight budget before 503: a
/// burst just over it is served a moment later rather than refused.
const ADMISSION_WAIT: Duration = Duration::from_secs(1);
/// An admitted body holds its share of the budget until read: one sent
/// slower than this is dropped (408), so a few trickling clients cannot hold
/// the whole budget and starve every webhook.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// `Retry-After` on a 503 for a full in-flight budget, seconds.
const RETRY_AFTER_SECS: &str = "5";

/// Why a webhook was not accepted.
#[derive(Debug)]
enum Refusal {
    /// No `Content-Length` (a chunked body): the size limit needs it up front.
    LengthRequired,
    TooLarge,
    /// The bytes of bodies in flight are at `webhook.max_bytes_in_flight`.
    Overloaded,
    /// The body ended early or the connection failed while reading it.
    BadBody,
    /// The body took longer than [`BODY_READ_TIMEOUT`].
    SlowBody,
    Signature(SignatureError),
    NotAnEvent,
    NotStorable,
    Unavailable,
    ShuttingDown,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::SlowBody => StatusCode::REQUEST_TIMEOUT,
            Refusal::BadBody | Refusal::Signature(_) | Refusal::NotAnEvent | Refusal::NotStorable => {
                StatusCode::BAD_REQUEST
            }
            // Stripe retries 5xx with backoff for up to three days.
            Refusal::Overloaded | Refusal::Unavailable | Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Refusal::LengthRequired => "length_required",
            Refusal::TooLarge => "body_too_large",
            Refusal::Overloaded => "overloaded",
            Refusal::BadBody => "bad_request",
            Refusal::SlowBody => "body_timeout",
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

/// The body limits: one body, and all bodies in flight.
#[derive(Clone)]
struct Limits {
    max_body: u64,
    /// One permit per byte of `webhook.max_bytes_in_flight`.
    budget: Arc<Semaphore>,
}

/// A body's share of the in-flight budget, returned when the request is answered.
struct Admitted {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    metrics: Metrics,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.metrics.body_in_flight(-(self.bytes as i64));
    }
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
    // A budget above u32::MAX is refused by the configuration.
    let budget = usize::try_from(webhook.max_bytes_in_flight).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
    let limits = Limits { max_body: webhook.max_body_bytes, budget: Arc::new(Semaphore::new(budget)) };
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
        .then(move |head, body, state| receive(head, body, state, limits.clone()));
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

async fn receive<S, B>(head: Head, body: S, state: AppState, limits: Limits) -> warp::reply::Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let (result, drained) = match admit(&head, &limits, &state).await {
        Ok(admitted) => {
            let result = match read_body(body.as_mut(), admitted.bytes).await {
                Ok(bytes) => accept(head.signature.as_deref(), bytes, &state).await,
                Err(refusal) => Err(refusal),
            };
            // A body not read to its end leaves the connection unusable.
            let whole = !matches!(result, Err(Refusal::BadBody | Refusal::SlowBody));
            (result, whole)
        }
        Err(refusal) => {
            let futile = head.expects_continue || head.length.is_none_or(|l| l > LINGER_BYTES);
            let drained = !futile && linger(body.as_mut()).await;
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
        Err(refusal) => {
            state.metrics.webhook_rejected(refusal.reason());
            // One line, no payload, no secret.
            tracing::warn!(
                reason = refusal.reason(),
                status = refusal.status().as_u16(),
                bytes = head.length,
                "webhook refused"
            );
            let mut reply = json_reply(refusal.status(), &serde_json::json!({"error": refusal.reason()}));
            let headers = reply.headers_mut();
            if matches!(refusal, Refusal::Overloaded) {
                headers.insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from_static(RETRY_AFTER_SECS));
            }
            if !drained {
                // Hyper closes a connection whose body is left unread; say
                // so, or a keep-alive client reuses it (see `recover`).
                headers.insert(warp::http::header::CONNECTION, warp::http::HeaderValue::from_static("close"));
            }
            reply
        }
    }
}

/// Lets a body in: its declared size under `webhook.max_body_bytes`, and
/// room for it in the in-flight budget (waiting up to [`ADMISSION_WAIT`]).
/// A body is read whole before its signature can be checked, so this is what
/// bounds the memory a flood of large unsigned requests can take.
async fn admit(head: &Head, limits: &Limits, state: &AppState) -> Result<Admitted, Refusal> {
    if state.shutdown.is_cancelled() {
        return Err(Refusal::ShuttingDown);
    }
    let length = head.length.ok_or(Refusal::LengthRequired)?;
    if length > limits.max_body {
        return Err(Refusal::TooLarge);
    }
    let permits = u32::try_from(length).map_err(|_| Refusal::TooLarge)?;
    let permit = tokio::time::timeout(ADMISSION_WAIT, limits.budget.clone().acquire_many_owned(permits))
        .await
        .map_err(|_| Refusal::Overloaded)?
        .map_err(|_| Refusal::Overloaded)?;
    state.metrics.body_in_flight(length as i64);
    Ok(Admitted { _permit: permit, bytes: length, metrics: state.metrics.clone() })
}

/// Reads an admitted body of `length` bytes (hyper holds it to its
/// `Content-Length`) into one buffer, within [`BODY_READ_TIMEOUT`].
async fn read_body<S, B>(mut body: std::pin::Pin<&mut S>, length: u64) -> Result<Vec<u8>, Refusal>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let read = async {
        let mut out = Vec::with_capacity(usize::try_from(length).map_err(|_| Refusal::TooLarge)?);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|_| Refusal::BadBody)?;
            while chunk.has_remaining() {
                let part = chunk.chunk();
                out.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
            if out.len() as u64 > length {
                return Err(Refusal::BadBody);
            }
        }
        Ok(out)
    };
    tokio::time::timeout(BODY_READ_TIMEOUT, read).await.unwrap_or(Err(Refusal::SlowBody))
}

/// Reads and discards the rest of a body answered without being read (up
/// to [`LINGER_BYTES`], for [`LINGER_TIME`]), so the answer reaches a client
/// that writes the whole body before reading. True when the body was read to
/// its end and the connection can be kept.
async fn linger<S, B>(mut body: std::pin::Pin<&mut S>) -> bool
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let drain = async {
        let mut seen = 0u64;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => seen += c.remaining() as u64,
                Err(_) => return false,
            }
            if seen > LINGER_BYTES {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(LINGER_TIME, drain).await.unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<bytes::Bytes, warp::Error>> {
        futures_util::stream::iter(parts.iter().map(|p| Ok(bytes::Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn an_admitted_body_is_read_whole_in_one_buffer() {
        let body = std::pin::pin!(chunks(&[b"{\"a\"", b":1}"]));
        assert_eq!(read_body(body, 7).await.ok(), Some(b"{\"a\":1}".to_vec()));
    }

    /// A client that declares a body and trickles it would hold its share of
    /// the in-flight budget for as long as it likes.
    #[tokio::test(start_paused = true)]
    async fn an_admitted_body_that_never_ends_is_dropped_after_the_timeout() {
        let body = std::pin::pin!(chunks(&[b"{"]).chain(futures_util::stream::pending()));
        let started = tokio::time::Instant::now();
        assert!(matches!(read_body(body, 1000).await, Err(Refusal::SlowBody)));
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn lingering_reads_a_refused_body_to_its_end_or_gives_up() {
        assert!(linger(std::pin::pin!(chunks(&[b"abc", b"def"]))).await, "read to its end");
        let endless = chunks(&[b"x"]).chain(futures_util::stream::pending());
        assert!(!linger(std::pin::pin!(endless)).await, "gives up after LINGER_TIME");
    }
}
