//! The mirrored tables and the one place that writes them.
//!
//! Every write goes through [`Store::upsert`] or [`Store::tombstone`], from
//! the webhook apply path and the backfill/reconcile path alike, and obeys
//! the ordering rule in Postgres itself (so concurrent writers from several
//! replicas cannot interleave wrongly):
//!
//! * each row has `version`, Unix seconds of the Stripe state it holds;
//! * an incoming state written "as of" second `at` replaces the row only when
//!   `at > version` — older changes nothing; equal is a *tie* the caller must
//!   settle by asking the API (see `sync::write_objects`);
//! * a state retrieved from the API after we saw the row at version `v` is
//!   authoritative over it: it replaces the row when `version <= v`;
//! * a deleted row stays deleted for every older state of its object; only a
//!   new incarnation replaces it: an object whose own `created` is later than
//!   the tombstoned data's (a custom id created again: products, plans,
//!   coupons), or a state fetched from the API after the tombstone was
//!   written (a list page or retrieve answered later than its version).

use serde_json::value::RawValue;
use sqlx::{AssertSqlSafe, PgConnection, Row as _};

/// The mirrored tables are the registry's (`crate::registry`).
pub use crate::registry::Table;

/// When the incoming state was true, and what it is known to supersede.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Unix seconds of the state (event `created`, or the answer's `Date`).
    pub at: i64,
    /// Rows at or below this version are replaced even on a tie: the state was
    /// fetched after we saw them. `i64::MIN` for "as of `at`" only.
    pub supersedes: i64,
    /// The state is an API answer (a list page or a retrieve), not an event:
    /// Stripe listed the object alive at `at`, so it replaces a tombstone
    /// written before then.
    pub from_api: bool,
}

impl Version {
    /// A state carried by an event created at `at`.
    pub fn as_of(at: i64) -> Version {
        Version { at, supersedes: i64::MIN, from_api: false }
    }

    /// A state listed by the API in an answer dated `at`.
    pub fn listed(at: i64) -> Version {
        Version { at, supersedes: i64::MIN, from_api: true }
    }

    /// A state fetched after the row was seen at `seen` (None: no row).
    pub fn fetched(at: i64, seen: Option<i64>) -> Version {
        Version { at, supersedes: seen.unwrap_or(i64::MIN), from_api: true }
    }
}

/// One object to write: its id, its JSON exactly as Stripe sent it, for
/// child tables the parent's id, and the version of this state.
pub struct Row<'a> {
    pub id: &'a str,
    pub data: &'a RawValue,
    pub parent: Option<&'a str>,
    pub version: Version,
}

/// What an upsert did, row by row.
#[derive(Debug, Default)]
pub struct Upserted {
    pub inserted: Vec<String>,
    pub updated: Vec<String>,
    /// Written (version moved) but the data was already the same.
    pub unchanged: Vec<String>,
    /// Not written: the stored row is newer.
    pub stale: Vec<String>,
    /// Not written: the row is deleted.
    pub deleted: Vec<String>,
    /// Not written: the stored row has the same version and different data.
    pub tied: Vec<(String, i64)>,
}

impl Upserted {
    /// Ids whose row now holds the incoming state.
    pub fn written(&self) -> impl Iterator<Item = &String> {
        self.inserted.iter().chain(&self.updated).chain(&self.unchanged)
    }
}

/// Advisory-lock namespace of the objects being written (the two-key form;
/// `sync`'s run lock uses the one-key form, a separate key space).
const OBJECT_LOCKS: i32 = 0x534d_4f42; // "SMOB"

/// What a tombstone did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tombstoned {
    /// The row is now deleted (it was live, or unknown).
    Deleted,
    /// It was deleted already; its stub data was replaced by the object.
    Completed,
    /// Nothing: already deleted, or the delete was of an older incarnation.
    Unchanged,
}

/// SQL for one table, built once with the configured schema.
struct TableSql {
    upsert: String,
    classify: String,
    tombstone: String,
    delete_children_except: Option<String>,
    /// Parent tables: which listed parents are stored unchanged with children.
    children_current: Option<String>,
}

pub struct Store {
    schema: String,
    sql: Vec<TableSql>,
}

impl Store {
    pub fn new(schema: &str) -> Store {
        let sql = Table::ALL.iter().map(|t| TableSql::new(schema, *t)).collect();
        Store { schema: schema.to_string(), sql }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    fn sql(&self, table: Table) -> &TableSql {
        &self.sql[table.index()]
    }

    /// Every statement the store runs, per table, for the test that checks
    /// their cached plans: a prepared statement keeps the generic plan made
    /// in its first executions, when the tables may have been empty, and a
    /// table scan chosen then is repeated at every size.
    pub fn statements(&self) -> Vec<&str> {
        self.sql
            .iter()
            .flat_map(|t| {
                [t.upsert.as_str(), t.classify.as_str(), t.tombstone.as_str()]
                    .into_iter()
                    .chain(t.delete_children_except.as_deref())
                    .chain(t.children_current.as_deref())
            })
            .collect()
    }

    /// Writes `rows` into `table` under the ordering rule, in one statement;
    /// each row carries its own version.
    pub async fn upsert(
        &self,
        conn: &mut PgConnection,
        table: Table,
        rows: &[Row<'_>],
    ) -> Result<Upserted, sqlx::Error> {
        let mut out = Upserted::default();
        if rows.is_empty() {
            return Ok(out);
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.id).collect();
        let data: Vec<&str> = rows.iter().map(|r| r.data.get()).collect();
        let parents: Vec<Option<&str>> = rows.iter().map(|r| r.parent).collect();
        let ats: Vec<i64> = rows.iter().map(|r| r.version.at).collect();
        let supersedes: Vec<i64> = rows.iter().map(|r| r.version.supersedes).collect();
        let from_api: Vec<bool> = rows.iter().map(|r| r.version.from_api).collect();
        let written = sqlx::query(AssertSqlSafe(self.sql(table).upsert.as_str()))
            .bind(&ids)
            .bind(&data)
            .bind(&parents)
            .bind(&ats)
            .bind(&supersedes)
            .bind(&from_api)
            .fetch_all(&mut *conn)
            .await?;
        let mut seen = std::collections::HashSet::with_capacity(written.len());
        for row in written {
            let id: String = row.try_get(0)?;
            let inserted: bool = row.try_get(1)?;
            let unchanged: bool = row.try_get(2)?;
            seen.insert(id.clone());
            match (inserted, unchanged) {
                (true, _) => out.inserted.push(id),
                (false, true) => out.unchanged.push(id),
                (false, false) => out.updated.push(id),
            }
        }
        let incoming_of: std::collections::HashMap<&str, Version> = rows.iter().map(|r| (r.id, r.version)).collect();
        let (skip_ids, skip_data): (Vec<&str>, Vec<&str>) =
            ids.iter().zip(&data).filter(|(id, _)| !seen.contains(**id)).map(|(i, d)| (*i, *d)).unzip();
        if skip_ids.is_empty() {
            return Ok(out);
        }
        let skipped = sqlx::query(AssertSqlSafe(self.sql(table).classify.as_str()))
            .bind(&skip_ids)
            .bind(&skip_data)
            .fetch_all(&mut *conn)
            .await?;
        for row in skipped {
            let id: String = row.try_get(0)?;
            let stored_version: i64 = row.try_get(1)?;
            let deleted: bool = row.try_get(2)?;
            let same: bool = row.try_get(3)?;
            let incoming = incoming_of.get(id.as_str());
            let tie = incoming.is_some_and(|v| v.at == stored_version) && !same;
            // A tombstone is tied only with an API answer of its own second:
            // the object may have been created again after the deletion.
            if deleted && !(tie && incoming.is_some_and(|v| v.from_api)) {
                out.deleted.push(id);
            } else if tie {
                out.tied.push((id, stored_version));
            } else if same {
                out.unchanged.push(id);
            } else {
                out.stale.push(id);
            }
        }
        Ok(out)
    }

    /// Marks a row deleted. `data` replaces the stored data only when it is a
    /// full object of the table's type (not a `{id, object, deleted}` stub)
    /// at least as new; a row never seen is inserted with `data`, so callers
    /// pass a stub when they hold no object of the table's type and version.
    pub async fn tombstone(
        &self,
        conn: &mut PgConnection,
        table: Table,
        id: &str,
        data: &RawValue,
        full_object: bool,
        at: i64,
    ) -> Result<Tombstoned, sqlx::Error> {
        let (was_deleted, wrote): (Option<bool>, bool) =
            sqlx::query_as(AssertSqlSafe(self.sql(table).tombstone.as_str()))
                .bind(id)
                .bind(data.get())
                .bind(at)
                .bind(full_object)
                .fetch_one(&mut *conn)
                .await?;
        Ok(match (wrote, was_deleted) {
            (false, _) => Tombstoned::Unchanged,
            (true, Some(true)) => Tombstoned::Completed,
            (true, _) => Tombstoned::Deleted,
        })
    }

    /// Marks deleted the children of each parent not in `keep` (items removed
    /// from a subscription, lines from an invoice; all of them when the parent
    /// is deleted), at the parent's version, in one statement. `keep` is the
    /// complete list of every named parent's children (a child id belongs to
    /// one parent). Only call with complete lists.
    pub async fn delete_children_except(
        &self,
        conn: &mut PgConnection,
        table: Table,
        parents: &[(&str, i64)],
        keep: &[&str],
    ) -> Result<u64, sqlx::Error> {
        let Some(sql) = &self.sql(table).delete_children_except else {
            return Ok(0);
        };
        if parents.is_empty() {
            return Ok(0);
        }
        let (ids, ats): (Vec<&str>, Vec<i64>) = parents.iter().copied().unzip();
        let done =
            sqlx::query(AssertSqlSafe(sql.as_str())).bind(&ids).bind(&ats).bind(keep).execute(&mut *conn).await?;
        Ok(done.rows_affected())
    }

    /// Of the parents `ids` with listed data `data`, those stored live with
    /// exactly that data and at least one child row: their children were
    /// paged for this very state, so a sweep need not page them again (for
    /// children Stripe never embeds, each paging is one request per parent).
    pub async fn children_current(
        &self,
        conn: &mut PgConnection,
        table: Table,
        ids: &[&str],
        data: &[&str],
    ) -> Result<Vec<String>, sqlx::Error> {
        let Some(sql) = &self.sql(table).children_current else {
            return Ok(Vec::new());
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(ids).bind(data).fetch_all(&mut *conn).await
    }

    /// Locks the objects `ids` (a parent with its children, a price with its
    /// plan twin) for the transaction, in one global order, before any row is
    /// written. Every writer — apply batches, resolved events, list pages —
    /// takes them, so concurrent writers sharing objects queue in that order
    /// instead of locking rows in their own order and deadlocking.
    pub async fn lock_objects(conn: &mut PgConnection, ids: &[&str]) -> Result<(), sqlx::Error> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "SELECT pg_advisory_xact_lock($1, h)
             FROM (SELECT DISTINCT hashtext(id) AS h FROM UNNEST($2::text[]) AS id ORDER BY h) AS keys",
        )
        .bind(OBJECT_LOCKS)
        .bind(ids)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The stored version and deleted flag of one row.
    pub async fn version_of(
        &self,
        conn: &mut PgConnection,
        table: Table,
        id: &str,
    ) -> Result<Option<(i64, bool)>, sqlx::Error> {
        let sql = format!("SELECT version, deleted FROM \"{}\".{} WHERE id = $1", self.schema, table.name());
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }
}

/// SQL, inside the upsert: the incoming state `i` is a later incarnation
/// than the tombstoned `s.data`: its own `created` is later, or the tombstone
/// is a stub that never knew its object (then only a state newer than the
/// tombstone counts: no older state of the object resurrects it). `IS TRUE`:
/// a missing `created` is NULL, which must read as "no", also under `NOT`.
const NEWER_INCARNATION: &str = "(CASE WHEN jsonb_typeof(s.data -> 'created') = 'number'
       THEN jsonb_typeof(i.data -> 'created') = 'number' AND (i.data -> 'created') > (s.data -> 'created')
       ELSE i.at > s.version END) IS TRUE";

/// SQL: the deleted object `excluded.data` is an older incarnation than the
/// stored row (a late delete of a custom id since created again).
const OLDER_INCARNATION: &str = "(jsonb_typeof(excluded.data -> 'created') = 'number'
       AND jsonb_typeof(s.data -> 'created') = 'number' AND (excluded.data -> 'created') < (s.data -> 'created')) IS TRUE";

/// SQL: the deleted object `excluded.data` is a later incarnation than the
/// one a stored tombstone holds (a custom id created again, then deleted
/// again). The tombstone takes it, whatever the versions say, so that the
/// later incarnation's own create, delivered after its delete, is known for
/// the same incarnation and buried with it — a tombstone of the first
/// incarnation let it in as a newer one.
const NEWER_TOMBSTONE: &str = "(jsonb_typeof(excluded.data -> 'created') = 'number'
       AND jsonb_typeof(s.data -> 'created') = 'number' AND (excluded.data -> 'created') > (s.data -> 'created')) IS TRUE";

impl TableSql {
    fn new(schema: &str, table: Table) -> TableSql {
        let t = format!("\"{schema}\".{}", table.name());
        let (pcol, pval, pset) = match table.parent_column() {
            Some(c) => (format!(", {c}"), ", i.parent".to_string(), format!(", {c} = excluded.{c}")),
            None => (String::new(), String::new(), String::new()),
        };
        // `old` is read before the insert in the same snapshot, so it tells
        // inserted from updated and whether the data actually changed. The
        // ordering rule is one CASE per conflicting row, evaluated against
        // that row's incoming version (see the module docs).
        let upsert = format!(
            "WITH i AS (SELECT * FROM UNNEST($1::text[], $2::jsonb[], $3::text[], $4::int8[], $5::int8[], $6::bool[])
                        AS i(id, data, parent, at, supersedes, from_api)),
             old AS (SELECT s.id, s.data, s.deleted FROM {t} s JOIN i USING (id)),
             up AS (
               INSERT INTO {t} AS s (id, data, version, synced_at{pcol})
               SELECT i.id, i.data, i.at, now(){pval} FROM i
               ON CONFLICT (id) DO UPDATE
                 SET data = excluded.data, deleted = false, version = GREATEST(s.version, excluded.version),
                     synced_at = now(){pset}
                 WHERE (SELECT CASE
                          WHEN NOT s.deleted THEN s.version < i.at OR s.version <= i.supersedes
                          ELSE (i.from_api AND (s.version < i.at OR s.version <= i.supersedes))
                            OR {newer}
                        END FROM i WHERE i.id = s.id)
               RETURNING s.id, s.data)
             SELECT up.id, old.id IS NULL, old.data IS NOT DISTINCT FROM up.data AND NOT old.deleted
             FROM up LEFT JOIN old USING (id)",
            newer = NEWER_INCARNATION,
        );
        // One primary-key probe per row: LATERAL … LIMIT 1 keeps the planner
        // from joining the whole table (a cached plan made on an empty table
        // did, see tests/it/plans.rs).
        let classify = format!(
            "SELECT s.id, s.version, s.deleted, s.data = i.data
             FROM UNNEST($1::text[], $2::jsonb[]) AS i(id, data)
             CROSS JOIN LATERAL (SELECT id, version, deleted, data FROM {t} WHERE id = i.id LIMIT 1) s"
        );
        let (tcol, tval) = match table.parent_column() {
            // A child tombstoned on its own keeps an unknown parent until a
            // parent write names it.
            Some(c) => (format!(", {c}"), ", ''".to_string()),
            None => (String::new(), String::new()),
        };
        // A delete replaces a live row unless its object is an older
        // incarnation than the stored one; it completes a tombstone whose
        // data is a stub or another object (`plan.deleted` stores a price
        // stub, its `price.deleted` twin the price). `old` tells a new
        // tombstone from an improved one.
        let tombstone = format!(
            "WITH old AS (SELECT deleted FROM {t} WHERE id = $1 LIMIT 1),
             up AS (
               INSERT INTO {t} AS s (id, data, version, deleted, synced_at{tcol})
               VALUES ($1, $2::jsonb, $3, true, now(){tval})
               ON CONFLICT (id) DO UPDATE
                 SET deleted = true, synced_at = now(), version = GREATEST(s.version, excluded.version),
                     data = CASE WHEN $4 AND (excluded.version >= s.version OR {newer}) THEN excluded.data ELSE s.data END
                 WHERE (NOT s.deleted AND NOT {older})
                    OR (s.deleted AND $4 AND excluded.version >= s.version
                        AND (s.data ->> 'deleted' = 'true' OR s.data ->> 'object' IS DISTINCT FROM excluded.data ->> 'object'))
                    OR (s.deleted AND $4 AND {newer})
               RETURNING 1)
             SELECT (SELECT deleted FROM old), EXISTS (SELECT 1 FROM up)",
            older = OLDER_INCARNATION,
            newer = NEWER_TOMBSTONE,
        );
        // `s.{c} = ANY($1)` gives the planner an index condition on the child
        // table whatever its statistics said when the plan was cached; joined
        // only to the UNNEST, a generic plan made while the table was small
        // scanned all of it once per page (backfill slowed 40% at 100k rows).
        let delete_children_except = table.parent_column().map(|c| {
            format!(
                "UPDATE {t} AS s SET deleted = true, version = GREATEST(s.version, p.at), synced_at = now()
                 FROM UNNEST($1::text[], $2::int8[]) AS p(parent, at)
                 WHERE s.{c} = ANY($1::text[]) AND s.{c} = p.parent AND NOT s.deleted
                   AND NOT (s.id = ANY($3::text[]))"
            )
        });
        // Only for children Stripe never embeds: whose changes show in the
        // parent's own amounts (a truncated embedded list can change past
        // its first ten without the parent's data changing) — except the
        // Price each line item shows in full, as it is now: its nickname,
        // metadata, `active` … change without the session changing, so a
        // parent whose stored children show another state of a price than
        // the live row of `prices` is paged again. One primary-key probe per
        // parent and index probes of the child table's parent column, each
        // a LATERAL as in `classify` above (an EXISTS was planned as a hash
        // semi-join over the whole child table).
        let never_embedded = table.kind().def().child.as_ref().is_some_and(|c| c.embedded.is_none());
        let children_current =
            table.kind().child_table().filter(|_| never_embedded && table.parent_column().is_none()).and_then(|c| {
                let column = c.parent_column()?;
                Some(format!(
                    "SELECT i.id FROM UNNEST($1::text[], $2::jsonb[]) AS i(id, data)
                 CROSS JOIN LATERAL (SELECT deleted, data FROM {t} WHERE id = i.id LIMIT 1) s
                 CROSS JOIN LATERAL (SELECT 1 FROM \"{schema}\".{child} c WHERE c.{column} = i.id LIMIT 1) k
                 CROSS JOIN LATERAL (
                     SELECT count(*) AS n FROM \"{schema}\".{child} c
                     JOIN \"{schema}\".prices p ON p.id = c.data->'price'->>'id' AND NOT p.deleted
                     WHERE c.{column} = i.id AND NOT c.deleted AND p.data <> c.data->'price') stale
                 WHERE NOT s.deleted AND s.data = i.data AND stale.n = 0",
                    child = c.name()
                ))
            });
        TableSql { upsert, classify, tombstone, delete_children_except, children_current }
    }
}
