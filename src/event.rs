//! The event envelope and what each event type means for the mirror: pure
//! rules, no I/O. The webhook handler uses [`Envelope::parse`] to refuse bodies
//! that are not Stripe events; the apply path uses [`classify`].

use serde::Deserialize;

/// The five mirrored object kinds (children are written with their parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Product,
    Price,
    Customer,
    Subscription,
    Invoice,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Product, Kind::Price, Kind::Customer, Kind::Subscription, Kind::Invoice];

    /// The `object` field Stripe puts on this kind.
    pub fn object_name(self) -> &'static str {
        match self {
            Kind::Product => "product",
            Kind::Price => "price",
            Kind::Customer => "customer",
            Kind::Subscription => "subscription",
            Kind::Invoice => "invoice",
        }
    }

    /// API path of the list and retrieve endpoints.
    pub fn api_path(self) -> &'static str {
        match self {
            Kind::Product => "/v1/products",
            Kind::Price => "/v1/prices",
            Kind::Customer => "/v1/customers",
            Kind::Subscription => "/v1/subscriptions",
            Kind::Invoice => "/v1/invoices",
        }
    }
}

/// What applying an event of a given type does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Upsert `data.object` (and its embedded children).
    Upsert(Kind),
    /// Mark the row deleted, keeping the last known data.
    Delete(Kind),
    /// `plan.created`/`plan.updated`: the same object as a price, in plan shape.
    /// Never stored as such; its `price.*` twin or a retrieve of the price is.
    PlanTwin,
    /// Recorded, not applied.
    Ignore(&'static str),
}

/// Maps an event type to its action. Every type in
/// `tests/data/event-types.txt` (Stripe's list for these objects) has a deliberate answer here.
pub fn classify(event_type: &str) -> Action {
    let Some((prefix, verb)) = event_type.rsplit_once('.') else {
        return Action::Ignore("unhandled type");
    };
    match prefix {
        "product" => on_verb(Kind::Product, verb),
        "price" => on_verb(Kind::Price, verb),
        "customer" => on_verb(Kind::Customer, verb),
        "plan" if verb == "deleted" => Action::Delete(Kind::Price),
        "plan" => Action::PlanTwin,
        // A canceled subscription is a state, not a deletion: the object in
        // `customer.subscription.deleted` has status `canceled`, and we keep it.
        "customer.subscription" => Action::Upsert(Kind::Subscription),
        "customer.source" | "customer.tax_id" | "customer.discount" => Action::Ignore("not mirrored"),
        // `invoice.upcoming` describes an invoice that does not exist yet (no id).
        "invoice" if verb == "upcoming" => Action::Ignore("upcoming invoice"),
        "invoice" => on_verb(Kind::Invoice, verb),
        _ => Action::Ignore("unhandled type"),
    }
}

/// Every event type Stripe documents for the mirrored objects, one per line
/// (the list `classify` is tested against). A type added to `classify` must
/// be added here too, or `endpoint create` will not subscribe to it.
const KNOWN_EVENT_TYPES: &str = include_str!("../tests/data/event-types.txt");

/// The event types the mirror acts on: every known type whose action is not
/// [`Action::Ignore`], in the file's order. A webhook endpoint needs exactly
/// these, spelled out: Stripe's `enabled_events` takes explicit names or
/// `*`, no `customer.*`-style groups.
pub fn applied_event_types() -> Vec<&'static str> {
    KNOWN_EVENT_TYPES
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && !matches!(classify(t), Action::Ignore(_)))
        .collect()
}

fn on_verb(kind: Kind, verb: &str) -> Action {
    if verb == "deleted" {
        Action::Delete(kind)
    } else {
        Action::Upsert(kind)
    }
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
        for t in KNOWN_EVENT_TYPES.lines().filter(|l| !l.is_empty()) {
            let action = classify(t);
            let expected_ignored = t.starts_with("customer.source.")
                || t.starts_with("customer.tax_id.")
                || t.starts_with("customer.discount.")
                || t == "invoice.upcoming";
            assert_eq!(matches!(action, Action::Ignore(_)), expected_ignored, "{t}: {action:?}");
        }
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
        assert!(applied.iter().all(|t| !t.contains('*')), "Stripe takes no groups in enabled_events");
        let mut unique = applied.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), applied.len(), "duplicates");
        let known = KNOWN_EVENT_TYPES.lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(applied.len(), known - 11, "every known type but the 11 ignored ones");
    }

    #[test]
    fn subscription_deleted_is_a_cancellation_not_a_delete() {
        assert_eq!(classify("customer.subscription.deleted"), Action::Upsert(Kind::Subscription));
        assert_eq!(classify("customer.deleted"), Action::Delete(Kind::Customer));
        assert_eq!(classify("plan.deleted"), Action::Delete(Kind::Price));
        assert_eq!(classify("plan.updated"), Action::PlanTwin);
        assert_eq!(classify("charge.succeeded"), Action::Ignore("unhandled type"));
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
