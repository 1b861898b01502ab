//! The HTTP front: one warp filter that takes every request, sends
//! `/_sim/…` to the mutation API and `/v1/…` through authentication (which
//! account a key reads, what it may not do), the API fault knobs and rate
//! limiters, the request's `Stripe-Version`, and then the read endpoints,
//! `/v1/account` and the webhook endpoints API; and stamps every answer with
//! Stripe's headers (`Request-Id`, `Date`, `Content-Type`, `Stripe-Version`,
//! and `Retry-After`/`Stripe-Should-Retry`/`Stripe-Rate-Limited-Reason`
//! where Stripe sends them).
//!
//! Routing is a `match` over path segments rather than a tree of filters so
//! that unknown URLs, wrong methods and bad parameters all get Stripe's JSON
//! error bodies from one place.

mod error;
mod form;
mod query;
mod read;
mod read_payments;
mod webhook_endpoints;

pub(crate) use error::Answer;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use warp::http::{HeaderMap, Method};
use warp::{Filter, Reply};

use crate::clock::http_date;
use crate::faults::{roll, Limited};
use crate::objects::request_id;
use crate::versions::ApiVersion;
use crate::{mutate, Shared};

/// Every route of the simulator.
pub(crate) fn routes(
    shared: Arc<Shared>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let query = warp::query::<Vec<(String, String)>>().or(warp::any().map(Vec::new)).unify();
    warp::any()
        .map(move || shared.clone())
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(handle)
}

async fn handle(
    shared: Arc<Shared>,
    method: Method,
    path: warp::path::FullPath,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> warp::reply::Response {
    let path = path.as_str();
    let answer = match path.strip_prefix("/_sim") {
        Some(rest) => mutate::http::handle(&shared, &method, rest, &body).await,
        None => v1(&shared, &method, path, &query, &headers, &body).await,
    };
    respond(&shared, answer)
}

/// Who is calling: the account the key belongs to, its mode, and the API
/// version the answer is rendered in.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub account: String,
    /// The key reads the main account (the one holding every object).
    pub main: bool,
    pub livemode: bool,
    pub version: ApiVersion,
}

/// A `/v1` request, counted by route, status and (for 429s) reason.
async fn v1(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let route = route_label(method, path);
    shared.traffic().arrive(Instant::now());
    let answer = match gate(shared, headers, method, path, &route).await {
        Err(refusal) => refusal,
        Ok(caller) => {
            Answer { version: Some(caller.version.as_str()), ..dispatch(shared, &caller, method, path, query, body) }
        }
    };
    let mut traffic = shared.traffic();
    if answer.status == 429 {
        traffic.limited(answer.limited_reason.unwrap_or("lock_timeout"));
    }
    traffic.answered(&route, answer.status);
    answer
}

/// Authentication, the API fault knobs and rate limiters, the key's
/// permissions, then the `Stripe-Version`. `Err` is the answer that
/// replaces the real one.
async fn gate(
    shared: &Shared,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    route: &str,
) -> Result<Caller, Answer> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).map(api_key_of);
    let Some(grant) = given.as_deref().and_then(|k| shared.accounts.grant(k)) else {
        return Err(Answer::unauthorized(given.as_deref()));
    };
    let f = shared.api_faults();
    if let Some(until) = f.hang_until.filter(|u| *u > Instant::now()) {
        tokio::time::sleep_until(until.into()).await;
    }
    let admitted =
        shared.traffic().admit(Instant::now(), route, f.max_requests_per_sec, f.per_operation_requests_per_sec);
    match admitted {
        Err(Limited::Global) => return Err(Answer::rate_limited(f.retry_after_secs, "global-rate")),
        Err(Limited::Endpoint) => return Err(Answer::rate_limited(f.retry_after_secs, "endpoint-rate")),
        Ok(()) => {}
    }
    if roll(f.rate_limit_fraction) {
        return Err(Answer::rate_limited(f.retry_after_secs, "global-concurrency"));
    }
    if roll(f.lock_timeout_fraction) {
        return Err(Answer::lock_timeout());
    }
    if roll(f.server_error_fraction) {
        return Err(Answer::server_error());
    }
    if roll(f.slow_fraction) {
        tokio::time::sleep(std::time::Duration::from_millis(f.slow_ms)).await;
    }
    if let Some(permission) = grant.missing_permission(method.as_str(), path) {
        let key = given.as_deref().unwrap_or_default();
        return Err(Answer::permission_denied(key, &grant.account, &permission));
    }
    // "List and retrieve answer in the request's Stripe-Version"; without
    // one, in the account's default (docs.stripe.com/api/versioning).
    let version = match headers.get("stripe-version") {
        None => shared.default_version(),
        Some(raw) => {
            let raw = String::from_utf8_lossy(raw.as_bytes());
            // Beta flags may follow the version: `2026-08-26.dahlia; x_beta=v1`.
            let name = raw.split(';').next().unwrap_or_default().trim();
            ApiVersion::parse(name).ok_or_else(|| Answer::unknown_version(&raw))?
        }
    };
    Ok(Caller { account: grant.account, main: grant.main, livemode: grant.livemode, version })
}

/// Route by method and path.
fn dispatch(
    shared: &Shared,
    caller: &Caller,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Answer {
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["account"]) => Answer::ok(shared.accounts.account_json(&caller.account).to_string()),
        ("GET", ["webhook_endpoints"]) => webhook_endpoints::list(shared, caller, query),
        ("POST", ["webhook_endpoints"]) => webhook_endpoints::create(shared, caller, body),
        ("GET", ["webhook_endpoints", id]) if !id.is_empty() => webhook_endpoints::retrieve(shared, caller, id),
        ("POST", ["webhook_endpoints", id]) if !id.is_empty() => webhook_endpoints::update(shared, caller, id, body),
        ("DELETE", ["webhook_endpoints", id]) if !id.is_empty() => webhook_endpoints::delete(shared, caller, id),
        ("GET", _) => read::get(shared, caller, path, query),
        _ => Answer::unrecognized(method.as_str(), path),
    }
}

/// The key in an `Authorization` header: `Bearer KEY`, or `Basic
/// base64(KEY:)` as `curl -u KEY:` sends it (both accepted by Stripe).
fn api_key_of(header: &str) -> String {
    if let Some(key) = header.strip_prefix("Bearer ") {
        return key.trim().to_owned();
    }
    header
        .strip_prefix("Basic ")
        .and_then(|b64| base64_decode(b64.trim()))
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(|user_pass| user_pass.split(':').next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| header.trim().to_owned())
}

/// Standard base64 (padding optional); `None` on any other character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The route a request counts under (ids replaced by `{id}`, so the map
/// stays small during a reconcile that retrieves thousands of objects).
fn route_label(method: &Method, path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let known = |p: &str| read::endpoint_kind(p).is_some();
    let shape = match segments.as_slice() {
        ["account"] => "/v1/account".to_owned(),
        ["webhook_endpoints"] => "/v1/webhook_endpoints".to_owned(),
        ["webhook_endpoints", _] => "/v1/webhook_endpoints/{id}".to_owned(),
        [p] if known(p) => format!("/v1/{p}"),
        [p, _] if known(p) => format!("/v1/{p}/{{id}}"),
        ["invoices", _, "lines"] => "/v1/invoices/{id}/lines".to_owned(),
        ["checkout", "sessions"] => "/v1/checkout/sessions".to_owned(),
        ["checkout", "sessions", _] => "/v1/checkout/sessions/{id}".to_owned(),
        ["checkout", "sessions", _, "line_items"] => "/v1/checkout/sessions/{id}/line_items".to_owned(),
        ["credit_notes", _, "lines"] => "/v1/credit_notes/{id}/lines".to_owned(),
        ["customers", _, "payment_methods"] => "/v1/customers/{id}/payment_methods".to_owned(),
        _ => "/v1/(unrecognized)".to_owned(),
    };
    format!("{method} {shape}")
}

/// Headers every answer carries.
fn respond(shared: &Shared, a: Answer) -> warp::reply::Response {
    let date = http_date(a.at.unwrap_or_else(|| shared.clock.now()));
    let mut b = warp::http::Response::builder()
        .status(a.status)
        .header("content-type", "application/json")
        .header("request-id", request_id())
        .header("date", date)
        .header("stripe-version", a.version.unwrap_or_else(|| shared.default_version().as_str()))
        .header("cache-control", "no-cache, no-store");
    if let Some(secs) = a.retry_after {
        b = b.header("retry-after", secs.to_string());
    }
    if let Some(retry) = a.should_retry {
        b = b.header("stripe-should-retry", if retry { "true" } else { "false" });
    }
    if let Some(reason) = a.limited_reason {
        b = b.header("stripe-rate-limited-reason", reason);
    }
    match b.body(a.body) {
        Ok(resp) => resp.into_response(),
        // Only reachable with an invalid header value, which the values
        // above cannot be.
        Err(_) => warp::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_auth_carry_the_key() {
        assert_eq!(api_key_of("Bearer sk_test_sim"), "sk_test_sim");
        // base64("sk_test_sim:")
        assert_eq!(api_key_of("Basic c2tfdGVzdF9zaW06"), "sk_test_sim");
        assert_eq!(api_key_of("Basic !!"), "Basic !!");
    }
}
