//! Building Stripe-shaped objects from the fixtures: ids, per-kind builders
//! over the templates, the plan view of a price, and reading the filter
//! fields back out of an edited object.

mod build;
mod payments;
mod templates;

pub(crate) use payments::{build as build_other, fixture_phase};

pub(crate) use build::{
    customer, invoice, item, line, price, product, subscription, CustomerSpec, InvoiceSpec, ItemSpec, LineSpec,
    PriceSpec, ProductSpec, SubscriptionSpec,
};

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::store::{Doc, Fields, HoleKind, Kind};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Id prefix and random length per kind, as Stripe's ids look
/// (`cus_QXg1o8vcGmoR32`, `price_1PgafmB7WZ01zgkW6dKueIc5`).
pub(crate) fn id_format(kind: Kind) -> (&'static str, usize) {
    match kind {
        Kind::Product => ("prod_", 14),
        Kind::Price | Kind::Plan => ("price_1", 23),
        Kind::Customer => ("cus_", 14),
        Kind::Subscription => ("sub_1", 23),
        Kind::SubscriptionItem => ("si_", 14),
        Kind::Invoice => ("in_1", 23),
        Kind::InvoiceLineItem => ("il_1", 23),
        Kind::Event => ("evt_1", 23),
        // Coupons take caller-chosen ids; a generated one is eight
        // characters, as the Dashboard makes them (fixture `Z4OV52SU`).
        Kind::Coupon => ("", 8),
        Kind::PromotionCode => ("promo_1", 23),
        Kind::TaxRate => ("txr_1", 23),
        Kind::PaymentIntent => ("pi_1", 23),
        Kind::Charge => ("ch_1", 23),
        Kind::Refund => ("re_1", 23),
        Kind::Dispute => ("dp_1", 23),
        Kind::PaymentMethod => ("pm_1", 23),
        Kind::SetupIntent => ("seti_1", 23),
        Kind::CheckoutSession => ("cs_test_a1", 56),
        Kind::CheckoutLineItem => ("li_1", 23),
        Kind::CreditNote => ("cn_1", 23),
        Kind::CreditNoteLineItem => ("cnli_1", 23),
        Kind::InvoiceItem => ("ii_1", 23),
        Kind::SubscriptionSchedule => ("sub_sched_1", 23),
    }
}

/// A random Stripe-looking id.
pub(crate) fn random_id(rng: &mut fastrand::Rng, prefix: &str, len: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    for _ in 0..len {
        s.push(char::from(ALPHABET[rng.usize(..ALPHABET.len())]));
    }
    s
}

/// `req_…` ids for responses and event envelopes.
pub(crate) fn request_id() -> String {
    random_id(&mut fastrand::Rng::new(), "req_", 14)
}

/// Top-level keys that are holes when a kind's JSON is stored.
pub(crate) fn holes_of(kind: Kind) -> &'static [(&'static str, HoleKind)] {
    match kind {
        Kind::Subscription => &[("items", HoleKind::Items)],
        Kind::Invoice => &[("lines", HoleKind::Lines)],
        Kind::SubscriptionItem => &[("price", HoleKind::Price), ("plan", HoleKind::Plan)],
        Kind::CreditNote => &[("lines", HoleKind::CreditNoteLines)],
        // A checkout line item shows its price in full, as it is now.
        Kind::CheckoutLineItem => &[("price", HoleKind::Price)],
        _ => &[],
    }
}

/// Store an edited object: its document (with holes) and filter fields.
pub(crate) fn to_doc(kind: Kind, v: &Value) -> (Doc, Fields) {
    (Doc::from_value(v, holes_of(kind)), fields_of(kind, v))
}

/// The filter fields of an object, read from its JSON.
pub(crate) fn fields_of(kind: Kind, v: &Value) -> Fields {
    let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).map(Arc::<str>::from);
    match kind {
        Kind::Product => Fields { active: v["active"].as_bool().unwrap_or(false), ..Fields::default() },
        Kind::Price | Kind::Plan => Fields {
            active: v["active"].as_bool().unwrap_or(false),
            recurring: kind == Kind::Plan || v["type"].as_str() == Some("recurring"),
            parent: s("/product"),
            ..Fields::default()
        },
        Kind::Subscription | Kind::Invoice => Fields {
            tag: v["status"].as_str().map(Box::from),
            customer: s("/customer"),
            parent: s("/parent/subscription_details/subscription"),
            ..Fields::default()
        },
        Kind::SubscriptionItem => Fields { parent: s("/subscription"), ..Fields::default() },
        Kind::InvoiceLineItem => Fields { parent: s("/invoice"), ..Fields::default() },
        Kind::Customer => Fields::default(),
        Kind::Event => Fields { tag: v["type"].as_str().map(Box::from), ..Fields::default() },
        _ => other_fields(kind, v),
    }
}

/// The filter fields of the payment-side kinds (see `Fields` for which
/// slot holds what). Nested kinds get their parent when inserted.
fn other_fields(kind: Kind, v: &Value) -> Fields {
    let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).map(Arc::<str>::from);
    let status = v["status"].as_str().map(Box::from);
    let active = v["active"].as_bool().unwrap_or(false);
    match kind {
        Kind::PromotionCode => Fields {
            active,
            parent: s("/promotion/coupon"),
            customer: s("/customer"),
            related: s("/code"),
            ..Fields::default()
        },
        Kind::TaxRate => Fields { active, recurring: v["inclusive"].as_bool().unwrap_or(false), ..Fields::default() },
        Kind::PaymentIntent => Fields { tag: status, customer: s("/customer"), ..Fields::default() },
        Kind::Charge => Fields {
            tag: status,
            customer: s("/customer"),
            parent: s("/invoice"),
            related: s("/payment_intent"),
            ..Fields::default()
        },
        Kind::Refund | Kind::Dispute => {
            Fields { tag: status, parent: s("/charge"), related: s("/payment_intent"), ..Fields::default() }
        }
        Kind::PaymentMethod => {
            Fields { tag: v["type"].as_str().map(Box::from), customer: s("/customer"), ..Fields::default() }
        }
        Kind::SetupIntent => {
            Fields { tag: status, customer: s("/customer"), related: s("/payment_method"), ..Fields::default() }
        }
        Kind::CheckoutSession => Fields {
            tag: status,
            customer: s("/customer"),
            parent: s("/subscription"),
            related: s("/payment_intent"),
            ..Fields::default()
        },
        Kind::CreditNote => {
            Fields { tag: status, customer: s("/customer"), parent: s("/invoice"), ..Fields::default() }
        }
        Kind::InvoiceItem => Fields {
            customer: s("/customer"),
            parent: s("/invoice"),
            recurring: v["invoice"].is_null(),
            ..Fields::default()
        },
        Kind::SubscriptionSchedule => {
            Fields { tag: status, customer: s("/customer"), parent: s("/subscription"), ..Fields::default() }
        }
        _ => Fields::default(),
    }
}

/// The legacy plan object Stripe shows for a recurring price (same id, same
/// `created`), shaped like fixtures/plan.json.
pub(crate) fn plan_from_price(price: &Value) -> Value {
    static BASE: OnceLock<Value> = OnceLock::new();
    let mut plan = BASE.get_or_init(templates::plan_base).clone();
    let recurring = &price["recurring"];
    let copies = [
        ("active", &price["active"]),
        ("billing_scheme", &price["billing_scheme"]),
        ("created", &price["created"]),
        ("currency", &price["currency"]),
        ("id", &price["id"]),
        ("livemode", &price["livemode"]),
        ("metadata", &price["metadata"]),
        ("nickname", &price["nickname"]),
        ("product", &price["product"]),
        ("tiers_mode", &price["tiers_mode"]),
        ("amount", &price["unit_amount"]),
        ("amount_decimal", &price["unit_amount_decimal"]),
        ("interval", &recurring["interval"]),
        ("interval_count", &recurring["interval_count"]),
        ("meter", &recurring["meter"]),
        ("trial_period_days", &recurring["trial_period_days"]),
        ("usage_type", &recurring["usage_type"]),
    ];
    if let Value::Object(map) = &mut plan {
        for (k, v) in copies {
            map.insert(k.to_owned(), v.clone());
        }
    }
    plan
}

/// `ts` plus `count` billing intervals (calendar months and years, as
/// Stripe bills), for subscription item periods.
pub(crate) fn add_interval(ts: i64, interval: &str, count: u32) -> i64 {
    use chrono::{DateTime, Days, Months};
    let Some(t) = DateTime::from_timestamp(ts, 0) else {
        return ts;
    };
    let next = match interval {
        "day" => t.checked_add_days(Days::new(u64::from(count))),
        "week" => t.checked_add_days(Days::new(7 * u64::from(count))),
        "year" => t.checked_add_months(Months::new(12 * count)),
        _ => t.checked_add_months(Months::new(count)),
    };
    next.map_or(ts, |d| d.timestamp())
}

/// `data.previous_attributes` of an update: the old value of every
/// top-level key whose value changed (`null` for keys that were absent).
pub(crate) fn previous_attributes(old: &Value, new: &Value) -> Value {
    let mut prev = serde_json::Map::new();
    if let (Value::Object(o), Value::Object(n)) = (old, new) {
        for (k, nv) in n {
            match o.get(k) {
                Some(ov) if ov == nv => {}
                Some(ov) => {
                    prev.insert(k.clone(), ov.clone());
                }
                None => {
                    prev.insert(k.clone(), Value::Null);
                }
            }
        }
    }
    Value::Object(prev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previous_attributes_keep_old_values_of_changed_keys() {
        let old = json!({"a": 1, "b": {"x": 1}, "c": 3});
        let new = json!({"a": 2, "b": {"x": 1}, "c": 3, "d": 4});
        assert_eq!(previous_attributes(&old, &new), json!({"a": 1, "d": null}));
    }

    #[test]
    fn ids_look_like_stripe_ids() {
        let id = random_id(&mut fastrand::Rng::with_seed(1), "cus_", 14);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("cus_"));
    }
}
