//! One Dashboard operation in progress: the state write lock, the second it
//! happens in, and event emission. Events are recorded and queued for
//! delivery while the lock is held, so the log and the webhook queue see
//! changes in exactly the order they were made.

use std::sync::{Arc, RwLockWriteGuard};

use serde_json::{Map, Value};

use crate::events::EventSpec;
use crate::faults::DeliveryFaults;
use crate::objects::{id_format, random_id, request_id, to_doc};
use crate::store::{Doc, Fields, Kind, Record, State};
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

    /// Record an event and queue it for every endpoint that wants its type.
    pub fn emit(&mut self, event_type: &str, object: &str, previous: Option<&Value>) {
        let targets = self.shared.hub.targets(&self.shared.account_id, event_type);
        let ev = self.st.record_event(&EventSpec {
            event_type,
            object,
            previous,
            created: self.now,
            request_id: &self.request_id,
            pending_webhooks: targets.len(),
        });
        let deliveries = targets.into_iter().map(|(endpoint, _)| (endpoint, ev.body.clone())).collect();
        self.shared.hub.enqueue(&ev, deliveries, &self.faults);
    }

    /// A new id: the requested one if free, else a random one.
    pub fn new_id(&mut self, kind: Kind, requested: Option<String>) -> Result<String, SimError> {
        if let Some(id) = requested {
            if self.st.id_taken(kind, &id) {
                return Err(SimError::invalid(
                    format!("A {} with id '{id}' already exists.", kind.object()),
                    Some("id"),
                ));
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
