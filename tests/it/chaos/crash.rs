//! Scenario 2: `kill -9` of `serve` in the middle of a burst of webhooks
//! (10,000 in long mode). Every event answered 2xx before the kill must be
//! in the inbox when the process is dead (durable before acknowledged);
//! after a restart on the same port the simulator's retries deliver the rest,
//! every event is applied, and after one reconcile the mirror is exact.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use stripe_sim::{CustomerParams, DeliveryFaults, Kind, Sim, SimConfig};

use super::*;
use crate::helpers::{fresh_database, SECRET};

/// Dashboard activity producing about `events` events at once: customers
/// created, then renamed, a few deleted. Returns the events emitted.
pub fn burst(sim: &Sim, events: usize) -> usize {
    let before = sim.events().len();
    let creates = events * 9 / 20;
    let ids: Vec<String> = (0..creates)
        .map(|i| {
            let c = sim.create_customer(CustomerParams::email(format!("burst{i}@example.com"))).expect("create");
            c["id"].as_str().expect("id").to_string()
        })
        .collect();
    for (i, id) in ids.iter().enumerate() {
        sim.update(Kind::Customer, id, json!({"name": format!("Burst {i}")})).expect("update");
    }
    let remaining = events.saturating_sub(2 * creates);
    for id in ids.iter().take(remaining) {
        sim.delete(Kind::Customer, id).expect("delete");
    }
    sim.events().len() - before
}

/// Deliveries as Stripe makes them: several at once, retried with backoff
/// (up to 2 s apart) for long enough to outlast a restart or an outage.
pub fn stripe_like_delivery() -> DeliveryFaults {
    DeliveryFaults {
        concurrency: 16,
        max_attempts: 60,
        initial_backoff_ms: 50,
        max_backoff_ms: 2_000,
        ..DeliveryFaults::default()
    }
}

/// Waits until the simulator has had `n` deliveries answered 2xx.
pub async fn until_delivered(sim: &Sim, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while sim.delivery_stats().delivered < n {
        assert!(Instant::now() < deadline, "deliveries stalled: {:?}", sim.delivery_stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many of `ids` the inbox holds.
pub async fn in_inbox(pool: &PgPool, ids: &[String]) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE id = ANY($1)")
        .bind(ids)
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_acknowledged_event() {
    let _serial = serial().await;
    let started = Instant::now();
    let scratch = Scratch::new("chaos-crash");
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let db = fresh_database().await;
    let settings = Settings::new(&db, Some(&sim));
    let mut daemon = settings.serve(&scratch, "serve", 0).await;
    let port = daemon.port;
    let pool = PgPool::connect(&db).await.expect("connect");
    sim.update_faults(|f| f.delivery = stripe_like_delivery());
    sim.record_deliveries(true);
    sim.add_webhook_endpoint(daemon.webhook_url(), vec![SECRET.to_string()]);

    let events = burst(&sim, size(5_000, 10_000));
    until_delivered(&sim, events as u64 * 4 / 10).await;
    let kill_at = started.elapsed();
    daemon.signal("KILL");
    let status = daemon.wait_exit(Duration::from_secs(10)).await.expect("kill -9 ends the process");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status:?}");
    let log = sim.delivery_log();
    let acked: HashSet<String> = log.iter().filter(|r| r.acknowledged()).map(|r| r.event.clone()).collect();
    let acked: Vec<String> = acked.into_iter().collect();
    let stored_when_dead = in_inbox(&pool, &acked).await;
    let inbox_when_dead = Inbox::read(&pool).await;
    assert_eq!(stored_when_dead, acked.len() as i64, "every event answered 2xx before kill -9 is in the inbox");

    let restarted = settings.serve(&scratch, "serve_restarted", port).await;
    sim.wait_idle(Duration::from_secs(180)).await.expect("deliveries finish");
    let after_restart = drained(&pool, Duration::from_secs(180)).await;
    let all: Vec<String> = sim.events().iter().filter_map(|e| e["id"].as_str().map(str::to_string)).collect();
    assert_eq!(in_inbox(&pool, &all).await, all.len() as i64, "no event lost");
    let (_, reconcile_took) = settings.cli(&scratch, &["reconcile", "--full"]).await;
    let inbox = drained(&pool, Duration::from_secs(60)).await;
    let compared = assert_mirror_exact(&pool, &sim).await;
    let stats = sim.delivery_stats();
    let refused = sim.delivery_log().iter().filter(|r| r.status.is_none()).count();
    println!(
        "chaos crash: {events} events in the burst; kill -9 at {:.1} s after {} events answered 2xx \
         (all {stored_when_dead} in the inbox when the process was dead; inbox then {inbox_when_dead:?}); \
         deliveries: {} attempted, {} answered 2xx, {} retried, {refused} unanswered (connection refused/reset); \
         after restart {after_restart:?}; after reconcile {inbox:?}; {compared} rows compared; \
         reconcile {:.1} s, total {:.1} s",
        kill_at.as_secs_f64(),
        acked.len(),
        stats.attempted,
        stats.delivered,
        stats.retried,
        reconcile_took.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    assert!(refused > 0, "the kill interrupted deliveries");
    assert_eq!(inbox.failed, 0);
    assert_eq!(inbox.processed(), inbox.total, "every stored event is applied");
    drop(restarted);
    sim.shutdown().await;
}
