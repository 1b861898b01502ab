//! The shared steps of every operation on the payment-side kinds: build an
//! object from its fixture, insert it, change it, and emit the event Stripe
//! names for that change (if Stripe has one).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::tx::{metadata_json, parse, Tx};
use crate::objects::{build_other, previous_attributes, to_doc};
use crate::store::Kind;
use crate::SimError;

/// Keys a caller's `fields` may not set: identity and list position.
fn check_fields(fields: &Map<String, Value>) -> Result<(), SimError> {
    for key in ["id", "object", "created", "livemode", "deleted"] {
        if fields.contains_key(key) {
            return Err(SimError::invalid(format!("`fields` may not set `{key}`."), Some(key)));
        }
    }
    Ok(())
}

/// Build and insert a new object of `kind` from its fixture: `set` are the
/// operation's values, `metadata` and then the caller's `fields` go last.
/// `parent` is the owner of a nested object (session, credit note).
pub(super) fn insert_new(
    tx: &mut Tx<'_>,
    kind: Kind,
    requested: Option<String>,
    set: Value,
    metadata: &Map<String, Value>,
    fields: Map<String, Value>,
    parent: Option<&str>,
) -> Result<String, SimError> {
    check_fields(&fields)?;
    let id = tx.new_id(kind, requested)?;
    let Value::Object(mut all) = set else {
        return Err(SimError::invalid("internal: object values must be a map", None));
    };
    if !metadata.is_empty() || all.contains_key("metadata") {
        all.insert("metadata".into(), parse(&metadata_json(metadata))?);
    }
    all.extend(fields);
    let v = build_other(kind, &id, tx.now, all)
        .ok_or_else(|| SimError::invalid(format!("{} cannot be created here.", kind.plural()), None))?;
    let (doc, mut f) = to_doc(kind, &v);
    if let Some(p) = parent {
        f.parent = Some(Arc::from(p));
    }
    tx.insert(kind, &id, (doc, f));
    Ok(id)
}

/// The object as the API shows it now, after emitting `<prefix>.<verb>`
/// (nothing for `None`, or if Stripe has no such event).
pub(super) fn announce(tx: &mut Tx<'_>, kind: Kind, id: &str, verb: Option<&str>) -> Result<Value, SimError> {
    let text = tx.render(kind, id)?;
    if let Some(verb) = verb {
        tx.emit_verb(kind, verb, &text, None);
    }
    parse(&text)
}

/// Merge `patch` into the object and emit `<prefix>.<verb>`. Only
/// `*.updated` events carry `previous_attributes` (as the existing status
/// events `invoice.paid` etc. do not); a transition event is sent even when
/// the object did not change (`subscription_schedule.expiring`).
pub(super) fn change(
    tx: &mut Tx<'_>,
    kind: Kind,
    id: &str,
    patch: Map<String, Value>,
    verb: &str,
) -> Result<Value, SimError> {
    check_fields(&patch)?;
    let old = tx.value(kind, id)?;
    let mut new = old.clone();
    if let Value::Object(m) = &mut new {
        m.extend(patch);
    }
    if verb == "updated" && new == old {
        return Ok(new);
    }
    tx.store(kind, id, &new);
    let text = tx.render(kind, id)?;
    let prev = (verb == "updated").then(|| previous_attributes(&old, &new));
    tx.emit_verb(kind, verb, &text, prev.as_ref());
    parse(&text)
}

/// The live object of `kind` or Stripe's 404.
pub(super) fn live(tx: &Tx<'_>, kind: Kind, id: &str) -> Result<Value, SimError> {
    tx.value(kind, id)
}

/// Check an optional reference names a live object.
pub(super) fn check_ref(tx: &Tx<'_>, kind: Kind, id: Option<&str>) -> Result<(), SimError> {
    match id {
        Some(id) if tx.st.table(kind).live_get(id).is_none() => Err(SimError::not_found(kind.object(), id)),
        _ => Ok(()),
    }
}

/// A JSON object from pairs, for `change` patches.
pub(super) fn patch(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `null` or the string.
pub(super) fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| json!(s))
}
