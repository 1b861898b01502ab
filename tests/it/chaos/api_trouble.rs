//! Scenario 4: `stripe-mirror backfill` and `stripe-mirror reconcile --full`
//! (the real binary) against an API that answers 20% of calls 429 and 5%
//! 500, and that stops answering for a window (10 s; the client times out
//! and retries). Both finish, the mirror is exact, and the simulator never
//! saw more requests in any one-second window than the configured rate.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use stripe_sim::{
    CustomerParams, InvoiceParams, Kind, PriceParams, ProductParams, SeedSpec, Sim, SimConfig, SubscriptionParams,
};

use super::*;
use crate::helpers::fresh_database;

const RATE: u32 = 25;

fn troubled(sim: &Sim) {
    sim.update_faults(|f| {
        f.api.rate_limit_fraction = 0.20;
        f.api.server_error_fraction = 0.05;
        f.api.retry_after_secs = 1;
    });
}

/// Opens a window of hanging requests `after` from now, for `length`.
fn hang_later(sim: &Sim, after: Duration, length: Duration) -> tokio::task::JoinHandle<Instant> {
    let sim = sim.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        sim.update_faults(|f| f.api.hang_for(length));
        Instant::now()
    })
}

/// A big-enough account: seeded lists of several pages each, one
/// subscription with 120 items and one invoice with 120 lines.
fn account(sim: &Sim) {
    sim.seed(&SeedSpec {
        products: 20,
        prices_per_product: 3,
        customers: size(2_000, 10_000),
        subscriptions: size(600, 3_000),
        invoices: size(600, 3_000),
        canceled_fraction: 0.2,
        ..SeedSpec::small()
    });
    let product = sim.create_product(ProductParams::named("Seats")).expect("product");
    let pid = product["id"].as_str().expect("id");
    let prices: Vec<String> = (0..120)
        .map(|i| {
            sim.create_price(PriceParams::monthly(pid, 100 + i)).expect("price")["id"].as_str().expect("id").to_string()
        })
        .collect();
    let cus = sim.create_customer(CustomerParams::email("seats@example.com")).expect("customer");
    let cid = cus["id"].as_str().expect("id");
    let items: Vec<(&str, u64)> = prices.iter().map(|p| (p.as_str(), 1)).collect();
    sim.create_subscription(SubscriptionParams::new(cid, &items)).expect("subscription");
    let lines: Vec<&str> = prices.iter().map(String::as_str).collect();
    sim.create_invoice(InvoiceParams::new(cid, &lines)).expect("invoice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_and_reconcile_finish_through_429s_500s_and_timeouts_within_the_rate_limit() {
    let _serial = serial().await;
    let started = Instant::now();
    let scratch = Scratch::new("chaos-api");
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    account(&sim);
    let db = fresh_database().await;
    let mut settings = Settings::new(&db, Some(&sim));
    settings.requests_per_second = RATE;
    settings.timeout_secs = 2;
    settings.max_retries = 12;
    // Not payment methods: Stripe lists them one customer at a time, 2,000
    // listings here, and an injected storm of 20% `global-concurrency` 429s
    // holds the client at its slowest, an eighth of its rate (~10 minutes
    // for them). The storm is what this scenario tests; the other
    // seventeen types are listed through it.
    let all = stripe_mirror::registry::TypeSet::ALL.tables();
    settings.objects = Some(all.iter().filter(|t| **t != "payment_methods").map(|t| t.to_string()).collect());
    let pool = PgPool::connect(&db).await.expect("connect");

    troubled(&sim);
    let hang = Duration::from_secs(10);
    let window = hang_later(&sim, Duration::from_secs(2), hang);
    let (backfill_out, backfill_took) = settings.cli(&scratch, &["backfill"]).await;
    let backfill_end = Instant::now();
    let hang_started = window.await.expect("hang window");
    let backfill_stats = sim.request_stats();
    assert!(hang_started < backfill_end, "the window opened during the backfill");
    assert!(backfill_took > hang, "the backfill waited the window out ({backfill_took:?})");
    let backfill_compared = assert_mirror_exact(&pool, &sim).await;

    // Changes nobody is told about (no webhook endpoint): reconcile must find them.
    sim.set_faults(Default::default());
    let customers: Vec<String> =
        sim.snapshot(Kind::Customer).into_iter().filter(|r| !r.deleted).map(|r| r.id).take(60).collect();
    for (i, id) in customers.iter().enumerate() {
        match i % 3 {
            0 => drop(sim.delete(Kind::Customer, id).expect("delete")),
            _ => drop(sim.update(Kind::Customer, id, json!({"name": format!("Renamed {i}")})).expect("update")),
        }
    }
    for i in 0..30 {
        sim.create_customer(CustomerParams::email(format!("late{i}@example.com"))).expect("create");
    }
    sim.reset_stats();
    troubled(&sim);
    let reconcile_hang = Duration::from_secs(size(5, 10) as u64);
    let window = hang_later(&sim, Duration::from_secs(1), reconcile_hang);
    let (reconcile_out, reconcile_took) = settings.cli(&scratch, &["reconcile", "--full"]).await;
    window.await.expect("hang window");
    let reconcile_stats = sim.request_stats();
    sim.set_faults(Default::default());
    // A daemon applies what the events catch-up put in the inbox. Started
    // only now: its own API calls (a subscription's items past the ten
    // embedded) would add to the reconcile's in the simulator's count, and
    // `stripe.requests_per_second` is a per-process limit.
    let daemon = settings.serve(&scratch, "serve", 0).await;
    let inbox = drained(&pool, Duration::from_secs(60)).await;
    let compared = assert_mirror_exact(&pool, &sim).await;

    for (name, stats, took) in
        [("backfill", &backfill_stats, backfill_took), ("reconcile --full", &reconcile_stats, reconcile_took)]
    {
        println!(
            "chaos api {name}: {:.1} s, {} requests ({} answered 429, {} answered 500, {} 200), \
             peak {} requests in one second (limit {RATE}/s)",
            took.as_secs_f64(),
            stats.total,
            stats.count_status(429),
            stats.count_status(500),
            stats.count_status(200),
            stats.peak_per_second,
        );
        println!("  by route and status: {:?}", stats.by_route);
        assert!(stats.count_status(429) > 0, "{name}: the faults happened");
        assert!(
            stats.peak_per_second <= RATE,
            "{name}: {} requests in one second, over {RATE}/s",
            stats.peak_per_second
        );
    }
    println!("backfill:\n{backfill_out}\nreconcile --full:\n{reconcile_out}");
    // The 500s (4% of ~140 requests in CI mode) are reported, not required:
    // none at all happens 1 time in 300, and the 429s already prove the
    // retry path; the client treats both alike.
    println!(
        "chaos api: {backfill_compared} rows exact after backfill, {compared} after reconcile; inbox {inbox:?}; total {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(reconcile_took > reconcile_hang, "the reconcile waited its window out ({reconcile_took:?})");
    drop(daemon);
    sim.shutdown().await;
}
