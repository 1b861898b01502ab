//! The pull path against the Stripe simulator: backfill, resume, events
//! catch-up, full sweep, ties, errors, and the advisory lock.

use serde_json::json;
use stripe_sim::{CustomerParams, InvoiceParams, Kind, PriceParams, ProductParams, SeedSpec, SubscriptionParams};

use crate::helpers::*;

/// A seeded account plus one subscription with 250 items and one invoice
/// with 250 lines (Stripe embeds 10 of each).
fn seed_account(sim: &stripe_sim::Sim) -> (String, String) {
    let spec =
        SeedSpec { customers: 300, subscriptions: 200, invoices: 200, canceled_fraction: 0.25, ..SeedSpec::small() };
    sim.seed(&spec);
    let product = sim.create_product(ProductParams::named("Big")).unwrap();
    let product_id = product["id"].as_str().unwrap().to_string();
    let prices: Vec<String> = (0..250)
        .map(|i| {
            sim.create_price(PriceParams::monthly(&product_id, 100 + i)).unwrap()["id"].as_str().unwrap().to_string()
        })
        .collect();
    let customer = sim.create_customer(CustomerParams::email("big@example.com")).unwrap();
    let cus = customer["id"].as_str().unwrap();
    let items: Vec<(&str, u64)> = prices.iter().map(|p| (p.as_str(), 1)).collect();
    let sub = sim.create_subscription(SubscriptionParams::new(cus, &items)).unwrap();
    let line_prices: Vec<&str> = prices.iter().map(String::as_str).collect();
    let invoice = sim.create_invoice(InvoiceParams::new(cus, &line_prices)).unwrap();
    (sub["id"].as_str().unwrap().to_string(), invoice["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn backfill_mirrors_the_whole_account_including_canceled_inactive_and_long_lists() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let (sub, invoice) = seed_account(&s.sim);
    let summary = s.backfill().await;
    assert!(summary.per_kind["customer"].inserted > 300);
    let compared = s.assert_mirror_exact().await;
    assert!(compared > 2000, "compared {compared}");
    let items: i64 =
        s.app.scalar(&format!("SELECT count(*) FROM stripe.subscription_items WHERE subscription = '{sub}'")).await;
    let lines: i64 =
        s.app.scalar(&format!("SELECT count(*) FROM stripe.invoice_line_items WHERE invoice = '{invoice}'")).await;
    assert_eq!((items, lines), (250, 250));
    let canceled: i64 = s.app.scalar("SELECT count(*) FROM stripe.subscriptions WHERE status = 'canceled'").await;
    let inactive: i64 = s.app.scalar("SELECT count(*) FROM stripe.prices WHERE NOT active").await;
    assert!(canceled > 0 && inactive > 0, "canceled {canceled}, inactive {inactive}");
    // A second backfill resumes from "done" checkpoints: nothing is fetched.
    let again = s.backfill().await;
    assert_eq!(again.per_kind.values().map(|c| c.fetched).sum::<u64>(), 0);
}

/// A backfill of `customers` seeded customers at `rate` requests/s in
/// `windows` windows, aborted once `stop_at` customer rows are written.
async fn interrupted_backfill(rate: u32, windows: u32, customers: usize, stop_at: i64) -> SimApp {
    let s = SimApp::spawn_with(
        |c| {
            c.stripe.requests_per_second = rate;
            c.stripe.list_windows = windows;
        },
        false,
    )
    .await;
    s.sim.seed(&SeedSpec { customers, ..SeedSpec::small() });
    let puller = s.puller();
    let running = tokio::spawn(async move {
        stripe_mirror::pull::jobs::backfill(&puller, false, std::sync::Arc::new(|_, _| {})).await
    });
    loop {
        let done: i64 = s.app.scalar("SELECT count(*) FROM stripe.customers").await;
        if done >= stop_at {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    running.abort();
    let _ = running.await;
    s
}

#[tokio::test]
async fn a_list_that_fits_one_page_is_fetched_once() {
    let s = SimApp::spawn_with(|c| c.stripe.list_windows = 4, false).await;
    s.sim.seed(&SeedSpec::small());
    s.backfill().await;
    let pages = s.sim.request_stats().by_route.get("GET /v1/customers").map_or(0, |m| m.values().sum::<u64>());
    assert_eq!(pages, 1, "the page that showed the list needs no windows is the one written");
    s.assert_mirror_exact().await;
}

#[tokio::test]
async fn interrupted_backfill_resumes_where_it_stopped() {
    // A slow rate so the backfill is still paging when we interrupt it (once
    // a few customer pages are checkpointed); one window per list so pages
    // can be counted.
    let s = interrupted_backfill(15, 1, 900, 300).await;
    let before = s.sim.request_stats().by_route.get("GET /v1/customers").map_or(0, |m| m.values().sum::<u64>());
    assert!(before < 9, "interrupted before the end ({before} pages)");
    let summary = s.backfill().await;
    let after = s.sim.request_stats().by_route.get("GET /v1/customers").map_or(0, |m| m.values().sum::<u64>());
    // 900 customers + the seeded ones: 10 pages in all; resumed, not restarted.
    assert!(after - before <= 10 - before + 1, "pages before {before}, after {after}");
    assert!(summary.per_kind["customer"].fetched < 900);
    s.assert_mirror_exact().await;
}

#[tokio::test]
async fn large_lists_are_paged_in_created_windows_and_resume_in_the_same_windows() {
    let s = interrupted_backfill(40, 4, 1500, 400).await;
    let plan: String =
        s.app.scalar("SELECT value FROM stripe_mirror.cursors WHERE name = 'backfill:plan:customer:'").await;
    assert_eq!(plan.split(',').count(), 3, "4 windows: {plan}");
    let windows: i64 =
        s.app.scalar("SELECT count(*) FROM stripe_mirror.cursors WHERE name LIKE 'backfill:customer:%created%'").await;
    assert!(windows >= 2, "windows paged concurrently, each with its checkpoint ({windows})");
    let summary = s.backfill().await;
    let plan_after: String =
        s.app.scalar("SELECT value FROM stripe_mirror.cursors WHERE name = 'backfill:plan:customer:'").await;
    assert_eq!(plan, plan_after, "the resumed run pages the same windows");
    assert!(summary.per_kind["customer"].fetched < 1500, "resumed, not restarted");
    s.assert_mirror_exact().await;
    // A full sweep splits too, and finds everything.
    let sweep = s.reconcile(true).await;
    assert!(sweep.ran, "the aborted backfill left the run lock free: {sweep:?}");
    assert!(sweep.per_kind["customer"].fetched >= 1500);
    s.assert_mirror_exact().await;
}

#[tokio::test]
async fn missed_update_is_repaired_by_events_catch_up() {
    let s = SimApp::spawn().await;
    let cus = s.sim.create_customer(CustomerParams::email("a@example.com")).unwrap();
    let id = cus["id"].as_str().unwrap().to_string();
    s.settle().await;
    s.backfill().await; // records the Events API position
                        // The endpoint goes away; an update happens meanwhile.
    for ep in s.sim.webhook_endpoints() {
        s.sim.remove_webhook_endpoint(&ep.id).unwrap();
    }
    s.sim.advance(5);
    s.sim.update(Kind::Customer, &id, json!({"name": "Renamed while down"})).unwrap();
    s.reconcile(false).await;
    assert_eq!(s.app.row("customers", &id).await.unwrap().0["name"], "Renamed while down");
    s.assert_mirror_exact().await;
}

/// Events catch-up asks only for the mirrored types: an account's other
/// events (here charges, payment intents, checkout sessions, left out of
/// `[mirror] objects`) are never fetched, so never stored.
#[tokio::test]
async fn events_catch_up_fetches_only_the_mirrored_types() {
    let core = ["products", "prices", "customers", "subscriptions", "invoices"];
    let s = SimApp::spawn_with(|c| c.mirror.objects = Some(core.map(String::from).to_vec()), false).await;
    let cus = s.sim.create_customer(CustomerParams::email("b@example.com")).unwrap();
    let id = cus["id"].as_str().unwrap().to_string();
    s.backfill().await; // records the Events API position
    s.sim.advance(5);
    let foreign = [
        s.sim.record_event("charge.succeeded", &json!({"id": "ch_1", "object": "charge", "customer": id})),
        s.sim.record_event("payment_intent.created", &json!({"id": "pi_1", "object": "payment_intent"})),
        s.sim.record_event("checkout.session.completed", &json!({"id": "cs_1", "object": "checkout.session"})),
    ];
    s.sim.update(Kind::Customer, &id, json!({"name": "Renamed"})).unwrap();
    s.reconcile(false).await;
    assert_eq!(s.app.row("customers", &id).await.unwrap().0["name"], "Renamed");
    let types: Vec<String> =
        sqlx::query_scalar("SELECT type FROM stripe_mirror.events").fetch_all(&s.app.pool).await.unwrap();
    assert!(types.iter().any(|t| t == "customer.updated"), "{types:?}");
    for t in &types {
        assert!(!["charge.", "payment_intent.", "checkout."].iter().any(|p| t.starts_with(p)), "{t} was fetched");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE id = ANY($1)")
        .bind(&foreign[..])
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

/// Postgres cannot hold `\u0000` in jsonb: a webhook carrying it gets 400.
/// The same event listed by the Events API is skipped, with a warning and a
/// count, and stores nothing, so it does not fail its page on every run.
#[tokio::test]
async fn events_catch_up_skips_an_event_whose_object_postgres_cannot_store() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let cus = s.sim.create_customer(CustomerParams::email("nul@example.com")).unwrap();
    let id = cus["id"].as_str().unwrap().to_string();
    s.backfill().await; // records the Events API position
    s.sim.advance(5);
    let mut poisoned = cus.clone();
    poisoned["name"] = json!("bad\u{0}name");
    let bad = s.sim.record_event("customer.updated", &poisoned);
    s.sim.advance(1);
    s.sim.update(Kind::Customer, &id, json!({"name": "After"})).unwrap();
    for _ in 0..2 {
        s.reconcile(false).await; // succeeds, every time
    }
    assert_eq!(s.app.row("customers", &id).await.unwrap().0["name"], "After", "the rest of the page applied");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE id = $1")
        .bind(&bad)
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing stored for it");
    let metrics = s.app.running.context.metrics.render(0, 0.0);
    assert!(
        metrics.contains("stripe_mirror_events_total{outcome=\"not_storable\",type=\"customer.updated\"} 2"),
        "counted on each run: {metrics}"
    );
}

#[tokio::test]
async fn missed_delete_is_found_by_the_full_sweep() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let cus = s.sim.create_customer(CustomerParams::email("gone@example.com")).unwrap();
    let id = cus["id"].as_str().unwrap().to_string();
    s.backfill().await;
    s.sim.delete(Kind::Customer, &id).unwrap();
    let summary = s.reconcile(true).await;
    assert_eq!(summary.per_kind["customer"].deleted, 1);
    let (data, deleted) = s.app.row("customers", &id).await.unwrap();
    assert!(deleted);
    assert_eq!(data["email"], "gone@example.com", "the last known data is kept");
}

#[tokio::test]
async fn same_second_tie_is_settled_by_asking_the_api() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let cus = s.sim.create_customer(CustomerParams::email("tie@example.com")).unwrap();
    let id = cus["id"].as_str().unwrap().to_string();
    let current = s.sim.update(Kind::Customer, &id, json!({"name": "Current"})).unwrap();
    let t = 1_800_000_000;
    s.app.post_event(&event("evt_tie_a", "customer.updated", t, with(current.clone(), json!({"name": "A"})))).await;
    s.app.drained().await;
    s.app.post_event(&event("evt_tie_b", "customer.updated", t, with(current.clone(), json!({"name": "B"})))).await;
    s.app.drained().await;
    // The second event of the same second made the daemon retrieve the customer.
    assert_eq!(s.app.row("customers", &id).await.unwrap().0, current);
}

#[tokio::test]
async fn webhook_newer_than_a_backfill_page_is_not_overwritten() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let cus = s.sim.create_customer(CustomerParams::email("race@example.com")).unwrap();
    let id = cus["id"].as_str().unwrap().to_string();
    // A webhook from the future (relative to the page's Date) arrives first.
    let future = chrono::Utc::now().timestamp() + 3600;
    s.app
        .post_event(&event(
            "evt_future",
            "customer.updated",
            future,
            with(cus.clone(), json!({"name": "From webhook"})),
        ))
        .await;
    s.app.drained().await;
    s.backfill().await;
    assert_eq!(s.app.row("customers", &id).await.unwrap().0["name"], "From webhook");
}

#[tokio::test]
async fn rejected_key_stops_with_the_documented_message() {
    let s = SimApp::spawn_with(|c| c.stripe.secret_key = Some("sk_test_wrong".to_string().into()), false).await;
    let err =
        stripe_mirror::pull::jobs::backfill(&s.puller(), false, std::sync::Arc::new(|_, _| {})).await.unwrap_err();
    assert!(err.to_string().contains("STRIPE_SECRET_KEY was rejected by Stripe"), "{err}");
}

#[tokio::test]
async fn backfill_survives_a_429_storm() {
    // The five core types: a storm of 30 % refusals keeps every limiter at
    // its widest spacing (2 s), and the per-customer payment method
    // listings of 1,500 customers would then take most of an hour.
    let core = ["products", "prices", "customers", "subscriptions", "invoices"];
    let s = SimApp::spawn_with(|c| c.mirror.objects = Some(core.map(String::from).to_vec()), false).await;
    // ~25 list pages: with 30% of them refused, a backfill without a single
    // 429 has odds of 0.7^25 (1 in 7,000); with 150 customers (~8 pages) it
    // was 1 in 17, and the test failed that often.
    s.sim.seed(&SeedSpec { customers: 1_500, subscriptions: 300, invoices: 300, ..SeedSpec::small() });
    s.sim.update_faults(|f| {
        f.api.rate_limit_fraction = 0.3;
        f.api.server_error_fraction = 0.05;
        f.api.retry_after_secs = 0;
    });
    s.backfill().await;
    s.sim.update_faults(|f| {
        f.api.rate_limit_fraction = 0.0;
        f.api.server_error_fraction = 0.0;
    });
    assert!(s.sim.request_stats().count_status(429) > 0, "the storm happened");
    s.assert_mirror_exact().await;
}

#[tokio::test]
async fn two_reconcilers_at_once_run_one_at_a_time() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    s.sim.seed(&SeedSpec::small());
    s.backfill().await;
    let (p1, p2) = (s.puller(), s.puller());
    let (a, b) = tokio::join!(
        stripe_mirror::pull::jobs::reconcile(&p1, true, 300),
        stripe_mirror::pull::jobs::reconcile(&p2, true, 300)
    );
    let ran = [a.unwrap().ran, b.unwrap().ran];
    assert_eq!(ran.iter().filter(|r| **r).count(), 1, "{ran:?}");
}

#[tokio::test]
async fn backfill_retries_through_a_window_of_timeouts() {
    let s = SimApp::spawn_with(|c| c.stripe.timeout_secs = 1, false).await;
    s.sim.seed(&SeedSpec::small());
    s.sim.update_faults(|f| f.api.hang_for(std::time::Duration::from_millis(2500)));
    let started = std::time::Instant::now();
    s.backfill().await;
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "the hang window was waited out");
    s.assert_mirror_exact().await;
}

#[tokio::test]
async fn plan_events_never_replace_a_price_and_fetch_it_when_the_twin_is_missing() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let product = s.sim.create_product(ProductParams::named("Plan test")).unwrap();
    let price = s.sim.create_price(PriceParams::monthly(product["id"].as_str().unwrap(), 500)).unwrap();
    let id = price["id"].as_str().unwrap().to_string();
    s.sim.update(Kind::Price, &id, json!({"nickname": "Monthly"})).unwrap();
    let events = s.sim.events(); // newest first
    let find = |t: &str| events.iter().find(|e| e["type"] == t).cloned().unwrap_or_else(|| panic!("no {t}"));
    // price.created was dropped: plan.created alone makes the daemon retrieve the price.
    s.app.post_event(&find("plan.created")).await;
    s.app.drained().await;
    let (data, _) = s.app.row("prices", &id).await.unwrap();
    assert_eq!(data["object"], "price");
    assert_eq!(data, s.sim.retrieve(Kind::Price, &id).unwrap(), "the retrieved price, not the plan");
    // With its twin present, a plan event is recorded as ignored.
    let twin = find("price.updated");
    s.app.post_event(&twin).await;
    s.app.drained().await;
    let plan_updated = find("plan.updated");
    s.app.post_event(&plan_updated).await;
    s.app.drained().await;
    assert_eq!(s.app.event_status(plan_updated["id"].as_str().unwrap()).await, "ignored");
    assert_eq!(s.app.row("prices", &id).await.unwrap().0["object"], "price");
}
