//! The `/_sim` HTTP routes (table in the `mutate` module doc): parse the
//! JSON body, call the same functions the Rust API calls, answer JSON.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use warp::http::Method;

use super::invoices::{self, InvoiceAction};
use super::{billing_extra, catalog, payments, subscriptions, transitions};
use crate::api::Answer;
use crate::faults::Faults;
use crate::seed::{seed, SeedSpec};
use crate::snapshot::{rows_json, snapshot};
use crate::store::Kind;
use crate::versions::ApiVersion;
use crate::{Shared, SimError};

type Outcome = Result<Value, SimError>;

pub(crate) async fn handle(shared: &Arc<Shared>, method: &Method, path: &str, body: &Bytes) -> Answer {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let result = match (method.as_str(), segments.as_slice()) {
        ("GET", ["snapshot", kind]) => {
            let Some(kind) = Kind::parse(kind) else {
                return bad_kind(kind);
            };
            let shared = shared.clone();
            return match blocking(move || Ok(rows_json(&snapshot(&shared, kind, ApiVersion::pinned())))).await {
                Ok(text) => Answer::ok(text),
                Err(e) => e.into(),
            };
        }
        ("POST", ["seed"]) => match parse::<SeedSpec>(body) {
            Ok(spec) => {
                let shared = shared.clone();
                blocking(move || to_value(&seed(&shared, &spec))).await
            }
            Err(e) => Err(e),
        },
        ("POST", ["flush"]) => flush(shared, body).await,
        (m, s) => route(shared, m, s, body),
    };
    match result {
        Ok(v) => Answer::ok(v.to_string()),
        Err(e) => e.into(),
    }
}

fn route(shared: &Shared, method: &str, segments: &[&str], body: &Bytes) -> Outcome {
    match (method, segments) {
        ("GET", ["health"]) => Ok(json!({"ok": true})),
        ("POST", ["products"]) => catalog::create_product(shared, parse(body)?),
        ("POST", ["prices"]) => catalog::create_price(shared, parse(body)?),
        ("POST", ["customers"]) => catalog::create_customer(shared, parse(body)?),
        ("POST", ["subscriptions"]) => subscriptions::create_subscription(shared, parse(body)?),
        ("POST", ["invoices"]) => invoices::create_invoice(shared, parse(body)?),
        ("POST", ["coupons"]) => billing_extra::create_coupon(shared, parse(body)?),
        ("POST", ["promotion_codes"]) => billing_extra::create_promotion_code(shared, parse(body)?),
        ("POST", ["tax_rates"]) => billing_extra::create_tax_rate(shared, parse(body)?),
        ("POST", ["invoiceitems"]) => billing_extra::create_invoice_item(shared, parse(body)?),
        ("POST", ["subscription_schedules"]) => billing_extra::create_subscription_schedule(shared, parse(body)?),
        ("POST", ["credit_notes"]) => billing_extra::create_credit_note(shared, parse(body)?),
        ("POST", ["payment_intents"]) => payments::create_payment_intent(shared, parse(body)?),
        ("POST", ["charges"]) => payments::create_charge(shared, parse(body)?),
        ("POST", ["refunds"]) => payments::create_refund(shared, parse(body)?),
        ("POST", ["disputes"]) => payments::create_dispute(shared, parse(body)?),
        ("POST", ["payment_methods"]) => payments::create_payment_method(shared, parse(body)?),
        ("POST", ["setup_intents"]) => payments::create_setup_intent(shared, parse(body)?),
        ("POST", ["checkout_sessions"]) => payments::create_checkout_session(shared, parse(body)?),
        ("POST", ["subscriptions", id, "items"]) => subscriptions::update_subscription(shared, id, parse(body)?),
        ("POST", ["subscriptions", id, "cancel"]) => subscriptions::cancel_subscription(shared, id),
        ("POST", ["invoices", id, action]) => match invoice_action(action) {
            Some(a) => invoices::invoice_action(shared, id, a),
            None => Err(SimError::invalid(format!("Unknown invoice action: {action}"), None)),
        },
        ("GET" | "POST", ["clock"]) => clock(shared, body),
        ("GET", ["faults"]) => to_value(&*shared.faults()),
        ("POST", ["faults"]) => set_faults(shared, body),
        ("GET", ["stats"]) => stats(shared),
        ("POST", ["stats", "reset"]) => {
            shared.traffic().reset();
            shared.hub.reset_stats();
            stats(shared)
        }
        ("GET", ["webhook_endpoints"]) => to_value(&shared.hub.endpoints()),
        ("POST", ["webhook_endpoints"]) => {
            let ep: EndpointBody = parse(body)?;
            to_value(&shared.add_dashboard_endpoint(ep.url, ep.secrets))
        }
        ("POST", ["webhook_endpoints", id]) => {
            let ep: EndpointBody = parse(body)?;
            match shared.hub.update_endpoint(id, |e| e.secrets = ep.secrets) {
                Some(_) => Ok(json!({"id": id})),
                None => Err(SimError::not_found("webhook_endpoint", id)),
            }
        }
        ("DELETE", ["webhook_endpoints", id]) => match shared.hub.remove_endpoint(id) {
            true => Ok(json!({"id": id, "deleted": true})),
            false => Err(SimError::not_found("webhook_endpoint", id)),
        },
        ("POST", [kind, id, verb]) if kind_of(kind).is_ok_and(|k| k.index() >= Kind::Coupon.index()) => match *verb {
            "updated" => catalog::update(shared, kind_of(kind)?, id, parse(body)?),
            verb => transitions::transition(shared, kind_of(kind)?, id, verb, parse(body)?),
        },
        ("POST", [kind, id]) => catalog::update(shared, kind_of(kind)?, id, parse(body)?),
        ("DELETE", [kind, id]) => catalog::delete(shared, kind_of(kind)?, id),
        _ => Err(SimError::invalid(
            format!("Unrecognized simulator route ({method}: /_sim/{}).", segments.join("/")),
            None,
        )),
    }
}

/// Seeding and snapshots of a big account hold the state lock for seconds:
/// run them on the blocking pool so the async workers stay free (webhook
/// delivery keeps going; readers wait for the lock either way).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SimError> + Send + 'static,
) -> Result<T, SimError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SimError::invalid(format!("simulator task failed: {e}"), None))?
}

fn invoice_action(s: &str) -> Option<InvoiceAction> {
    match s {
        "finalize" => Some(InvoiceAction::Finalize),
        "pay" => Some(InvoiceAction::Pay),
        "void" => Some(InvoiceAction::Void),
        "mark_uncollectible" => Some(InvoiceAction::MarkUncollectible),
        _ => None,
    }
}

fn kind_of(s: &str) -> Result<Kind, SimError> {
    Kind::parse(s).ok_or_else(|| SimError::invalid(format!("Unknown kind: {s}"), Some("kind")))
}

fn bad_kind(s: &str) -> Answer {
    Answer::invalid(&format!("Unknown kind: {s}"), Some("kind"))
}

/// The body as `T`; an empty body is `{}`.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, SimError> {
    let text: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(text).map_err(|e| SimError::invalid(format!("Invalid JSON body: {e}"), None))
}

fn to_value<T: serde::Serialize>(v: &T) -> Outcome {
    serde_json::to_value(v).map_err(|e| SimError::invalid(e.to_string(), None))
}

#[derive(Deserialize)]
struct EndpointBody {
    #[serde(default)]
    url: String,
    #[serde(default)]
    secrets: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClockBody {
    /// Pin at a timestamp (`null` unpins).
    set: Option<Option<i64>>,
    advance: Option<i64>,
}

fn clock(shared: &Shared, body: &Bytes) -> Outcome {
    let c: ClockBody = parse(body)?;
    if let Some(set) = c.set {
        shared.clock.set(set);
    }
    if let Some(secs) = c.advance {
        shared.clock.advance(secs);
    }
    Ok(json!({"now": shared.clock.now()}))
}

/// Merge the body into the current knobs (`{"api": {"slow_ms": 500}}`
/// changes only that one); `"hang_ms": N` hangs `/v1` for N ms from now.
fn set_faults(shared: &Shared, body: &Bytes) -> Outcome {
    let mut patch: Value = parse(body)?;
    let hang_ms = patch.as_object_mut().and_then(|m| m.remove("hang_ms"));
    let mut f = shared.faults();
    let mut merged = to_value(&*f)?;
    deep_merge(&mut merged, patch);
    let mut next: Faults =
        serde_json::from_value(merged).map_err(|e| SimError::invalid(format!("Invalid faults: {e}"), None))?;
    next.api.hang_until = f.api.hang_until;
    if let Some(ms) = hang_ms.as_ref().and_then(Value::as_u64) {
        next.api.hang_for(Duration::from_millis(ms));
    }
    *f = next;
    to_value(&*f)
}

fn deep_merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                deep_merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

fn stats(shared: &Shared) -> Outcome {
    Ok(json!({
        "api": serde_json::to_value(&shared.traffic().stats).unwrap_or_default(),
        "webhooks": serde_json::to_value(shared.hub.stats()).unwrap_or_default(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FlushBody {
    timeout_ms: Option<u64>,
}

async fn flush(shared: &Shared, body: &Bytes) -> Outcome {
    let b: FlushBody = parse(body)?;
    let timeout = Duration::from_millis(b.timeout_ms.unwrap_or(60_000));
    match shared.hub.wait_idle(timeout).await {
        true => Ok(json!({"idle": true})),
        false => Err(SimError::Timeout(timeout)),
    }
}
