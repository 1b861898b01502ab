//! The event envelope and what each event type means for the mirror: pure
//! rules, no I/O. The webhook handler uses [`Envelope::parse`] to refuse bodies
//! that are not Stripe events; the apply path uses [`classify`], which reads
//! the registry (`crate::registry`): every event type of a mirrored type is
//! listed there with what applying it does.

use serde::Deserialize;

pub use crate::registry::Kind;
use crate::registry::{Does, TypeSet};

/// What applying an event of a given type does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Upsert `data.object` (and its embedded children).
    Upsert(Kind),
    /// Mark the row deleted, keeping the last known data.
    Delete(Kind),
    /// The object in another shape (`plan.created`/`plan.updated`: a price
    /// in plan shape). Never stored as such; its twin event (the same verb
    /// under `twin`, `price.*`) or a retrieve of the object is.
    Twin { kind: Kind, twin: &'static str },
    /// Recorded, not applied.
    Ignore(&'static str),
}

/// Maps an event type to its action, from the registry. Every type in
/// `tests/data/event-types.txt` (Stripe's list for these objects) and every
/// event type of a mirrored type has a deliberate answer there.
pub fn classify(event_type: &str) -> Action {
    match crate::registry::event_rule(event_type) {
        Some((kind, Does::Upsert | Does::Cancel)) => Action::Upsert(kind),
        Some((kind, Does::Delete)) => Action::Delete(kind),
        Some((kind, Does::Twin(twin))) => Action::Twin { kind, twin },
        Some((_, Does::Ignore(why))) => Action::Ignore(why),
        None => Action::Ignore("unhandled type"),
    }
}

/// The event types the mirror acts on, for every type of the registry:
/// what a webhook endpoint needs, spelled out (Stripe's `enabled_events`
/// takes explicit names or `*`, no `customer.*`-style groups). For a mirror
/// of some types only, [`crate::registry::applied_event_types`] takes them.
pub fn applied_event_types() -> Vec<&'static str> {
    crate::registry::applied_event_types(TypeSet::ALL)
}

/// A Stripe event as received: the fields we route on, and the raw body.
#[derive(Debug)]
pub struct Envelope {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    /// `data.object.id`, when the object has one.
    pub object_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("body is not a Stripe event: {0}")]
pub struct EnvelopeError(String);

#[derive(Deserialize)]
struct Wire<'a> {
    id: String,
    object: &'a str,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    data: WireData,
}

/// `data.object` is read for its id only, in the same pass as the envelope.
#[derive(Deserialize)]
struct WireData {
    object: ObjectId,
}

#[derive(Deserialize)]
struct ObjectId {
    id: Option<String>,
}

impl Envelope {
    /// Checks that `body` is a Stripe event: JSON with `id` (`evt_…`),
    /// `object: "event"`, `type`, `created` and an object in `data.object`.
    pub fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
        let wire: Wire = serde_json::from_slice(body).map_err(|e| EnvelopeError(e.to_string()))?;
        if wire.object != "event" {
            return Err(EnvelopeError(format!("object is {:?}, not \"event\"", wire.object)));
        }
        if !wire.id.starts_with("evt_") || wire.event_type.is_empty() {
            return Err(EnvelopeError("id or type missing".into()));
        }
        Ok(Envelope { id: wire.id, event_type: wire.event_type, created: wire.created, object_id: wire.data.object.id })
    }
}

/// Does this JSON text contain the escape `\u0000`? Postgres's `jsonb`
/// cannot hold it, so such an object could never be written to the tables.
/// Assumes valid JSON, where a backslash only starts an escape.
pub fn has_nul_escape(json: &[u8]) -> bool {
    let mut rest = json;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        let escape = &rest[at..];
        if escape.starts_with(b"\\u0000") {
            return true;
        }
        // Skip the backslash and the escaped character (`\\` is one escape).
        rest = escape.get(2..).unwrap_or_default();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_event_type_has_a_deliberate_action() {
        let types = include_str!("../../tests/data/event-types.txt");
        for t in types.lines().filter(|l| !l.is_empty()) {
            let action = classify(t);
            let expected_ignored = t.starts_with("customer.source.")
                || t.starts_with("customer.tax_id.")
                || t.starts_with("customer.discount.")
                || t == "invoice.upcoming";
            assert_eq!(matches!(action, Action::Ignore(_)), expected_ignored, "{t}: {action:?}");
        }
    }

    #[test]
    fn subscription_deleted_is_a_cancellation_not_a_delete() {
        let kind = |table| Kind::by_table(table).unwrap();
        assert_eq!(classify("customer.subscription.deleted"), Action::Upsert(kind("subscriptions")));
        assert_eq!(classify("customer.deleted"), Action::Delete(kind("customers")));
        assert_eq!(classify("plan.deleted"), Action::Delete(kind("prices")));
        assert_eq!(classify("plan.updated"), Action::Twin { kind: kind("prices"), twin: "price" });
        assert_eq!(classify("payout.paid"), Action::Ignore("unhandled type"));
    }

    #[test]
    fn the_new_types_quirks_are_classified() {
        let kind = |table| Kind::by_table(table).unwrap();
        assert_eq!(classify("coupon.deleted"), Action::Delete(kind("coupons")));
        // Detaching keeps the method: the event carries it with `customer: null`.
        assert_eq!(classify("payment_method.detached"), Action::Upsert(kind("payment_methods")));
        assert_eq!(classify("charge.refunded"), Action::Upsert(kind("charges")));
        assert_eq!(classify("charge.refund.updated"), Action::Upsert(kind("refunds")));
        assert_eq!(classify("charge.dispute.funds_withdrawn"), Action::Upsert(kind("disputes")));
        assert_eq!(classify("checkout.session.expired"), Action::Upsert(kind("checkout_sessions")));
        assert_eq!(classify("invoiceitem.deleted"), Action::Delete(kind("invoice_items")));
        assert_eq!(classify("credit_note.voided"), Action::Upsert(kind("credit_notes")));
    }

    #[test]
    fn applied_event_types_are_the_known_types_the_mirror_does_not_ignore() {
        let applied = applied_event_types();
        for t in ["customer.created", "customer.subscription.deleted", "invoice.paid", "plan.deleted", "price.updated"]
        {
            assert!(applied.contains(&t), "{t} missing");
        }
        for t in ["customer.source.created", "customer.tax_id.updated", "customer.discount.deleted", "invoice.upcoming"]
        {
            assert!(!applied.contains(&t), "{t} is ignored, yet listed");
        }
        let core = include_str!("../../tests/data/event-types.txt");
        let known = core.lines().filter(|l| !l.trim().is_empty()).count();
        let core_applied = core.lines().filter(|t| applied.contains(&t.trim())).count();
        assert_eq!(core_applied, known - 11, "every known core type but the 11 ignored ones");
    }

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"a":"\u0000"}"#));
        assert!(has_nul_escape(br#"{"a":"x\\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\u0001"}"#));
        assert!(!has_nul_escape(br#"{"a":"\n\"\\"}"#));
    }

    #[test]
    fn envelope_requires_an_event() {
        let ok = br#"{"id":"evt_1","object":"event","type":"customer.created","created":5,"data":{"object":{"id":"cus_1"}}}"#;
        let e = Envelope::parse(ok).unwrap();
        assert_eq!((e.id.as_str(), e.created, e.object_id.as_deref()), ("evt_1", 5, Some("cus_1")));
        for bad in [
            &b"not json"[..],
            br#"{"id":"evt_1"}"#,
            br#"{"id":"cus_1","object":"customer","type":"x","created":5,"data":{"object":{}}}"#,
            br#"{"id":"evt_1","object":"event","type":"x","created":"5","data":{"object":{}}}"#,
            br#"{"id":"evt_1","object":"event","type":"x","created":5,"data":{"object":[1]}}"#,
        ] {
            assert!(Envelope::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
