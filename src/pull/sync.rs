//! The pull path: `backfill`, and `reconcile` (events catch-up and full
//! sweep). Backfill and the full sweep are one code path ([`Puller::sweep_kind`])
//! with different bounds: backfill checkpoints each page so it can resume,
//! the sweep also finds rows Stripe no longer lists. What is listed, with
//! which filters, and which events are caught up come from the registry
//! (`crate::registry`); a type listed per parent object is paged in
//! `crate::pull::parent_lists`.
//!
//! A listed object's version is the `Date` of the page's answer, so a page
//! fetched before a webhook and written after it does not overwrite it
//! (see `store`).

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::PgPool;

use crate::config::Config;
use crate::push::event::{has_nul_escape, Envelope, Kind};
use crate::registry::TypeSet;
use crate::storage::identity::{Identity, IdentityError};
use crate::storage::mirror::{Item, Mirror, Resolved, WriteError};
use crate::storage::store::{Store, Version};
use crate::stripe::client::{object_id, ApiError, StripeClient};

/// Events kept by Stripe: `GET /v1/events` covers the last 30 days.
const EVENT_RETENTION_SECS: i64 = 30 * 24 * 3600;
pub const EVENTS_CURSOR: &str = "events_api";
/// `GET /v1/events` takes either one `type` (a name or one `*` group) or
/// `types[]`, "up to 20 event names" (list-endpoints.md).
const TYPES_PER_LISTING: usize = 20;
/// Advisory lock key: one reconcile or backfill at a time per database.
const LOCK_KEY: i64 = 0x5354_5250_4d49_5252; // "STRPMIRR"

/// Counts of one run, per object type.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub fetched: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub deleted: u64,
    /// The type was skipped, and why (a restricted key, a list the API
    /// does not serve); `status` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.fetched += o.fetched;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.stale += o.stale;
        self.deleted += o.deleted;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("another backfill or reconcile holds the lock")]
    Busy,
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("the sweep would tombstone {would} of the {live} live rows of {table} (more than {percent}%): none were tombstoned. If Stripe really deleted them, run `stripe-mirror reconcile --full --allow-mass-delete`; otherwise check STRIPE_SECRET_KEY and stripe.api_base")]
    MassDelete { table: &'static str, would: u64, live: u64, percent: f64 },
    /// The key may not list the type (403: a restricted key), or the API
    /// does not serve its list (404 without `resource_missing`): the run
    /// skips the type and goes on.
    #[error("{table} skipped: {reason}")]
    Unavailable { table: &'static str, reason: String },
}

impl SyncError {
    /// A list answer that makes `kind` unavailable, as such; others as they are.
    pub(crate) fn from_list(kind: Kind, e: ApiError) -> SyncError {
        let reason = match &e {
            ApiError::Forbidden { path } => {
                format!("the key may not read {path} (a restricted key without that permission)")
            }
            ApiError::NotFound { path, .. } if e.is_unavailable() => format!("the API does not serve {path} (404)"),
            _ => return e.into(),
        };
        SyncError::Unavailable { table: kind.def().table, reason }
    }
}

impl From<crate::stripe::client::ApiError> for SyncError {
    fn from(e: crate::stripe::client::ApiError) -> Self {
        SyncError::Write(WriteError::Api(e))
    }
}

/// The list queries that together return every object of a kind (the
/// registry's: prices `active=true` and `active=false`, subscriptions
/// `status=all`, …).
pub(crate) fn list_queries(kind: Kind) -> Vec<Vec<(&'static str, String)>> {
    kind.def().list.queries.iter().map(|q| q.iter().map(|(k, v)| (*k, v.to_string())).collect()).collect()
}

/// The listings events catch-up makes for `types`: every applied event type,
/// named, 20 to a listing — fewer listings than one `*` group per prefix
/// (two for the five core types, five for all), and none fetches an event
/// the mirror would ignore.
pub fn event_listings(types: TypeSet) -> Vec<Vec<(&'static str, String)>> {
    crate::registry::applied_event_types(types)
        .chunks(TYPES_PER_LISTING)
        .map(|names| names.iter().map(|n| ("types[]", n.to_string())).collect())
        .collect()
}

/// No Stripe object is older than this (2010-01-01): where bisecting for a
/// list's oldest object starts.
const STRIPE_EPOCH: i64 = 1_262_304_000;

/// A `created` window of one list, `[gte, lt)`; `None` is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    gte: Option<i64>,
    lt: Option<i64>,
}

impl Window {
    /// Windows from inner boundaries `"b1,b2,…"`: `[-, b1)`, `[b1, b2)`, …, `[bn, -)`.
    fn from_bounds(plan: &str) -> Vec<Window> {
        let bounds: Vec<i64> = plan.split(',').filter_map(|b| b.trim().parse().ok()).collect();
        let mut out = Vec::with_capacity(bounds.len() + 1);
        let mut gte = None;
        for b in bounds {
            out.push(Window { gte, lt: Some(b) });
            gte = Some(b);
        }
        out.push(Window { gte, lt: None });
        out
    }
}

/// The creation time of a listed object, from the field its type keeps it
/// in (`created`; `date` for invoice items).
fn created_of(raw: &RawValue, field: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Head {
        created: Option<i64>,
        date: Option<i64>,
    }
    let head = serde_json::from_str::<Head>(raw.get()).ok()?;
    if field == "date" {
        head.date
    } else {
        head.created
    }
}

/// What a sweep does besides upserting.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// First install: resume from checkpoints, record one per page.
    Backfill,
    /// Scheduled: everything from the start, then tombstone what is gone.
    FullSweep,
}

pub struct Puller {
    pub pool: PgPool,
    pub mirror: Mirror,
    pub api: Arc<StripeClient>,
    /// The control plane (async-stripe): `GET /v1/account` for the identity.
    pub control: Arc<crate::stripe::control::Control>,
    /// The key, the account it must belong to (`stripe.account_id`) and the
    /// pinned API version: checked against the tables before any write.
    pub key: secrecy::SecretString,
    pub account_id: Option<String>,
    pub api_version: String,
    /// The mass-delete guard of the full sweep.
    pub mass_delete_percent: f64,
    pub mass_delete_min_rows: u64,
    /// `--allow-mass-delete`: the guard is off for this run.
    pub allow_mass_delete: bool,
}

impl Puller {
    /// The pull path of `config`, on `mirror`'s tables; `None` without a key.
    pub fn new(pool: PgPool, mirror: Mirror, config: &Config) -> Option<Puller> {
        let api = mirror.api.clone()?;
        let key = config.secret_key().ok()?.clone();
        let control = Arc::new(crate::stripe::control::Control::new(&config.stripe, &key).ok()?);
        Some(Puller {
            pool,
            mirror,
            api,
            control,
            key,
            account_id: config.stripe.account_id.clone(),
            api_version: config.stripe.api_version.clone(),
            mass_delete_percent: config.reconcile.mass_delete_percent,
            mass_delete_min_rows: config.reconcile.mass_delete_min_rows,
            allow_mass_delete: false,
        })
    }

    /// Checks that the key belongs to the account and mode these tables
    /// mirror (storing the identity on the first run); nothing is written
    /// before it passes.
    pub async fn check_identity(&self) -> Result<Identity, SyncError> {
        let (key, account) = (&self.key, self.account_id.as_deref());
        Ok(crate::storage::identity::check(&self.pool, &self.control, key, account, &self.api_version).await?)
    }

    /// Pages every list of `kind` into the tables. `progress` is told the
    /// number of objects after each page. A list with more than one page is
    /// split into `created` windows paged concurrently (`Puller::windows`).
    pub async fn sweep_kind(
        &self,
        kind: Kind,
        mode: Mode,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Counts, SyncError> {
        let fetched = std::sync::atomic::AtomicU64::new(0);
        let report = |n: u64| progress(fetched.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n);
        if kind.def().list.per.is_some() {
            return self.sweep_per_parent(kind, mode, &report).await;
        }
        let mut counts = Counts::default();
        let mut seen: HashSet<String> = HashSet::new();
        for filters in list_queries(kind) {
            let name = format!(
                "{}:{}",
                kind.object_name(),
                filters.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
            );
            let (windows, mut first_page) = self.windows(kind, &filters, &name, mode).await?;
            let sweeps = windows.iter().map(|w| {
                let mut filters = filters.clone();
                let mut name = format!("backfill:{name}");
                if let Some(gte) = w.gte {
                    filters.push(("created[gte]", gte.to_string()));
                    name.push_str(&format!("&created[gte]={gte}"));
                }
                if let Some(lt) = w.lt {
                    filters.push(("created[lt]", lt.to_string()));
                    name.push_str(&format!("&created[lt]={lt}"));
                }
                self.sweep_list(kind, mode, filters, name, first_page.take(), &report)
            });
            for (c, s) in futures_util::future::try_join_all(sweeps).await? {
                counts.add(&c);
                seen.extend(s);
            }
        }
        if mode == Mode::FullSweep {
            counts.deleted += self.tombstone_unlisted(kind, &seen, None).await?;
        }
        Ok(counts)
    }

    /// Pages one list query (a window of it) from its checkpoint `cursor_name`
    /// (backfill) or from the start (sweep); returns its counts and, for a
    /// sweep, the ids it saw.
    async fn sweep_list(
        &self,
        kind: Kind,
        mode: Mode,
        filters: Vec<(&'static str, String)>,
        cursor_name: String,
        mut first_page: Option<crate::stripe::client::Page>,
        report: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(Counts, HashSet<String>), SyncError> {
        let mut seen = HashSet::new();
        let created = kind.def().list.created;
        let mut after = match mode {
            Mode::Backfill => match self.cursor(&cursor_name).await?.map(|v| Checkpoint::parse(&v)) {
                Some(Checkpoint::Done) => return Ok((Counts::default(), seen)),
                Some(Checkpoint::After(c)) => Some(c),
                None => None,
            },
            Mode::FullSweep => None,
        };
        if after.is_some() {
            first_page = None;
        }
        // Fetching the next page overlaps writing this one: the API and
        // Postgres each wait on the other less.
        let (pages, arrived) = tokio::sync::mpsc::channel::<crate::stripe::client::Page>(2);
        let fetch = async move {
            // After a cursor object was deleted: only objects created at or
            // before it are left to list (newest first).
            let mut created_lte: Option<i64> = None;
            loop {
                let page = match first_page.take() {
                    Some(page) => page,
                    None => {
                        let mut query = filters.clone();
                        if let Some(c) = created_lte {
                            query.push(("created[lte]", c.to_string()));
                        }
                        let starting_after = after.as_ref().map(|c: &Cursor| c.id.as_str());
                        match self.api.list_page(kind.api_path(), &query, starting_after).await {
                            Ok(page) => page,
                            // Stripe refuses a `starting_after` deleted since
                            // (stripe-php#1264): go on from its `created`
                            // (objects of that second are listed again,
                            // harmlessly), or from the window's start.
                            Err(e) if e.is_cursor_missing() && after.is_some() => {
                                let gone = after.take();
                                created_lte = gone.as_ref().and_then(|c| c.created).or(created_lte);
                                tracing::info!(
                                    r#type = kind.object_name(),
                                    after = gone.map(|c| c.id),
                                    created_lte,
                                    "list cursor was deleted; paging on from its created time"
                                );
                                continue;
                            }
                            Err(e) => return Err(SyncError::from_list(kind, e)),
                        }
                    }
                };
                let next = Cursor::last_of(&page, created);
                if pages.send(page).await.is_err() {
                    return Ok(()); // the writer stopped; its error is reported
                }
                match next {
                    Some(n) => after = Some(n),
                    None => return Ok::<(), SyncError>(()),
                }
            }
        };
        let write = async {
            // Owned, so a writer that stops drops it and the fetcher's next
            // send fails instead of waiting forever for room.
            let mut arrived = arrived;
            let mut written = Counts::default();
            while let Some(page) = arrived.recv().await {
                if mode == Mode::FullSweep {
                    seen.extend(page.data.iter().filter_map(|o| object_id(o)));
                }
                let checkpoint = match mode {
                    Mode::Backfill => Some((cursor_name.as_str(), Checkpoint::after_page(&page, created).encode())),
                    Mode::FullSweep => None,
                };
                let listed: Vec<(&RawValue, i64)> = page.data.iter().map(|o| (&**o, page.date)).collect();
                let c = self.write_page(kind, &listed, checkpoint).await?;
                written.add(&c);
                report(c.fetched);
            }
            Ok::<Counts, SyncError>(written)
        };
        let (fetched, written) = tokio::join!(fetch, write);
        let written = written?;
        fetched?;
        Ok((written, seen))
    }

    /// The `created` windows one list query is paged in. One open window
    /// when splitting is off or the list fits one page; otherwise
    /// `stripe.list_windows` windows of equal time between the oldest object
    /// (found by bisecting with one-object pages) and now, the outer ones
    /// open-ended so nothing created before or during the run is missed.
    /// Backfill stores the plan with its checkpoints, so a resumed run pages
    /// the same windows.
    /// A list found to fit one page comes back with that page, which the
    /// open window writes instead of fetching it again.
    async fn windows(
        &self,
        kind: Kind,
        filters: &[(&'static str, String)],
        name: &str,
        mode: Mode,
    ) -> Result<(Vec<Window>, Option<crate::stripe::client::Page>), SyncError> {
        let open = vec![Window { gte: None, lt: None }];
        let parts = i64::from(self.api.list_windows());
        let plan_name = format!("backfill:plan:{name}");
        if mode == Mode::Backfill {
            if let Some(plan) = self.cursor(&plan_name).await? {
                return Ok((Window::from_bounds(&plan), None));
            }
            // An unsplit backfill already under way keeps going unsplit.
            if self.cursor(&format!("backfill:{name}")).await?.is_some() {
                return Ok((open, None));
            }
        }
        if parts <= 1 {
            return Ok((open, None));
        }
        let path = kind.api_path();
        let created = kind.def().list.created;
        let first = self.api.list_page(path, filters, None).await.map_err(|e| SyncError::from_list(kind, e))?;
        let newest = match first.data.first().and_then(|o| created_of(o, created)) {
            Some(c) if first.has_more => c,
            // One page: nothing to split, and the page is the open window's first.
            _ => return Ok((open, Some(first))),
        };
        // Bisect for the oldest `created` to ~2% of the span: no object is
        // older than `lo`, some object is older than `hi`.
        let (mut lo, mut hi) = (STRIPE_EPOCH, newest + 1);
        while hi - lo > ((newest - lo) / 50).max(3600) {
            let mid = lo + (hi - lo) / 2;
            let mut probe = filters.to_vec();
            probe.push(("created[lt]", mid.to_string()));
            let page =
                self.api.list_page_sized(path, &probe, None, 1).await.map_err(|e| SyncError::from_list(kind, e))?;
            if page.data.is_empty() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let span = (newest + 1 - lo).max(parts);
        let bounds: Vec<i64> = (1..parts).map(|i| lo + span * i / parts).collect();
        let plan = bounds.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        if mode == Mode::Backfill {
            let mut conn = self.pool.acquire().await?;
            set_cursor(&mut conn, &plan_name, &plan).await?;
        }
        tracing::debug!(r#type = kind.object_name(), windows = parts, %plan, "list split by created");
        Ok((Window::from_bounds(&plan), None))
    }

    /// Writes listed objects (each with the `Date` of the page that listed
    /// it), with a checkpoint when given, in one transaction: child lists
    /// are paged from the API first (no transaction is open meanwhile), the
    /// objects are locked in the order every writer uses, and a deadlock or
    /// serialization failure redoes the transaction (bounded, counted).
    /// Same-second ties are settled by retrieving those objects after the
    /// commit.
    pub(crate) async fn write_page(
        &self,
        kind: Kind,
        listed: &[(&RawValue, i64)],
        checkpoint: Option<(&str, String)>,
    ) -> Result<Counts, SyncError> {
        let items: Vec<Item> =
            listed.iter().filter_map(|(o, date)| Item::read(kind, o, Version::listed(*date))).collect();
        let refs: Vec<&Item> = items.iter().collect();
        let children = self.mirror.fetch_children(kind, &self.children_to_page(kind, &refs).await?).await?;
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let mut attempt = 0;
        let mut r = loop {
            let mut tx = crate::storage::db::begin_replayable(&self.pool).await?;
            let written = async {
                Store::lock_objects(&mut tx, &ids).await?;
                let r = self.mirror.write(&mut tx, kind, &refs, &children).await?;
                if let Some((name, value)) = &checkpoint {
                    set_cursor(&mut tx, name, value).await?;
                }
                Ok::<_, WriteError>(r)
            }
            .await;
            match written {
                Ok(r) => {
                    tx.commit().await?;
                    break r;
                }
                Err(WriteError::Db(e))
                    if crate::storage::db::is_conflict(&e) && attempt < crate::storage::db::CONFLICT_RETRIES =>
                {
                    attempt += 1;
                    self.mirror.metrics.write_retried("page");
                    tracing::debug!(r#type = kind.object_name(), attempt, error = %e, "page write conflicted; redoing it");
                }
                Err(e) => return Err(e.into()),
            }
        };
        for (id, _) in std::mem::take(&mut r.tied) {
            match self.mirror.resolve(&self.pool, kind, &id).await? {
                Resolved::Written(w) if w.written().next().is_some() => r.updated.push(id),
                Resolved::Written(_) => r.stale.push(id),
                Resolved::Deleted => r.deleted.push(id),
            }
        }
        Ok(Counts {
            fetched: listed.len() as u64,
            inserted: r.inserted.len() as u64,
            updated: r.updated.len() as u64,
            unchanged: r.unchanged.len() as u64,
            stale: (r.stale.len() + r.deleted.len()) as u64,
            ..Counts::default()
        })
    }

    /// The listed parents whose children must be paged: all that need it,
    /// except, for children Stripe never embeds (checkout line items, one
    /// request per parent), parents stored unchanged with their children —
    /// a completed or expired session, listed night after night.
    async fn children_to_page<'i, 'a>(
        &self,
        kind: Kind,
        items: &[&'i Item<'a>],
    ) -> Result<Vec<&'i Item<'a>>, SyncError> {
        let never_embedded = kind.def().child.as_ref().is_some_and(|c| c.embedded.is_none());
        if !never_embedded || items.is_empty() {
            return Ok(items.to_vec());
        }
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let data: Vec<&str> = items.iter().map(|i| i.raw.get()).collect();
        let mut conn = self.pool.acquire().await?;
        let current: HashSet<String> =
            self.mirror.store.children_current(&mut conn, kind.table(), &ids, &data).await?.into_iter().collect();
        Ok(items.iter().copied().filter(|i| !current.contains(&i.id)).collect())
    }

    /// Rows we hold as live that no list returned: retrieve each; Stripe
    /// says deleted (or 404) → tombstone, otherwise store what it says.
    /// When that would be more than the mass-delete guard allows (a key of
    /// another account or mode lists nothing), nothing is retrieved or
    /// tombstoned and the sweep fails, unless `allow_mass_delete`.
    ///
    /// For a type listed per parent, `listed_parents` are the parents whose
    /// lists were paged: only rows naming one of them could have been
    /// listed (a detached payment method is listed nowhere, and stays).
    pub(crate) async fn tombstone_unlisted(
        &self,
        kind: Kind,
        seen: &HashSet<String>,
        listed_parents: Option<(&str, &HashSet<String>)>,
    ) -> Result<u64, SyncError> {
        let table = kind.table();
        let schema = self.mirror.store.schema();
        let live: Vec<String> = match listed_parents {
            None => {
                let sql = format!("SELECT id FROM \"{schema}\".{} WHERE NOT deleted", table.name());
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?
            }
            Some((column, parents)) => {
                let sql = format!("SELECT id, {column} FROM \"{schema}\".{} WHERE NOT deleted", table.name());
                let rows: Vec<(String, Option<String>)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
                rows.into_iter().filter(|(_, p)| p.as_ref().is_some_and(|p| parents.contains(p))).map(|r| r.0).collect()
            }
        };
        let unlisted: Vec<&String> = live.iter().filter(|id| !seen.contains(*id)).collect();
        // Deletions Stripe announced (a delete event in the inbox, applied
        // or not yet: events catch-up listed it just before) are not a mass
        // delete.
        let announced: HashSet<String> = sqlx::query_scalar(
            "SELECT DISTINCT object_id FROM stripe_mirror.events
             WHERE object_id = ANY($1) AND type LIKE '%.deleted'",
        )
        .bind(&unlisted)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let would = unlisted.iter().filter(|id| !announced.contains(**id)).count() as u64;
        let limit = (live.len() as f64 * self.mass_delete_percent / 100.0).floor() as u64;
        if would > limit && would > self.mass_delete_min_rows && !self.allow_mass_delete {
            return Err(SyncError::MassDelete {
                table: table.name(),
                would,
                live: live.len() as u64,
                percent: self.mass_delete_percent,
            });
        }
        let mut deleted = 0;
        for id in unlisted {
            if let Resolved::Deleted = self.mirror.resolve(&self.pool, kind, id).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    pub(crate) async fn cursor(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT value FROM stripe_mirror.cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// Stripe's time now (the `Date` of a one-event page): where events
    /// catch-up resumes after a sweep that starts now.
    pub async fn events_position(&self) -> Result<i64, SyncError> {
        Ok(self.api.get("/v1/events", &[("limit", "1".into())]).await?.date)
    }

    /// Sets the Events API cursor to `at` if none is stored (a backfill
    /// starting: what happens during it is replayed afterwards).
    pub async fn mark_events_position(&self, at: i64) -> Result<(), SyncError> {
        if self.cursor(EVENTS_CURSOR).await?.is_none() {
            self.set_events_position(at).await?;
        }
        Ok(())
    }

    /// Sets the Events API cursor to `at`, replacing any (a full sweep that
    /// started at `at` has covered everything before it).
    pub async fn set_events_position(&self, at: i64) -> Result<(), SyncError> {
        let mut conn = self.pool.acquire().await?;
        set_cursor(&mut conn, EVENTS_CURSOR, &at.to_string()).await?;
        Ok(())
    }

    /// Events catch-up: every event since the cursor (minus an overlap) into
    /// the inbox, de-duplicated by id; the apply workers do the rest.
    /// Returns (events listed, events new to the inbox), or None when the
    /// cursor is older than Stripe keeps events and a full sweep is needed.
    pub async fn catch_up_events(&self, overlap_secs: i64) -> Result<Option<(u64, u64)>, SyncError> {
        let now = chrono::Utc::now().timestamp();
        let since = match self.cursor(EVENTS_CURSOR).await?.and_then(|v| v.parse::<i64>().ok()) {
            Some(c) if now - c > EVENT_RETENTION_SECS - 3600 => return Ok(None),
            Some(c) => c - overlap_secs,
            None => return Ok(None),
        };
        let (listed, new, newest) = self.catch_up_since(since).await?;
        let mut conn = self.pool.acquire().await?;
        set_cursor(&mut conn, EVENTS_CURSOR, &newest.max(now - overlap_secs).min(now).to_string()).await?;
        Ok(Some((listed, new)))
    }

    /// Every event Stripe still keeps (30 days) into the inbox, for a run
    /// whose cursor is missing or too old: the sweep that follows then tells
    /// deletions Stripe announced from unexplained ones (the mass-delete
    /// guard), and what the events say is applied. Returns (listed, new).
    pub async fn catch_up_retained(&self) -> Result<(u64, u64), SyncError> {
        let since = chrono::Utc::now().timestamp() - EVENT_RETENTION_SECS + 3600;
        let (listed, new, _) = self.catch_up_since(since).await?;
        Ok((listed, new))
    }

    async fn catch_up_since(&self, since: i64) -> Result<(u64, u64, i64), SyncError> {
        let (mut listed, mut new, mut newest) = (0u64, 0u64, since);
        for listing in event_listings(self.mirror.types) {
            let (l, n, w) = self.catch_up_group(listing, since).await?;
            (listed, new, newest) = (listed + l, new + n, newest.max(w));
        }
        Ok((listed, new, newest))
    }

    /// Events of one listing (up to 20 `types[]`) since `since` into the
    /// inbox; (listed, new, newest `created`).
    async fn catch_up_group(
        &self,
        mut filters: Vec<(&'static str, String)>,
        since: i64,
    ) -> Result<(u64, u64, i64), SyncError> {
        filters.push(("created[gte]", since.to_string()));
        let (mut listed, mut new, mut newest) = (0u64, 0u64, since);
        let mut after: Option<String> = None;
        loop {
            let page = self.api.list_page("/v1/events", &filters, after.as_deref()).await?;
            let mut rows = Vec::with_capacity(page.data.len());
            for raw in &page.data {
                if let Ok(env) = Envelope::parse(raw.get().as_bytes()) {
                    newest = newest.max(env.created);
                    // jsonb cannot hold `\u0000`: such an event could never be
                    // applied. The webhook path refuses it (400); here it is
                    // skipped, or it would be parked as failed on every run.
                    if has_nul_escape(raw.get().as_bytes()) {
                        tracing::warn!(
                            event = %env.id,
                            r#type = %env.event_type,
                            "event skipped: it holds \\u0000, which Postgres cannot store"
                        );
                        self.api.metrics().event_processed("not_storable", &env.event_type);
                        continue;
                    }
                    rows.push((env, raw.get()));
                }
            }
            let refs: Vec<(&Envelope, &str)> = rows.iter().map(|(e, b)| (e, *b)).collect();
            listed += refs.len() as u64;
            new += crate::storage::inbox::insert_many(&self.pool, &refs, "events_api").await?.len() as u64;
            match (page.has_more, page.data.last().and_then(|o| object_id(o))) {
                (true, Some(id)) => after = Some(id),
                _ => break,
            }
        }
        Ok((listed, new, newest))
    }
}

pub(crate) async fn set_cursor(conn: &mut sqlx::PgConnection, name: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_mirror.cursors (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()",
    )
    .bind(name)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Where a backfill list stands: the last object written, or finished.
/// Stored as JSON, so no object id (a custom id may be `done`) can be
/// mistaken for the end; plain values from earlier versions still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checkpoint {
    After(Cursor),
    Done,
}

/// A list position: `starting_after` and that object's `created`, for when
/// Stripe refuses the id because the object was deleted since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub(crate) id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<Cursor>,
    #[serde(default)]
    done: bool,
}

impl Cursor {
    /// The position after `page`, when there is more to list.
    fn last_of(page: &crate::stripe::client::Page, created: &str) -> Option<Cursor> {
        let last = page.data.last().filter(|_| page.has_more)?;
        Some(Cursor { id: object_id(last)?, created: created_of(last, created) })
    }
}

impl Checkpoint {
    fn after_page(page: &crate::stripe::client::Page, created: &str) -> Checkpoint {
        Cursor::last_of(page, created).map_or(Checkpoint::Done, Checkpoint::After)
    }

    pub(crate) fn parse(value: &str) -> Checkpoint {
        match serde_json::from_str::<CheckpointJson>(value) {
            Ok(CheckpointJson { done: true, .. }) => Checkpoint::Done,
            Ok(CheckpointJson { after: Some(c), .. }) => Checkpoint::After(c),
            Ok(_) => Checkpoint::Done,
            Err(_) if value == "done" => Checkpoint::Done,
            Err(_) => Checkpoint::After(Cursor { id: value.to_string(), created: None }),
        }
    }

    pub(crate) fn encode(&self) -> String {
        let json = match self {
            Checkpoint::Done => CheckpointJson { after: None, done: true },
            Checkpoint::After(c) => CheckpointJson { after: Some(c.clone()), done: false },
        };
        serde_json::to_string(&json).unwrap_or_else(|_| "{\"done\":true}".into())
    }
}

/// Forgets backfill checkpoints (`backfill --restart`).
pub async fn reset_backfill(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM stripe_mirror.cursors WHERE name LIKE 'backfill:%'").execute(pool).await?;
    Ok(())
}

/// Holds the advisory lock for one run on its own connection. `release`
/// unlocks and returns the connection to the pool; dropping it unreleased
/// (an error, an aborted or cancelled run) closes the connection instead, so
/// Postgres frees the lock — a pooled connection must never keep it, or no
/// reconcile would run again while this process lives.
/// The same holds any other session-level job lock (`try_acquire_key`:
/// the prune's).
pub struct RunLock(Option<sqlx::pool::PoolConnection<sqlx::Postgres>>, i64);

impl RunLock {
    /// The backfill/reconcile lock, if free.
    pub async fn try_acquire(pool: &PgPool) -> Result<Option<RunLock>, sqlx::Error> {
        RunLock::try_acquire_key(pool, LOCK_KEY).await
    }

    /// The session-level advisory lock `key`, if free.
    pub async fn try_acquire_key(pool: &PgPool, key: i64) -> Result<Option<RunLock>, sqlx::Error> {
        // Wrapped before the query, so a cancellation mid-query also closes it.
        let mut lock = RunLock(Some(pool.acquire().await?), key);
        let conn = lock.0.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut **conn).await?;
        if got {
            Ok(Some(lock))
        } else {
            // Not locked: the connection can go back to the pool.
            lock.0.take();
            Ok(None)
        }
    }

    /// Keeps trying for `patience` (a lock just freed by a dead connection
    /// is released when the server notices).
    pub async fn acquire_within(pool: &PgPool, patience: std::time::Duration) -> Result<Option<RunLock>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(lock) = RunLock::try_acquire(pool).await? {
                return Ok(Some(lock));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        if let Some(conn) = self.0.as_mut() {
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(self.1).execute(&mut **conn).await?;
        }
        self.0.take(); // unlocked: back to the pool
        Ok(())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Closing the session is what releases a session-level advisory lock.
            drop(conn.detach());
        }
    }
}

/// Records a run's start; returns its id. Called with the run lock held, so
/// any run still marked `running` was abandoned (process killed, shutdown
/// mid-run) and is recorded as `interrupted` first.
pub async fn run_started(pool: &PgPool, kind: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_mirror.runs SET status = 'interrupted', finished_at = now(),
                error = 'the process stopped before the run finished'
         WHERE status = 'running'",
    )
    .execute(pool)
    .await?;
    sqlx::query_scalar("INSERT INTO stripe_mirror.runs (kind) VALUES ($1) RETURNING id")
        .bind(kind)
        .fetch_one(pool)
        .await
}

pub async fn run_finished(
    pool: &PgPool,
    id: i64,
    counts: &serde_json::Value,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_mirror.runs SET finished_at = now(), counts = $2,
                status = CASE WHEN $3::text IS NULL THEN 'succeeded' ELSE 'failed' END, error = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(counts)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{event_listings, Checkpoint, Cursor, SyncError, Window};
    use crate::registry::{Kind, TypeSet};
    use crate::stripe::client::ApiError;

    #[test]
    fn events_catch_up_names_the_applied_types_twenty_to_a_listing() {
        let all = event_listings(TypeSet::ALL);
        assert!(all.iter().all(|l| l.len() <= 20 && l.iter().all(|(k, _)| *k == "types[]")));
        assert_eq!(all.iter().map(Vec::len).sum::<usize>(), crate::push::event::applied_event_types().len());
        assert_eq!(all.len(), crate::push::event::applied_event_types().len().div_ceil(20));
        let core = TypeSet::from_tables(&["products", "prices", "customers", "subscriptions", "invoices"]).unwrap();
        assert_eq!(event_listings(core).len(), 2, "two listings where five `*` groups were");
    }

    #[test]
    fn a_list_the_key_may_not_read_or_the_api_does_not_serve_makes_the_type_unavailable() {
        let coupons = Kind::by_table("coupons").unwrap();
        let forbidden = ApiError::Forbidden { path: "/v1/coupons".into() };
        assert!(matches!(SyncError::from_list(coupons, forbidden), SyncError::Unavailable { table: "coupons", .. }));
        let unserved = ApiError::NotFound { path: "/v1/coupons".into(), resource_missing: false, date: 0 };
        assert!(matches!(SyncError::from_list(coupons, unserved), SyncError::Unavailable { .. }));
        let missing = ApiError::NotFound { path: "/v1/coupons".into(), resource_missing: true, date: 0 };
        assert!(matches!(SyncError::from_list(coupons, missing), SyncError::Write(_)));
        assert!(matches!(SyncError::from_list(coupons, ApiError::Unauthorized), SyncError::Write(_)));
    }

    #[test]
    fn checkpoints_tell_an_id_named_done_from_the_end() {
        let done_id = Checkpoint::After(Cursor { id: "done".into(), created: Some(5) });
        assert_eq!(Checkpoint::parse(&done_id.encode()), done_id);
        assert_eq!(Checkpoint::parse(&Checkpoint::Done.encode()), Checkpoint::Done);
        // Values stored by earlier versions.
        assert_eq!(Checkpoint::parse("done"), Checkpoint::Done);
        assert_eq!(Checkpoint::parse("cus_1"), Checkpoint::After(Cursor { id: "cus_1".into(), created: None }));
    }

    #[test]
    fn windows_cover_everything_from_their_bounds() {
        let w = Window::from_bounds("100,200");
        assert_eq!(
            w,
            vec![
                Window { gte: None, lt: Some(100) },
                Window { gte: Some(100), lt: Some(200) },
                Window { gte: Some(200), lt: None },
            ]
        );
        assert_eq!(Window::from_bounds(""), vec![Window { gte: None, lt: None }]);
    }
}
