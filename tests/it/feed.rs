//! The durable change feed (`stripe_mirror.changes_after`): every change
//! committed after a reader's position, in ascending position, none skipped
//! when writers commit out of order, none recorded for a write that changes
//! nothing; retention's horizon; the reader role; `stripe-mirror changes`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use stripe_mirror::storage::feed::{self, Change, FeedError};
use stripe_mirror::storage::store::{Row, Store, Table, Version};

use crate::helpers::*;

/// A migrated database and the store that writes it.
struct Db {
    pool: PgPool,
    store: Store,
    url: String,
}

impl Db {
    async fn new() -> Db {
        let url = fresh_database().await;
        let pool = stripe_mirror::storage::db::connect(&url.clone().into(), 12).await.expect("connect");
        stripe_mirror::storage::db::migrate(&pool, "stripe").await.expect("migrate");
        Db { pool, store: Store::new("stripe"), url }
    }

    /// Upserts `objects` into `table` at version `at`, in the caller's transaction.
    async fn upsert(&self, conn: &mut sqlx::PgConnection, table: Table, at: i64, objects: &[Value]) {
        let raws: Vec<Box<serde_json::value::RawValue>> =
            objects.iter().map(|o| serde_json::value::to_raw_value(o).expect("raw")).collect();
        let rows: Vec<Row> = objects
            .iter()
            .zip(&raws)
            .map(|(o, raw)| Row {
                id: o["id"].as_str().expect("id"),
                data: raw,
                parent: None,
                version: Version::as_of(at),
            })
            .collect();
        self.store.upsert(conn, table, &rows).await.expect("upsert");
    }

    async fn upsert_now(&self, table: Table, at: i64, objects: &[Value]) {
        let mut tx = self.pool.begin().await.expect("begin");
        self.upsert(&mut tx, table, at, objects).await;
        tx.commit().await.expect("commit");
    }

    async fn tombstone(&self, table: Table, object: &Value, at: i64) {
        let raw = serde_json::value::to_raw_value(object).expect("raw");
        let mut tx = self.pool.begin().await.expect("begin");
        let id = object["id"].as_str().expect("id");
        self.store.tombstone(&mut tx, table, id, &raw, true, at).await.expect("tombstone");
        tx.commit().await.expect("commit");
    }

    async fn after(&self, position: i64, max_rows: i32) -> Result<Vec<Change>, FeedError> {
        feed::changes_after(&mut self.pool.acquire().await.expect("conn"), position, max_rows).await
    }

    /// Every change after `position`, waiting (up to 10 s) until at least
    /// `want` are readable: a writing transaction of another test on the
    /// same server may hold the feed back for a moment.
    async fn wait_for(&self, position: i64, want: usize) -> Vec<Change> {
        let mut got = Vec::new();
        for _ in 0..400 {
            got = self.after(position, 10_000).await.expect("changes_after");
            if got.len() >= want {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("only {} of {want} changes became readable: {got:?}", got.len());
    }
}

fn product(id: &str, name: &str, created: i64) -> Value {
    with(fixture("product"), json!({"id": id, "name": name, "created": created}))
}

fn ops(changes: &[Change]) -> Vec<(String, String)> {
    changes.iter().map(|c| (c.id.clone(), c.op.clone())).collect()
}

fn assert_strictly_increasing(changes: &[Change], after: i64) {
    let mut last = after;
    for c in changes {
        assert!(c.position > last, "position {} after {last}: {changes:?}", c.position);
        last = c.position;
    }
}

#[tokio::test]
async fn a_transaction_that_writes_first_and_commits_last_is_not_skipped_by_a_reader_polling_in_between() {
    let db = Db::new().await;
    // T1 writes first (the smaller xid) and stays open; T2 writes and commits.
    let mut t1 = db.pool.begin().await.expect("begin");
    db.upsert(&mut t1, Table::Customers, 10, &[customer("cus_first", "First")]).await;
    let mut t2 = db.pool.begin().await.expect("begin");
    db.upsert(&mut t2, Table::Customers, 10, &[customer("cus_second", "Second")]).await;
    t2.commit().await.expect("commit t2");

    // A reader polling now must not be handed T2's change: storing its
    // position would skip T1's, which sorts before it.
    let early = db.after(0, 100).await.expect("changes_after");
    assert!(early.is_empty(), "a change was readable while an older writer was open: {early:?}");

    t1.commit().await.expect("commit t1");
    let all = db.wait_for(0, 2).await;
    assert_eq!(ops(&all), [("cus_first".into(), "insert".into()), ("cus_second".into(), "insert".into())]);
    assert_strictly_increasing(&all, 0);
}

#[tokio::test]
async fn concurrent_writers_and_a_polling_reader_see_every_change_once_in_increasing_positions() {
    // 4 writers × 25 transactions of 1, 2 or 3 rows (t % 3 + 1): 4 × 49 inserts.
    const EXPECTED: usize = 4 * (9 + 8 * 2 + 8 * 3);
    let db = std::sync::Arc::new(Db::new().await);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                for t in 0..25 {
                    let mut tx = db.pool.begin().await.expect("begin");
                    let rows: Vec<Value> = (0..=(t % 3)).map(|r| customer(&format!("cus_{w}_{t}_{r}"), "C")).collect();
                    db.upsert(&mut tx, Table::Customers, 10, &rows).await;
                    // Commit in an order unrelated to the order of the writes.
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..15))).await;
                    tx.commit().await.expect("commit");
                }
            })
        })
        .collect();
    let reader = {
        let db = db.clone();
        let writers_done = std::sync::Arc::new(tokio::sync::Notify::new());
        let done = writers_done.clone();
        let handle = tokio::spawn(async move {
            let (mut at, mut seen) = (0i64, Vec::new());
            let mut finished = false;
            loop {
                let batch = db.after(at, 7).await.expect("changes_after");
                assert_strictly_increasing(&batch, at);
                if let Some(last) = batch.last() {
                    at = last.position;
                }
                let empty = batch.is_empty();
                seen.extend(batch);
                if finished && empty && seen.len() >= EXPECTED {
                    return seen;
                }
                tokio::select! {
                    _ = done.notified(), if !finished => finished = true,
                    _ = tokio::time::sleep(Duration::from_millis(3)) => {}
                }
            }
        });
        (handle, writers_done)
    };
    for w in writers {
        w.await.expect("writer");
    }
    reader.1.notify_one();
    let seen = tokio::time::timeout(Duration::from_secs(30), reader.0).await.expect("reader ends").expect("reader");
    let ids: BTreeSet<&str> = seen.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(seen.len(), EXPECTED, "each change exactly once");
    assert_eq!(ids.len(), EXPECTED);
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.changes").fetch_one(&db.pool).await.expect("count");
    assert_eq!(recorded, EXPECTED as i64);
}

#[tokio::test]
async fn a_reader_that_restarts_from_its_stored_position_misses_nothing() {
    let db = Db::new().await;
    for t in 0..10 {
        let rows: Vec<Value> = (0..3).map(|r| customer(&format!("cus_{t}_{r}"), "C")).collect();
        db.upsert_now(Table::Customers, 10, &rows).await;
    }
    let everything = db.wait_for(0, 30).await;
    // A reader processes batches of 4 and stores the position after each;
    // it crashes after reading a fourth batch it had not stored yet.
    let (mut stored, mut processed) = (0i64, Vec::new());
    for _ in 0..3 {
        let batch = db.after(stored, 4).await.expect("read");
        stored = batch.last().expect("a batch").position;
        processed.extend(batch);
    }
    let _lost_with_the_crash = db.after(stored, 4).await.expect("read");
    // Restarted (a new connection), it continues from what it stored.
    let rest = db.after(stored, 1000).await.expect("read after restart");
    assert_strictly_increasing(&rest, stored);
    processed.extend(rest);
    assert_eq!(processed, everything);
}

#[tokio::test]
async fn each_op_is_insert_update_or_delete_and_a_revived_row_is_an_insert() {
    let db = Db::new().await;
    let gold = product("gold", "Gold", 1_000);
    db.upsert_now(Table::Products, 1_000, std::slice::from_ref(&gold)).await;
    db.upsert_now(Table::Products, 1_100, &[product("gold", "Gold, renamed", 1_000)]).await;
    db.tombstone(Table::Products, &gold, 1_200).await;
    // A custom id created again: the new incarnation replaces the tombstone.
    db.upsert_now(Table::Products, 2_000, &[product("gold", "Gold v2", 2_000)]).await;
    // A delete of an object never seen stores a tombstone: a deleted insert.
    db.tombstone(Table::Products, &product("ghost", "Ghost", 500), 1_300).await;
    let changes = db.wait_for(0, 5).await;
    let want = [("gold", "insert"), ("gold", "update"), ("gold", "delete"), ("gold", "insert"), ("ghost", "delete")];
    let want: Vec<(String, String)> = want.iter().map(|(i, o)| (i.to_string(), o.to_string())).collect();
    assert_eq!(ops(&changes), want);
    assert!(changes.iter().all(|c| c.table == "products"));
    assert_strictly_increasing(&changes, 0);
}

#[tokio::test]
async fn a_write_that_changes_no_data_is_not_a_change() {
    let db = Db::new().await;
    let alice = customer("cus_same", "Alice");
    db.upsert_now(Table::Customers, 100, std::slice::from_ref(&alice)).await;
    let first = db.wait_for(0, 1).await;
    // Same data at a newer version (a redelivery, a sweep), an older state
    // (stale: not written), a tombstone twice.
    db.upsert_now(Table::Customers, 200, std::slice::from_ref(&alice)).await;
    db.upsert_now(Table::Customers, 50, &[customer("cus_same", "Older")]).await;
    db.tombstone(Table::Customers, &alice, 300).await;
    db.tombstone(Table::Customers, &alice, 400).await;
    let later = db.wait_for(first[0].position, 1).await;
    assert_eq!(ops(&later), [("cus_same".into(), "delete".into())], "only the tombstone changed anything");
}

#[tokio::test]
async fn webhooks_applied_by_the_daemon_appear_in_the_feed_children_included() {
    let app = TestApp::spawn().await;
    let c = customer("cus_wh", "Web");
    app.post_event(&event("evt_f1", "customer.created", 100, c.clone())).await;
    app.drained().await;
    app.post_event(&event("evt_f2", "customer.updated", 200, c.clone())).await;
    app.drained().await;
    app.post_event(&event("evt_f3", "customer.updated", 300, with(c.clone(), json!({"name": "Webber"})))).await;
    app.drained().await;
    app.post_event(&event("evt_f4", "customer.deleted", 400, c)).await;
    let sub = with(fixture("subscription"), json!({"id": "sub_wh"}));
    let items = sub["items"]["data"].as_array().map_or(0, Vec::len);
    app.post_event(&event("evt_f5", "customer.subscription.created", 400, sub)).await;
    app.drained().await;
    let db = Db { pool: app.pool.clone(), store: Store::new("stripe"), url: app.database_url.clone() };
    let changes = db.wait_for(0, 4 + items).await;
    let of_customer: Vec<&str> = changes.iter().filter(|c| c.id == "cus_wh").map(|c| c.op.as_str()).collect();
    assert_eq!(of_customer, ["insert", "update", "delete"], "the same-data update is no change");
    assert!(changes.iter().any(|c| c.table == "subscriptions" && c.id == "sub_wh" && c.op == "insert"));
    let item_inserts = changes.iter().filter(|c| c.table == "subscription_items" && c.op == "insert").count();
    assert_eq!(item_inserts, items);
    assert_strictly_increasing(&changes, 0);
}

#[tokio::test]
async fn a_position_older_than_retention_is_refused_with_a_hint_to_reread_the_tables() {
    let db = Db::new().await;
    for t in 0..3 {
        db.upsert_now(Table::Customers, 10, &[customer(&format!("cus_old_{t}"), "Old")]).await;
    }
    db.upsert_now(Table::Customers, 10, &[customer("cus_recent", "Recent")]).await;
    let all = db.wait_for(0, 4).await;
    // The first three are 40 days old; retention keeps 30.
    sqlx::query("UPDATE stripe_mirror.changes SET changed_at = now() - interval '40 days' WHERE id LIKE 'cus_old_%'")
        .execute(&db.pool)
        .await
        .expect("age them");
    let config = stripe_mirror::config::Config::default();
    let pruned = stripe_mirror::ops::retention::prune(&db.pool, &db.store, &config.retention, &config.privacy)
        .await
        .expect("prune");
    assert_eq!((pruned.changes_deleted, pruned.changes_pruned_through), (3, all[2].position));

    match db.after(0, 10).await {
        Err(FeedError::Pruned { message, hint }) => {
            assert!(message.contains("older than the change feed keeps"), "{message}");
            assert!(hint.contains("Re-read the tables") && hint.contains("changes_head()"), "{hint}");
        }
        other => panic!("expected the retention error, got {other:?}"),
    }
    let (code, text) = crate::cli::run(&["changes", "--after", "0"], &[("DATABASE_URL", db.url.as_str())]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("older than the change feed keeps") && text.contains("Re-read the tables"), "{text}");
    // Without --after the command starts at the oldest change kept.
    let (code, text) = crate::cli::run(&["changes"], &[("DATABASE_URL", db.url.as_str())]);
    assert_eq!((code, text.lines().count()), (0, 1), "{text}");
    // From the horizon on, it answers; the head is at or beyond it.
    assert_eq!(
        ops(&db.after(all[2].position, 10).await.expect("from the horizon")),
        [("cus_recent".to_string(), "insert".to_string())]
    );
    let head = feed::head(&mut db.pool.acquire().await.expect("conn")).await.expect("head");
    assert!(head >= all[3].position, "head {head} is past every committed change");
    assert!(db.after(head, 10).await.expect("from the head").is_empty());
}

#[tokio::test]
async fn bad_arguments_get_a_clear_error() {
    let db = Db::new().await;
    for (after, max_rows) in [("0", "-1"), ("NULL", "10"), ("0", "NULL")] {
        let sql = format!("SELECT * FROM stripe_mirror.changes_after({after}, {max_rows})");
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&db.pool).await.expect_err(&sql);
        let db_err = err.as_database_error().expect("a database error");
        assert_eq!(db_err.code().as_deref(), Some("22023"), "{sql}: {db_err}");
        assert!(db_err.message().contains("max_rows 0 or more"), "{sql}: {db_err}");
    }
    assert!(db.after(0, 0).await.expect("zero rows is a valid question").is_empty());
}

#[tokio::test]
async fn the_reader_role_can_follow_the_feed_but_reads_nothing_else_of_stripe_mirror() {
    let db = Db::new().await;
    db.upsert_now(Table::Customers, 10, &[customer("cus_r", "R")]).await;
    db.wait_for(0, 1).await;
    let role = format!("feed_reader_{}", fastrand::u32(..));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {role} LOGIN"))).execute(&db.pool).await.expect("role");
    // Before grant-reader, even a role that can name the schema may not call it.
    let mut conn = db.pool.acquire().await.expect("conn");
    sqlx::query(sqlx::AssertSqlSafe(format!("GRANT USAGE ON SCHEMA stripe_mirror TO {role}")))
        .execute(&mut *conn)
        .await
        .expect("usage");
    sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE {role}"))).execute(&mut *conn).await.expect("set role");
    let denied = |r: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| match r {
        Err(sqlx::Error::Database(d)) => d.code().as_deref() == Some("42501"),
        _ => false,
    };
    assert!(denied(sqlx::query("SELECT * FROM stripe_mirror.changes_after(0, 10)").execute(&mut *conn).await));
    sqlx::query("RESET ROLE").execute(&mut *conn).await.expect("reset");
    sqlx::query(sqlx::AssertSqlSafe(format!("REVOKE USAGE ON SCHEMA stripe_mirror FROM {role}")))
        .execute(&mut *conn)
        .await
        .expect("revoke");

    stripe_mirror::storage::db::grant_reader(&db.pool, "stripe", &role).await.expect("grant-reader");
    sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE {role}"))).execute(&mut *conn).await.expect("set role");
    let got = feed::changes_after(&mut conn, 0, 10).await.expect("the reader calls the feed");
    assert_eq!(ops(&got), [("cus_r".to_string(), "insert".to_string())]);
    feed::head(&mut conn).await.expect("and its head");
    for sql in [
        "SELECT 1 FROM stripe_mirror.events",
        "SELECT 1 FROM stripe_mirror.changes",
        "SELECT 1 FROM stripe_mirror.changes_horizon",
        "SELECT stripe_mirror.track_changes('stripe.customers')",
        "INSERT INTO stripe_mirror.changes VALUES (1, 'customers', 'x', 'insert', now())",
    ] {
        assert!(denied(sqlx::query(sql).execute(&mut *conn).await), "{sql} is allowed to the reader");
    }
    sqlx::query("RESET ROLE").execute(&mut *conn).await.expect("reset");
}

#[tokio::test]
async fn the_changes_command_prints_json_lines_and_follows_new_commits() {
    use std::io::{BufRead, BufReader};
    let db = Db::new().await;
    db.upsert_now(Table::Customers, 10, &[customer("cus_cli_1", "One")]).await;
    db.wait_for(0, 1).await;
    let (code, text) = crate::cli::run(&["changes"], &[("DATABASE_URL", db.url.as_str())]);
    assert_eq!(code, 0, "{text}");
    let line: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        (line["table"].as_str(), line["id"].as_str(), line["op"].as_str()),
        (Some("customers"), Some("cus_cli_1"), Some("insert"))
    );
    assert!(line["position"].as_i64().is_some() && line["changed_at"].as_str().is_some(), "{line}");
    let after = line["position"].as_i64().expect("position").to_string();

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stripe-mirror"))
        .args(["changes", "--follow", "--after", &after])
        .env("DATABASE_URL", &db.url)
        .env_remove("STRIPE_SECRET_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn changes --follow");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    db.upsert_now(Table::Customers, 20, &[customer("cus_cli_2", "Two")]).await;
    let followed = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(15)))
        .await
        .expect("join")
        .expect("a line for the new commit");
    let _ = child.kill();
    let _ = child.wait();
    let line: Value = serde_json::from_str(&followed).expect("JSON");
    assert_eq!(line["id"], "cus_cli_2", "{followed}");

    let (code, text) = crate::cli::run(&["changes", "--after", "-5"], &[("DATABASE_URL", db.url.as_str())]);
    assert_eq!(code, 0, "a position before anything was kept is fine while nothing was pruned: {text}");
}

#[tokio::test]
async fn after_a_backfill_and_dashboard_activity_the_feed_names_every_row_and_its_last_op_matches_it() {
    use stripe_sim::{Kind, SeedSpec};
    let s = SimApp::spawn().await;
    s.sim.seed(&SeedSpec::small());
    s.backfill().await;
    let customers: Vec<String> = sqlx::query_scalar("SELECT id FROM stripe.customers ORDER BY id LIMIT 3")
        .fetch_all(&s.app.pool)
        .await
        .expect("customers");
    let subscription: String =
        sqlx::query_scalar("SELECT id FROM stripe.subscriptions WHERE status = 'active' ORDER BY id LIMIT 1")
            .fetch_one(&s.app.pool)
            .await
            .expect("subscription");
    // Dashboard activity, delivered by webhook.
    s.sim.update(Kind::Customer, &customers[0], json!({"name": "Renamed"})).expect("update");
    s.sim.delete(Kind::Customer, &customers[1]).expect("delete");
    s.sim.cancel_subscription(&subscription).expect("cancel");
    s.settle().await;
    let db = Db { pool: s.app.pool.clone(), store: Store::new("stripe"), url: s.app.database_url.clone() };
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    for table in Table::ALL {
        let sql = format!("SELECT '{0}', id, deleted FROM stripe.{0}", table.name());
        let got: Vec<(String, String, bool)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&s.app.pool).await.expect("rows");
        rows.extend(got);
    }
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.changes").fetch_one(&s.app.pool).await.expect("count");
    let changes = db.wait_for(0, recorded as usize).await;
    assert_strictly_increasing(&changes, 0);
    let last: std::collections::HashMap<(&str, &str), &str> =
        changes.iter().map(|c| ((c.table.as_str(), c.id.as_str()), c.op.as_str())).collect();
    for (table, id, deleted) in &rows {
        let op = last.get(&(table.as_str(), id.as_str())).unwrap_or_else(|| panic!("{table}/{id} is not in the feed"));
        assert_eq!(*op == "delete", *deleted, "{table}/{id}: last op {op}, deleted {deleted}");
    }
    assert_eq!(last.len(), rows.len(), "the feed names no row that does not exist");
    assert_eq!(last[&("customers", customers[0].as_str())], "update");
    assert_eq!(last[&("customers", customers[1].as_str())], "delete");
    assert_eq!(last[&("subscriptions", subscription.as_str())], "update", "a cancellation is not a deletion");
}
