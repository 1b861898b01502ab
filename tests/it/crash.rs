//! Durable before acknowledged: events answered 2xx survive a `kill -9` of
//! the real binary and are applied after restart.

use sqlx::{Connection, PgConnection};

use crate::daemon::{free_port, post_signed, Daemon};
use crate::helpers::*;

#[tokio::test]
async fn acknowledged_events_survive_kill_9_and_are_applied_after_restart() {
    let db = fresh_database().await;
    let port = free_port();
    let mut daemon = Daemon::start(&db, port, &[]).await;
    let app = TestApp::spawn_with(|c| c.database.url = Some(db.clone().into())).await;
    app.running.shutdown.cancel(); // only its helpers and pool are used; the child process serves
    let url = daemon.webhook_url();
    // Hold the customers table so the workers cannot apply anything yet.
    let mut blocker = PgConnection::connect(&db).await.unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("LOCK TABLE stripe.customers IN EXCLUSIVE MODE").execute(&mut *tx).await.unwrap();
    let mut acked = 0;
    for i in 0..50 {
        let ev = event(&format!("evt_crash_{i}"), "customer.created", 1000, customer(&format!("cus_crash_{i}"), "C"));
        let status = post_signed(&app.http, &url, serde_json::to_vec(&ev).unwrap()).await.unwrap();
        assert_eq!(status, 200);
        acked += 1;
    }
    daemon.kill();
    tx.rollback().await.unwrap();
    let applied_before: i64 = app.scalar("SELECT count(*) FROM stripe.customers").await;
    assert_eq!(applied_before, 0, "nothing was applied while the table was locked");
    let _daemon = Daemon::start(&db, port, &[]).await;
    app.drained().await;
    let applied: i64 = app.scalar("SELECT count(*) FROM stripe.customers WHERE id LIKE 'cus_crash_%'").await;
    assert_eq!(applied, acked);
}

/// Applies commit without waiting for the disk (`db::begin_replayable`);
/// acknowledgements do wait. A Postgres crash right after the last apply may
/// lose applies, never acknowledged events: after recovery every
/// acknowledged event is in the inbox and, once the workers are done,
/// applied.
#[tokio::test]
async fn a_postgres_crash_loses_no_acknowledged_event_and_lost_applies_are_redone() {
    let pg = stripe_mirror::tools::pglocal::start(true).await.expect("a Postgres cluster of our own");
    let db = stripe_mirror::tools::pglocal::create_database(&pg.url, "pgcrash").await.expect("create database");
    let port = free_port();
    let daemon = Daemon::start(&db, port, &[]).await;
    let http = reqwest::Client::new();
    let n = 300;
    for i in 0..n {
        let ev =
            event(&format!("evt_pgcrash_{i}"), "customer.created", 1000, customer(&format!("cus_pgcrash_{i}"), "P"));
        let status = post_signed(&http, &daemon.webhook_url(), serde_json::to_vec(&ev).unwrap()).await.unwrap();
        assert_eq!(status, 200);
    }
    // Crash as soon as the last apply is visible: its commit is not flushed yet.
    let mut conn = PgConnection::connect(&db).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE status = 'pending'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if pending == 0 || std::time::Instant::now() > deadline {
            break;
        }
    }
    drop(conn);
    pg.crash().expect("crash postgres");
    pg.start_again().await.expect("recover");

    let mut conn = PgConnection::connect(&db).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE id LIKE 'evt_pgcrash_%'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, n, "every acknowledged event survived the crash");
    let redone: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stripe_mirror.events WHERE id LIKE 'evt_pgcrash_%' AND status = 'pending'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    println!("postgres crash: {n} acknowledged, {stored} in the inbox after recovery, {redone} applies undone by it");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let applied = loop {
        let applied: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM stripe_mirror.events e JOIN stripe.customers c ON c.id = e.object_id
             WHERE e.id LIKE 'evt_pgcrash_%' AND e.status = 'applied'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if applied == n || std::time::Instant::now() > deadline {
            break applied;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(applied, n, "the daemon reconnected and applied whatever the crash undid");
    drop(daemon);
}

/// Backfill pages commit without waiting for the disk too, each in one
/// transaction with its checkpoint. A Postgres crash mid-backfill may lose
/// the last pages, never a checkpoint without its page: after recovery the
/// checkpoint names a row that is there, and `backfill` resumes from it to
/// an exact mirror.
#[tokio::test]
async fn a_postgres_crash_mid_backfill_keeps_each_checkpoint_with_its_page_and_the_resume_is_exact() {
    let pg = stripe_mirror::tools::pglocal::start(true).await.expect("a Postgres cluster of our own");
    let db = stripe_mirror::tools::pglocal::create_database(&pg.url, "bfcrash").await.expect("create database");
    let s = SimApp::spawn_with(
        |c| {
            c.database.url = Some(db.clone().into());
            c.stripe.list_windows = 1;
            // 20 ms a page: the crash lands while customer pages are still
            // being written (10 of 30 are when it is triggered).
            c.stripe.requests_per_second = 50;
        },
        false,
    )
    .await;
    s.sim.seed(&stripe_sim::SeedSpec { customers: 3_000, ..stripe_sim::SeedSpec::small() });
    let puller = s.puller();
    let running = tokio::spawn(async move {
        stripe_mirror::pull::jobs::backfill(&puller, false, std::sync::Arc::new(|_, _| {})).await
    });
    let mut conn = PgConnection::connect(&db).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut written = 0;
    while written < 1_000 && std::time::Instant::now() < deadline {
        written = sqlx::query_scalar("SELECT count(*) FROM stripe.customers").fetch_one(&mut conn).await.unwrap();
    }
    drop(conn);
    pg.crash().expect("crash postgres");
    // A page writer that fails must stop its list's fetcher too (it once
    // waited forever to hand over its next page, and the run never ended).
    let interrupted = tokio::time::timeout(std::time::Duration::from_secs(30), running)
        .await
        .expect("the backfill ends when its database goes away")
        .expect("the backfill task ends");
    assert!(interrupted.is_err(), "the backfill noticed its database went away");
    pg.start_again().await.expect("recover");

    let mut conn = PgConnection::connect(&db).await.unwrap();
    let after: Option<String> =
        sqlx::query_scalar("SELECT value FROM stripe_mirror.cursors WHERE name = 'backfill:customer:'")
            .fetch_optional(&mut conn)
            .await
            .unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe.customers").fetch_one(&mut conn).await.unwrap();
    println!(
        "postgres crash mid-backfill: {written} customers seen written, {kept} after recovery, checkpoint {after:?}"
    );
    // A checkpoint is `{"after": {"id": …, "created": …}}` or `{"done": true}`.
    let id = after
        .as_deref()
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|v| v["after"]["id"].as_str().map(str::to_string));
    if let Some(id) = id {
        let page_there: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe.customers WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(page_there, 1, "the checkpoint {id} survived with the page that ends with it");
    }
    assert!(written - kept < 1_000, "the crash lost at most the last pages ({written} seen, {kept} kept)");
    // Pooled connections idle over a second are checked before use, so the
    // resume gets live ones.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    s.backfill().await;
    s.assert_mirror_exact().await;
}

/// Records, inside each transaction that inserts into the inbox, the
/// `synchronous_commit` that transaction will commit with.
const OBSERVE_ACK_COMMITS: &str = "
    CREATE TABLE public.ack_commit_setting (setting text NOT NULL);
    CREATE FUNCTION public.observe_ack_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO public.ack_commit_setting VALUES (current_setting('synchronous_commit'));
      RETURN NULL;
    END $$;
    CREATE TRIGGER observe_ack_commit AFTER INSERT ON stripe_mirror.events
      FOR EACH STATEMENT EXECUTE FUNCTION public.observe_ack_commit();";

/// Managed Postgres is often tuned with `synchronous_commit = off` for the
/// role or the database. The acknowledgement must not inherit it: the
/// transaction that stores a webhook commits with `synchronous_commit = on`.
#[tokio::test]
async fn the_ack_commits_synchronously_when_the_database_default_is_off() {
    let db = fresh_database().await;
    let mut admin = PgConnection::connect(&db).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&mut admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off")))
        .execute(&mut admin)
        .await
        .unwrap();
    let app = TestApp::spawn_with(|c| c.database.url = Some(db.clone().into())).await;
    let default: String = app.scalar("SHOW synchronous_commit").await;
    assert_eq!(default, "off", "the daemon's sessions inherit the database default");
    sqlx::raw_sql(OBSERVE_ACK_COMMITS).execute(&mut admin).await.unwrap();
    for i in 0..20 {
        let ev = event(&format!("evt_sync_{i}"), "customer.created", 1000, customer(&format!("cus_sync_{i}"), "S"));
        assert_eq!(app.post_event(&ev).await, 200);
    }
    let seen: Vec<String> =
        sqlx::query_scalar("SELECT setting FROM public.ack_commit_setting").fetch_all(&mut admin).await.unwrap();
    assert!(!seen.is_empty(), "the inbox inserts were observed");
    assert!(seen.iter().all(|s| s == "on"), "acknowledgements committed with synchronous_commit {seen:?}");
}

/// The same default, and a Postgres crash right after the last
/// acknowledgement: every acknowledged event is in the inbox after recovery.
#[tokio::test]
async fn a_postgres_crash_loses_no_acknowledged_event_when_the_role_default_is_asynchronous() {
    let pg = stripe_mirror::tools::pglocal::start(true).await.expect("a Postgres cluster of our own");
    let mut admin = PgConnection::connect(&pg.url).await.unwrap();
    sqlx::query("ALTER ROLE postgres SET synchronous_commit = off").execute(&mut admin).await.unwrap();
    drop(admin);
    let db = stripe_mirror::tools::pglocal::create_database(&pg.url, "asyncrole").await.expect("create database");
    let app = TestApp::spawn_with(|c| c.database.url = Some(db.clone().into())).await;
    let default: String = app.scalar("SHOW synchronous_commit").await;
    assert_eq!(default, "off", "the daemon's sessions inherit the role default");
    // Several senders, so acknowledgements keep landing up to the crash.
    let n = 400;
    let mut senders = Vec::new();
    for s in 0..8 {
        let (http, url) = (app.http.clone(), app.url.clone());
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in (s..n).step_by(8) {
                let id = format!("evt_asyncrole_{i}");
                let ev = event(&id, "customer.created", 1000, customer(&format!("cus_asyncrole_{i}"), "A"));
                if matches!(post_signed(&http, &url, serde_json::to_vec(&ev).unwrap()).await, Ok(200)) {
                    acked.push(id);
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    pg.crash().expect("crash postgres");
    app.running.shutdown.cancel();
    pg.start_again().await.expect("recover");
    let mut conn = PgConnection::connect(&db).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM stripe_mirror.events WHERE id = ANY($1)")
        .bind(&acked)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(acked.len(), n, "every event was acknowledged before the crash");
    assert_eq!(stored.len(), acked.len(), "acknowledged events lost in the crash");
}
