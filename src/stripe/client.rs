//! The Stripe API client: retrieve by id and list pages, as raw JSON (we store
//! objects verbatim), with our rate limit, bounded retries and the HTTP `Date`
//! of every answer (a listed object's version is when Stripe answered).
//!
//! Why not async-stripe here (it serves the control plane, `control`): its
//! client returns only the parsed body (no `Date`, no `Request-Id`), ignores
//! `Retry-After` and opens a new connection per request; see README, "Notes
//! on dependencies".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::StripeConfig;
use crate::ops::metrics::Metrics;
use crate::stripe::rate_limit::RateLimiter;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("STRIPE_SECRET_KEY was rejected by Stripe")]
    Unauthorized,
    /// 403: a restricted key without permission for this resource.
    #[error("STRIPE_SECRET_KEY may not read {path} (a restricted key without that permission)")]
    Forbidden { path: String },
    /// A 404: of an object that does not exist (`resource_missing`, Stripe's
    /// error code), or of a path the API does not serve ("Unrecognized
    /// request URL", no code).
    /// `date` is the answer's `Date` (Stripe's clock), when the object is
    /// gone: a tombstone is versioned by it, as any answer is.
    #[error("not found: {path}")]
    NotFound { path: String, resource_missing: bool, date: i64 },
    #[error("Stripe answered {} for {} (request {}): {}", .0.status, .0.path, .0.request_id, .0.message)]
    Status(Box<StatusError>),
    #[error("request to {path} failed: {message}")]
    Transport { path: String, message: String },
    #[error("unexpected answer from {path}: {message}")]
    Decode { path: String, message: String },
}

/// One answer: the body and when Stripe produced it.
#[derive(Debug)]
pub struct Answer {
    pub body: bytes::Bytes,
    /// Unix seconds from the `Date` header (our clock if it is missing).
    pub date: i64,
}

/// A page of a list endpoint.
#[derive(Debug)]
pub struct Page {
    pub data: Vec<Box<RawValue>>,
    pub has_more: bool,
    pub date: i64,
}

#[derive(Deserialize)]
struct WirePage {
    data: Vec<Box<RawValue>>,
    has_more: bool,
}

#[derive(Deserialize)]
struct WireError {
    error: WireErrorBody,
}

/// A refusal Stripe explained: its status and error body.
#[derive(Debug)]
pub struct StatusError {
    pub status: u16,
    pub path: String,
    pub request_id: String,
    pub message: String,
    /// Stripe's `error.code` (`resource_missing`, `lock_timeout`, …).
    pub code: Option<String>,
    /// Stripe's `error.param`: the parameter the error is about.
    pub param: Option<String>,
}

#[derive(Deserialize)]
struct WireErrorBody {
    message: Option<String>,
    code: Option<String>,
    param: Option<String>,
}

impl ApiError {
    /// The object asked for does not exist (any more): 404, or Stripe's
    /// `resource_missing` code on a 400.
    pub fn is_resource_missing(&self) -> bool {
        match self {
            ApiError::NotFound { .. } => true,
            ApiError::Status(e) => e.code.as_deref() == Some("resource_missing"),
            _ => false,
        }
    }

    /// The API does not serve the path at all (404 without `resource_missing`:
    /// "Unrecognized request URL"), or the key may not read it (403): for a
    /// list, the type is not available to this mirror.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ApiError::Forbidden { .. } => true,
            ApiError::NotFound { resource_missing, .. } => !resource_missing,
            _ => false,
        }
    }

    /// A list's `starting_after` names an object deleted since: Stripe
    /// refuses the cursor (`resource_missing` on param `starting_after`).
    pub fn is_cursor_missing(&self) -> bool {
        matches!(self, ApiError::Status(e)
            if e.code.as_deref() == Some("resource_missing") && e.param.as_deref() == Some("starting_after"))
    }
}

pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    api_version: String,
    limiter: RateLimiter,
    /// Stripe limits each API operation on its own (25 requests/s by
    /// default) beside the account-wide limit: one limiter per operation.
    operations: Mutex<HashMap<String, Arc<RateLimiter>>>,
    per_operation: u32,
    max_retries: u32,
    list_windows: u32,
    metrics: Metrics,
}

impl StripeClient {
    pub fn new(cfg: &StripeConfig, key: SecretString, metrics: Metrics) -> Result<StripeClient, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| ApiError::Transport { path: cfg.api_base.clone(), message: e.to_string() })?;
        let rate = cfg.account_rate(key.expose_secret().contains("_live_"));
        Ok(StripeClient {
            http,
            base: cfg.api_base.trim_end_matches('/').to_string(),
            key,
            api_version: cfg.api_version.clone(),
            limiter: RateLimiter::new(rate),
            operations: Mutex::new(HashMap::new()),
            per_operation: cfg.per_operation_rate(rate),
            max_retries: cfg.max_retries,
            list_windows: cfg.list_windows.max(1),
            metrics,
        })
    }

    /// `created` windows a large list is split into (`stripe.list_windows`).
    pub fn list_windows(&self) -> u32 {
        self.list_windows
    }

    /// The process's metrics, for the pull path's counts.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn rate_limit_waits(&self) -> u64 {
        self.limiter.waits()
    }

    /// The limiter of one API operation (its path with ids replaced).
    fn operation(&self, path: &str) -> Arc<RateLimiter> {
        let mut ops = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        ops.entry(operation_of(path)).or_insert_with(|| Arc::new(RateLimiter::new(self.per_operation))).clone()
    }

    /// GET `path` with `query`, retried on 429, 5xx, timeouts and connection
    /// errors with jittered exponential backoff, honouring `Retry-After` and
    /// `Stripe-Should-Retry`. <https://docs.stripe.com/error-low-level>
    ///
    /// A 429 from one of Stripe's rate limiters (it names itself in
    /// `Stripe-Rate-Limited-Reason`) is not a failure: the limiter it names
    /// (the account's, or this operation's) slows down and the request waits
    /// its turn again, without using up a retry.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, ApiError> {
        let operation = self.operation(path);
        let mut attempt = 0;
        let mut rate_limited = 0;
        loop {
            let waited = self.limiter.acquire().await + operation.acquire().await;
            if !waited.is_zero() {
                self.metrics.rate_limit_waited(waited.as_secs_f64());
            }
            let result = self
                .http
                .get(format!("{}{}", self.base, path))
                .query(query)
                .bearer_auth(self.key.expose_secret())
                .header("Stripe-Version", &self.api_version)
                .send()
                .await;
            let (retry_after, error) = match result {
                Err(e) => {
                    self.metrics.api_request("error");
                    (None, ApiError::Transport { path: path.to_string(), message: e.to_string() })
                }
                Ok(resp) => {
                    let status = resp.status();
                    self.metrics.api_request(status.as_str());
                    let date = resp
                        .headers()
                        .get(reqwest::header::DATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                        .map(|d| d.timestamp())
                        .unwrap_or_else(|| chrono::Utc::now().timestamp());
                    let request_id = header(&resp, "request-id").unwrap_or_default();
                    let should_retry = header(&resp, "stripe-should-retry");
                    let retry_after = header(&resp, "retry-after").and_then(|v| v.parse::<f64>().ok());
                    let limited_by = header(&resp, "stripe-rate-limited-reason");
                    let body = resp
                        .bytes()
                        .await
                        .map_err(|e| ApiError::Transport { path: path.to_string(), message: e.to_string() })?;
                    if status.is_success() {
                        self.limiter.recover();
                        operation.recover();
                        return Ok(Answer { body, date });
                    }
                    match status {
                        StatusCode::UNAUTHORIZED => return Err(ApiError::Unauthorized),
                        StatusCode::FORBIDDEN => return Err(ApiError::Forbidden { path: path.to_string() }),
                        StatusCode::NOT_FOUND => {
                            let code = serde_json::from_slice::<WireError>(&body).ok().and_then(|e| e.error.code);
                            let resource_missing = code.as_deref() == Some("resource_missing");
                            return Err(ApiError::NotFound { path: path.to_string(), resource_missing, date });
                        }
                        _ => {}
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        self.metrics.api_rate_limited(limited_by.as_deref().unwrap_or("none"));
                        let limiter = match limited_by.as_deref() {
                            Some(r) if r.starts_with("endpoint") => Some(&*operation),
                            Some(r) if r.starts_with("global") => Some(&self.limiter),
                            _ => None,
                        };
                        if let Some(limiter) = limiter.filter(|_| rate_limited < RATE_LIMITED_RETRIES) {
                            rate_limited += 1;
                            limiter.slow_down();
                            tracing::debug!(
                                path,
                                reason = limited_by.as_deref(),
                                "rate limited by Stripe; slowing down"
                            );
                            if let Some(s) = retry_after.filter(|s| s.is_finite() && *s > 0.0) {
                                tokio::time::sleep(Duration::from_secs_f64(s.min(60.0))).await;
                            }
                            continue;
                        }
                    }
                    let wire = serde_json::from_slice::<WireError>(&body).ok().map(|e| e.error);
                    let (message, code, param) = match wire {
                        Some(w) => (w.message.unwrap_or_default(), w.code, w.param),
                        None => (String::new(), None, None),
                    };
                    let error = ApiError::Status(Box::new(StatusError {
                        status: status.as_u16(),
                        path: path.to_string(),
                        request_id,
                        message,
                        code,
                        param,
                    }));
                    let retryable = match should_retry.as_deref() {
                        Some("true") => true,
                        Some("false") => false,
                        _ => status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
                    };
                    if !retryable {
                        return Err(error);
                    }
                    (retry_after, error)
                }
            };
            attempt += 1;
            if attempt > self.max_retries {
                tracing::warn!(path, attempts = attempt, error = %error, "Stripe API call failed");
                return Err(error);
            }
            let delay = backoff(attempt, retry_after);
            tracing::debug!(path, attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying Stripe API call");
            tokio::time::sleep(delay).await;
        }
    }

    /// Retrieves one object, with the answer's `Date`; no object when Stripe
    /// says it does not exist (the 404's `Date` still comes back: the
    /// deletion is versioned by Stripe's clock, never by ours).
    pub async fn retrieve(&self, path: &str) -> Result<(Option<Box<RawValue>>, i64), ApiError> {
        match self.get(path, &[]).await {
            Ok(answer) => {
                let raw: Box<RawValue> = serde_json::from_slice(&answer.body)
                    .map_err(|e| ApiError::Decode { path: path.to_string(), message: e.to_string() })?;
                Ok((Some(raw), answer.date))
            }
            Err(ApiError::NotFound { date, .. }) => Ok((None, date)),
            Err(e) => Err(e),
        }
    }

    /// One page of a list endpoint (`limit=100`).
    pub async fn list_page(
        &self,
        path: &str,
        filters: &[(&str, String)],
        starting_after: Option<&str>,
    ) -> Result<Page, ApiError> {
        self.list_page_sized(path, filters, starting_after, 100).await
    }

    /// As [`StripeClient::list_page`], with `limit` objects (1–100).
    pub async fn list_page_sized(
        &self,
        path: &str,
        filters: &[(&str, String)],
        starting_after: Option<&str>,
        limit: u32,
    ) -> Result<Page, ApiError> {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.push(("limit", limit.to_string()));
        if let Some(after) = starting_after {
            query.push(("starting_after", after.to_string()));
        }
        let answer = self.get(path, &query).await?;
        let page: WirePage = serde_json::from_slice(&answer.body)
            .map_err(|e| ApiError::Decode { path: path.to_string(), message: e.to_string() })?;
        Ok(Page { data: page.data, has_more: page.has_more, date: answer.date })
    }

    /// Every object of a (small) list, paged to the end: nested lists such as
    /// a subscription's items or an invoice's lines.
    pub async fn list_all(&self, path: &str, filters: &[(&str, String)]) -> Result<Vec<Box<RawValue>>, ApiError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.list_page(path, filters, after.as_deref()).await?;
            let last = page.data.last().and_then(|o| object_id(o));
            out.extend(page.data);
            match (page.has_more, last) {
                (true, Some(id)) => after = Some(id),
                _ => return Ok(out),
            }
        }
    }
}

/// A request slowed down by Stripe's rate limiters this many times in a row
/// counts as failed after all (their 429s would otherwise never end it).
const RATE_LIMITED_RETRIES: u32 = 50;

/// The operation a path belongs to, as Stripe counts its per-endpoint limit:
/// ids replaced by `{id}` (`/v1/customers/cus_1` → `/v1/customers/{id}`,
/// `/v1/invoices/in_1/lines` → `/v1/invoices/{id}/lines`). After `/v1`,
/// segments alternate between a resource and an id, except that a few
/// namespaces (`/v1/checkout/sessions`) take two segments for the resource.
pub fn operation_of(path: &str) -> String {
    const NAMESPACES: [&str; 14] = [
        "checkout",
        "billing_portal",
        "billing",
        "radar",
        "issuing",
        "terminal",
        "identity",
        "tax",
        "test_helpers",
        "treasury",
        "climate",
        "financial_connections",
        "reporting",
        "entitlements",
    ];
    let mut out = String::with_capacity(path.len());
    let mut segments = path.trim_start_matches('/').split('/').peekable();
    if let Some(first) = segments.next() {
        out.push('/');
        out.push_str(first); // `v1`
    }
    let mut resource = true;
    while let Some(segment) = segments.next() {
        out.push('/');
        if resource {
            out.push_str(segment);
            if NAMESPACES.contains(&segment) {
                if let Some(next) = segments.next() {
                    out.push('/');
                    out.push_str(next);
                }
            }
        } else {
            out.push_str("{id}");
        }
        resource = !resource;
    }
    out
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Full-jitter exponential backoff from 500 ms, capped at 20 s; never sooner
/// than `Retry-After`.
fn backoff(attempt: u32, retry_after: Option<f64>) -> Duration {
    let cap = 500u64.saturating_mul(1 << attempt.min(10)).min(20_000);
    let jittered = Duration::from_millis(cap / 2 + fastrand::u64(0..=cap / 2));
    let floor = retry_after.filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64);
    floor.map_or(jittered, |f| f.max(jittered.min(f + Duration::from_millis(250))))
}

/// The `id` of a raw Stripe object.
pub fn object_id(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    serde_json::from_str::<Id>(raw.get()).ok().and_then(|o| o.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_replace_ids_only() {
        assert_eq!(operation_of("/v1/customers"), "/v1/customers");
        assert_eq!(operation_of("/v1/customers/cus_1"), "/v1/customers/{id}");
        assert_eq!(operation_of("/v1/products/gold_plan"), "/v1/products/{id}");
        assert_eq!(operation_of("/v1/invoices/in_1/lines"), "/v1/invoices/{id}/lines");
        assert_eq!(operation_of("/v1/checkout/sessions/cs_1/line_items"), "/v1/checkout/sessions/{id}/line_items");
        assert_eq!(operation_of("/v1/subscription_items"), "/v1/subscription_items");
    }

    #[test]
    fn backoff_honours_retry_after() {
        for attempt in 1..8 {
            let d = backoff(attempt, Some(2.0));
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2250), "{d:?}");
        }
        assert!(backoff(20, None) <= Duration::from_secs(20));
    }
}
