//! One Dashboard operation in progress: the state write lock, the second it
//! happens in, and event emission. Events are recorded and queued for
//! delivery while the lock is held, so the log and the webhook queue see
//! changes in exactly the order they were made.

use std::sync::{Arc, RwLockWriteGuard};

use serde_json::{Map, Value};

use crate::events::EventSpec;
use crate::faults::DeliveryFaults;
use crate::objects::{id_format, random_id, request_id, to_doc};
use crate::store::{Doc, Fields, Hole, Kind, Record, State};
use crate::versions::ApiVersion;
use crate::webhooks::is_known_event_type;
use crate::{Shared, SimError};

pub(crate) struct Tx<'a> {
    shared: &'a Shared,
    pub st: RwLockWriteGuard<'a, State>,
    /// The simulated second of this change (objects' and events' `created`).
    pub now: i64,
    request_id: String,
    faults: DeliveryFaults,
}

impl<'a> Tx<'a> {
    pub fn begin(shared: &'a Shared) -> Tx<'a> {
        let faults = shared.delivery_faults();
        let st = shared.write();
        Tx { shared, st, now: shared.clock.now(), request_id: request_id(), faults }
    }

    /// Record an event, rendered in the account's default version, and
    /// queue it for every endpoint that wants its type: in the endpoint's
    /// own `api_version` if it has one (same event, same state, other
    /// shapes), else as recorded.
    pub fn emit(&mut self, event_type: &str, object: &str, previous: Option<&Value>) {
        let targets = self.shared.hub.targets(&self.shared.account_id, event_type);
        let spec = EventSpec {
            event_type,
            object,
            previous,
            created: self.now,
            request_id: &self.request_id,
            pending_webhooks: targets.len(),
        };
        let default = self.shared.default_version();
        let ev = self.st.record_event(&spec, default);
        let mut bodies: Vec<(ApiVersion, Arc<str>)> = vec![(default, ev.body.clone())];
        let mut deliveries = Vec::with_capacity(targets.len());
        for (endpoint, pinned) in targets {
            // Endpoint versions were checked when the endpoint was made.
            let version = pinned.as_deref().and_then(ApiVersion::parse).unwrap_or(default);
            let body = match bodies.iter().find(|(v, _)| *v == version) {
                Some((_, body)) => body.clone(),
                None => {
                    let body: Arc<str> = Arc::from(self.st.render_event(&ev.id, &spec, version));
                    bodies.push((version, body.clone()));
                    body
                }
            };
            deliveries.push((endpoint, body));
        }
        self.shared.hub.enqueue(&ev, deliveries, &self.faults);
    }

    /// Emit `<prefix>.<verb>` for an object of `kind` if Stripe has that
    /// event type (`data/event-types.txt`): there is no
    /// `payment_intent.updated`, `checkout.session.created` or
    /// `invoiceitem.updated`, so a change with no event of its own is
    /// silent, as in Stripe. Returns whether an event was emitted.
    pub fn emit_verb(&mut self, kind: Kind, verb: &str, object: &str, previous: Option<&Value>) -> bool {
        let Some(prefix) = kind.event_prefix() else {
            return false;
        };
        let event_type = format!("{prefix}.{verb}");
        if !is_known_event_type(&event_type) {
            return false;
        }
        self.emit(&event_type, object, previous);
        true
    }

    /// A new id: the requested one if free, else a random one. The id of a
    /// deleted product or plan (a recurring price here) may be taken again:
    /// Stripe lets a deleted plan's id be created again, old subscriptions
    /// keeping the old incarnation (facts.md, "Custom ids and deletion");
    /// for products and coupons it is undocumented either way ("assume
    /// reuse is possible"), so it is allowed too.
    /// The new incarnation replaces the old one; events keep the old.
    pub fn new_id(&mut self, kind: Kind, requested: Option<String>) -> Result<String, SimError> {
        if let Some(id) = requested {
            let reusable = matches!(kind, Kind::Product | Kind::Price | Kind::Coupon)
                && self.st.table(kind).get(&id).is_some_and(|r| r.deleted);
            if self.st.id_taken(kind, &id) && !reusable {
                return Err(SimError::invalid(
                    format!("A {} with id '{id}' already exists.", kind.object()),
                    Some("id"),
                ));
            }
            if reusable {
                tracing::debug!(kind = %kind, %id, "a deleted id is created again");
            }
            if reusable && kind == Kind::Price {
                self.freeze_price_references(&id);
            }
            return Ok(id);
        }
        let (prefix, len) = id_format(kind);
        let mut rng = fastrand::Rng::new();
        loop {
            let id = random_id(&mut rng, prefix, len);
            if !self.st.id_taken(kind, &id) {
                return Ok(id);
            }
        }
    }

    /// Insert a new object created now.
    pub fn insert(&mut self, kind: Kind, id: &str, (doc, fields): (Doc, Fields)) -> Arc<str> {
        let seq = self.st.next_seq();
        self.insert_at(kind, id, seq, (doc, fields))
    }

    /// Insert with a given sequence number (a plan shares its price's).
    pub fn insert_at(&mut self, kind: Kind, id: &str, seq: u64, (doc, fields): (Doc, Fields)) -> Arc<str> {
        let id: Arc<str> = Arc::from(id);
        self.st.table_mut(kind).insert(Record { id: id.clone(), created: self.now, seq, doc, deleted: false, fields });
        id
    }

    /// Subscription items embed their price (and plan) by reference; before
    /// a deleted price's id names a new incarnation, items that still show
    /// the old one keep it as it was.
    fn freeze_price_references(&mut self, price: &str) {
        let items = self.st.table(Kind::SubscriptionItem);
        let stale: Vec<(Arc<str>, String)> = items
            .by_id
            .values()
            .filter(|r| r.doc.holes.iter().any(|(_, h)| matches!(h, Hole::Price(p) | Hole::Plan(p) if &**p == price)))
            .map(|r| (r.id.clone(), self.st.render(Kind::SubscriptionItem, r)))
            .collect();
        let items = self.st.table_mut(Kind::SubscriptionItem);
        for (id, text) in stale {
            if let Some(rec) = items.by_id.get_mut(&id) {
                rec.doc = Doc::plain(text);
            }
        }
    }

    /// The live object, rendered as the API shows it.
    pub fn render(&self, kind: Kind, id: &str) -> Result<String, SimError> {
        let rec = self.st.table(kind).live_get(id).ok_or_else(|| SimError::not_found(kind.object(), id))?;
        Ok(self.st.render(kind, rec))
    }

    /// The live object as a JSON value, for editing.
    pub fn value(&self, kind: Kind, id: &str) -> Result<Value, SimError> {
        parse(&self.render(kind, id)?)
    }

    /// Store an edited object (holes re-cut, filter fields re-read).
    pub fn store(&mut self, kind: Kind, id: &str, v: &Value) {
        let (doc, fields) = to_doc(kind, v);
        self.st.table_mut(kind).replace(id, doc, fields);
    }

    /// Delete: freeze the last rendered state (so a deleted invoice keeps
    /// its lines and a removed item its price as they were), then drop it
    /// from lists. Returns that last state.
    pub fn mark_deleted(&mut self, kind: Kind, id: &str) -> Result<String, SimError> {
        let text = self.render(kind, id)?;
        let fields = self.st.table(kind).get(id).map(|r| r.fields.clone()).unwrap_or_default();
        let table = self.st.table_mut(kind);
        table.replace(id, Doc::plain(text.clone()), fields);
        table.mark_deleted(id);
        Ok(text)
    }
}

/// Our own rendered JSON always parses; a failure is reported, not panicked.
pub(crate) fn parse(text: &str) -> Result<Value, SimError> {
    serde_json::from_str(text).map_err(|e| SimError::invalid(format!("stored object is not JSON: {e}"), None))
}

/// Merge top-level keys of `patch` into `target`.
pub(crate) fn merge(target: &mut Value, patch: Map<String, Value>) {
    if let Value::Object(map) = target {
        map.extend(patch);
    }
}

/// Keys a patch may not touch: identity, list position, and nested lists
/// (which change through their own operations).
pub(crate) fn check_patch(patch: &Map<String, Value>) -> Result<(), SimError> {
    for key in ["id", "object", "created", "livemode", "deleted", "items", "lines"] {
        if patch.contains_key(key) {
            return Err(SimError::invalid(format!("The simulator does not let an update change `{key}`."), Some(key)));
        }
    }
    Ok(())
}

/// Metadata map as a JSON fragment.
pub(crate) fn metadata_json(m: &Map<String, Value>) -> String {
    Value::Object(m.clone()).to_string()
}
