//! The registry on the pull path, against the simulator: a type the key may
//! not list is skipped and the run goes on, and a full sweep costs what the
//! registry's cost model says. (The new types' own listings wait for the
//! simulator to serve them; until then they are skipped as not served.)

use std::sync::Arc;

use serde_json::Value;
use stripe_mirror::registry::cost::{self, Size};
use stripe_mirror::registry::Kind;
use stripe_sim::Kind as SimKind;

use crate::helpers::*;

#[tokio::test]
async fn a_type_the_key_may_not_list_is_skipped_with_a_warning_and_the_run_goes_on() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let cus = s.sim.create_customer(stripe_sim::CustomerParams::email("r@example.com")).expect("customer");
    let key = "rk_test_no_invoices";
    s.sim.add_restricted_key(key);
    s.sim.restrict_key(key, &["/v1/invoices"]).expect("restrict");
    let mut config = s.app.config.clone();
    config.stripe.secret_key = Some(key.to_string().into());
    // A restricted key may not read GET /v1/account either.
    config.stripe.account_id = Some(s.sim.account_id().to_string());
    let ctx = stripe_mirror::app::Context::connect(&config).await.expect("connect");
    let puller = stripe_mirror::sync::Puller::new(ctx.pool.clone(), ctx.mirror.clone(), &config).expect("puller");
    let summary = stripe_mirror::jobs::backfill(&Arc::new(puller), false, Arc::new(|_, _| {})).await.expect("backfill");
    let invoices = summary.per_kind["invoice"].skipped.clone().unwrap_or_default();
    assert!(invoices.contains("may not read /v1/invoices"), "{invoices}");
    assert!(summary.per_kind["customer"].inserted >= 1, "the run went on");
    assert!(s.app.row("customers", cus["id"].as_str().expect("id")).await.is_some());
    let status =
        stripe_mirror::status::Status::read(&s.app.pool, "stripe", &config.stripe.api_version).await.expect("status");
    assert!(
        status.skipped_types.iter().any(|t| t.r#type == "invoice" && t.run == "backfill"),
        "{:?}",
        status.skipped_types
    );
    assert!(
        status.attention.iter().any(|a| a.contains("invoice") && a.contains("[mirror] objects")),
        "{:?}",
        status.attention
    );
    assert!(status.render().contains("skipped type:      invoice by the last backfill"));
}

/// A type's size in the simulator, as the cost model takes it.
fn size_of(sim: &stripe_sim::Sim, kind: Kind) -> Size {
    let Some(sim_kind) = SimKind::parse(kind.def().table) else { return Size::default() };
    let live: Vec<Value> = sim.snapshot(sim_kind).into_iter().filter(|r| !r.deleted).map(|r| r.value()).collect();
    let listed = match kind.def().table {
        "prices" => vec![
            live.iter().filter(|p| p["active"] == true).count() as u64,
            live.iter().filter(|p| p["active"] == false).count() as u64,
        ],
        _ => vec![live.len() as u64],
    };
    let field = kind.def().child.as_ref().and_then(|c| c.embedded);
    let paged_children = field
        .map(|f| {
            live.iter().filter(|o| o[f]["has_more"] == true).filter_map(|o| o[f]["total_count"].as_u64()).collect()
        })
        .unwrap_or_default();
    Size { listed, parents: 0, paged_children }
}

#[tokio::test]
async fn a_full_sweep_costs_what_the_registry_says() {
    let s = SimApp::spawn_with(
        |c| {
            c.mirror.objects =
                Some(stripe_mirror::compare::simulated_types().tables().iter().map(|t| t.to_string()).collect())
        },
        false,
    )
    .await;
    let spec = stripe_sim::SeedSpec {
        products: 6,
        prices_per_product: 30,
        customers: 450,
        subscriptions: 160,
        items_per_subscription: 12,
        invoices: 230,
        lines_per_invoice: 3,
        ..stripe_sim::SeedSpec::small()
    };
    s.sim.seed(&spec);
    s.backfill().await;
    s.sim.reset_stats();
    let summary = s.reconcile(true).await;
    assert!(summary.per_kind.values().all(|c| c.skipped.is_none()));
    let stats = s.sim.request_stats();
    let measured: u64 = stats
        .by_route
        .iter()
        .filter(|(route, _)| !route.contains("/v1/events") && !route.contains("/v1/account"))
        .flat_map(|(_, by_status)| by_status.values())
        .sum();
    let windows = u64::from(s.app.config.stripe.list_windows);
    let mut model = cost::Cost::default();
    for kind in stripe_mirror::compare::simulated_types().iter() {
        let c = cost::full_sweep(kind, &size_of(&s.sim, kind), windows);
        println!("{:<14} {:>5}..{:<5} requests", kind.def().table, c.min, c.max);
        model = model + c;
    }
    println!(
        "full sweep: {measured} requests measured, {}..{} modelled; by route: {:?}",
        model.min, model.max, stats.by_route
    );
    assert!((model.min..=model.max).contains(&measured), "measured {measured}, model {model:?}");
}
