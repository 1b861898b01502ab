//! Operating the daemon: graceful shutdown, several replicas on one
//! database, `status`, `events retry`, logs without secrets.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::daemon::{free_port, post_signed, Daemon};
use crate::helpers::*;

/// Posts `count` customer events from `senders` tasks to `urls` (round
/// robin); returns the ids answered 200 and the other statuses seen.
async fn burst(prefix: &str, count: usize, senders: usize, urls: Vec<String>) -> (HashSet<String>, Vec<String>) {
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let other = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (acked, other, next, http, urls) = (acked.clone(), other.clone(), next.clone(), http.clone(), urls.clone());
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let id = format!("evt_{prefix}_{i}");
                let ev = event(&id, "customer.updated", 1000 + i as i64, customer(&format!("cus_{prefix}_{i}"), "B"));
                let url = &urls[i % urls.len()];
                match post_signed(&http, url, serde_json::to_vec(&ev).expect("json")).await {
                    Ok(200) => {
                        acked.lock().expect("lock").insert(id);
                    }
                    Ok(s) => other.lock().expect("lock").push(s.to_string()),
                    Err(e) => other.lock().expect("lock").push(format!("transport error: {e}")),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    let other = std::mem::take(&mut *other.lock().expect("lock"));
    (acked, other)
}

async fn stored_ids(app: &TestApp, prefix: &str) -> HashSet<String> {
    sqlx::query_scalar::<_, String>("SELECT id FROM stripe_mirror.events WHERE id LIKE $1")
        .bind(format!("evt_{prefix}_%"))
        .fetch_all(&app.pool)
        .await
        .expect("inbox ids")
        .into_iter()
        .collect()
}

#[tokio::test]
async fn sigterm_mid_burst_exits_0_and_keeps_every_acknowledged_event() {
    let db = fresh_database().await;
    let mut daemon = Daemon::start(&db, free_port(), &[]).await;
    let app = TestApp::spawn_with(|c| c.database.url = Some(db.clone().into())).await;
    app.running.shutdown.cancel(); // its pool only; the child process serves
    let url = daemon.webhook_url();
    let sending = tokio::spawn(burst("term", 3000, 16, vec![url]));
    // Let part of the burst land, then ask the daemon to stop.
    for _ in 0..400 {
        if app.inbox_count().await >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.signal("TERM");
    let exit = daemon.wait_exit(Duration::from_secs(12)).await.expect("exits within the shutdown timeout");
    assert!(exit.success(), "exit status {exit:?}");
    let (acked, other) = sending.await.expect("burst");
    assert!(acked.len() >= 300, "part of the burst was acknowledged: {}", acked.len());
    // After SIGTERM: 503 while draining, then connection errors once the
    // listener closes (a sender retries both, as Stripe does).
    assert!(!other.is_empty(), "requests after SIGTERM were refused");
    let unexpected: Vec<_> = other.iter().filter(|s| s.len() == 3 && *s != "503").collect();
    assert!(unexpected.is_empty(), "statuses other than 503 after SIGTERM: {unexpected:?}");
    let stored = stored_ids(&app, "term").await;
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events are not in the inbox, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    // After a restart every acknowledged event is applied.
    let _daemon = Daemon::start(&db, free_port(), &[]).await;
    app.drained().await;
    let applied: i64 = app.scalar("SELECT count(*) FROM stripe.customers WHERE id LIKE 'cus_term_%'").await;
    assert_eq!(applied as usize, stored.len());
}

#[tokio::test]
async fn while_draining_webhooks_get_503_and_readyz_says_not_ready() {
    let app = TestApp::spawn().await;
    let ev = event("evt_drain_1", "customer.created", 1000, customer("cus_drain_1", "D"));
    assert_eq!(app.post_event(&ev).await, 200);
    // Shutdown begun, listener not yet closed (join() closes it after the workers).
    app.running.shutdown.cancel();
    let ev = event("evt_drain_2", "customer.created", 1000, customer("cus_drain_2", "D"));
    assert_eq!(app.post_event(&ev).await, 503);
    let ready = app.http.get(format!("http://{}/readyz", app.running.addr)).send().await.expect("readyz");
    assert_eq!(ready.status(), 503);
    let stored: i64 = app.scalar("SELECT count(*) FROM stripe_mirror.events WHERE id = 'evt_drain_2'").await;
    assert_eq!(stored, 0, "a refused event is not stored");
}

/// Reads datagrams from `socket` until one contains `want` (or 5 s pass).
async fn notified(socket: &tokio::net::UnixDatagram, want: &str) -> String {
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {want} from the daemon within 5 s"))
            .expect("recv");
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        if msg.lines().any(|l| l == want) {
            return msg;
        }
    }
}

#[tokio::test]
async fn under_systemd_it_notifies_ready_pings_the_watchdog_and_says_stopping() {
    let db = fresh_database().await;
    let scratch = Scratch::new("notify");
    let dir = &scratch.dir;
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let socket = tokio::net::UnixDatagram::bind(&path).expect("bind notify socket");
    let path_s = path.to_string_lossy().to_string();
    let mut daemon =
        Daemon::start(&db, free_port(), &[("NOTIFY_SOCKET", path_s.as_str()), ("WATCHDOG_USEC", "400000")]).await;
    let ready = notified(&socket, "READY=1").await;
    assert!(ready.contains("STATUS=listening on"), "{ready}");
    // Ready means migrated and listening: the webhook is answered at once.
    let ev = event("evt_sd_1", "customer.created", 1000, customer("cus_sd_1", "S"));
    let (http, url) = (reqwest::Client::new(), daemon.webhook_url());
    assert_eq!(post_signed(&http, &url, serde_json::to_vec(&ev).expect("json")).await.expect("post"), 200);
    notified(&socket, "WATCHDOG=1").await;
    notified(&socket, "WATCHDOG=1").await;
    daemon.signal("TERM");
    notified(&socket, "STOPPING=1").await;
    assert!(daemon.wait_exit(Duration::from_secs(10)).await.expect("exits").success());
}

/// Every datagram on `socket` until one has a line `last` (or 10 s pass), in
/// the order sent, one entry per line.
async fn notifications_until(socket: &tokio::net::UnixDatagram, last: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|l| l == last) {
        let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {last} from the daemon within 10 s; got {lines:?}"))
            .expect("recv");
        lines.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string));
    }
    lines
}

/// systemd's default start timeout (90 s) must not kill a long migration:
/// the start is extended while migrating, before READY=1.
#[tokio::test]
async fn migrations_extend_the_start_timeout_before_ready_and_stopping_comes_last() {
    let db = fresh_database().await;
    let scratch = Scratch::new("notify-extend");
    let path = scratch.dir.join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&path).expect("bind notify socket");
    let path_s = path.to_string_lossy().to_string();
    let mut daemon = Daemon::start(&db, free_port(), &[("NOTIFY_SOCKET", path_s.as_str())]).await;
    let mut lines = notifications_until(&socket, "READY=1").await;
    daemon.signal("TERM");
    lines.extend(notifications_until(&socket, "STOPPING=1").await);
    assert!(daemon.wait_exit(Duration::from_secs(10)).await.expect("exits").success());
    let at = |p: &str| lines.iter().position(|l| l.starts_with(p)).unwrap_or_else(|| panic!("no {p} in {lines:?}"));
    assert_eq!(lines[at("EXTEND_TIMEOUT_USEC=")], "EXTEND_TIMEOUT_USEC=60000000", "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("STATUS=applying database migrations")), "{lines:?}");
    assert!(at("EXTEND_TIMEOUT_USEC=") < at("READY=1"), "{lines:?}");
    assert!(at("READY=1") < at("STOPPING=1"), "{lines:?}");
    let extends_after_ready = lines[at("READY=1")..].iter().filter(|l| l.starts_with("EXTEND_TIMEOUT_USEC=")).count();
    assert_eq!(extends_after_ready, 0, "the start is not extended once ready: {lines:?}");
}

/// Parks one event as failed: an invoice with truncated lines and no API key.
async fn park_one_failed_event(app: &TestApp, id: &str) {
    let truncated = with(
        fixture("invoice"),
        serde_json::json!({"id": format!("in_{id}"), "lines": {"object": "list", "data": [], "has_more": true, "url": "/v1/invoices/x/lines"}}),
    );
    app.post_event(&event(id, "invoice.created", 10, truncated)).await;
    for _ in 0..200 {
        if app.event_status(id).await == "failed" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} was not parked");
}

#[tokio::test]
async fn status_says_what_needs_attention_and_events_retry_requeues() {
    use crate::cli::run;
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    let env = [("DATABASE_URL", url.as_str())];
    // A healthy mirror: an applied event, a fresh Events API cursor, a good run.
    app.post_event(&event("evt_ok", "customer.created", 1000, customer("cus_ok", "O"))).await;
    app.drained().await;
    sqlx::query("INSERT INTO stripe_mirror.cursors (name, value) VALUES ('events_api', extract(epoch FROM now())::bigint::text)")
        .execute(&app.pool)
        .await
        .expect("cursor");
    sqlx::query("INSERT INTO stripe_mirror.runs (kind, status, finished_at, counts) VALUES ('backfill', 'succeeded', now(), '{\"customer\": {\"fetched\": 5, \"inserted\": 5}}')")
        .execute(&app.pool)
        .await
        .expect("run");
    let (code, text) = run(&["status"], &env);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("customers") && text.contains("evt_ok") && text.contains("fetched 5"), "{text}");
    assert!(text.contains("ok: nothing needs attention"), "{text}");

    // A parked event: exit 1, the event and its error shown.
    park_one_failed_event(&app, "evt_status_bad").await;
    let (code, text) = run(&["status"], &env);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("NEEDS ATTENTION") && text.contains("evt_status_bad") && text.contains("STRIPE_SECRET_KEY"),
        "{text}"
    );
    let (code, json) = run(&["status", "--json"], &env);
    assert_eq!(code, 1);
    // stdout is the JSON document; stderr (merged after it) may hold log lines.
    let v: serde_json::Value = serde_json::Deserializer::from_str(&json)
        .into_iter()
        .next()
        .expect("a JSON document")
        .unwrap_or_else(|e| panic!("status --json is JSON: {e}: {json}"));
    assert_eq!(v["failed_events"], 1);
    assert_eq!(v["tables"].as_array().map(Vec::len), Some(stripe_mirror::storage::store::Table::ALL.len()));
    assert_eq!(v["tables"][2]["table"], "customers");
    assert_eq!(v["tables"][2]["live"], 1);

    // events retry: an unknown id is an error; the failed one goes back to pending.
    let (code, text) = run(&["events", "retry", "--id", "evt_nope"], &env);
    assert_eq!(code, 1, "{text}");
    let (code, text) = run(&["events", "retry"], &env);
    assert_eq!(code, 2, "--id or --all-failed is required: {text}");
    app.running.shutdown.cancel(); // keep the workers from parking it again
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (code, text) = run(&["events", "retry", "--all-failed"], &env);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("re-queued 1 event"), "{text}");
    assert_eq!(app.event_status("evt_status_bad").await, "pending");

    // An old cursor and a failing reconcile need attention too.
    sqlx::query("DELETE FROM stripe_mirror.events WHERE id = 'evt_status_bad'").execute(&app.pool).await.expect("del");
    sqlx::query("UPDATE stripe_mirror.cursors SET value = (extract(epoch FROM now())::bigint - 26 * 86400)::text")
        .execute(&app.pool)
        .await
        .expect("age cursor");
    sqlx::query("INSERT INTO stripe_mirror.runs (kind, status, finished_at, error) VALUES ('reconcile_events', 'failed', now(), 'STRIPE_SECRET_KEY was rejected by Stripe')")
        .execute(&app.pool)
        .await
        .expect("run");
    let (code, text) = run(&["status"], &env);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("26 days old") && text.contains("the last reconcile (reconcile_events) failed"), "{text}");
}

#[tokio::test]
async fn grant_reader_lets_a_role_select_the_mirror_and_nothing_else() {
    use crate::cli::run;
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    app.post_event(&event("evt_gr", "customer.created", 1000, customer("cus_gr", "G"))).await;
    app.drained().await;
    let role = format!("app_reader_{}", fastrand::u32(..));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {role} LOGIN"))).execute(&app.pool).await.expect("role");
    for _ in 0..2 {
        let (code, text) = run(&["grant-reader", &role], &[("DATABASE_URL", url.as_str())]);
        assert_eq!(code, 0, "grant-reader is idempotent: {text}");
    }
    let mut conn = app.pool.acquire().await.expect("conn");
    sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE {role}"))).execute(&mut *conn).await.expect("set role");
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stripe.customers").fetch_one(&mut *conn).await.expect("select");
    assert_eq!(n, 1);
    let denied = |r: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| match r {
        Err(sqlx::Error::Database(d)) => d.code().as_deref() == Some("42501"),
        _ => false,
    };
    assert!(denied(sqlx::query("SELECT 1 FROM stripe_mirror.events").execute(&mut *conn).await));
    assert!(denied(sqlx::query("UPDATE stripe.customers SET deleted = true").execute(&mut *conn).await));
    sqlx::query("RESET ROLE").execute(&mut *conn).await.expect("reset");
}

/// `url` with `user` in place of its user (trust auth: no password).
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

async fn can_select(pool: &sqlx::PgPool, role: &str, table: &str) -> bool {
    sqlx::query_scalar("SELECT has_table_privilege($1, $2, 'SELECT')")
        .bind(role)
        .bind(table)
        .fetch_one(pool)
        .await
        .expect("has_table_privilege")
}

/// grant-reader grants SELECT on a whole schema, present and future tables:
/// only on a schema that holds the mirror's tables and nothing else. Not
/// `public` (every role's default schema), not a schema with another
/// application's tables, not one without the mirror's.
#[tokio::test]
async fn grant_reader_refuses_a_schema_the_mirror_does_not_own_alone() {
    use crate::cli::run;
    let db = fresh_database().await;
    let scratch = Scratch::new("grant-refuse");
    let pool = sqlx::PgPool::connect(&db).await.expect("connect");
    let role = format!("app_reader_{}", fastrand::u32(..));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {role} LOGIN"))).execute(&pool).await.expect("role");
    sqlx::query("CREATE TABLE public.app_secrets (id int)").execute(&pool).await.expect("an application's table");
    let env = [("DATABASE_URL", db.as_str())];
    let with_schema = |schema: &str| {
        let path = scratch.dir.join(format!("{schema}.toml"));
        std::fs::write(&path, format!("[database]\nschema = \"{schema}\"\n")).expect("config");
        path.to_string_lossy().to_string()
    };

    let public = with_schema("public");
    let (code, text) = run(&["--config", &public, "grant-reader", &role], &env);
    println!("{text}");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("database.schema") && text.contains("public"), "{text}");
    assert!(!can_select(&pool, &role, "public.app_secrets").await, "the application's table stays private");

    // The mirror in `stripe`, plus a table some other tool put there.
    let (code, text) = run(&["migrate"], &env);
    assert_eq!(code, 0, "{text}");
    sqlx::query("CREATE TABLE stripe.other_tool_state (id int)").execute(&pool).await.expect("a foreign table");
    let (code, text) = run(&["grant-reader", &role], &env);
    println!("{text}");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("other_tool_state") && text.contains("database.schema"), "{text}");
    assert!(!can_select(&pool, &role, "stripe.other_tool_state").await);
    assert!(!can_select(&pool, &role, "stripe.customers").await, "nothing granted on a refusal");

    // A schema with none of the mirror's tables.
    sqlx::query("CREATE SCHEMA elsewhere").execute(&pool).await.expect("schema");
    let elsewhere = with_schema("elsewhere");
    let (code, text) = run(&["--config", &elsewhere, "grant-reader", &role], &env);
    println!("{text}");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("elsewhere") && text.contains("migrate"), "{text}");
}

/// Tables added later (a new migration, run by the daemon's role) must be
/// readable too: the default privileges are those of the role that owns the
/// mirrored tables, not of whoever ran grant-reader.
#[tokio::test]
async fn grant_reader_covers_future_tables_of_the_role_that_owns_the_mirror() {
    use crate::cli::run;
    let db = fresh_database().await;
    let pool = sqlx::PgPool::connect(&db).await.expect("connect");
    let suffix = fastrand::u32(..);
    let (owner, reader) = (format!("mirror_owner_{suffix}"), format!("app_reader_{suffix}"));
    for sql in [
        format!("CREATE ROLE {owner} LOGIN"),
        format!("CREATE ROLE {reader} LOGIN"),
        format!("GRANT CREATE ON DATABASE {} TO {owner}", db.rsplit('/').next().expect("db name")),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("setup");
    }
    let owner_url = as_user(&db, &owner);
    let (code, text) = run(&["migrate"], &[("DATABASE_URL", owner_url.as_str())]);
    assert_eq!(code, 0, "the daemon's role migrates: {text}");
    // An administrator (here the superuser) grants.
    let (code, text) = run(&["grant-reader", &reader], &[("DATABASE_URL", db.as_str())]);
    assert_eq!(code, 0, "{text}");
    assert!(can_select(&pool, &reader, "stripe.customers").await);
    // A later migration by the owner adds a table.
    let owner_pool = sqlx::PgPool::connect(&owner_url).await.expect("connect as owner");
    sqlx::query("CREATE TABLE stripe.payouts (id text PRIMARY KEY)").execute(&owner_pool).await.expect("new table");
    assert!(can_select(&pool, &reader, "stripe.payouts").await, "a table the owner adds later is readable");
}

/// Sum of `stripe_mirror_events_total` samples with `outcome` in a /metrics text.
fn events_counted(metrics: &str, outcome: &str) -> u64 {
    let prefix = format!("stripe_mirror_events_total{{outcome=\"{outcome}\"");
    metrics.lines().filter(|l| l.starts_with(&prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}

#[tokio::test]
async fn two_replicas_share_one_inbox_and_apply_each_event_once() {
    let db = fresh_database().await;
    let a = Daemon::start(&db, free_port(), &[]).await;
    let b = Daemon::start(&db, free_port(), &[]).await;
    let app = TestApp::spawn_with(|c| c.database.url = Some(db.clone().into())).await;
    app.running.shutdown.cancel(); // its pool only; the two child processes serve
    let (acked, other) = burst("rep", 4000, 32, vec![a.webhook_url(), b.webhook_url()]).await;
    assert!(other.is_empty(), "every request acknowledged: {:?}", &other[..other.len().min(3)]);
    assert_eq!(acked.len(), 4000);
    app.drained().await;
    let applied: i64 = app.scalar("SELECT count(*) FROM stripe.customers WHERE id LIKE 'cus_rep_%'").await;
    assert_eq!(applied, 4000);
    let http = reqwest::Client::new();
    let mut per_replica = Vec::new();
    for d in [&a, &b] {
        let text = http.get(d.http("/metrics")).send().await.expect("metrics").text().await.expect("text");
        per_replica.push(events_counted(&text, "applied"));
    }
    println!("applied per replica: {per_replica:?}");
    assert_eq!(per_replica.iter().sum::<u64>(), 4000, "each event applied exactly once across replicas");
    assert!(per_replica.iter().all(|n| *n > 0), "both replicas applied events: {per_replica:?}");
}

#[tokio::test]
async fn no_secret_reaches_the_logs_in_json_or_on_errors() {
    use crate::cli::run;
    let db = fresh_database().await;
    // Trust auth ignores the password, so it can be in the URL like in production.
    let db_with_password = db.replacen("postgres://postgres@", "postgres://postgres:hunter2-db-pass@", 1);
    assert_ne!(db, db_with_password, "URL shape: {db}");
    let scratch = Scratch::new("logs");
    let dir = &scratch.dir;
    let config = dir.join("config.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\nlevel = \"debug\"\n[stripe]\nmax_retries = 0\n")
        .expect("config");
    let log_path = dir.join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let config_s = config.to_string_lossy().to_string();
    let mut daemon = Daemon::start_logging(
        &db_with_password,
        free_port(),
        &[
            ("STRIPE_SECRET_KEY", "sk_test_never_logged_51H"),
            ("STRIPE_API_BASE", "http://127.0.0.1:9"),
            ("RUST_LOG", "debug"),
        ],
        &["--config", config_s.as_str()],
        log.into(),
    )
    .await;
    let (http, url) = (reqwest::Client::new(), daemon.webhook_url());
    let ev = event("evt_log_1", "customer.created", 1000, customer("cus_log_1", "L"));
    assert_eq!(post_signed(&http, &url, serde_json::to_vec(&ev).expect("json")).await.expect("post"), 200);
    let forged = http.post(&url).header("stripe-signature", "t=1,v1=00").body("{}").send().await.expect("post");
    assert_eq!(forged.status(), 400);
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(10)).await.expect("exits");
    let mut outputs = vec![("serve".to_string(), std::fs::read_to_string(&log_path).expect("log"))];
    // The same secrets through the other commands, including their failures, in JSON logs.
    let with_secret = [
        ("DATABASE_URL", db_with_password.as_str()),
        ("STRIPE_SECRET_KEY", "sk_test_never_logged_51H"),
        ("STRIPE_WEBHOOK_SECRET", SECRET),
        ("STRIPE_API_BASE", "http://127.0.0.1:9"),
    ];
    for args in [
        vec!["--config", config_s.as_str(), "check-config"],
        vec!["--config", config_s.as_str(), "status"],
        vec!["--config", config_s.as_str(), "reconcile"], // API unreachable: an error with its cause chain
    ] {
        let (code, text) = run(&args, &with_secret);
        outputs.push((format!("{args:?} exit {code}"), text));
    }
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[database]\nurl = \"postgres://u:hunter2-db-pass@h/d\"\nmax_connections = \"many\"\n")
        .expect("bad");
    let (code, text) = run(&["--config", bad.to_str().expect("path"), "serve"], &with_secret);
    assert_eq!(code, 2, "{text}");
    outputs.push(("config error".into(), text));
    let (code, text) = run(
        &["serve"],
        &[("DATABASE_URL", "postgres://u:hunter2-db-pass@127.0.0.1:1/d"), ("STRIPE_WEBHOOK_SECRET", SECRET)],
    );
    assert_eq!(code, 1, "unreachable database is a runtime failure: {text}");
    outputs.push(("db unreachable".into(), text));
    for (what, text) in &outputs {
        assert!(!text.is_empty() || what.contains("status"), "{what} said nothing");
        for secret in ["hunter2-db-pass", "sk_test_never_logged_51H", SECRET, "whsec_"] {
            assert!(!text.contains(secret), "{what} wrote {secret}: {text}");
        }
    }
    let serve_log = &outputs[0].1;
    assert!(serve_log.contains("webhook refused"), "one line per rejected webhook: {serve_log}");
    for line in serve_log.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
}

#[test]
fn systemd_unit_verifies_and_rates_ok_offline() {
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not installed here; skipping (Debian: apt-get install systemd)");
        return;
    }
    let scratch = Scratch::new("unit");
    let dir = &scratch.dir;
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/stripe-mirror.service"))
        .expect("unit file");
    // verify checks that ExecStart exists: point it at the binary under test.
    let unit = unit.replace("/usr/local/bin/stripe-mirror", env!("CARGO_BIN_EXE_stripe-mirror"));
    let path = dir.join("stripe-mirror.service");
    std::fs::write(&path, unit).expect("write unit");
    let verify = std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("verify");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    let security = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&path)
        .output()
        .expect("security");
    let text = String::from_utf8_lossy(&security.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).expect("an overall score");
    let score: f64 =
        line.split(':').nth(1).and_then(|r| r.split_whitespace().next()).and_then(|s| s.parse().ok()).expect("score");
    println!("{}", line.trim());
    assert!(score <= 2.0, "exposure {score} (README records 1.1 OK): {line}");
}

#[tokio::test]
async fn metrics_on_their_own_listener_count_outcomes_by_type() {
    let app = TestApp::spawn_with(|c| c.service.metrics_listen = "127.0.0.1:0".into()).await;
    let ev = event("evt_m_1", "customer.created", 1000, customer("cus_m_1", "M"));
    assert_eq!(app.post_event(&ev).await, 200);
    assert_eq!(app.post_event(&ev).await, 200); // a redelivery
    app.drained().await;
    let metrics_addr = app.running.metrics_addr.expect("metrics listener");
    assert_ne!(metrics_addr, app.running.addr);
    let on_main = app.http.get(format!("http://{}/metrics", app.running.addr)).send().await.expect("get");
    assert_eq!(on_main.status(), 404, "metrics are not on the webhook listener when they have their own");
    let text =
        app.http.get(format!("http://{metrics_addr}/metrics")).send().await.expect("get").text().await.expect("text");
    for want in [
        "stripe_mirror_events_total{outcome=\"applied\",type=\"customer.created\"} 1",
        "stripe_mirror_events_total{outcome=\"duplicate\",type=\"customer.created\"} 1",
        "stripe_mirror_webhooks_received_total{result=\"duplicate\"} 1",
        "stripe_mirror_inbox_depth 0",
        "stripe_mirror_last_reconcile_success_timestamp_seconds 0",
        "# TYPE stripe_mirror_apply_batch_seconds histogram",
    ] {
        assert!(text.contains(want), "missing {want}: {text}");
    }
    let ready = app.http.get(format!("http://{metrics_addr}/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), 200);
}

/// A drain that cannot finish (an apply stuck on a lock someone else holds)
/// is abandoned after `service.shutdown_timeout_secs`: the process still
/// exits 0, says so in its log, and the acknowledged events stay in the
/// inbox to be applied by the next start.
#[tokio::test]
async fn a_stuck_drain_is_abandoned_after_the_timeout_and_nothing_acknowledged_is_lost() {
    use sqlx::{Connection, PgConnection};
    let db = fresh_database().await;
    let scratch = Scratch::new("stuck");
    let dir = &scratch.dir;
    let config = dir.join("config.toml");
    std::fs::write(&config, "[service]\nshutdown_timeout_secs = 1\n").expect("config");
    let log_path = dir.join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let config_s = config.to_string_lossy().to_string();
    let port = free_port();
    let mut daemon = Daemon::start_logging(&db, port, &[], &["--config", config_s.as_str()], log.into()).await;
    let mut blocker = PgConnection::connect(&db).await.expect("connect");
    let mut tx = blocker.begin().await.expect("begin");
    sqlx::query("LOCK TABLE stripe.customers IN EXCLUSIVE MODE").execute(&mut *tx).await.expect("lock");
    let http = reqwest::Client::new();
    for i in 0..20 {
        let ev = event(&format!("evt_stuck_{i}"), "customer.created", 1000, customer(&format!("cus_stuck_{i}"), "S"));
        let status = post_signed(&http, &daemon.webhook_url(), serde_json::to_vec(&ev).expect("json")).await;
        assert_eq!(status.expect("post"), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // a worker is now waiting on the lock
    let started = std::time::Instant::now();
    daemon.signal("TERM");
    let exit = daemon.wait_exit(Duration::from_secs(8)).await.expect("exits after the timeout, not never");
    assert!(exit.success(), "{exit:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "the drain was given its second: {:?}", started.elapsed());
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("shutdown timed out"), "{log}");
    tx.rollback().await.expect("unlock");

    let app = TestApp::spawn_with(|c| c.database.url = Some(db.clone().into())).await;
    let pending: i64 = app.scalar("SELECT count(*) FROM stripe_mirror.events WHERE id LIKE 'evt_stuck_%'").await;
    assert_eq!(pending, 20, "every acknowledged event is still in the inbox");
    app.drained().await;
    let applied: i64 = app.scalar("SELECT count(*) FROM stripe.customers WHERE id LIKE 'cus_stuck_%'").await;
    assert_eq!(applied, 20);
}
