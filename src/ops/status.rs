//! `stripe-mirror status`: what an operator checks at a glance — rows per
//! table, the newest applied event, the inbox, failed events, the last runs,
//! the Events API cursor, Postgres' notification queue — and whether any of it needs attention (the exit
//! code is 1 then, for scripts and monitoring). `--json` prints the same
//! [`Status`] as JSON.

use std::fmt::Write;

use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::storage::store::Table;

/// Events API cursor older than this needs attention: Stripe keeps events
/// for 30 days, after that only a full sweep can catch up.
const CURSOR_WARN_DAYS: i64 = 25;
const FAILED_SHOWN: i64 = 10;

#[derive(Debug, Serialize)]
pub struct Status {
    pub schema: String,
    pub tables: Vec<TableCount>,
    pub newest_applied_event: Option<EventRef>,
    pub inbox_pending: i64,
    pub inbox_oldest_pending_secs: f64,
    pub failed_events: i64,
    /// The newest failed events (at most 10).
    pub failed: Vec<FailedEvent>,
    /// The last run of each kind.
    pub runs: Vec<Run>,
    /// Unix time of the Events API cursor (reconcile replays from there).
    pub events_cursor: Option<i64>,
    pub events_cursor_age_secs: Option<i64>,
    /// The account and mode the tables mirror (none before the first
    /// backfill, reconcile or serve with a key).
    pub identity: Option<IdentityView>,
    /// Events of another mode or account received in the last hour, by
    /// reason: a misconfigured endpoint or secret (they are never applied).
    pub isolated_last_hour: Vec<Count>,
    /// Events created in the last 24 h in another API version than
    /// `stripe.api_version`, by version: each costs a retrieve.
    pub other_versions_last_day: Vec<Count>,
    /// `pg_notification_queue_usage()`: the fraction of the cluster's NOTIFY
    /// queue in use; a LISTEN session that stops reading makes it grow.
    pub notify_queue_usage: f64,
    /// From this usage on, changes are written without their notification.
    pub notify_queue_limit: f64,
    /// Notifications skipped so far (this database, since install).
    pub notifications_skipped: i64,
    /// Types the last backfill or full sweep skipped (the key may not list
    /// them), with why.
    pub skipped_types: Vec<SkippedType>,
    /// Why the exit code is 1; empty when all is well.
    pub attention: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct IdentityView {
    pub account_id: String,
    pub livemode: bool,
    /// `api` (`GET /v1/account`) or `config` (`stripe.account_id`).
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub key: String,
    pub events: i64,
}

#[derive(Debug, Serialize)]
pub struct SkippedType {
    /// The type's `object` name (`payment_method`).
    pub r#type: String,
    /// The run that skipped it (`backfill`, `reconcile_full`).
    pub run: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct TableCount {
    pub table: &'static str,
    pub live: i64,
    pub deleted: i64,
}

#[derive(Debug, Serialize)]
pub struct EventRef {
    pub id: String,
    pub r#type: String,
    pub created: i64,
}

#[derive(Debug, Serialize)]
pub struct FailedEvent {
    pub id: String,
    pub r#type: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Run {
    pub kind: String,
    pub status: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub counts: serde_json::Value,
    pub error: Option<String>,
}

impl Status {
    /// `api_version` is the pinned `stripe.api_version`.
    pub async fn read(pool: &PgPool, schema: &str, api_version: &str) -> Result<Status, sqlx::Error> {
        let mut tables = Vec::new();
        for t in Table::ALL {
            let sql = format!(
                "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted) FROM \"{schema}\".{}",
                t.name()
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?;
            tables.push(TableCount { table: t.name(), live: row.try_get(0)?, deleted: row.try_get(1)? });
        }
        let newest_applied_event = sqlx::query(
            "SELECT id, type, created FROM stripe_mirror.events WHERE status = 'applied' ORDER BY created DESC LIMIT 1",
        )
        .fetch_optional(pool)
        .await?
        .map(|r| Ok::<_, sqlx::Error>(EventRef { id: r.try_get(0)?, r#type: r.try_get(1)?, created: r.try_get(2)? }))
        .transpose()?;
        let (inbox_pending, inbox_oldest_pending_secs) = crate::storage::inbox::depth(pool).await?;
        let failed_events: i64 =
            sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE status = 'failed'")
                .fetch_one(pool)
                .await?;
        let failed = sqlx::query(
            "SELECT id, type, attempts, last_error FROM stripe_mirror.events WHERE status = 'failed'
             ORDER BY received_at DESC LIMIT $1",
        )
        .bind(FAILED_SHOWN)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(FailedEvent {
                id: r.try_get(0)?,
                r#type: r.try_get(1)?,
                attempts: r.try_get(2)?,
                last_error: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let runs = sqlx::query(
            "SELECT DISTINCT ON (kind) kind, status, started_at, finished_at, counts, error
             FROM stripe_mirror.runs ORDER BY kind, started_at DESC",
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Run {
                kind: r.try_get(0)?,
                status: r.try_get(1)?,
                started_at: r.try_get(2)?,
                finished_at: r.try_get(3)?,
                counts: r.try_get(4)?,
                error: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let events_cursor = sqlx::query_scalar::<_, String>("SELECT value FROM stripe_mirror.cursors WHERE name = $1")
            .bind(crate::pull::sync::EVENTS_CURSOR)
            .fetch_optional(pool)
            .await?
            .and_then(|v| v.parse::<i64>().ok());
        let identity = crate::storage::identity::stored(pool).await?.map(|i| IdentityView {
            account_id: i.account_id,
            livemode: i.livemode,
            source: i.source.to_string(),
        });
        let counts = |rows: Vec<(Option<String>, i64)>| {
            rows.into_iter().map(|(k, events)| Count { key: k.unwrap_or_default(), events }).collect::<Vec<_>>()
        };
        let isolated_last_hour = counts(
            sqlx::query_as(
                "SELECT outcome_detail, count(*) FROM stripe_mirror.events
                 WHERE status = 'ignored' AND outcome_detail IN ($1, $2) AND received_at > now() - interval '1 hour'
                 GROUP BY 1 ORDER BY 1",
            )
            .bind(crate::push::apply::OTHER_MODE)
            .bind(crate::push::apply::OTHER_ACCOUNT)
            .fetch_all(pool)
            .await?,
        );
        // Walks events_created_idx; parses only the last day's payloads.
        let other_versions_last_day = counts(
            sqlx::query_as(
                "SELECT v, count(*) FROM (
                   SELECT payload::json ->> 'api_version' AS v FROM stripe_mirror.events
                   WHERE created > extract(epoch FROM now())::bigint - 86400) e
                 WHERE v IS DISTINCT FROM $1 AND v IS NOT NULL GROUP BY v ORDER BY v",
            )
            .bind(api_version)
            .fetch_all(pool)
            .await?,
        );
        let queue = crate::storage::db::notify_queue(pool).await?;
        let now = chrono::Utc::now().timestamp();
        let mut status = Status {
            schema: schema.to_string(),
            tables,
            newest_applied_event,
            inbox_pending,
            inbox_oldest_pending_secs,
            failed_events,
            failed,
            runs,
            events_cursor,
            events_cursor_age_secs: events_cursor.map(|c| now - c),
            identity,
            isolated_last_hour,
            other_versions_last_day,
            notify_queue_usage: queue.usage,
            notify_queue_limit: queue.limit,
            notifications_skipped: queue.skipped,
            skipped_types: Vec::new(),
            attention: Vec::new(),
        };
        status.skipped_types = skipped_types(&status.runs);
        status.attention = status.problems();
        Ok(status)
    }

    /// What needs a person: failed events, an Events API cursor close to
    /// Stripe's 30-day retention (or none: no backfill yet), a failing
    /// reconcile, a notification queue half way to its limit.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.failed_events > 0 {
            out.push(format!(
                "{} failed event(s): read their errors below, fix the cause, then `stripe-mirror events retry --all-failed`",
                self.failed_events
            ));
        }
        match self.events_cursor_age_secs {
            None => out.push("no Events API cursor: run `stripe-mirror backfill` first".into()),
            Some(age) if age > CURSOR_WARN_DAYS * 86_400 => out.push(format!(
                "the Events API cursor is {} days old (Stripe keeps events 30 days): is the scheduled reconcile running?",
                (age + 43_200) / 86_400
            )),
            Some(_) => {}
        }
        for c in &self.isolated_last_hour {
            out.push(format!(
                "{} event(s) of {} in the last hour were ignored: an endpoint of another {} sends to this mirror (check the endpoint and which secrets webhook.secrets holds)",
                c.events,
                if c.key == crate::push::apply::OTHER_MODE { "another mode" } else { "another account" },
                if c.key == crate::push::apply::OTHER_MODE { "mode (test/live)" } else { "account (Connect)" },
            ));
        }
        if self.notify_queue_usage >= self.notify_queue_limit / 2.0 {
            out.push(format!(
                "Postgres' NOTIFY queue is {:.1}% full: a session that LISTENs is not reading (Postgres' log names \
                 its PID in \"NOTIFY queue is … full\"); from {:.0}% changes are no longer notified",
                self.notify_queue_usage * 100.0,
                self.notify_queue_limit * 100.0
            ));
        }
        if !self.skipped_types.is_empty() {
            let names: Vec<&str> = self.skipped_types.iter().map(|s| s.r#type.as_str()).collect();
            out.push(format!(
                "{} type(s) not mirrored by the last {}: {} (the key may not list them): give the key read access, or leave them out of [mirror] objects",
                names.len(),
                self.skipped_types[0].run,
                names.join(", ")
            ));
        }
        let last_reconcile = self.runs.iter().filter(|r| r.kind.starts_with("reconcile")).max_by_key(|r| r.started_at);
        if let Some(r) = last_reconcile.filter(|r| r.status == "failed") {
            out.push(format!(
                "the last reconcile ({}) failed: {}",
                r.kind,
                r.error.as_deref().unwrap_or("no error text")
            ));
        }
        out
    }

    pub fn needs_attention(&self) -> bool {
        !self.attention.is_empty()
    }

    /// The table a person reads.
    pub fn render(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut o = String::new();
        let _ = writeln!(o, "{:<28} {:>10} {:>10}", format!("{}.", self.schema), "live", "deleted");
        for t in &self.tables {
            let _ = writeln!(o, "{:<28} {:>10} {:>10}", t.table, t.live, t.deleted);
        }
        let _ = writeln!(o);
        let oldest = if self.inbox_pending > 0 {
            format!(", oldest {}", ago(self.inbox_oldest_pending_secs as i64))
        } else {
            String::new()
        };
        let _ = writeln!(o, "inbox:             {} pending{oldest}, {} failed", self.inbox_pending, self.failed_events);
        match &self.newest_applied_event {
            Some(e) => {
                let _ = writeln!(o, "newest applied:    {} {} (created {})", e.id, e.r#type, ago(now - e.created));
            }
            None => {
                let _ = writeln!(o, "newest applied:    none");
            }
        }
        match self.events_cursor_age_secs {
            Some(age) => {
                let _ = writeln!(o, "events cursor:     {}", ago(age));
            }
            None => {
                let _ = writeln!(o, "events cursor:     none");
            }
        }
        match &self.identity {
            Some(i) => {
                let mode = if i.livemode { "live" } else { "test" };
                let _ = writeln!(o, "mirroring:         {} ({mode} mode, known by {})", i.account_id, i.source);
            }
            None => {
                let _ = writeln!(o, "mirroring:         not known yet (first backfill or serve with a key)");
            }
        }
        for c in &self.other_versions_last_day {
            let _ = writeln!(
                o,
                "other api_version: {} event(s) in {} in the last 24 h, each retrieved again at the pinned version; fix: `stripe-mirror endpoint create` (an endpoint in the pinned version), then delete the old endpoint",
                c.events, c.key
            );
        }
        let _ = writeln!(
            o,
            "notify queue:      {:.1}% used (notifications skipped from {:.0}%), {} notifications skipped",
            self.notify_queue_usage * 100.0,
            self.notify_queue_limit * 100.0,
            self.notifications_skipped
        );
        for t in &self.skipped_types {
            let _ = writeln!(o, "skipped type:      {} by the last {}: {}", t.r#type, t.run, t.reason);
        }
        let _ = writeln!(o);
        if self.runs.is_empty() {
            let _ = writeln!(o, "runs:              none yet");
        }
        for r in &self.runs {
            let when = ago(now - r.started_at.timestamp());
            let took =
                r.finished_at.map(|f| format!(" in {:.1} s", (f - r.started_at).as_seconds_f64())).unwrap_or_default();
            let _ = writeln!(o, "{:<18} {:<11} started {when}{took}  {}", r.kind, r.status, counts_line(&r.counts));
            if let Some(e) = &r.error {
                let _ = writeln!(o, "{:<18} error: {e}", "");
            }
        }
        if !self.failed.is_empty() {
            let _ = writeln!(o, "\nfailed events (newest {} of {}):", self.failed.len(), self.failed_events);
            for f in &self.failed {
                let err = f.last_error.as_deref().unwrap_or("");
                let _ = writeln!(o, "  {} {} after {} attempts: {err}", f.id, f.r#type, f.attempts);
            }
        }
        let _ = writeln!(o);
        if self.attention.is_empty() {
            let _ = writeln!(o, "ok: nothing needs attention");
        } else {
            let _ = writeln!(o, "NEEDS ATTENTION:");
            for a in &self.attention {
                let _ = writeln!(o, "  - {a}");
            }
        }
        o
    }
}

/// The types the newest backfill or full sweep skipped (`skipped` in its
/// per-type counts).
fn skipped_types(runs: &[Run]) -> Vec<SkippedType> {
    let listing = runs.iter().filter(|r| r.kind == "backfill" || r.kind == "reconcile_full");
    let Some(run) = listing.max_by_key(|r| r.started_at) else {
        return Vec::new();
    };
    let Some(per_kind) = run.counts.as_object() else {
        return Vec::new();
    };
    per_kind
        .iter()
        .filter_map(|(t, c)| {
            let reason = c.get("skipped")?.as_str()?;
            Some(SkippedType { r#type: t.clone(), run: run.kind.clone(), reason: reason.to_string() })
        })
        .collect()
}

/// Sums a run's per-type counts into one line (`fetched 10, inserted 3, …`).
fn counts_line(counts: &serde_json::Value) -> String {
    let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
    if let Some(per_kind) = counts.as_object() {
        for c in per_kind.values().filter_map(|v| v.as_object()) {
            for (k, v) in c {
                *totals.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
            }
        }
    }
    totals.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

fn ago(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Status {
        Status {
            schema: "stripe".into(),
            tables: Vec::new(),
            newest_applied_event: None,
            inbox_pending: 0,
            inbox_oldest_pending_secs: 0.0,
            failed_events: 0,
            failed: Vec::new(),
            runs: Vec::new(),
            events_cursor: Some(0),
            events_cursor_age_secs: Some(60),
            identity: None,
            isolated_last_hour: Vec::new(),
            other_versions_last_day: Vec::new(),
            notify_queue_usage: 0.0,
            notify_queue_limit: 0.5,
            notifications_skipped: 0,
            skipped_types: Vec::new(),
            attention: Vec::new(),
        }
    }

    #[test]
    fn a_type_the_last_sweep_skipped_needs_attention() {
        let run = |kind: &str, counts: serde_json::Value, secs: i64| Run {
            kind: kind.into(),
            status: "succeeded".into(),
            started_at: chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default(),
            finished_at: None,
            counts,
            error: None,
        };
        let runs = vec![
            run("backfill", serde_json::json!({"coupon": {"skipped": "the key may not read /v1/coupons"}}), 100),
            run(
                "reconcile_full",
                serde_json::json!({"charge": {"skipped": "no", "fetched": 0}, "customer": {"fetched": 3}}),
                200,
            ),
        ];
        let skipped = skipped_types(&runs);
        assert_eq!(skipped.len(), 1, "only the newest listing run counts");
        assert_eq!((skipped[0].r#type.as_str(), skipped[0].run.as_str()), ("charge", "reconcile_full"));
        let status = Status { skipped_types: skipped, ..healthy() };
        assert!(status.problems().iter().any(|p| p.contains("charge") && p.contains("[mirror] objects")));
    }

    #[test]
    fn a_notify_queue_half_way_to_its_limit_needs_attention() {
        assert!(healthy().problems().is_empty(), "{:?}", healthy().problems());
        let filling = Status { notify_queue_usage: 0.3, ..healthy() };
        let problems = filling.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("NOTIFY queue is 30.0% full") && problems[0].contains("from 50%"), "{problems:?}");
    }
}
