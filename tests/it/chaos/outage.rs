//! Scenario 3: Postgres stopped for 10 s in the middle of a burst. The test
//! owns its cluster (`pglocal::start`, then `stop`/`start_again` on the same
//! port and data directory). While it is down webhooks are answered 503 and
//! the simulator retries as Stripe does; afterwards no event is lost, the
//! workers are not stuck (new events are applied promptly), `/readyz` is
//! green again, and after one reconcile the mirror is exact.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use stripe_mirror::tools::pglocal;
use stripe_sim::{CustomerParams, Sim, SimConfig};

use super::crash::{burst, in_inbox, stripe_like_delivery, until_delivered};
use super::*;
use crate::helpers::SECRET;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_10_s_mid_burst_loses_nothing_and_nothing_stays_stuck() {
    let _serial = serial().await;
    let started = Instant::now();
    let scratch = Scratch::new("chaos-outage");
    let pg = pglocal::start(false).await.expect("a Postgres cluster of our own (server binaries installed)");
    let db = pglocal::create_database(&pg.url, "outage").await.expect("create database");
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let settings = Settings::new(&db, Some(&sim));
    let daemon = settings.serve(&scratch, "serve", 0).await;
    sim.update_faults(|f| f.delivery = stripe_like_delivery());
    sim.record_deliveries(true);
    sim.add_webhook_endpoint(daemon.webhook_url(), vec![SECRET.to_string()]);

    let events = burst(&sim, size(3_000, 10_000));
    until_delivered(&sim, events as u64 * 3 / 10).await;
    let down_at = started.elapsed();
    pg.stop().expect("stop postgres");
    let stopped_in = started.elapsed() - down_at;
    let outage = Duration::from_secs(10);
    tokio::time::sleep(outage).await;
    let delivered_while_down = sim.delivery_stats().delivered;
    let http = reqwest::Client::new();
    // Answered after the pool's 5 s acquire timeout: the outage lasts ~15 s.
    let ready_while_down = http.get(daemon.http("/readyz")).send().await.expect("readyz").status().as_u16();
    let restart_at = started.elapsed();
    pg.start_again().await.expect("start postgres again");
    let up_at = started.elapsed();

    sim.wait_idle(Duration::from_secs(180)).await.expect("deliveries finish");
    let pool = PgPool::connect(&db).await.expect("connect");
    let after = drained(&pool, Duration::from_secs(120)).await;
    let all: Vec<String> = sim.events().iter().filter_map(|e| e["id"].as_str().map(str::to_string)).collect();
    assert_eq!(in_inbox(&pool, &all).await, all.len() as i64, "no event lost");
    let log = sim.delivery_log();
    let answered_503 = log.iter().filter(|r| r.status == Some(503)).count();
    let unanswered = log.iter().filter(|r| r.status.is_none()).count();
    let other: Vec<_> =
        log.iter().filter(|r| !r.acknowledged() && r.status.is_some_and(|s| s != 503)).take(5).collect();

    // Not stuck: new events are stored and applied within seconds.
    let probe_started = Instant::now();
    let probes: Vec<String> = (0..50)
        .map(|i| {
            let c = sim.create_customer(CustomerParams::email(format!("after{i}@example.com"))).expect("create");
            c["id"].as_str().expect("id").to_string()
        })
        .collect();
    sim.wait_idle(Duration::from_secs(30)).await.expect("probe deliveries");
    drained(&pool, Duration::from_secs(10)).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe.customers WHERE id = ANY($1)")
        .bind(&probes)
        .fetch_one(&pool)
        .await
        .expect("count");
    let probe_took = probe_started.elapsed();
    assert_eq!(applied, 50, "the workers apply new events after the outage");
    let ready_after = http.get(daemon.http("/readyz")).send().await.expect("readyz").status().as_u16();

    let (_, reconcile_took) = settings.cli(&scratch, &["reconcile", "--full"]).await;
    let inbox = drained(&pool, Duration::from_secs(60)).await;
    let compared = assert_mirror_exact(&pool, &sim).await;
    let stats = sim.delivery_stats();
    println!(
        "chaos outage: {events} events in the burst; Postgres stopped at {:.1} s (took {:.1} s), \
         started again at {:.1} s (took {:.1} s): down {:.1} s \
         ({delivered_while_down} answered 2xx before/while down); {answered_503} attempts answered 503, \
         {unanswered} unanswered, other non-2xx {other:?}; deliveries {} attempted, {} retried, {} given up; \
         /readyz {ready_while_down} while down, {ready_after} after; inbox after {after:?}; \
         50 new events applied {:.2} s after the outage; after reconcile {inbox:?}; {compared} rows compared; \
         reconcile {:.1} s, total {:.1} s",
        down_at.as_secs_f64(),
        stopped_in.as_secs_f64(),
        restart_at.as_secs_f64(),
        (up_at - restart_at).as_secs_f64(),
        (up_at - down_at).as_secs_f64(),
        stats.attempted,
        stats.retried,
        stats.failed,
        probe_took.as_secs_f64(),
        reconcile_took.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    assert!(answered_503 > 0, "webhooks were answered 503 while the database was down");
    assert!(other.is_empty(), "only 503 (or no answer) while down: {other:?}");
    assert_eq!(stats.failed, 0, "no delivery was given up");
    assert_eq!(ready_while_down, 503);
    assert_eq!(ready_after, 200);
    assert_eq!(inbox.failed, 0, "{inbox:?}");
    drop(daemon);
    sim.shutdown().await;
}
