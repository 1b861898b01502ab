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
    let dir = std::env::temp_dir().join(format!("sm-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
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
    let _ = std::fs::remove_dir_all(&dir);
}
