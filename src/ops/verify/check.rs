//! One type's comparison with the API: its lists page by page against the
//! rows each page names, its children against their parent's list, then the
//! live rows no list returned; and the rule that tells drift from a change
//! in flight ([`judge`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgPool};

use super::{TableReport, VerifyError};
use crate::pull::sync::list_queries;
use crate::push::event::Kind;
use crate::storage::store::Table;
use crate::stripe::client::{Page, StripeClient};

/// A parent's child table and the field embedding its first children
/// (`None`: Stripe never embeds them), from the registry.
fn children_of(kind: Kind) -> Option<(Table, Option<&'static str>)> {
    Some((kind.child_table()?, kind.def().child.as_ref()?.embedded))
}

#[derive(Deserialize)]
struct Embedded {
    #[serde(default)]
    data: Vec<Value>,
    #[serde(default)]
    has_more: bool,
}

/// A stored row, as compared.
struct Stored {
    data: Value,
    deleted: bool,
    version: i64,
    /// A child's parent (None for parents).
    parent: Option<String>,
}

/// The result of comparing one object (or child) with its row.
enum Verdict {
    Equal,
    InFlight,
    Missing,
    Different,
    WronglyDeleted,
}

/// Compares what the API answered at `date` with the stored row. `pending`:
/// an event for the object waits in the inbox.
fn judge(object: &Value, row: Option<&Stored>, date: i64, pending: bool) -> Verdict {
    match row {
        Some(r) if !r.deleted && r.data == *object => Verdict::Equal,
        // Written at or after the answer (or in its second): in flight.
        Some(r) if r.version >= date => Verdict::InFlight,
        _ if pending => Verdict::InFlight,
        None => Verdict::Missing,
        Some(r) if r.deleted => Verdict::WronglyDeleted,
        Some(_) => Verdict::Different,
    }
}

fn tally(report: &mut TableReport, id: &str, verdict: Verdict) -> bool {
    match verdict {
        Verdict::Equal => return false,
        Verdict::InFlight => {
            report.in_flight += 1;
            return false;
        }
        Verdict::Missing => report.missing.note(id),
        Verdict::Different => report.different.note(id),
        Verdict::WronglyDeleted => report.wrongly_deleted.note(id),
    }
    true
}

/// Compares one kind (and its children) with the API.
pub(super) struct KindCheck<'a> {
    pool: &'a PgPool,
    api: &'a StripeClient,
    schema: &'a str,
    kind: Kind,
    report: TableReport,
    child: Option<TableReport>,
    listed: HashSet<String>,
    to_repair: BTreeSet<String>,
    /// Stripe's time when the listing began: a row created since was never
    /// on a page.
    started: Option<i64>,
    /// For a type listed per parent: the parents whose lists were paged
    /// (only their rows could have been listed).
    listed_parents: Option<HashSet<String>>,
}

impl<'a> KindCheck<'a> {
    pub(super) fn new(pool: &'a PgPool, api: &'a StripeClient, schema: &'a str, kind: Kind) -> KindCheck<'a> {
        KindCheck {
            pool,
            api,
            schema,
            kind,
            report: TableReport::new(kind.table()),
            child: None,
            listed: HashSet::new(),
            to_repair: BTreeSet::new(),
            started: None,
            listed_parents: None,
        }
    }

    /// Rows of `table` whose `column` (the id, or a child's parent) is in `keys`.
    async fn rows(&self, table: Table, column: &str, keys: &[&str]) -> Result<HashMap<String, Stored>, sqlx::Error> {
        let parent = table.parent_column().unwrap_or("NULL::text");
        let sql = format!(
            "SELECT id, data, deleted, version, {parent} FROM \"{}\".{} WHERE {column} = ANY($1)",
            self.schema,
            table.name()
        );
        let rows: Vec<(String, Value, bool, i64, Option<String>)> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(keys).fetch_all(self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(id, data, deleted, version, parent)| (id, Stored { data, deleted, version, parent }))
            .collect())
    }

    async fn pending(&self, ids: &[&str]) -> Result<HashSet<String>, sqlx::Error> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT object_id FROM stripe_mirror.events WHERE object_id = ANY($1) AND status = 'pending'",
        )
        .bind(ids)
        .fetch_all(self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    fn parse(&self, raw: &RawValue) -> Result<(String, Value), VerifyError> {
        let path = self.kind.api_path();
        let value: Value =
            serde_json::from_str(raw.get()).map_err(|e| VerifyError::Decode { path, message: e.to_string() })?;
        let id = value["id"].as_str().ok_or(VerifyError::Decode { path, message: "an object without id".into() })?;
        Ok((id.to_string(), value))
    }

    async fn page(&mut self, page: &Page) -> Result<(), VerifyError> {
        self.started.get_or_insert(page.date);
        let objects: Vec<(String, Value)> = page.data.iter().map(|r| self.parse(r)).collect::<Result<_, _>>()?;
        let ids: Vec<&str> = objects.iter().map(|(id, _)| id.as_str()).collect();
        let table = self.kind.table();
        let rows = self.rows(table, "id", &ids).await?;
        let pending = self.pending(&ids).await?;
        for (id, object) in &objects {
            self.report.listed += 1;
            self.listed.insert(id.clone());
            let verdict = judge(object, rows.get(id), page.date, pending.contains(id));
            if tally(&mut self.report, id, verdict) {
                self.to_repair.insert(id.clone());
            }
        }
        if let Some((child, field)) = children_of(self.kind) {
            self.children(child, field, &objects, page.date, &pending).await?;
        }
        Ok(())
    }

    /// Children of one page's parents against their (complete) lists.
    async fn children(
        &mut self,
        child: Table,
        field: Option<&str>,
        parents: &[(String, Value)],
        date: i64,
        pending: &HashSet<String>,
    ) -> Result<(), VerifyError> {
        let column = child.parent_column().unwrap_or("id");
        let ids: Vec<&str> = parents.iter().map(|(id, _)| id.as_str()).collect();
        let stored = self.rows(child, column, &ids).await?;
        let mut report = self.child.take().unwrap_or_else(|| TableReport::new(child));
        for (parent, object) in parents {
            let embedded = field.map_or(&Value::Null, |f| &object[f]);
            let (expected, complete) = self.expected_children(parent, embedded, field.is_none()).await?;
            let in_flight = pending.contains(parent);
            let mut drifted = false;
            for (id, c) in &expected {
                report.listed += 1;
                drifted |= tally(&mut report, id, judge(c, stored.get(id), date, in_flight));
            }
            // Live children stored under this parent that its list lacks.
            if complete {
                for (id, row) in stored.iter().filter(|(_, r)| !r.deleted && r.parent.as_ref() == Some(parent)) {
                    if expected.iter().any(|(e, _)| e == id) {
                        continue;
                    }
                    if row.version >= date || in_flight {
                        report.in_flight += 1;
                    } else {
                        report.extra.note(id);
                        drifted = true;
                    }
                }
            }
            if drifted {
                self.to_repair.insert(parent.clone());
            }
        }
        self.child = Some(report);
        Ok(())
    }

    /// A parent's children: the embedded list, paged from the API to the
    /// end when Stripe truncated it (or always, for children Stripe never
    /// embeds). `complete` is false when the API would not page it (a
    /// deleted invoice's lines answer 404) or the paged list lacks an
    /// embedded child: then no stored child counts as extra.
    async fn expected_children(
        &self,
        parent: &str,
        embedded: &Value,
        never_embedded: bool,
    ) -> Result<(Vec<(String, Value)>, bool), VerifyError> {
        let list: Embedded = match serde_json::from_value(embedded.clone()) {
            Ok(l) => l,
            Err(_) if never_embedded => Embedded { data: Vec::new(), has_more: true },
            Err(_) => return Ok((Vec::new(), false)),
        };
        let with_ids = |v: Vec<Value>| -> Vec<(String, Value)> {
            v.into_iter().filter_map(|c| Some((c["id"].as_str()?.to_string(), c))).collect()
        };
        let embedded = with_ids(list.data);
        let Some(child) = self.kind.def().child.as_ref().filter(|_| list.has_more) else {
            return Ok((embedded, true));
        };
        let path = child.path.replace("{id}", parent);
        let filters: Vec<(&str, String)> = child.param.map(|p| (p, parent.to_string())).into_iter().collect();
        let paged = match self.api.list_all(&path, &filters).await {
            Ok(p) => p,
            Err(e) if e.is_resource_missing() => return Ok((embedded, false)),
            Err(e) => return Err(e.into()),
        };
        let mut paged = with_ids(paged.iter().filter_map(|r| serde_json::from_str::<Value>(r.get()).ok()).collect());
        let complete = embedded.iter().all(|(id, _)| paged.iter().any(|(p, _)| p == id));
        if !complete {
            let missing: Vec<(String, Value)> =
                embedded.into_iter().filter(|(id, _)| !paged.iter().any(|(p, _)| p == id)).collect();
            paged.extend(missing);
        }
        Ok((paged, complete))
    }

    /// Live rows no list returned, except those created since the listing
    /// began or with an event pending; for a child table, live children of
    /// parents no list returned (their parent is gone, so they are too).
    async fn extras(&mut self) -> Result<(), VerifyError> {
        let started = self.started.unwrap_or(i64::MAX);
        let table = self.kind.table();
        let parent = self.kind.def().list.per.as_ref().map_or("NULL::text", |p| p.column);
        let sql = format!("SELECT id, version, {parent} FROM \"{}\".{} WHERE NOT deleted", self.schema, table.name());
        let live: Vec<(String, i64, Option<String>)> = sqlx::query_as(AssertSqlSafe(sql)).fetch_all(self.pool).await?;
        self.report.mirror_live = live.len();
        let (report, listed, parents) = (&mut self.report, &self.listed, &self.listed_parents);
        // A row listed per parent could only have been listed under a parent
        // paged (a detached payment method is listed nowhere).
        let could_be_listed = |p: &Option<String>| match parents {
            Some(parents) => p.as_ref().is_some_and(|p| parents.contains(p)),
            None => true,
        };
        let unlisted: Vec<&(String, i64, Option<String>)> =
            live.iter().filter(|(id, _, p)| !listed.contains(id) && could_be_listed(p)).collect();
        for id in Self::note_extras(self.pool, report, &unlisted, started, |(id, _, _)| id).await? {
            self.to_repair.insert(id);
        }
        let Some((child, _)) = children_of(self.kind) else { return Ok(()) };
        let column = child.parent_column().unwrap_or("id");
        let sql = format!("SELECT id, version, {column} FROM \"{}\".{} WHERE NOT deleted", self.schema, child.name());
        let live: Vec<(String, i64, Option<String>)> = sqlx::query_as(AssertSqlSafe(sql)).fetch_all(self.pool).await?;
        let report = self.child.get_or_insert_with(|| TableReport::new(child));
        report.mirror_live = live.len();
        let orphans: Vec<&(String, i64, Option<String>)> =
            live.iter().filter(|(_, _, p)| !p.as_ref().is_some_and(|p| self.listed.contains(p))).collect();
        // Repaired through the parent (a parent retrieved as deleted takes its
        // children with it).
        for parent in
            Self::note_extras(self.pool, report, &orphans, started, |(_, _, p)| p.as_deref().unwrap_or("")).await?
        {
            if !parent.is_empty() {
                self.to_repair.insert(parent);
            }
        }
        Ok(())
    }

    /// Counts `rows` (id, version, parent) as extra, or in flight when
    /// written since `started` or with an event pending for `key(row)`;
    /// returns the keys of the extra ones.
    async fn note_extras<'r>(
        pool: &PgPool,
        report: &mut TableReport,
        rows: &[&'r (String, i64, Option<String>)],
        started: i64,
        key: impl Fn(&'r (String, i64, Option<String>)) -> &'r str,
    ) -> Result<BTreeSet<String>, sqlx::Error> {
        let keys: Vec<&str> = rows.iter().map(|r| key(r)).collect();
        let pending: HashSet<String> = sqlx::query_scalar(
            "SELECT DISTINCT object_id FROM stripe_mirror.events WHERE object_id = ANY($1) AND status = 'pending'",
        )
        .bind(&keys)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
        let mut out = BTreeSet::new();
        for row in rows {
            let (id, version, _) = row;
            if *version >= started || pending.contains(key(row)) {
                report.in_flight += 1;
            } else {
                report.extra.note(id);
                out.insert(key(row).to_string());
            }
        }
        Ok(out)
    }

    /// Pages one list to the end, comparing each page. `Ok(false)`: the
    /// list's parent is gone (404 `resource_missing`), nothing compared.
    async fn list(&mut self, path: &str, filters: &[(&'static str, String)]) -> Result<bool, VerifyError> {
        let mut after: Option<String> = None;
        loop {
            let page = match self.api.list_page(path, filters, after.as_deref()).await {
                Ok(page) => page,
                Err(e) if self.kind.def().list.per.is_some() && e.is_resource_missing() && !e.is_unavailable() => {
                    return Ok(false)
                }
                Err(e) => return Err(e.into()),
            };
            self.page(&page).await?;
            match (page.has_more, page.data.last().and_then(|o| crate::stripe::client::object_id(o))) {
                (true, Some(id)) => after = Some(id),
                _ => return Ok(true),
            }
        }
    }

    pub(super) async fn run(mut self) -> Result<(Vec<TableReport>, BTreeSet<String>), VerifyError> {
        match (self.kind.def().list.per.as_ref(), self.kind.list_parent()) {
            // Listed per parent: every live parent's list.
            (Some(per), Some(parent)) => {
                let sql = format!(
                    "SELECT id FROM \"{}\".{} WHERE NOT deleted ORDER BY id",
                    self.schema,
                    parent.table().name()
                );
                let parents: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(self.pool).await?;
                let mut listed = HashSet::new();
                for p in parents {
                    if self.list(&per.path.replace("{id}", &p), &[]).await? {
                        listed.insert(p);
                    }
                }
                self.listed_parents = Some(listed);
            }
            _ => {
                for filters in list_queries(self.kind) {
                    self.list(self.kind.api_path(), &filters).await?;
                }
            }
        }
        self.extras().await?;
        let mut tables = vec![self.report];
        if let Some((child, _)) = children_of(self.kind) {
            tables.push(self.child.unwrap_or_else(|| TableReport::new(child)));
        }
        Ok((tables, self.to_repair))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(data: Value, deleted: bool, version: i64) -> Stored {
        Stored { data, deleted, version, parent: None }
    }

    #[test]
    fn a_row_newer_than_the_page_or_with_an_event_pending_is_in_flight_not_drift() {
        let api = json!({"id": "cus_1", "name": "New"});
        let old = row(json!({"id": "cus_1", "name": "Old"}), false, 100);
        assert!(matches!(judge(&api, Some(&old), 200, false), Verdict::Different));
        assert!(matches!(judge(&api, Some(&old), 100, false), Verdict::InFlight), "same second");
        assert!(matches!(judge(&api, Some(&old), 50, false), Verdict::InFlight), "written after the page");
        assert!(matches!(judge(&api, Some(&old), 200, true), Verdict::InFlight), "an event pending");
        assert!(matches!(judge(&api, None, 200, false), Verdict::Missing));
        let gone = row(api.clone(), true, 100);
        assert!(matches!(judge(&api, Some(&gone), 200, false), Verdict::WronglyDeleted));
        assert!(matches!(judge(&api, Some(&row(api.clone(), false, 999)), 200, false), Verdict::Equal));
    }
}
