//! Applying one event: a function of (connection in a transaction, event)
//! returning an [`Outcome`]. The rules for each event type are in
//! [`crate::event::classify`]; the ordering rule is in [`crate::store`].

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::PgConnection;

use crate::event::{classify, Action, Kind};
use crate::mirror::{is_deleted_stub, table_of, Head, Item, Mirror, Refetched, WriteError};
use crate::store::Version;

/// What applying an event did; recorded on the inbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The tables now reflect the event (or something newer fetched for it).
    Applied(&'static str),
    /// Older than what is stored, or about a deleted object: changed nothing.
    Stale(&'static str),
    /// Not a mirrored event type.
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
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
}

/// An event that only upserts its object, with the object read once: such
/// events of one kind can be written together ([`apply_upserts`]).
pub fn batchable(ev: &InboxEvent) -> Option<(Kind, Item<'_>)> {
    let Action::Upsert(kind) = classify(&ev.event_type) else { return None };
    let payload: Payload = serde_json::from_str(&ev.payload).ok()?;
    let mut head = Head::read(payload.data.object).ok()?;
    head.is(kind).then_some(())?;
    let id = head.id.take()?;
    Some((kind, head.into_item(kind, id, payload.data.object, Version::as_of(ev.created))))
}

/// Applies several upsert events of one kind with one write. Returns an
/// outcome per event, or `None` for an event that must go through [`apply`]
/// alone (a second event for the same object in the same second: only the
/// API can order those).
pub async fn apply_upserts(
    conn: &mut PgConnection,
    mirror: &Mirror,
    kind: Kind,
    events: &[(&InboxEvent, &Item<'_>)],
) -> Result<Vec<Option<Outcome>>, WriteError> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; events.len()];
    // Newest event per object wins the batch; older ones are stale already.
    let mut newest: HashMap<&str, usize> = HashMap::with_capacity(events.len());
    for (i, (ev, item)) in events.iter().enumerate() {
        match newest.get(item.id.as_str()).copied() {
            None => {
                newest.insert(&item.id, i);
            }
            Some(j) if events[j].0.created < ev.created => {
                outcomes[j] = Some(Outcome::Stale("older than stored"));
                newest.insert(&item.id, i);
            }
            Some(j) if events[j].0.created > ev.created => outcomes[i] = Some(Outcome::Stale("older than stored")),
            Some(_) => {} // same second: left for `apply`, after this batch
        }
    }
    let chosen: Vec<usize> = {
        let mut v: Vec<usize> = newest.values().copied().collect();
        v.sort_unstable();
        v
    };
    let items: Vec<&Item> = chosen.iter().map(|&i| events[i].1).collect();
    let r = mirror.write_versioned(conn, kind, &items).await?;
    let by_id = |list: &Vec<String>, outcome: Outcome, out: &mut Vec<Option<Outcome>>| {
        for id in list {
            if let Some(&i) = newest.get(id.as_str()) {
                out[i] = Some(outcome);
            }
        }
    };
    by_id(&r.inserted, Outcome::Applied("written"), &mut outcomes);
    by_id(&r.updated, Outcome::Applied("written"), &mut outcomes);
    by_id(&r.unchanged, Outcome::Applied("same data"), &mut outcomes);
    by_id(&r.deleted, Outcome::Stale("object is deleted"), &mut outcomes);
    by_id(&r.stale, Outcome::Stale("older than stored"), &mut outcomes);
    Ok(outcomes)
}

pub async fn apply(conn: &mut PgConnection, mirror: &Mirror, ev: &InboxEvent) -> Result<Outcome, WriteError> {
    let action = classify(&ev.event_type);
    if let Action::Ignore(why) = action {
        return Ok(Outcome::Ignored(why));
    }
    let Ok(payload) = serde_json::from_str::<Payload>(&ev.payload) else {
        return Ok(Outcome::Ignored("payload has no data.object"));
    };
    let object = payload.data.object;
    let Ok(head) = Head::read(object) else {
        return Ok(Outcome::Ignored("data.object is not an object"));
    };
    let Some(id) = head.id.clone() else {
        return Ok(Outcome::Ignored("object has no id"));
    };
    match action {
        Action::Upsert(kind) => {
            if !head.is(kind) {
                return Ok(Outcome::Ignored("unexpected object type"));
            }
            let item = head.into_item(kind, id, object, Version::as_of(ev.created));
            let r = mirror.write_versioned(conn, kind, &[&item]).await?;
            Ok(if !r.inserted.is_empty() || !r.updated.is_empty() {
                Outcome::Applied("written")
            } else if !r.unchanged.is_empty() {
                Outcome::Applied("same data")
            } else if !r.deleted.is_empty() {
                Outcome::Stale("object is deleted")
            } else {
                Outcome::Stale("older than stored")
            })
        }
        Action::Delete(kind) => {
            // `plan.deleted` carries a plan-shaped object: keep the price's data.
            let full = head.is(kind) && !is_deleted_stub(object);
            let newly = mirror.delete_object(conn, kind, &id, object, full, ev.created).await?;
            Ok(if newly { Outcome::Applied("deleted") } else { Outcome::Stale("already deleted") })
        }
        Action::PlanTwin => plan_twin(conn, mirror, ev, &id).await,
        Action::Ignore(why) => Ok(Outcome::Ignored(why)),
    }
}

/// `plan.created`/`plan.updated` describe a price in the legacy plan shape,
/// which must never replace the price's data. Stripe sends a `price.*` twin
/// beside it; when the twin is in the inbox the plan event adds nothing, and
/// when it is not (dropped delivery) we retrieve the price.
async fn plan_twin(conn: &mut PgConnection, mirror: &Mirror, ev: &InboxEvent, id: &str) -> Result<Outcome, WriteError> {
    let twin_type = ev.event_type.replacen("plan.", "price.", 1);
    let twin: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM stripe_mirror.events WHERE object_id = $1 AND type = $2 AND created = $3)",
    )
    .bind(id)
    .bind(&twin_type)
    .bind(ev.created)
    .fetch_one(&mut *conn)
    .await?;
    if twin {
        return Ok(Outcome::Ignored("price twin present"));
    }
    let seen = mirror.store.version_of(conn, table_of(Kind::Price), id).await?;
    match seen {
        Some((_, true)) => return Ok(Outcome::Stale("object is deleted")),
        Some((v, false)) if v > ev.created => return Ok(Outcome::Stale("older than stored")),
        _ => {}
    }
    Ok(match mirror.refetch(conn, Kind::Price, id, seen.map(|s| s.0)).await? {
        Refetched::Written(_) => Outcome::Applied("price retrieved"),
        Refetched::Deleted => Outcome::Applied("price deleted"),
    })
}
