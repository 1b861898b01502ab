//! Writing Stripe objects into the tables, as one code path for webhooks,
//! backfill and reconcile: parents with their embedded children, children no
//! longer present marked deleted.
//!
//! The API side and the database side are separate steps, so no transaction
//! or pooled connection is ever held while Stripe answers:
//! * [`Mirror::fetch_children`] (API) pages the child lists Stripe truncated;
//! * [`Mirror::write`] (database, in the caller's transaction) writes under
//!   the ordering rule and reports ties instead of settling them;
//! * [`Mirror::resolve`] (API, then a short transaction of its own) retrieves
//!   one object at the pinned API version and writes the answer as
//!   authoritative — how ties, events in another API version and truncated
//!   webhooks are settled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::{PgConnection, PgPool};

use crate::ops::metrics::Metrics;
use crate::registry::{Kind, TypeSet};
pub use crate::storage::head::{Head, Item};
use crate::storage::store::{Row, Store, Table, Tombstoned, Upserted, Version};
use crate::stripe::client::{object_id, ApiError, StripeClient};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the Stripe API is needed ({0}) but no STRIPE_SECRET_KEY is configured")]
    NoApi(&'static str),
}

/// The tables plus the API client used to complete and settle what we write.
#[derive(Clone)]
pub struct Mirror {
    pub store: Arc<Store>,
    pub api: Option<Arc<StripeClient>>,
    pub metrics: Metrics,
    /// The types mirrored (`[mirror] objects`): events of others are
    /// ignored, and the pull path lists only these.
    pub types: TypeSet,
}

/// Child lists paged from the API, by parent id.
#[derive(Default)]
pub struct Children {
    lists: HashMap<String, ChildList>,
}

enum ChildList {
    /// Every child of the parent.
    Complete(Vec<Box<RawValue>>),
    /// The API would not page the list to the end (a canceled subscription's
    /// items may list empty, a deleted invoice's lines answer 404): what we
    /// have is written, and no child is marked deleted for missing from it.
    Partial(Vec<Box<RawValue>>),
}

#[derive(Deserialize)]
struct DeletedFlag {
    #[serde(default)]
    deleted: bool,
}

/// The table of `kind`'s objects.
pub fn table_of(kind: Kind) -> Table {
    kind.table()
}

/// Is this raw object Stripe's `{id, object, deleted: true}` stub?
pub fn is_deleted_stub(raw: &RawValue) -> bool {
    serde_json::from_str::<DeletedFlag>(raw.get()).map(|d| d.deleted).unwrap_or(false)
}

/// What [`Mirror::resolve`] found.
pub enum Resolved {
    Written(Upserted),
    Deleted,
}

impl Mirror {
    fn api(&self, why: &'static str) -> Result<&StripeClient, WriteError> {
        self.api.as_deref().ok_or(WriteError::NoApi(why))
    }

    /// Pages, from the API, the child lists of `items` that need it: those
    /// Stripe truncated (it embeds at most 10), and every one of a type
    /// whose children are never embedded. No transaction is open meanwhile.
    pub async fn fetch_children(&self, kind: Kind, items: &[&Item<'_>]) -> Result<Children, WriteError> {
        let mut out = Children::default();
        let Some(child) = kind.def().child.as_ref() else {
            return Ok(out);
        };
        for item in items.iter().filter(|i| i.needs_children_paged().is_some()) {
            let embedded = item.embedded().map(|e| e.data).unwrap_or_default();
            let path = child.path.replace("{id}", &item.id);
            let filters: Vec<(&str, String)> = child.param.map(|p| (p, item.id.clone())).into_iter().collect();
            let list = match self.api("page a nested list")?.list_all(&path, &filters).await {
                Ok(paged) => complete_or_partial(embedded, paged),
                // Stripe answers 404 for a deleted parent's lines.
                Err(e) if e.is_resource_missing() => {
                    tracing::debug!(parent = %item.id, "nested list not pageable; keeping the embedded children");
                    ChildList::Partial(embedded)
                }
                Err(e) => return Err(e.into()),
            };
            out.lists.insert(item.id.clone(), list);
        }
        Ok(out)
    }

    /// Writes objects of one kind, each with its own version, under the
    /// ordering rule, with the children in `children` (or the embedded ones).
    /// Ties (same second, different data) are reported in `tied`, not
    /// settled: the caller resolves them once its transaction is committed.
    pub async fn write(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        items: &[&Item<'_>],
        children: &Children,
    ) -> Result<Upserted, WriteError> {
        // A page can't name one id twice, but a caller's batch might: keep the last.
        let mut position: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        let mut parents: Vec<&Item> = Vec::with_capacity(items.len());
        for item in items {
            match position.get(item.id.as_str()) {
                Some(&i) => parents[i] = item,
                None => {
                    position.insert(&item.id, parents.len());
                    parents.push(item);
                }
            }
        }
        // Rows in id order: concurrent writers lock them in one order.
        parents.sort_by(|a, b| a.id.cmp(&b.id));
        let rows: Vec<Row> =
            parents.iter().map(|p| Row { id: &p.id, data: p.raw, parent: None, version: p.version }).collect();
        let out = self.store.upsert(conn, kind.table(), &rows).await?;
        if let Some(child) = kind.child_table() {
            let written: HashSet<&String> = out.written().collect();
            let parents: Vec<&Item> = parents.into_iter().filter(|p| written.contains(&p.id)).collect();
            self.write_children(conn, child, &parents, children).await?;
        }
        Ok(out)
    }

    async fn write_children(
        &self,
        conn: &mut PgConnection,
        child: Table,
        parents: &[&Item<'_>],
        fetched: &Children,
    ) -> Result<(), WriteError> {
        let mut children: Vec<(String, Box<RawValue>, &str, Version)> = Vec::new();
        let mut complete: Vec<(&str, i64)> = Vec::new();
        for parent in parents {
            let (data, is_complete) = match fetched.lists.get(&parent.id) {
                Some(ChildList::Complete(list)) => (list.iter().map(|c| c.to_owned()).collect(), true),
                Some(ChildList::Partial(list)) => (list.iter().map(|c| c.to_owned()).collect(), false),
                // No embedded list in this shape (or not a list): leave children alone.
                None => match parent.embedded() {
                    Some(list) => (list.data, !list.has_more),
                    None => continue,
                },
            };
            // The parent passed the ordering rule at this version, so its
            // children replace anything stored at or below it.
            let version = parent.version;
            let child_version = Version { supersedes: version.at.max(version.supersedes), ..version };
            for item in data {
                if let Some(id) = object_id(&item) {
                    children.push((id, item, parent.id.as_str(), child_version));
                }
            }
            if is_complete {
                complete.push((parent.id.as_str(), version.at));
            }
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        let rows: Vec<Row> =
            children.iter().map(|(id, d, p, v)| Row { id, data: d, parent: Some(p), version: *v }).collect();
        for chunk in rows.chunks(1000) {
            self.store.upsert(conn, child, chunk).await?;
        }
        let keep: Vec<&str> = children.iter().map(|(id, _, _, _)| id.as_str()).collect();
        self.store.delete_children_except(conn, child, &complete, &keep).await?;
        Ok(())
    }

    /// Retrieves one object at the pinned API version and writes the answer
    /// as authoritative over the row as it was before the call; a deleted or
    /// missing object becomes a tombstone. The API is asked first, with no
    /// connection held; the write is a short transaction of its own, under
    /// the object's lock, retried on a deadlock.
    pub async fn resolve(&self, pool: &PgPool, kind: Kind, id: &str) -> Result<Resolved, WriteError> {
        let seen = {
            let mut conn = pool.acquire().await?;
            self.store.version_of(&mut conn, kind.table(), id).await?.map(|(v, _)| v)
        };
        let path = format!("{}/{}", kind.api_path(), id);
        // A 404 is versioned by its own `Date`, as any answer: our clock may
        // run behind Stripe's, and a tombstone dated by it lost to a late
        // event of the very object it buried (the chaos suite's simulated
        // clock runs ahead: a deleted custom-id coupon came back to life).
        let (raw, date) = match self.api("retrieve")?.retrieve(&path).await? {
            (Some(raw), date) if !is_deleted_stub(&raw) => (Some(raw), date),
            (_, date) => (None, date),
        };
        let item = raw.as_deref().and_then(|r| Item::read(kind, r, Version::fetched(date, seen)));
        let children = match &item {
            Some(item) => self.fetch_children(kind, &[item]).await?,
            None => Children::default(),
        };
        let mut attempt = 0;
        loop {
            let mut tx = crate::storage::db::begin_replayable(pool).await?;
            let written = async {
                Store::lock_objects(&mut tx, &[id]).await?;
                match &item {
                    Some(item) => Ok(Resolved::Written(self.write(&mut tx, kind, &[item], &children).await?)),
                    None => {
                        let stub = deleted_stub(kind, id);
                        self.delete_object(&mut tx, kind, id, &stub, false, date).await?;
                        Ok::<_, WriteError>(Resolved::Deleted)
                    }
                }
            }
            .await;
            match written {
                Ok(r) => {
                    tx.commit().await?;
                    return Ok(r);
                }
                Err(WriteError::Db(e))
                    if crate::storage::db::is_conflict(&e) && attempt < crate::storage::db::CONFLICT_RETRIES =>
                {
                    attempt += 1;
                    self.metrics.write_retried("resolve");
                    drop(tx);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Marks an object (and its children) deleted.
    pub async fn delete_object(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        id: &str,
        data: &RawValue,
        full_object: bool,
        at: i64,
    ) -> Result<Tombstoned, WriteError> {
        let done = self.store.tombstone(conn, kind.table(), id, data, full_object, at).await?;
        if let (Tombstoned::Deleted, Some(child)) = (done, kind.child_table()) {
            self.store.delete_children_except(conn, child, &[(id, at)], &[]).await?;
        }
        Ok(done)
    }
}

/// The paged list is the parent's children when it holds every embedded
/// child; otherwise the API answered for another state of the parent (a
/// canceled subscription's items can list empty), and the union is kept
/// without deleting anything.
fn complete_or_partial(embedded: Vec<Box<RawValue>>, paged: Vec<Box<RawValue>>) -> ChildList {
    let paged_ids: HashSet<String> = paged.iter().filter_map(|c| object_id(c)).collect();
    let missing: Vec<Box<RawValue>> =
        embedded.into_iter().filter(|c| object_id(c).is_some_and(|id| !paged_ids.contains(&id))).collect();
    if missing.is_empty() {
        ChildList::Complete(paged)
    } else {
        ChildList::Partial(paged.into_iter().chain(missing).collect())
    }
}

/// `{id, object, deleted: true}`, what Stripe returns for a deleted object.
pub fn deleted_stub(kind: Kind, id: &str) -> Box<RawValue> {
    let json = serde_json::json!({"id": id, "object": kind.object_name(), "deleted": true});
    serde_json::value::to_raw_value(&json).expect("a JSON object of strings always serializes")
}
