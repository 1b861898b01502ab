//! The payment-side and billing-extra kinds (coupons, promotion codes, tax
//! rates, payment intents, charges, refunds, disputes, payment methods,
//! setup intents, checkout sessions and their line items, credit notes and
//! their lines, invoice items, subscription schedules): their fixture
//! shapes, normalised once, and one builder that fills a fresh object.
//!
//! These kinds are built through `serde_json::Value` rather than string
//! templates: they are seeded in the hundreds, not the millions, and a
//! value keeps the builders short. The stored bytes are the same either
//! way (serde_json's sorted, compact output).

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::store::Kind;

/// The bundled fixtures are part of the binary; a parse failure is a build
/// defect caught by the unit tests, never input-dependent.
fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("bundled fixture is valid JSON")
}

/// Overwrite top-level keys (generator filler → what a fresh account has).
fn with(mut v: Value, pairs: Value) -> Value {
    if let (Value::Object(m), Value::Object(p)) = (&mut v, pairs) {
        m.extend(p);
    }
    v
}

fn without(mut v: Value, keys: &[&str]) -> Value {
    if let Value::Object(m) = &mut v {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

fn base_value(kind: Kind) -> Option<Value> {
    let v = match kind {
        Kind::Coupon => with(
            fixture(include_str!("../../fixtures/coupon.json")),
            json!({"redeem_by": null, "duration_in_months": null, "currency": null}),
        ),
        Kind::PromotionCode => with(
            fixture(include_str!("../../fixtures/promotion_code.json")),
            json!({"active": true, "expires_at": null}),
        ),
        Kind::TaxRate => with(fixture(include_str!("../../fixtures/tax_rate.json")), json!({"flat_amount": null})),
        Kind::PaymentIntent => with(
            fixture(include_str!("../../fixtures/payment_intent.json")),
            json!({"canceled_at": null, "last_payment_error": null, "next_action": null, "processing": null,
                   "shipping": null, "transfer_data": null, "payment_method_configuration_details": null,
                   "managed_payments": null, "amount_details": {}}),
        ),
        // `refunds` is left out: since 2022-11-15 Stripe no longer includes
        // a charge's refunds unless expanded (docs.stripe.com/upgrades).
        Kind::Charge => with(
            without(fixture(include_str!("../../fixtures/charge.json")), &["refunds"]),
            json!({"source": null, "balance_transaction": null, "receipt_url": null, "shipping": null,
                   "transfer_data": null, "payment_method": null, "captured": true,
                   "outcome": {"advice_code": null, "network_advice_code": null, "network_decline_code": null,
                               "network_status": "approved_by_network", "reason": null,
                               "seller_message": "Payment complete.", "type": "authorized"}}),
        ),
        Kind::Refund => fixture(include_str!("../../fixtures/refund.json")),
        Kind::Dispute => fixture(include_str!("../../fixtures/dispute.json")),
        Kind::PaymentMethod => {
            with(fixture(include_str!("../../fixtures/payment_method.json")), json!({"metadata": {}}))
        }
        Kind::SetupIntent => with(
            fixture(include_str!("../../fixtures/setup_intent.json")),
            json!({"last_setup_error": null, "next_action": null, "payment_method_configuration_details": null}),
        ),
        Kind::CheckoutSession => with(
            fixture(include_str!("../../fixtures/checkout_session.json")),
            json!({"currency_conversion": null, "shipping_cost": null, "shipping_address_collection": null,
                   "collected_information": null, "after_expiration": null, "currency": "usd",
                   "custom_text": {"after_submit": null, "shipping_address": null, "submit": null,
                                   "terms_of_service_acceptance": null},
                   "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
                   "managed_payments": null, "payment_method_configuration_details": null}),
        ),
        Kind::CheckoutLineItem => fixture(include_str!("../../fixtures/checkout_line_item.json")),
        Kind::CreditNote => with(
            fixture(include_str!("../../fixtures/credit_note.json")),
            json!({"voided_at": null, "refunds": [], "shipping_cost": null, "pretax_credit_amounts": [],
                   "post_payment_amount": 0, "pdf": null, "lines": null}),
        ),
        Kind::CreditNoteLineItem => with(
            fixture(include_str!("../../fixtures/credit_note_line_item.json")),
            json!({"pretax_credit_amounts": [], "invoice_line_item": null, "type": "custom_line_item"}),
        ),
        Kind::InvoiceItem => with(
            fixture(include_str!("../../fixtures/invoiceitem.json")),
            json!({"parent": null, "quantity_decimal": "1"}),
        ),
        Kind::SubscriptionSchedule => with(
            fixture(include_str!("../../fixtures/subscription_schedule.json")),
            json!({"canceled_at": null, "completed_at": null, "released_at": null, "current_phase": null,
                   "default_settings": {"application_fee_percent": null,
                       "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                       "billing_cycle_anchor": "automatic", "billing_thresholds": null,
                       "collection_method": "charge_automatically", "default_payment_method": null,
                       "description": null, "invoice_settings": {"account_tax_ids": null, "custom_fields": null,
                           "days_until_due": null, "description": null, "footer": null, "issuer": {"type": "self"}},
                       "on_behalf_of": null, "transfer_data": null}}),
        ),
        _ => return None,
    };
    Some(v)
}

/// The normalised fixture of `kind` (`None` for the core kinds, which have
/// their own templates).
pub(crate) fn base(kind: Kind) -> Option<&'static Value> {
    static BASES: OnceLock<Vec<(Kind, Value)>> = OnceLock::new();
    let all = BASES.get_or_init(|| Kind::ALL.into_iter().filter_map(|k| base_value(k).map(|v| (k, v))).collect());
    all.iter().find(|(k, _)| *k == kind).map(|(_, v)| v)
}

/// A fresh object of `kind`: the base with `id`, `created` (where the kind
/// has one) and then `fields` (top-level keys) laid over it. `None` for
/// kinds without a base here.
pub(crate) fn build(kind: Kind, id: &str, created: i64, fields: Map<String, Value>) -> Option<Value> {
    let mut v = base(kind)?.clone();
    let m = v.as_object_mut()?;
    m.insert("id".into(), json!(id));
    if m.contains_key("created") {
        m.insert("created".into(), json!(created));
    }
    if m.contains_key("client_secret") && kind != Kind::CheckoutSession {
        m.insert("client_secret".into(), json!(format!("{id}_secret_sim")));
    }
    m.extend(fields);
    Some(v)
}

/// The first phase of the schedule fixture, filler nulled: the shape a
/// schedule's phase has.
pub(crate) fn fixture_phase() -> Value {
    let mut phase = base(Kind::SubscriptionSchedule).map(|s| s["phases"][0].clone()).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut phase {
        m.insert("transfer_data".into(), Value::Null);
        m.insert("billing_thresholds".into(), Value::Null);
    }
    phase
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_new_kind_has_a_base_of_its_object() {
        for kind in Kind::ALL {
            if let Some(v) = base(kind) {
                assert_eq!(v["object"], kind.object(), "{kind}");
            }
        }
        assert!(base(Kind::Charge).is_some_and(|c| c.get("refunds").is_none()));
    }
}
