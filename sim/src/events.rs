//! Events: the envelope Stripe wraps every change in, and the event log
//! behind `/v1/events`.
//!
//! An event is rendered once, when it happens, in the account's default API
//! version of that moment, and kept as bytes: every later `GET /v1/events`
//! answer is that text whatever `Stripe-Version` the request sends ("Each
//! event data is rendered according to Stripe API version at its creation
//! time", docs.stripe.com/api/events/list), and `data.object` stays the
//! object as it was at that moment. An endpoint with its own `api_version`
//! gets the same event (same id) rendered in that version, from the same
//! state, at the same moment.

use std::sync::Arc;

use serde_json::Value;

use crate::objects::{id_format, random_id};
use crate::store::{json_str, Doc, Fields, Kind, Record, State};
use crate::versions::ApiVersion;

/// A recorded event, as handed to webhook delivery.
#[derive(Debug, Clone)]
pub(crate) struct Emitted {
    pub id: Arc<str>,
    pub body: Arc<str>,
    /// The event's `created` (simulated clock), for event-time reordering.
    pub created: i64,
}

/// What an event says happened.
pub(crate) struct EventSpec<'a> {
    pub event_type: &'a str,
    /// The object's JSON at the time of the event, in today's shapes.
    pub object: &'a str,
    /// Old values of changed keys (`*.updated` only).
    pub previous: Option<&'a Value>,
    pub created: i64,
    pub request_id: &'a str,
    pub pending_webhooks: usize,
}

/// The envelope as Stripe sends it (keys in serde_json's sorted order, so
/// the text equals what a parse-and-reserialize would produce). `object`
/// and `previous` are already in `version`'s shapes.
fn envelope(id: &str, s: &EventSpec<'_>, object: &str, previous: Option<&Value>, version: &str, live: bool) -> String {
    let mut out = String::with_capacity(object.len() + 400);
    out.push_str("{\"api_version\":");
    out.push_str(&json_str(version));
    out.push_str(",\"created\":");
    out.push_str(&s.created.to_string());
    out.push_str(",\"data\":{\"object\":");
    out.push_str(object);
    if let Some(prev) = previous {
        out.push_str(",\"previous_attributes\":");
        out.push_str(&prev.to_string());
    }
    out.push_str("},\"id\":");
    out.push_str(&json_str(id));
    out.push_str(if live { ",\"livemode\":true" } else { ",\"livemode\":false" });
    out.push_str(",\"object\":\"event\",\"pending_webhooks\":");
    out.push_str(&s.pending_webhooks.to_string());
    out.push_str(",\"request\":{\"id\":");
    out.push_str(&json_str(s.request_id));
    out.push_str(",\"idempotency_key\":null},\"type\":");
    out.push_str(&json_str(s.event_type));
    out.push('}');
    out
}

impl State {
    /// The event `id` rendered in `version`.
    pub fn render_event(&self, id: &str, spec: &EventSpec<'_>, version: ApiVersion) -> String {
        let (object, previous) = self.reshape_event_data(spec.object, spec.previous, version);
        envelope(id, spec, &object, previous.as_deref(), version.as_str(), self.livemode)
    }

    /// Append an event, rendered in `version` (the account default now), to
    /// the log and return it for delivery.
    pub fn record_event(&mut self, spec: &EventSpec<'_>, version: ApiVersion) -> Emitted {
        let (prefix, len) = id_format(Kind::Event);
        let mut rng = fastrand::Rng::new();
        let id = loop {
            let id = random_id(&mut rng, prefix, len);
            if !self.id_taken(Kind::Event, &id) {
                break id;
            }
        };
        let text = self.render_event(&id, spec, version);
        let seq = self.next_seq();
        let id: Arc<str> = Arc::from(id);
        let body: Arc<str> = Arc::from(text.as_str());
        let fields = Fields { tag: Some(spec.event_type.into()), ..Fields::default() };
        self.table_mut(Kind::Event).insert(Record {
            id: id.clone(),
            created: spec.created,
            seq,
            doc: Doc::plain(text),
            deleted: false,
            fields,
        });
        Emitted { id, body, created: spec.created }
    }
}

/// Whether an event type matches a `type=` filter, where `*` matches any
/// run of characters (`customer.*`, `*.updated`).
pub(crate) fn type_matches(pattern: &str, event_type: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = event_type.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_groups() {
        assert!(type_matches("customer.*", "customer.subscription.created"));
        assert!(type_matches("customer.*", "customer.created"));
        assert!(!type_matches("customer.*", "invoice.created"));
        assert!(type_matches("*.updated", "invoice.updated"));
        assert!(type_matches("invoice.paid", "invoice.paid"));
        assert!(!type_matches("invoice.paid", "invoice.paid2"));
        assert!(type_matches("*", "plan.created"));
    }

    #[test]
    fn envelope_is_canonical_json() {
        let prev = serde_json::json!({"name": "old"});
        let object = r#"{"id":"cus_1","name":"new"}"#;
        let spec = EventSpec {
            event_type: "customer.updated",
            object,
            previous: Some(&prev),
            created: 1_700_000_000,
            request_id: "req_1",
            pending_webhooks: 2,
        };
        let text = envelope("evt_1", &spec, object, Some(&prev), crate::versions::API_VERSION, true);
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v.to_string(), text);
        assert_eq!(v["data"]["previous_attributes"]["name"], "old");
        assert_eq!(v["livemode"], true);
    }
}
