//! State changes of the payment-side kinds, each named by the event Stripe
//! sends for it (`Sim::transition(Kind::PaymentIntent, id, "succeeded",
//! patch)` → `payment_intent.succeeded`). Each verb sets what the object
//! shows after that change in Stripe (status, timestamps); the caller's
//! `patch` is merged last, so anything else can be set too.
//!
//! | kind | verbs |
//! |---|---|
//! | payment_intent | succeeded (+ a charge: `charge.succeeded`), canceled, processing, payment_failed, requires_action, amount_capturable_updated, partially_funded |
//! | charge | succeeded, failed, pending, captured, expired, updated |
//! | refund | updated, failed |
//! | dispute | updated, closed, funds_withdrawn, funds_reinstated (`charge.dispute.*`) |
//! | payment_method | attached (`{"customer"}` in the patch), detached, updated, automatically_updated |
//! | setup_intent | succeeded, canceled, setup_failed, requires_action |
//! | checkout.session | completed, expired, async_payment_succeeded, async_payment_failed |
//! | credit_note | voided, updated |
//! | subscription_schedule | canceled, released, completed, aborted, expiring, updated |
//! | coupon, promotion_code, tax_rate | updated |

use serde_json::{json, Map, Value};

use super::other::{change, live, patch};
use super::payment_params::ChargeParams;
use super::payments::insert_charge;
use super::tx::Tx;
use crate::store::Kind;
use crate::{Shared, SimError};

pub(crate) fn transition(shared: &Shared, kind: Kind, id: &str, verb: &str, extra: Value) -> Result<Value, SimError> {
    let Value::Object(extra) = extra else {
        return Err(SimError::invalid("A transition's patch must be a JSON object.", None));
    };
    let mut tx = Tx::begin(shared);
    let old = live(&tx, kind, id)?;
    let now = tx.now;
    let status = old["status"].as_str().unwrap_or("").to_owned();
    let refuse = |why: &str| Err(SimError::invalid(format!("Cannot {verb} {id}: {why}."), None));
    let mut set = match (kind, verb) {
        (_, "updated") => Map::new(),
        (Kind::PaymentIntent, "succeeded") => {
            if matches!(status.as_str(), "succeeded" | "canceled") {
                return refuse(&format!("it is {status}"));
            }
            let amount = old["amount"].as_i64().unwrap_or(0);
            let charge = insert_charge(
                &mut tx,
                ChargeParams {
                    amount,
                    currency: old["currency"].as_str().map(str::to_owned),
                    customer: old["customer"].as_str().map(str::to_owned),
                    payment_intent: Some(id.to_owned()),
                    ..ChargeParams::default()
                },
            )?;
            patch(json!({"status": "succeeded", "amount_received": amount, "amount_capturable": 0,
                         "latest_charge": charge["id"], "last_payment_error": null, "next_action": null}))
        }
        (Kind::PaymentIntent, "canceled") if status == "succeeded" => return refuse("it succeeded"),
        (Kind::PaymentIntent | Kind::SetupIntent, "canceled") => {
            let mut p = patch(json!({"status": "canceled", "cancellation_reason": "requested_by_customer"}));
            if kind == Kind::PaymentIntent {
                p.insert("canceled_at".into(), json!(now));
            }
            p
        }
        (Kind::PaymentIntent, "processing") => patch(json!({"status": "processing"})),
        (Kind::PaymentIntent, "payment_failed") => patch(json!({"status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "decline_code": "generic_decline",
                                   "message": "Your card was declined.", "type": "card_error"}})),
        (Kind::PaymentIntent | Kind::SetupIntent, "requires_action") => {
            patch(json!({"status": "requires_action", "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {}}}))
        }
        (Kind::PaymentIntent, "amount_capturable_updated") => {
            patch(json!({"status": "requires_capture", "amount_capturable": old["amount"]}))
        }
        // Customer-balance payments funded in part wait for the rest.
        (Kind::PaymentIntent, "partially_funded") => patch(json!({"status": "requires_action"})),
        (Kind::Charge, "succeeded") => patch(json!({"status": "succeeded", "paid": true})),
        (Kind::Charge, "failed") => patch(json!({"status": "failed", "paid": false,
            "failure_code": "card_declined", "failure_message": "Your card was declined."})),
        (Kind::Charge, "pending") => patch(json!({"status": "pending"})),
        (Kind::Charge, "captured") => patch(json!({"captured": true, "amount_captured": old["amount"]})),
        // An uncaptured charge that expires is released in full.
        (Kind::Charge, "expired") if old["captured"] == true => return refuse("it is captured"),
        (Kind::Charge, "expired") => patch(json!({"refunded": true, "amount_refunded": old["amount"]})),
        (Kind::Refund, "failed") => patch(json!({"status": "failed", "failure_reason": "unknown"})),
        (Kind::Dispute, "closed") => patch(json!({"status": "lost"})),
        (Kind::Dispute, "funds_withdrawn" | "funds_reinstated") => Map::new(),
        (Kind::PaymentMethod, "attached") => match extra.get("customer").and_then(Value::as_str) {
            Some(c) => {
                live(&tx, Kind::Customer, c)?;
                Map::new()
            }
            None => return Err(SimError::invalid("Missing required param: customer.", Some("customer"))),
        },
        (Kind::PaymentMethod, "detached") if old["customer"].is_null() => return refuse("it is not attached"),
        // Detached, the method still exists and is retrievable, with no
        // customer (docs.stripe.com/api/payment_methods/detach).
        (Kind::PaymentMethod, "detached") => patch(json!({"customer": null})),
        (Kind::PaymentMethod, "automatically_updated") => Map::new(),
        (Kind::SetupIntent, "succeeded") => patch(json!({"status": "succeeded", "next_action": null})),
        (Kind::SetupIntent, "setup_failed") => patch(json!({"status": "requires_payment_method",
            "last_setup_error": {"code": "card_declined", "message": "Your card was declined.", "type": "card_error"}})),
        (Kind::CheckoutSession, "completed" | "expired") if status != "open" => {
            return refuse(&format!("it is {status}"))
        }
        (Kind::CheckoutSession, "completed") => {
            let paid = if old["mode"] == "setup" { "no_payment_required" } else { "paid" };
            patch(json!({"status": "complete", "payment_status": paid}))
        }
        (Kind::CheckoutSession, "expired") => patch(json!({"status": "expired"})),
        (Kind::CheckoutSession, "async_payment_succeeded" | "async_payment_failed") if status != "complete" => {
            return refuse("it is not complete")
        }
        (Kind::CheckoutSession, "async_payment_succeeded") => patch(json!({"payment_status": "paid"})),
        (Kind::CheckoutSession, "async_payment_failed") => patch(json!({"payment_status": "unpaid"})),
        (Kind::CreditNote, "voided") if status == "void" => return refuse("it is void"),
        (Kind::CreditNote, "voided") => patch(json!({"status": "void", "voided_at": now})),
        (Kind::SubscriptionSchedule, "canceled" | "aborted") => {
            patch(json!({"status": "canceled", "canceled_at": now, "current_phase": null}))
        }
        (Kind::SubscriptionSchedule, "released") => patch(json!({"status": "released", "released_at": now,
            "released_subscription": old["subscription"], "subscription": null, "current_phase": null})),
        (Kind::SubscriptionSchedule, "completed") => {
            patch(json!({"status": "completed", "completed_at": now, "current_phase": null}))
        }
        (Kind::SubscriptionSchedule, "expiring") => Map::new(),
        _ => return Err(SimError::invalid(format!("Unknown transition for {}: {verb}", kind.plural()), None)),
    };
    set.extend(extra);
    change_checked(&mut tx, kind, id, set, verb)
}

/// [`change`], refusing verbs Stripe has no event for (so a typo is an
/// error, not a silent change).
fn change_checked(
    tx: &mut Tx<'_>,
    kind: Kind,
    id: &str,
    set: Map<String, Value>,
    verb: &str,
) -> Result<Value, SimError> {
    let known = kind.event_prefix().is_some_and(|p| crate::webhooks::is_known_event_type(&format!("{p}.{verb}")));
    if !known && verb != "updated" {
        return Err(SimError::invalid(format!("Stripe has no event {verb} for {}.", kind.plural()), None));
    }
    change(tx, kind, id, set, verb)
}
