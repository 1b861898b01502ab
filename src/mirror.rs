//! Writing Stripe objects into the tables, as one code path for webhooks,
//! backfill and reconcile: parents with their embedded children (paged to the
//! end when Stripe truncated them), children no longer present marked
//! deleted, and same-second ties settled by asking the API.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::PgConnection;

use crate::event::Kind;
use crate::store::{Row, Store, Table, Upserted, Version};
use crate::stripe_client::{object_id, ApiError, StripeClient};

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
}

/// An embedded list (`subscription.items`, `invoice.lines`).
#[derive(Deserialize)]
struct Embedded {
    #[serde(default)]
    data: Vec<Box<RawValue>>,
    #[serde(default)]
    has_more: bool,
}

/// The fields of an object the mirror routes on, read in one pass; the
/// embedded lists stay raw until a written parent needs its children.
#[derive(Deserialize)]
pub struct Head<'a> {
    pub id: Option<String>,
    #[serde(borrow)]
    pub object: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    items: Option<&'a RawValue>,
    #[serde(borrow, default)]
    lines: Option<&'a RawValue>,
}

impl<'a> Head<'a> {
    pub fn read(raw: &'a RawValue) -> Result<Head<'a>, serde_json::Error> {
        serde_json::from_str(raw.get())
    }

    /// Is this the object a `kind` event carries (not, say, a plan)?
    pub fn is(&self, kind: Kind) -> bool {
        self.object.as_deref() == Some(kind.object_name())
    }

    /// The object to write, under the `id` read from it.
    pub fn into_item(self, kind: Kind, id: String, raw: &'a RawValue, version: Version) -> Item<'a> {
        let children = match kind {
            Kind::Subscription => self.items,
            Kind::Invoice => self.lines,
            _ => None,
        };
        Item { id, raw, version, children }
    }
}

/// One object to write: its id, its JSON exactly as Stripe sent it, the
/// version of this state, and its embedded child list (raw) if it has one.
pub struct Item<'a> {
    pub id: String,
    pub raw: &'a RawValue,
    pub version: Version,
    children: Option<&'a RawValue>,
}

impl<'a> Item<'a> {
    /// Reads an object of `kind`; None when it is not a JSON object with an id.
    pub fn read(kind: Kind, raw: &'a RawValue, version: Version) -> Option<Item<'a>> {
        let mut head = Head::read(raw).ok()?;
        let id = head.id.take()?;
        Some(head.into_item(kind, id, raw, version))
    }
}

#[derive(Deserialize)]
struct DeletedFlag {
    #[serde(default)]
    deleted: bool,
}

pub fn table_of(kind: Kind) -> Table {
    match kind {
        Kind::Product => Table::Products,
        Kind::Price => Table::Prices,
        Kind::Customer => Table::Customers,
        Kind::Subscription => Table::Subscriptions,
        Kind::Invoice => Table::Invoices,
    }
}

fn child_table(kind: Kind) -> Option<Table> {
    match kind {
        Kind::Subscription => Some(Table::SubscriptionItems),
        Kind::Invoice => Some(Table::InvoiceLineItems),
        _ => None,
    }
}

/// Is this raw object Stripe's `{id, object, deleted: true}` stub?
pub fn is_deleted_stub(raw: &RawValue) -> bool {
    serde_json::from_str::<DeletedFlag>(raw.get()).map(|d| d.deleted).unwrap_or(false)
}

impl Mirror {
    fn api(&self, why: &'static str) -> Result<&StripeClient, WriteError> {
        self.api.as_deref().ok_or(WriteError::NoApi(why))
    }

    /// Writes objects of one kind, all known as of `version` (a list page).
    pub async fn write_objects(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        objects: &[Box<RawValue>],
        version: Version,
    ) -> Result<Upserted, WriteError> {
        let items: Vec<Item> = objects.iter().filter_map(|o| Item::read(kind, o, version)).collect();
        let refs: Vec<&Item> = items.iter().collect();
        self.write_versioned(conn, kind, &refs).await
    }

    /// Writes objects of one kind, each with its own version (a batch of
    /// events). Ties (same second, different data) are settled by retrieving
    /// the object: its answer wins.
    pub async fn write_versioned(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        items: &[&Item<'_>],
    ) -> Result<Upserted, WriteError> {
        let mut out = self.write_batch(conn, kind, items).await?;
        for (id, seen) in std::mem::take(&mut out.tied) {
            match self.refetch(conn, kind, &id, Some(seen)).await? {
                Refetched::Written(r) if !r.stale.is_empty() || !r.tied.is_empty() => out.stale.push(id),
                Refetched::Written(_) => out.updated.push(id),
                Refetched::Deleted => out.deleted.push(id),
            }
        }
        Ok(out)
    }

    /// Retrieves one object and writes the answer as authoritative over the
    /// row seen at `seen`; a deleted or missing object becomes a tombstone.
    pub async fn refetch(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        id: &str,
        seen: Option<i64>,
    ) -> Result<Refetched, WriteError> {
        let path = format!("{}/{}", kind.api_path(), id);
        match self.api("retrieve")?.retrieve(&path).await? {
            Some((raw, date)) if !is_deleted_stub(&raw) => {
                let items: Vec<Item> = Item::read(kind, &raw, Version::fetched(date, seen)).into_iter().collect();
                let refs: Vec<&Item> = items.iter().collect();
                let r = self.write_batch(conn, kind, &refs).await?;
                Ok(Refetched::Written(r))
            }
            Some((raw, date)) => {
                self.delete_object(conn, kind, id, &raw, false, date).await?;
                Ok(Refetched::Deleted)
            }
            None => {
                let stub = deleted_stub(kind, id);
                self.delete_object(conn, kind, id, &stub, false, chrono::Utc::now().timestamp()).await?;
                Ok(Refetched::Deleted)
            }
        }
    }

    /// Marks an object (and its children) deleted. False if it already was.
    pub async fn delete_object(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        id: &str,
        data: &RawValue,
        full_object: bool,
        at: i64,
    ) -> Result<bool, WriteError> {
        let newly = self.store.tombstone(conn, table_of(kind), id, data, full_object, at).await?;
        if let (true, Some(child)) = (newly, child_table(kind)) {
            self.store.delete_children_except(conn, child, &[(id, at)], &[]).await?;
        }
        Ok(newly)
    }

    async fn write_batch(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        items: &[&Item<'_>],
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
        let out = self.store.upsert(conn, table_of(kind), &rows).await?;
        if let Some(child) = child_table(kind) {
            let written: HashSet<&String> = out.written().collect();
            let parents: Vec<&Item> = parents.into_iter().filter(|p| written.contains(&p.id)).collect();
            self.write_children(conn, kind, child, &parents).await?;
        }
        Ok(out)
    }

    async fn write_children(
        &self,
        conn: &mut PgConnection,
        kind: Kind,
        child: Table,
        parents: &[&Item<'_>],
    ) -> Result<(), WriteError> {
        let mut children: Vec<(String, Box<RawValue>, &str, Version)> = Vec::new();
        let mut complete: Vec<(&str, i64)> = Vec::new();
        for parent in parents {
            // No embedded list in this shape (or not a list): leave children alone.
            let Some(list) = parent.children.and_then(|l| serde_json::from_str::<Embedded>(l.get()).ok()) else {
                continue;
            };
            let parent_id = &parent.id;
            let data = if list.has_more {
                // Stripe embeds at most 10; page the rest so the child table is complete.
                let (path, filters) = match kind {
                    Kind::Subscription => {
                        ("/v1/subscription_items".to_string(), vec![("subscription", parent_id.clone())])
                    }
                    _ => (format!("/v1/invoices/{parent_id}/lines"), vec![]),
                };
                self.api("page a truncated nested list")?.list_all(&path, &filters).await?
            } else {
                list.data
            };
            // The parent passed the ordering rule at this version, so its
            // children replace anything stored at or below it.
            let version = parent.version;
            let child_version = Version { at: version.at, supersedes: version.at.max(version.supersedes) };
            for item in data {
                if let Some(id) = object_id(&item) {
                    children.push((id, item, parent_id.as_str(), child_version));
                }
            }
            complete.push((parent_id.as_str(), version.at));
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
}

pub enum Refetched {
    Written(Upserted),
    Deleted,
}

/// `{id, object, deleted: true}`, what Stripe returns for a deleted object.
pub fn deleted_stub(kind: Kind, id: &str) -> Box<RawValue> {
    let json = serde_json::json!({"id": id, "object": kind.object_name(), "deleted": true});
    serde_json::value::to_raw_value(&json).expect("a JSON object of strings always serializes")
}
