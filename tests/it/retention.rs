//! Retention and privacy: which inbox events a prune deletes and which it
//! keeps, the age boundary, batches, the change feed's horizon, one replica
//! at a time, and redacting deleted customers (rows and event payloads).

use serde_json::{json, Value};
use sqlx::PgPool;
use stripe_mirror::config::{PrivacyConfig, RetentionConfig};
use stripe_mirror::ops::retention::{self, Pruned};
use stripe_mirror::push::event::Envelope;
use stripe_mirror::storage::store::{Row, Store, Table, Version};

use crate::helpers::*;

const DAY: i64 = 86_400;

struct Db {
    pool: PgPool,
    store: Store,
    url: String,
}

impl Db {
    async fn new() -> Db {
        let url = fresh_database().await;
        let pool = stripe_mirror::storage::db::connect(&url.clone().into(), 4).await.expect("connect");
        stripe_mirror::storage::db::migrate(&pool, "stripe").await.expect("migrate");
        Db { pool, store: Store::new("stripe"), url }
    }

    /// Stores events through the inbox's own insert (as the webhook path and
    /// the events catch-up do), then gives each its status.
    async fn events(&self, events: &[(Value, &str)]) {
        let bodies: Vec<String> = events.iter().map(|(e, _)| e.to_string()).collect();
        let envelopes: Vec<Envelope> =
            bodies.iter().map(|b| Envelope::parse(b.as_bytes()).expect("an event")).collect();
        let rows: Vec<(&Envelope, &str)> = envelopes.iter().zip(&bodies).map(|(e, b)| (e, b.as_str())).collect();
        stripe_mirror::storage::inbox::insert_many(&self.pool, &rows, "webhook").await.expect("insert");
        for (e, status) in events {
            sqlx::query("UPDATE stripe_mirror.events SET status = $2 WHERE id = $1")
                .bind(e["id"].as_str())
                .bind(status)
                .execute(&self.pool)
                .await
                .expect("status");
        }
    }

    async fn event_ids(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT id FROM stripe_mirror.events ORDER BY id").fetch_all(&self.pool).await.expect("ids")
    }

    async fn payload(&self, id: &str) -> Value {
        let text: String = sqlx::query_scalar("SELECT payload FROM stripe_mirror.events WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("event");
        serde_json::from_str(&text).expect("JSON")
    }

    async fn prune(&self, days: u32, redact: bool) -> Pruned {
        let retention = RetentionConfig { events_days: days };
        let privacy = PrivacyConfig { redact_deleted_customers: redact };
        retention::prune(&self.pool, &self.store, &retention, &privacy).await.expect("prune")
    }

    async fn upsert(&self, table: Table, at: i64, object: &Value) {
        let raw = serde_json::value::to_raw_value(object).expect("raw");
        let id = object["id"].as_str().expect("id");
        let mut conn = self.pool.acquire().await.expect("conn");
        let row = Row { id, data: &raw, parent: None, version: Version::as_of(at) };
        self.store.upsert(&mut conn, table, &[row]).await.expect("upsert");
    }

    async fn tombstone(&self, object: &Value, at: i64) {
        let raw = serde_json::value::to_raw_value(object).expect("raw");
        let mut conn = self.pool.acquire().await.expect("conn");
        let id = object["id"].as_str().expect("id");
        self.store.tombstone(&mut conn, Table::Customers, id, &raw, true, at).await.expect("tombstone");
    }

    /// Waits (up to 10 s) until `want` changes after `position` are readable.
    async fn readable(&self, position: i64, want: usize) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for _ in 0..400 {
            let mut conn = self.pool.acquire().await.expect("conn");
            let changes =
                stripe_mirror::storage::feed::changes_after(&mut conn, position, 100_000).await.expect("feed");
            ops = changes.into_iter().map(|c| (c.id, c.op)).collect();
            if ops.len() >= want {
                return ops;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("only {ops:?} readable after {position}");
    }

    async fn customer(&self, id: &str) -> (Value, bool, Option<String>) {
        sqlx::query_as("SELECT data, deleted, email FROM stripe.customers WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("customer row")
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn stub(id: &str) -> Value {
    json!({"id": id, "object": "customer", "deleted": true})
}

#[tokio::test]
async fn prune_deletes_finished_events_past_the_window_and_keeps_pending_failed_and_recent_ones() {
    let db = Db::new().await;
    let old = now() - 30 * DAY - 120;
    let recent = now() - 30 * DAY + 120;
    let mut events = Vec::new();
    for status in ["applied", "ignored", "stale", "pending", "failed"] {
        for (age, created) in [("old", old), ("recent", recent)] {
            let id = format!("evt_{status}_{age}");
            events.push((event(&id, "customer.updated", created, customer("cus_p", "P")), status));
        }
    }
    db.events(&events).await;
    let pruned = db.prune(30, false).await;
    assert!(pruned.ran);
    assert_eq!(pruned.events_deleted, 3);
    let mut want: Vec<String> = ["applied", "ignored", "stale", "pending", "failed"]
        .iter()
        .map(|s| format!("evt_{s}_recent"))
        .chain(["evt_pending_old".into(), "evt_failed_old".into()])
        .collect();
    want.sort();
    assert_eq!(db.event_ids().await, want, "finished events older than 30 days go, the rest stays");
    // The pass is recorded where `status` shows it.
    let (kind, status, counts): (String, String, Value) =
        sqlx::query_as("SELECT kind, status, counts FROM stripe_mirror.runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .expect("run row");
    assert_eq!((kind.as_str(), status.as_str()), ("prune", "succeeded"));
    assert_eq!(counts["prune"]["events_deleted"], 3);
    assert!(counts["prune"].get("changes_pruned_through").is_none(), "status sums the counts: {counts}");
}

#[tokio::test]
async fn prune_works_through_more_than_one_batch_of_events_and_of_changes() {
    let db = Db::new().await;
    let n = retention::BATCH + 500;
    // One second apart, as events are: batches are cut between seconds.
    sqlx::query(
        "INSERT INTO stripe_mirror.events (id, type, object_id, created, payload, status)
         SELECT 'evt_bulk_' || g, 'customer.updated', 'cus_bulk', $2 - g, '{}', 'applied' FROM generate_series(1, $1) g",
    )
    .bind(n)
    .bind(now() - 40 * DAY)
    .execute(&db.pool)
    .await
    .expect("bulk events");
    let customers: Vec<Value> = (0..n).map(|i| customer(&format!("cus_bulk_{i}"), "B")).collect();
    let raws: Vec<Box<serde_json::value::RawValue>> =
        customers.iter().map(|c| serde_json::value::to_raw_value(c).expect("raw")).collect();
    let rows: Vec<Row> = customers
        .iter()
        .zip(&raws)
        .map(|(c, raw)| Row { id: c["id"].as_str().expect("id"), data: raw, parent: None, version: Version::as_of(1) })
        .collect();
    let mut conn = db.pool.acquire().await.expect("conn");
    db.store.upsert(&mut conn, Table::Customers, &rows).await.expect("bulk upsert");
    drop(conn);
    sqlx::query("UPDATE stripe_mirror.changes SET changed_at = now() - interval '40 days'")
        .execute(&db.pool)
        .await
        .expect("age");
    db.readable(0, n as usize).await;
    let pruned = db.prune(30, false).await;
    assert_eq!((pruned.events_deleted, pruned.changes_deleted), (n as u64, n as u64));
    assert!(db.event_ids().await.is_empty());
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.changes").fetch_one(&db.pool).await.expect("count");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_feed_is_cut_at_its_first_recent_change_so_no_reader_stands_in_a_hole() {
    let db = Db::new().await;
    for id in ["cus_a", "cus_b", "cus_c"] {
        db.upsert(Table::Customers, 10, &customer(id, "X")).await;
    }
    // Positions follow xids, not time: the middle change is recent, the
    // ones around it old. Only what precedes the first recent one goes.
    sqlx::query("UPDATE stripe_mirror.changes SET changed_at = now() - interval '40 days' WHERE id <> 'cus_b'")
        .execute(&db.pool)
        .await
        .expect("age");
    let before: Vec<i64> = sqlx::query_scalar("SELECT position FROM stripe_mirror.changes ORDER BY position")
        .fetch_all(&db.pool)
        .await
        .expect("positions");
    // Prune cuts only below what readers can see (the snapshot's xmin),
    // which another test's open writing transaction can hold back a moment.
    db.readable(0, 3).await;
    let pruned = db.prune(30, false).await;
    assert_eq!((pruned.changes_deleted, pruned.changes_pruned_through), (1, before[0]));
    let left: Vec<i64> = sqlx::query_scalar("SELECT position FROM stripe_mirror.changes ORDER BY position")
        .fetch_all(&db.pool)
        .await
        .expect("positions");
    assert_eq!(left, before[1..]);
    // A second pass (nothing older before the first recent change) is a no-op.
    assert_eq!(db.prune(30, false).await.changes_deleted, 0);
}

#[tokio::test]
async fn a_replica_that_finds_the_prune_lock_taken_does_nothing() {
    let db = Db::new().await;
    db.events(&[(event("evt_locked", "customer.updated", now() - 40 * DAY, customer("cus_l", "L")), "applied")]).await;
    let mut other = db.pool.acquire().await.expect("conn");
    sqlx::query("SELECT pg_advisory_lock($1)").bind(retention::LOCK_KEY).execute(&mut *other).await.expect("lock");
    assert!(!db.prune(30, false).await.ran);
    assert_eq!(db.event_ids().await, ["evt_locked"]);
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(retention::LOCK_KEY).execute(&mut *other).await.expect("unlock");
    assert!(db.prune(30, false).await.ran);
    assert!(db.event_ids().await.is_empty());
}

#[tokio::test]
async fn with_redaction_on_a_deleted_customer_keeps_only_stripes_stub_whoever_writes_it() {
    let db = Db::new().await;
    stripe_mirror::ops::privacy::store_setting(&db.pool, true).await.expect("setting");
    let full = customer("cus_gone", "Gone");
    db.upsert(Table::Customers, 100, &full).await;
    db.tombstone(&full, 200).await;
    let (data, deleted, email) = db.customer("cus_gone").await;
    assert_eq!((data, deleted, email), (stub("cus_gone"), true, None), "the typed columns go with the data");
    // A later write of the full deleted object (a `customer.deleted` that
    // would complete a stub tombstone) does not bring the data back.
    db.tombstone(&with(full, json!({"name": "Still gone"})), 300).await;
    assert_eq!(db.customer("cus_gone").await.0, stub("cus_gone"));
    // Live customers are untouched; with the setting off, tombstones keep data.
    let kept = customer("cus_kept", "Kept");
    db.upsert(Table::Customers, 100, &kept).await;
    assert_eq!(db.customer("cus_kept").await.0, kept);
    stripe_mirror::ops::privacy::store_setting(&db.pool, false).await.expect("setting");
    db.tombstone(&kept, 200).await;
    assert_eq!(db.customer("cus_kept").await.0["name"], "Kept");
}

#[tokio::test]
async fn prune_redacts_customers_deleted_before_it_was_on_and_their_finished_events() {
    let db = Db::new().await;
    let gone = customer("cus_before", "Before");
    let live = customer("cus_live", "Live");
    db.upsert(Table::Customers, 100, &gone).await;
    db.upsert(Table::Customers, 100, &live).await;
    db.tombstone(&gone, 200).await;
    let tax_id = json!({"id": "txi_1", "object": "tax_id", "customer": "cus_before", "value": "DE123456789"});
    let sub = with(fixture("subscription"), json!({"id": "sub_before", "customer": "cus_before"}));
    db.events(&[
        (event("evt_c_created", "customer.created", now() - DAY, gone.clone()), "applied"),
        (event("evt_c_deleted", "customer.deleted", now() - DAY, gone.clone()), "applied"),
        (event("evt_c_tax", "customer.tax_id.created", now() - DAY, tax_id), "ignored"),
        (event("evt_c_pending", "customer.updated", now() - DAY, gone.clone()), "pending"),
        (event("evt_c_sub", "customer.subscription.created", now() - DAY, sub.clone()), "applied"),
        (event("evt_live", "customer.updated", now() - DAY, live.clone()), "applied"),
    ])
    .await;
    let position: i64 = sqlx::query_scalar("SELECT max(position) FROM stripe_mirror.changes")
        .fetch_one(&db.pool)
        .await
        .expect("position");

    let pruned = db.prune(30, true).await;
    assert_eq!((pruned.customers_redacted, pruned.events_redacted), (1, 3));
    assert_eq!(db.customer("cus_before").await.0, stub("cus_before"));
    assert_eq!(db.customer("cus_live").await.0, live);
    for id in ["evt_c_created", "evt_c_deleted"] {
        let p = db.payload(id).await;
        assert_eq!(p["data"], json!({"object": stub("cus_before")}), "{id}");
        assert_eq!((p["id"].as_str(), p["type"].is_string(), p["created"].is_i64()), (Some(id), true, true));
    }
    assert_eq!(
        db.payload("evt_c_tax").await["data"],
        json!({"object": {"id": "txi_1", "object": "tax_id", "deleted": true}})
    );
    // Still to be applied: left whole until it is finished.
    assert_eq!(db.payload("evt_c_pending").await["data"]["object"], gone);
    // Billing records are kept like their rows; other customers untouched.
    assert_eq!(db.payload("evt_c_sub").await["data"]["object"], sub);
    assert_eq!(db.payload("evt_live").await["data"]["object"], live);
    // Readers hear of the rewrite: the deleted row's data changed.
    assert_eq!(db.readable(position, 1).await, [("cus_before".to_string(), "update".to_string())]);
    // Done once: the next pass has nothing left.
    assert_eq!(db.prune(30, true).await, Pruned { changes_pruned_through: 0, ran: true, ..Pruned::default() });
}

#[tokio::test]
async fn the_prune_command_prunes_now_and_says_what_it_did() {
    let db = Db::new().await;
    db.events(&[(event("evt_cli_old", "customer.updated", now() - 40 * DAY, customer("cus_cli", "C")), "applied")])
        .await;
    let (code, text) = crate::cli::run(&["prune"], &[("DATABASE_URL", db.url.as_str())]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("deleted 1 inbox event(s)"), "{text}");
    assert!(db.event_ids().await.is_empty());
}
