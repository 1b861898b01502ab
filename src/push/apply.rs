//! Applying events: first [`triage`] (pure: what an event asks for, given
//! the mirror's [`Scope`]), then the database steps inside the apply
//! worker's transaction, which never call Stripe. What needs an API answer —
//! an event rendered in another API version, a truncated child list, a
//! same-second tie, a plan event without its price twin — comes back as
//! [`Step::Resolve`] and is settled after the transaction by the resolver.
//!
//! The rules for each event type are in the registry (read through
//! [`crate::push::event::classify`]); the ordering rule is in [`crate::storage::store`].

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::PgConnection;

use crate::push::event::{classify, Action, Kind};
use crate::registry::TypeSet;
use crate::storage::identity::Scope;
use crate::storage::mirror::{deleted_stub, is_deleted_stub, Children, Head, Item, Mirror, WriteError};
use crate::storage::store::{Tombstoned, Upserted, Version};

/// What applying an event did; recorded on the inbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The tables now reflect the event (or something newer fetched for it).
    Applied(&'static str),
    /// Older than what is stored, or about a deleted object: changed nothing.
    Stale(&'static str),
    /// Not a mirrored event type, or not this mirror's mode or account.
    Ignored(&'static str),
}

impl Outcome {
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Applied(_) => "applied",
            Outcome::Stale(_) => "stale",
            Outcome::Ignored(_) => "ignored",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Outcome::Applied(d) | Outcome::Stale(d) | Outcome::Ignored(d) => d,
        }
    }
}

/// Outcome details of events that belong to another mode or account.
pub const OTHER_MODE: &str = "other_mode";
pub const OTHER_ACCOUNT: &str = "other_account";
/// Outcome detail of an event in another API version, settled by a retrieve.
pub const RETRIEVED_OTHER_VERSION: &str = "other api_version: retrieved";

/// An inbox row being applied.
#[derive(Debug, Clone)]
pub struct InboxEvent {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub object_id: Option<String>,
    /// The event JSON.
    pub payload: String,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    data: Data<'a>,
    #[serde(default)]
    livemode: Option<bool>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    api_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
}

/// An object the API must be asked about before an event can be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub kind: Kind,
    pub object_id: String,
    pub why: &'static str,
}

/// What an event asks for.
pub enum Step<'a> {
    Done(Outcome),
    /// Upsert this state; events of one kind are written together.
    Upsert(Kind, Item<'a>),
    /// Mark the row deleted: `data` is the object when it is one of the
    /// table's type in the pinned version, else a stub.
    Delete {
        kind: Kind,
        id: String,
        data: Cow<'a, RawValue>,
        full: bool,
    },
    /// `plan.created`/`plan.updated`: see [`twin`].
    Twin {
        kind: Kind,
        twin: &'static str,
        id: String,
    },
    /// Retrieve the object at the pinned version, then apply.
    Resolve(Pending),
    /// In another API version: retrieve (counted by version).
    OtherVersion(Pending, String),
}

/// Outcome detail of an event whose type `[mirror] objects` leaves out.
pub const NOT_SELECTED: &str = "type not mirrored ([mirror] objects)";

/// Decides what `ev` asks for, without I/O. `types` are the mirrored types.
pub fn triage<'a>(ev: &'a InboxEvent, scope: &Scope, types: TypeSet) -> Step<'a> {
    let action = classify(&ev.event_type);
    let kind = match action {
        Action::Ignore(why) => return Step::Done(Outcome::Ignored(why)),
        Action::Upsert(k) | Action::Delete(k) | Action::Twin { kind: k, .. } => k,
    };
    if !types.contains(kind) {
        return Step::Done(Outcome::Ignored(NOT_SELECTED));
    }
    let Ok(payload) = serde_json::from_str::<Payload>(&ev.payload) else {
        return Step::Done(Outcome::Ignored("payload has no data.object"));
    };
    // Another mode's or account's event reached this endpoint (both modes'
    // secrets configured, a Connect endpoint): acknowledged, never applied.
    if let (Some(ours), Some(theirs)) = (scope.livemode, payload.livemode) {
        if ours != theirs {
            return Step::Done(Outcome::Ignored(OTHER_MODE));
        }
    }
    if let Some(account) = payload.account.as_deref() {
        // A platform's own events carry no `account`; a connected account's do.
        if scope.account.as_deref() != Some(account) {
            return Step::Done(Outcome::Ignored(OTHER_ACCOUNT));
        }
    }
    let object = payload.data.object;
    let Ok(mut head) = Head::read(object, kind) else {
        return Step::Done(Outcome::Ignored("data.object is not an object"));
    };
    let Some(id) = head.id.take() else {
        return Step::Done(Outcome::Ignored("object has no id"));
    };
    // An event without `api_version` (older fixtures) is taken as rendered
    // in the pinned version: there is nothing to compare.
    let other_version = payload.api_version.filter(|v| *v != scope.api_version).map(Cow::into_owned);
    match action {
        Action::Upsert(kind) => {
            if !head.is(kind) {
                return Step::Done(Outcome::Ignored("unexpected object type"));
            }
            if let Some(v) = other_version {
                return Step::OtherVersion(Pending { kind, object_id: id, why: RETRIEVED_OTHER_VERSION }, v);
            }
            let item = head.into_item(kind, id, object, Version::as_of(ev.created));
            if let Some(why) = item.needs_children_paged() {
                return Step::Resolve(Pending { kind, object_id: item.id, why });
            }
            Step::Upsert(kind, item)
        }
        Action::Delete(kind) => {
            // A plan (`plan.deleted`), a stub or another version's shape never
            // becomes the row's data.
            let full = head.is(kind) && !is_deleted_stub(object) && other_version.is_none();
            let data = if full { Cow::Borrowed(object) } else { Cow::Owned(deleted_stub(kind, &id)) };
            Step::Delete { kind, id, data, full }
        }
        Action::Twin { kind, twin } => Step::Twin { kind, twin, id },
        Action::Ignore(why) => Step::Done(Outcome::Ignored(why)),
    }
}

/// What one database step decided: an outcome, or an API call to make first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done(Outcome),
    Resolve(Pending),
}

/// Applies several upsert events of one kind with one write. Returns a
/// result per event, or `None` for an event that must be applied alone (a
/// second event for the same object in the same second, see [`apply_one`]).
pub async fn apply_upserts(
    conn: &mut PgConnection,
    mirror: &Mirror,
    kind: Kind,
    events: &[(&InboxEvent, &Item<'_>)],
) -> Result<Vec<Option<Applied>>, WriteError> {
    let mut out: Vec<Option<Applied>> = vec![None; events.len()];
    // Newest event per object wins the batch; older ones are stale already.
    let mut newest: HashMap<&str, usize> = HashMap::with_capacity(events.len());
    for (i, (ev, item)) in events.iter().enumerate() {
        match newest.get(item.id.as_str()).copied() {
            None => {
                newest.insert(&item.id, i);
            }
            Some(j) if events[j].0.created < ev.created => {
                out[j] = Some(Applied::Done(Outcome::Stale("older than stored")));
                newest.insert(&item.id, i);
            }
            Some(j) if events[j].0.created > ev.created => {
                out[i] = Some(Applied::Done(Outcome::Stale("older than stored")))
            }
            Some(_) => {} // same second: applied alone, after this batch
        }
    }
    let mut chosen: Vec<usize> = newest.values().copied().collect();
    chosen.sort_unstable();
    let items: Vec<&Item> = chosen.iter().map(|&i| events[i].1).collect();
    let r = mirror.write(conn, kind, &items, &Children::default()).await?;
    for (id, applied) in per_id(kind, &r) {
        if let Some(&i) = newest.get(id.as_str()) {
            out[i] = Some(applied);
        }
    }
    Ok(out)
}

/// Applies a batch of triaged events in the caller's transaction, which
/// holds their objects' locks: the upserts of each kind with one write, in a
/// fixed order of kinds (rows in id order, in `mirror`), so writers sharing
/// the tables take row locks in one order; then the rest one by one. One
/// result per event, in order. Used by the apply workers and by the
/// acknowledgement's own transaction ([`crate::inbox_writer`]).
pub async fn apply_batch(
    conn: &mut PgConnection,
    mirror: &Mirror,
    events: &[&InboxEvent],
    steps: &[&Step<'_>],
) -> Result<Vec<Applied>, WriteError> {
    let mut results: Vec<Option<Applied>> = vec![None; events.len()];
    for kind in Kind::ALL {
        let idxs: Vec<usize> =
            (0..events.len()).filter(|&i| matches!(steps[i], Step::Upsert(k, _) if *k == kind)).collect();
        if idxs.is_empty() {
            continue;
        }
        let items: Vec<_> = idxs
            .iter()
            .filter_map(|&i| match steps[i] {
                Step::Upsert(_, item) => Some((events[i], item)),
                _ => None,
            })
            .collect();
        for (&i, r) in idxs.iter().zip(apply_upserts(conn, mirror, kind, &items).await?) {
            results[i] = r;
        }
    }
    let mut out = Vec::with_capacity(events.len());
    for (i, r) in results.into_iter().enumerate() {
        out.push(match r {
            Some(r) => r,
            None => apply_one(conn, mirror, events[i], steps[i]).await?,
        });
    }
    Ok(out)
}

/// One upsert's result, by id.
fn per_id(kind: Kind, r: &Upserted) -> Vec<(String, Applied)> {
    let mut out = Vec::new();
    for (ids, o) in [
        (&r.inserted, Outcome::Applied("written")),
        (&r.updated, Outcome::Applied("written")),
        (&r.unchanged, Outcome::Applied("same data")),
        (&r.deleted, Outcome::Stale("object is deleted")),
        (&r.stale, Outcome::Stale("older than stored")),
    ] {
        out.extend(ids.iter().map(|id| (id.clone(), Applied::Done(o))));
    }
    for (id, _) in &r.tied {
        let pending = Pending { kind, object_id: id.clone(), why: "same-second tie: retrieved" };
        out.push((id.clone(), Applied::Resolve(pending)));
    }
    out
}

/// Applies one event's step in the caller's transaction.
pub async fn apply_one(
    conn: &mut PgConnection,
    mirror: &Mirror,
    ev: &InboxEvent,
    step: &Step<'_>,
) -> Result<Applied, WriteError> {
    match step {
        Step::Done(o) => Ok(Applied::Done(*o)),
        Step::Resolve(p) | Step::OtherVersion(p, _) => Ok(Applied::Resolve(p.clone())),
        Step::Upsert(kind, item) => {
            let r = mirror.write(conn, *kind, &[item], &Children::default()).await?;
            Ok(per_id(*kind, &r)
                .into_iter()
                .next()
                .map(|(_, a)| a)
                .unwrap_or(Applied::Done(Outcome::Stale("older than stored"))))
        }
        Step::Delete { kind, id, data, full } => {
            Ok(Applied::Done(match mirror.delete_object(conn, *kind, id, data, *full, ev.created).await? {
                Tombstoned::Deleted => Outcome::Applied("deleted"),
                Tombstoned::Completed => Outcome::Applied("deleted: data completed"),
                Tombstoned::Unchanged => Outcome::Stale("already deleted"),
            }))
        }
        Step::Twin { kind, twin: prefix, id } => twin(conn, mirror, ev, *kind, prefix, id).await,
    }
}

/// `plan.created`/`plan.updated` describe a price in the legacy plan shape,
/// which must never replace the price's data. Stripe sends a `price.*` twin
/// beside it (`prefix` is the twin's); when the twin is in the inbox the
/// plan event adds nothing, and when it is not (dropped delivery) we
/// retrieve the price.
async fn twin(
    conn: &mut PgConnection,
    mirror: &Mirror,
    ev: &InboxEvent,
    kind: Kind,
    prefix: &str,
    id: &str,
) -> Result<Applied, WriteError> {
    let verb = ev.event_type.rsplit_once('.').map_or("", |(_, v)| v);
    let twin_type = format!("{prefix}.{verb}");
    let twin: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM stripe_mirror.events WHERE object_id = $1 AND type = $2 AND created = $3)",
    )
    .bind(id)
    .bind(&twin_type)
    .bind(ev.created)
    .fetch_one(&mut *conn)
    .await?;
    if twin {
        return Ok(Applied::Done(Outcome::Ignored("price twin present")));
    }
    Ok(match mirror.store.version_of(conn, kind.table(), id).await? {
        Some((_, true)) => Applied::Done(Outcome::Stale("object is deleted")),
        Some((v, false)) if v > ev.created => Applied::Done(Outcome::Stale("older than stored")),
        _ => Applied::Resolve(Pending {
            kind,
            object_id: id.to_string(),
            why: "plan event without its price twin: price retrieved",
        }),
    })
}
