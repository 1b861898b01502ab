//! The Stripe API client: retrieve by id and list pages, as raw JSON (we store
//! objects verbatim), with our rate limit, bounded retries and the HTTP `Date`
//! of every answer (a listed object's version is when Stripe answered).
//!
//! Why not async-stripe: its client returns only the parsed body (no `Date`,
//! no `Request-Id`), ignores `Retry-After`, opens a new connection per request
//! and adds ~350 s to a clean release build; see README, "Dependencies".

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::StripeConfig;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("STRIPE_SECRET_KEY was rejected by Stripe")]
    Unauthorized,
    #[error("not found: {path}")]
    NotFound { path: String },
    #[error("Stripe answered {status} for {path} (request {request_id}): {message}")]
    Status { status: u16, path: String, request_id: String, message: String },
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

#[derive(Deserialize)]
struct WireErrorBody {
    message: Option<String>,
}

pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    api_version: String,
    limiter: RateLimiter,
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
        let rate = match cfg.requests_per_second {
            0 if key.expose_secret().contains("_live_") => 80,
            0 => 20,
            n => n,
        };
        Ok(StripeClient {
            http,
            base: cfg.api_base.trim_end_matches('/').to_string(),
            key,
            api_version: cfg.api_version.clone(),
            limiter: RateLimiter::new(rate),
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

    /// GET `path` with `query`, retried on 429, 5xx, timeouts and connection
    /// errors with jittered exponential backoff, honouring `Retry-After` and
    /// `Stripe-Should-Retry`. <https://docs.stripe.com/error-low-level>
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, ApiError> {
        let mut attempt = 0;
        loop {
            let waited = self.limiter.acquire().await;
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
                    let body = resp
                        .bytes()
                        .await
                        .map_err(|e| ApiError::Transport { path: path.to_string(), message: e.to_string() })?;
                    if status.is_success() {
                        return Ok(Answer { body, date });
                    }
                    if status == StatusCode::UNAUTHORIZED {
                        return Err(ApiError::Unauthorized);
                    }
                    if status == StatusCode::NOT_FOUND {
                        return Err(ApiError::NotFound { path: path.to_string() });
                    }
                    let message = serde_json::from_slice::<WireError>(&body)
                        .ok()
                        .and_then(|e| e.error.message)
                        .unwrap_or_default();
                    let error =
                        ApiError::Status { status: status.as_u16(), path: path.to_string(), request_id, message };
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

    /// Retrieves one object. `Ok(None)` when Stripe says it does not exist.
    pub async fn retrieve(&self, path: &str) -> Result<Option<(Box<RawValue>, i64)>, ApiError> {
        match self.get(path, &[]).await {
            Ok(answer) => {
                let raw: Box<RawValue> = serde_json::from_slice(&answer.body)
                    .map_err(|e| ApiError::Decode { path: path.to_string(), message: e.to_string() })?;
                Ok(Some((raw, answer.date)))
            }
            Err(ApiError::NotFound { .. }) => Ok(None),
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
    fn backoff_honours_retry_after() {
        for attempt in 1..8 {
            let d = backoff(attempt, Some(2.0));
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2250), "{d:?}");
        }
        assert!(backoff(20, None) <= Duration::from_secs(20));
    }
}
