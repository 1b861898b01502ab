//! Scenarios 1 and 6: a scripted account history (every mirrored type, the
//! payment-side kinds included) delivered with 30% of webhooks dropped, 20%
//! duplicated and shuffled within 5-second windows of event time (many
//! events per second), then one `stripe-mirror reconcile --full`: the
//! mirror must be exact, every table compared. Scenario 6 does the same with two
//! `serve` replicas on one database, each behind its own webhook endpoint
//! (every event reaches both, with independent faults), and checks through
//! the inbox and both replicas' counters that no event was applied twice.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use stripe_sim::{DeliveryFaults, HistorySpec, Sim, SimConfig};

use super::*;
use crate::helpers::{fresh_database, SECRET};

fn lossy_delivery() -> DeliveryFaults {
    DeliveryFaults {
        drop_fraction: 0.30,
        duplicate_fraction: 0.20,
        reorder_window_secs: 5,
        // The last window goes out after this (real) time.
        reorder_window_ms: 1_500,
        concurrency: 8,
        max_attempts: 30,
        ..DeliveryFaults::default()
    }
}

async fn run(replicas: usize) {
    let _serial = serial().await;
    let started = Instant::now();
    let scratch = Scratch::new(&format!("chaos-lossy{replicas}"));
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let db = fresh_database().await;
    let settings = Settings::new(&db, Some(&sim));
    let mut daemons = Vec::new();
    for r in 0..replicas {
        let daemon = settings.serve(&scratch, &format!("serve{r}"), 0).await;
        sim.add_webhook_endpoint(daemon.webhook_url(), vec![SECRET.to_string()]);
        daemons.push(daemon);
    }
    let pool = PgPool::connect(&db).await.expect("connect");
    sim.update_faults(|f| f.delivery = lossy_delivery());
    sim.record_deliveries(true);

    let spec = HistorySpec { mutations: size(2_000, 10_000), ..HistorySpec::default() };
    let history = sim.play_history(&spec).await.expect("history plays");
    let played = started.elapsed();
    sim.wait_idle(Duration::from_secs(120)).await.expect("deliveries finish");
    let after_webhooks = drained(&pool, Duration::from_secs(120)).await;
    let delivered_at = started.elapsed();
    let stats = sim.delivery_stats();
    let log = sim.delivery_log();
    let events = sim.events().len();
    let acked = log.iter().filter(|r| r.acknowledged()).count();
    let non_2xx: Vec<_> = log.iter().filter(|r| !r.acknowledged()).take(5).collect();

    let (summary, reconcile_took) = settings.cli(&scratch, &["reconcile", "--full"]).await;
    let inbox = drained(&pool, Duration::from_secs(120)).await;
    let compared = assert_mirror_exact(&pool, &sim).await;

    println!(
        "chaos lossy x{replicas}: {} mutations ({} refused) over {} simulated s, {events} events, \
         {} endpoint(s); deliveries: {} attempted, {} dropped, {} duplicated, {} retried, {acked} answered 2xx; \
         inbox after webhooks {after_webhooks:?}; after reconcile {inbox:?}; {compared} rows compared; \
         played in {:.1} s, delivered+applied by {:.1} s, reconcile {:.1} s, total {:.1} s",
        history.mutations,
        history.refused,
        history.last_second - history.first_second,
        replicas,
        stats.attempted,
        stats.dropped,
        stats.duplicated,
        stats.retried,
        played.as_secs_f64(),
        delivered_at.as_secs_f64(),
        reconcile_took.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    println!(
        "events whose first apply attempt was rolled back (deadlock victims) and retried: {}",
        inbox.attempts_not_one
    );
    println!("reconcile --full:\n{summary}");
    println!("logged: {}", log_summary(&scratch));
    println!("actions: {:?}", history.by_action);
    let rows = table_rows(&pool).await;
    println!("mirrored rows: {rows:?}");
    assert!(history.mutations >= 2_000);
    // The history reached the payment-side kinds, and so did the comparison.
    for action in [
        "coupon.custom",
        "coupon.delete",
        "promotion_code.update",
        "tax_rate.update",
        "invoice_item.delete",
        "credit_note.void",
        "subscription_schedule.release",
        "payment_intent.succeed",
        "payment_intent.cancel",
        "refund.create",
        "dispute.create",
        "payment_method.detach",
        "setup_intent.confirm",
        "checkout.complete",
        "checkout.expire",
    ] {
        assert!(history.by_action.get(action).is_some_and(|n| *n > 0), "no {action}: {:?}", history.by_action);
    }
    let empty: Vec<_> = rows.iter().filter(|(_, n)| *n == 0).collect();
    assert!(empty.is_empty(), "mirrored tables left empty by the history: {empty:?}");
    assert!(stats.dropped > 0 && stats.duplicated > 0, "the faults happened: {stats:?}");
    assert_eq!(stats.failed, 0, "every delivery not dropped was eventually answered 2xx");
    assert!(non_2xx.is_empty(), "every attempt was answered 2xx: {non_2xx:?}");
    assert_eq!(inbox.failed, 0, "{inbox:?}");
    // Workers lock the objects of a batch in one order: no deadlock victim.
    assert_eq!(inbox.attempts_not_one, 0, "events were retried: {}", log_summary(&scratch));
    assert_eq!(after_webhooks.from_events_api, 0, "before reconcile, everything came by webhook");
    assert_eq!(after_webhooks.from_webhooks, after_webhooks.total);
    // Each event is in the inbox once (its primary key) and was finished
    // exactly once: the replicas' counters of finished events add up to the
    // inbox rows. (`attempts_not_one` counts events whose first attempt was
    // rolled back, e.g. a deadlock victim, and retried: not applied twice.)
    {
        let mut processed = 0;
        for d in &daemons {
            let text = metrics_of(d).await;
            let n: u64 = ["applied", "stale", "ignored"]
                .iter()
                .map(|o| metric_sum(&text, "stripe_mirror_events_total", &[&format!("outcome=\"{o}\"")]))
                .sum();
            println!("replica :{} processed {n} events", d.port);
            assert!(replicas == 1 || n > 0, "replica :{} applied nothing", d.port);
            processed += n;
        }
        assert_eq!(processed as i64, inbox.processed(), "events processed by the replicas vs inbox rows");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn lossy_duplicated_reordered_delivery_then_one_reconcile_leaves_the_mirror_exact() {
    run(1).await;
}

#[tokio::test]
async fn two_replicas_under_lossy_delivery_apply_each_event_once_and_end_exact() {
    run(2).await;
}
