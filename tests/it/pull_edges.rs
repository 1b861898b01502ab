//! Edges of the pull path Stripe's documentation describes: the Events API
//! keeps 30 days, a `starting_after` whose object was deleted is refused,
//! nested lists of canceled or deleted parents do not page like live ones,
//! each API operation has its own rate limit, and sweeps meet live webhooks.

use std::time::Duration;

use serde_json::json;
use stripe_sim::{CustomerParams, Kind, PriceParams, ProductParams, SeedSpec, SubscriptionParams};

use crate::helpers::*;

async fn events_cursor(s: &SimApp) -> i64 {
    let v: String = s.app.scalar("SELECT value FROM stripe_mirror.cursors WHERE name = 'events_api'").await;
    v.parse().expect("a Unix time")
}

#[tokio::test]
async fn an_events_cursor_older_than_stripe_keeps_events_is_replaced_after_one_sweep() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    s.sim.seed(&SeedSpec { customers: 10, ..SeedSpec::small() });
    s.backfill().await;
    let old = s.sim.now() - 40 * 86_400;
    sqlx::query("UPDATE stripe_mirror.cursors SET value = $1 WHERE name = 'events_api'")
        .bind(old.to_string())
        .execute(&s.app.pool)
        .await
        .unwrap();
    let before = s.sim.now();
    let first = s.reconcile(false).await;
    assert!(!first.per_kind.is_empty(), "the too-old cursor makes this run a full sweep");
    let cursor = events_cursor(&s).await;
    assert!(cursor <= before && cursor > before - 3_600, "the cursor is the sweep's start (minus the overlap)");
    let second = s.reconcile(false).await;
    assert!(second.per_kind.is_empty(), "the next run is a catch-up again, not another sweep");
}

#[tokio::test]
async fn without_a_cursor_the_sweep_sets_it_to_its_start_so_events_during_it_are_replayed() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    s.sim.seed(&SeedSpec { customers: 10, ..SeedSpec::small() });
    let before = s.sim.now();
    let first = s.reconcile(false).await;
    assert!(!first.per_kind.is_empty(), "no cursor: a full sweep");
    assert!(events_cursor(&s).await <= before, "set to the sweep's start, not its end");
    // A change during (or right after) that sweep reaches the mirror by catch-up.
    let c = s.sim.create_customer(CustomerParams::email("during@example.com")).unwrap();
    let second = s.reconcile(false).await;
    assert!(second.per_kind.is_empty());
    assert!(second.events_new >= 1);
    assert!(s.app.row("customers", c["id"].as_str().unwrap()).await.is_some());
}

#[tokio::test]
async fn a_backfill_resuming_after_a_deleted_object_pages_on_from_its_created_time() {
    let s = SimApp::spawn_with(|c| c.stripe.list_windows = 1, false).await;
    s.sim.seed(&SeedSpec { customers: 350, ..SeedSpec::small() });
    let puller = s.puller();
    // The first page only, as an interrupted backfill leaves it.
    let page = s.puller().api.list_page("/v1/customers", &[], None).await.unwrap();
    let last = page.data.last().unwrap();
    let last: serde_json::Value = serde_json::from_str(last.get()).unwrap();
    let id = last["id"].as_str().unwrap().to_string();
    for (name, value) in [
        ("backfill:customer:", json!({"after": {"id": id, "created": last["created"]}}).to_string()),
        ("backfill:customer:", id.clone()), // as stored by earlier versions: no created
    ] {
        sqlx::query("DELETE FROM stripe_mirror.cursors WHERE name LIKE 'backfill:%'")
            .execute(&s.app.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO stripe_mirror.cursors (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(&value)
            .execute(&s.app.pool)
            .await
            .unwrap();
        if s.sim.retrieve(Kind::Customer, &id).is_some_and(|c| c.get("deleted").is_none()) {
            s.sim.delete(Kind::Customer, &id).unwrap();
        }
        stripe_mirror::pull::jobs::backfill(&puller, false, std::sync::Arc::new(|_, _| {}))
            .await
            .expect("the backfill recovers from the deleted cursor");
        let rows: i64 = s.app.scalar("SELECT count(*) FROM stripe.customers WHERE NOT deleted").await;
        assert!(rows >= 349 - 100, "{rows} customers after resuming from {value}");
    }
    s.reconcile(false).await;
    s.assert_mirror_exact().await;
}

#[tokio::test]
async fn a_canceled_subscriptions_truncated_items_are_kept_not_tombstoned() {
    let s = SimApp::spawn().await;
    s.sim.update_faults(|f| f.api.canceled_subscription_items_empty = true);
    let product = s.sim.create_product(ProductParams::named("Many")).unwrap();
    let product_id = product["id"].as_str().unwrap();
    let prices: Vec<String> = (0..15)
        .map(|i| s.sim.create_price(PriceParams::monthly(product_id, 100 + i)).unwrap()["id"].as_str().unwrap().into())
        .collect();
    let customer = s.sim.create_customer(CustomerParams::email("many@example.com")).unwrap();
    let items: Vec<(&str, u64)> = prices.iter().map(|p| (p.as_str(), 1)).collect();
    let sub = s.sim.create_subscription(SubscriptionParams::new(customer["id"].as_str().unwrap(), &items)).unwrap();
    let sub_id = sub["id"].as_str().unwrap().to_string();
    s.settle().await;
    s.sim.cancel_subscription(&sub_id).unwrap();
    s.settle().await;
    let parked: i64 = s.app.scalar("SELECT count(*) FROM stripe_mirror.events WHERE status = 'failed'").await;
    assert_eq!(parked, 0, "no event is parked");
    let live_items: i64 = s
        .app
        .scalar(&format!(
            "SELECT count(*) FROM stripe.subscription_items WHERE subscription = '{sub_id}' AND NOT deleted"
        ))
        .await;
    assert_eq!(live_items, 15, "items are not tombstoned for missing from the canceled subscription's item list");
    let (data, _) = s.app.row("subscriptions", &sub_id).await.unwrap();
    assert_eq!(data["status"], "canceled");
}

#[tokio::test]
async fn stripes_per_operation_limit_slows_the_backfill_down_instead_of_failing_it() {
    let s = SimApp::spawn_with(
        |c| {
            c.stripe.requests_per_second = 200;
            c.stripe.requests_per_second_per_operation = Some(200);
            c.stripe.max_retries = 2;
            // The customers' list is the operation under test; payment
            // methods (one listing per customer on one operation) would
            // add 3,000 requests at the simulator's 25/s.
            let all = stripe_mirror::registry::TypeSet::ALL.tables();
            c.mirror.objects = Some(all.iter().filter(|t| **t != "payment_methods").map(|t| t.to_string()).collect());
        },
        false,
    )
    .await;
    s.sim.seed(&SeedSpec { customers: 3_000, ..SeedSpec::small() });
    s.sim.update_faults(|f| f.api.per_operation_requests_per_sec = 25);
    let summary = s.backfill().await;
    assert!(summary.per_kind["customer"].fetched >= 3_000);
    let limited = s.sim.request_stats().count_status(429);
    assert!(limited > 0, "the simulator's per-operation limit was reached");
    s.assert_mirror_exact().await;
}

#[tokio::test]
async fn a_sweep_beside_a_burst_of_webhooks_on_the_same_rows_succeeds() {
    let s = SimApp::spawn().await;
    s.sim.seed(&SeedSpec { customers: 400, ..SeedSpec::small() });
    s.backfill().await;
    let ids: Vec<String> = s.app.scalar::<Vec<String>>("SELECT array_agg(id ORDER BY id) FROM stripe.customers").await;
    let sweep = {
        let puller = s.puller();
        tokio::spawn(async move { stripe_mirror::pull::jobs::reconcile(&puller, true, 300).await })
    };
    for (n, id) in ids.iter().enumerate().take(300) {
        s.sim.update(Kind::Customer, id, json!({"name": format!("burst {n}")})).unwrap();
    }
    let summary = tokio::time::timeout(Duration::from_secs(60), sweep).await.expect("the sweep ends").unwrap();
    summary.expect("the sweep succeeds beside the webhooks");
    s.settle().await;
    s.reconcile(false).await;
    s.assert_mirror_exact().await;
}

/// A deletion learned from a 404 (a coupon: Stripe answers 404 for a
/// deleted one) is versioned by that answer's `Date`, Stripe's clock, as
/// every answer is — not by ours, which may run behind it (here the
/// simulator's runs an hour ahead).
#[tokio::test]
async fn a_tombstone_from_a_404_is_dated_by_stripes_clock() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    s.sim.advance(3_600);
    s.sim.create_coupon(stripe_sim::CouponParams { id: Some("AHEAD".into()), ..Default::default() }).expect("coupon");
    s.backfill().await;
    s.sim.advance(60);
    s.sim.delete(Kind::Coupon, "AHEAD").expect("delete");
    let deleted_at = s.sim.now();
    s.reconcile(true).await;
    let deleted: bool = s.app.scalar("SELECT deleted FROM stripe.coupons WHERE id = 'AHEAD'").await;
    let version: i64 = s.app.scalar("SELECT version FROM stripe.coupons WHERE id = 'AHEAD'").await;
    assert!(deleted, "the unlisted coupon was retrieved (404) and tombstoned");
    assert!(version >= deleted_at, "tombstone version {version} is Stripe's Date, not before {deleted_at}");
}
