//! Types Stripe lists only per parent object: payment methods, per customer
//! (`GET /v1/customers/{id}/payment_methods`; `GET /v1/payment_methods`
//! without `customer` lists Treasury payment methods instead). The parents
//! are the live rows of the parent's table, so the parent type is swept
//! first (`jobs`); they are paged in id order, a chunk at a time, several
//! lists at once, and a backfill checkpoints after each chunk.
//!
//! Cost: one request per live parent (two for a parent with more than 100
//! children), whether it has children or not — 100,000 customers are
//! 100,000 requests, ~67 minutes at Stripe's 25 requests/s per endpoint
//! (README, "Cost of a full sweep"). Push-only would cost none, but would
//! never mirror a method attached before install nor repair a missed
//! `payment_method.*` event.

use std::collections::HashSet;

use futures_util::{StreamExt, TryStreamExt};
use serde_json::value::RawValue;

use crate::pull::sync::{Checkpoint, Counts, Cursor, Mode, Puller, SyncError};
use crate::registry::{Kind, PerParent};

/// Parents whose lists are written together, with one checkpoint.
const PARENTS_PER_PAGE: usize = 100;
/// Parents' lists being fetched at once. Against Stripe the rate limiter
/// spaces them (25/s at ~0.3 s a request keeps ~8 in flight whatever this
/// is); with a raised limit, requests in flight are what hides each one's
/// round trip: 8 took 6.5 s for 50,000 customers against a local simulator,
/// 32 about 1 s, overlapped with the other types' pages.
const CONCURRENT_LISTS: usize = 32;

/// One parent's children with the `Date` of the page that listed each;
/// `None` when the parent is gone (404 `resource_missing`).
type ParentList = Option<Vec<(Box<RawValue>, i64)>>;

impl Puller {
    /// Pages every live parent's list of `kind` into the tables (see the
    /// module docs); a full sweep then settles the rows no list showed.
    pub(crate) async fn sweep_per_parent(
        &self,
        kind: Kind,
        mode: Mode,
        report: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Counts, SyncError> {
        let (Some(per), Some(parent)) = (kind.def().list.per.as_ref(), kind.list_parent()) else {
            return Ok(Counts::default());
        };
        let cursor_name = format!("backfill:{}:per:{}", kind.object_name(), per.parent);
        let after = match mode {
            Mode::Backfill => match self.cursor(&cursor_name).await?.map(|v| Checkpoint::parse(&v)) {
                Some(Checkpoint::Done) => return Ok(Counts::default()),
                Some(Checkpoint::After(c)) => Some(c.id),
                None => None,
            },
            Mode::FullSweep => None,
        };
        let sql = format!(
            "SELECT id FROM \"{}\".{} WHERE NOT deleted AND ($1::text IS NULL OR id > $1) ORDER BY id",
            self.mirror.store.schema(),
            parent.table().name()
        );
        let parents: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(after).fetch_all(&self.pool).await?;
        let (mut counts, mut seen) = (Counts::default(), HashSet::new());
        let mut listed_parents = HashSet::new();
        let chunks = parents.chunks(PARENTS_PER_PAGE).collect::<Vec<_>>();
        for (n, chunk) in chunks.iter().enumerate() {
            // The futures are made first: a stream of closures borrowing
            // `self` is not `Send` for every lifetime, as a spawned sweep needs.
            let calls: Vec<_> = chunk.iter().map(|p| self.list_of_parent(kind, per, p)).collect();
            let lists: Vec<ParentList> =
                futures_util::stream::iter(calls).buffered(CONCURRENT_LISTS).try_collect().await?;
            let mut listed: Vec<(&RawValue, i64)> = Vec::new();
            for (p, list) in chunk.iter().zip(&lists) {
                if let Some(list) = list {
                    listed_parents.insert(p.clone());
                    listed.extend(list.iter().map(|(o, d)| (&**o, *d)));
                }
            }
            if mode == Mode::FullSweep {
                seen.extend(listed.iter().filter_map(|(o, _)| crate::stripe::client::object_id(o)));
            }
            let checkpoint = (mode == Mode::Backfill).then(|| {
                let done = n + 1 == chunks.len();
                let next = chunk.last().filter(|_| !done).map(|id| Cursor { id: id.clone(), created: None });
                (cursor_name.as_str(), next.map_or(Checkpoint::Done, Checkpoint::After).encode())
            });
            let c = self.write_page(kind, &listed, checkpoint).await?;
            counts.add(&c);
            report(c.fetched);
        }
        if chunks.is_empty() && mode == Mode::Backfill {
            let mut conn = self.pool.acquire().await?;
            crate::pull::sync::set_cursor(&mut conn, &cursor_name, &Checkpoint::Done.encode()).await?;
        }
        if mode == Mode::FullSweep {
            counts.deleted += self.tombstone_unlisted(kind, &seen, Some((per.column, &listed_parents))).await?;
        }
        Ok(counts)
    }

    /// Every child of one parent, paged to the end.
    async fn list_of_parent(&self, kind: Kind, per: &PerParent, parent: &str) -> Result<ParentList, SyncError> {
        let path = per.path.replace("{id}", parent);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = match self.api.list_page(&path, &[], after.as_deref()).await {
                Ok(page) => page,
                Err(e) if e.is_unavailable() => return Err(SyncError::from_list(kind, e)),
                // The parent was deleted since it was listed.
                Err(e) if e.is_resource_missing() => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let last = page.data.last().and_then(|o| crate::stripe::client::object_id(o));
            out.extend(page.data.into_iter().map(|o| (o, page.date)));
            match (page.has_more, last) {
                (true, Some(id)) => after = Some(id),
                _ => return Ok(Some(out)),
            }
        }
    }
}
