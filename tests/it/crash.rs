//! Durable before acknowledged: events answered 2xx survive a `kill -9` of
//! the real binary and are applied after restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::helpers::*;

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_daemon(db: &str, port: u16) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_stripe-mirror"))
        .arg("serve")
        .env("DATABASE_URL", db)
        .env("STRIPE_WEBHOOK_SECRET", SECRET)
        .env("STRIPE_MIRROR_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn stripe-mirror serve");
    let daemon = Daemon(child);
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok() {
            return daemon;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("daemon did not start");
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9_and_are_applied_after_restart() {
    let db = fresh_database().await;
    let port = free_port();
    let mut daemon = start_daemon(&db, port).await;
    let app = TestApp::spawn_with(|c| c.database.url = Some(db.clone().into())).await;
    app.running.shutdown.cancel(); // only its helpers and pool are used; the child process serves
    let url = format!("http://127.0.0.1:{port}/webhooks/stripe");
    // Hold the customers table so the workers cannot apply anything yet.
    let mut blocker = PgConnection::connect(&db).await.unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("LOCK TABLE stripe.customers IN EXCLUSIVE MODE").execute(&mut *tx).await.unwrap();
    let mut acked = 0;
    for i in 0..50 {
        let ev = event(&format!("evt_crash_{i}"), "customer.created", 1000, customer(&format!("cus_crash_{i}"), "C"));
        let body = serde_json::to_vec(&ev).unwrap();
        let t = chrono::Utc::now().timestamp();
        let header = format!("t={t},v1={}", stripe_mirror::signature::sign(SECRET, t, &body));
        let status = app.http.post(&url).header("stripe-signature", header).body(body).send().await.unwrap().status();
        assert_eq!(status, 200);
        acked += 1;
    }
    daemon.0.kill().expect("kill -9");
    let _ = daemon.0.wait();
    tx.rollback().await.unwrap();
    let applied_before: i64 = app.scalar("SELECT count(*) FROM stripe.customers").await;
    assert_eq!(applied_before, 0, "nothing was applied while the table was locked");
    let _daemon = start_daemon(&db, port).await;
    app.drained().await;
    let applied: i64 = app.scalar("SELECT count(*) FROM stripe.customers WHERE id LIKE 'cus_crash_%'").await;
    assert_eq!(applied, acked);
}
