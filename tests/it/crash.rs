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
