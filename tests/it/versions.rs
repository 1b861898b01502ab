//! One API version in every row: an account whose default version is older
//! than the pinned one, a Dashboard-made endpoint (no `api_version`, so it
//! receives the account default), a lossy delivery, then events catch-up
//! (which Stripe renders in each event's creation-time version): every row
//! ends equal to the simulator at the pinned version.

use std::time::Duration;

use stripe_sim::{DeliveryFaults, HistorySpec, Sim, SimConfig, PRE_BASIL_API_VERSION};

use crate::helpers::*;

/// A daemon (with `tweak`) on a simulated account whose default API version
/// is older than the pinned one; no webhook endpoint yet.
async fn older_account(tweak: impl FnOnce(&mut stripe_mirror::config::Config)) -> SimApp {
    let config = SimConfig { default_api_version: PRE_BASIL_API_VERSION.to_string(), ..SimConfig::default() };
    let sim = Sim::start(config).await.expect("simulator starts");
    let (base, key) = (sim.base_url(), sim.api_key().to_string());
    let app = TestApp::spawn_with(|c| {
        c.stripe.api_base = base;
        c.stripe.secret_key = Some(key.into());
        c.stripe.requests_per_second = 10_000;
        c.stripe.requests_per_second_per_operation = Some(0);
        c.reconcile.events_schedule = "0 0 1 1 *".into();
        c.reconcile.full_schedule = "0 0 1 1 *".into();
        tweak(c);
    })
    .await;
    SimApp { app, sim }
}

#[tokio::test]
async fn a_dashboard_endpoint_in_an_older_version_and_a_catch_up_leave_every_row_at_the_pinned_version() {
    let s = older_account(|_| {}).await;
    // Backfilled rows come at the pinned version whatever the account's default.
    s.backfill().await;
    s.sim.add_webhook_endpoint(s.app.url.clone(), vec![SECRET.to_string()]);
    s.sim.update_faults(|f| {
        f.delivery = DeliveryFaults {
            drop_fraction: 0.3,
            duplicate_fraction: 0.2,
            reorder_window_secs: 5,
            reorder_window_ms: 500,
            ..DeliveryFaults::default()
        }
    });
    s.sim.play_history(&HistorySpec { mutations: 300, ..HistorySpec::default() }).await.expect("history plays");
    s.sim.wait_idle(Duration::from_secs(60)).await.expect("deliveries finish");
    s.app.drained().await;
    s.reconcile(false).await;
    // Exact after the catch-up, but for open checkout sessions: Stripe sends
    // no event when one is created (README, "Checkout sessions expire; they
    // have no created event"), so only a sweep finds a dropped one.
    let checkout = ["checkout_sessions", "checkout_session_line_items"];
    for d in stripe_mirror::tools::compare::compare(&s.app.pool, "stripe", &s.sim).await.expect("compare") {
        assert!(
            d.equal() || checkout.contains(&d.table),
            "{}: {} rows differ, e.g. {:?}",
            d.table,
            d.mismatch_count,
            d.mismatches
        );
    }
    s.reconcile(true).await;
    s.assert_mirror_exact().await;
    // Every event was in the account's older version: each was a pointer.
    let metrics = reqwest::get(format!("http://{}/metrics", s.app.running.addr)).await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .contains(&format!("stripe_mirror_events_other_version_total{{api_version=\"{PRE_BASIL_API_VERSION}\"}}")),
        "{metrics}"
    );
    // No row holds the old shape: subscriptions' periods live on their items.
    let old_shape: i64 =
        s.app.scalar("SELECT count(*) FROM stripe.subscriptions WHERE data ? 'current_period_start'").await;
    assert_eq!(old_shape, 0);
    let status =
        stripe_mirror::ops::status::Status::read(&s.app.pool, "stripe", "2026-08-26.dahlia").await.expect("status");
    assert!(status.other_versions_last_day.iter().any(|c| c.key == PRE_BASIL_API_VERSION && c.events > 0));
}

#[tokio::test]
async fn events_of_one_object_in_another_version_cost_one_retrieve_together() {
    let SimApp { app, sim } = older_account(|c| c.apply.workers = 1).await;
    let customer = sim.create_customer(stripe_sim::CustomerParams::email("v@example.com")).unwrap();
    let id = customer["id"].as_str().unwrap().to_string();
    sim.reset_stats();
    // Five events for one customer, in the older version, stored in one
    // commit (so one apply batch claims them all).
    let bodies: Vec<String> = (0..5)
        .map(|n| {
            let mut ev = event(&format!("evt_v{n}"), "customer.updated", 100 + n, customer.clone());
            ev["api_version"] = serde_json::json!(PRE_BASIL_API_VERSION);
            ev.to_string()
        })
        .collect();
    let envelopes: Vec<_> =
        bodies.iter().map(|b| stripe_mirror::push::event::Envelope::parse(b.as_bytes()).expect("an event")).collect();
    let rows: Vec<_> = envelopes.iter().zip(&bodies).map(|(e, b)| (e, b.as_str())).collect();
    stripe_mirror::storage::inbox::insert_many(&app.pool, &rows, "webhook").await.expect("stored");
    app.drained().await;
    let retrieves: u64 =
        sim.request_stats().by_route.get("GET /v1/customers/{id}").map(|by| by.values().sum()).unwrap_or(0);
    assert_eq!(retrieves, 1, "retrieves for five events of one object");
    let (data, _) = app.row("customers", &id).await.expect("row");
    assert_eq!(data, sim.retrieve(stripe_sim::Kind::Customer, &id).unwrap());
}
