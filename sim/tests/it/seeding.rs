//! Seeding: speed, shape, and silence (no events).

use std::time::Instant;

use stripe_sim::{Kind, SeedSpec};

use crate::helpers::TestSim;

#[tokio::test]
async fn seeding_100k_objects_takes_seconds_and_emits_no_events() {
    let t = TestSim::start().await;
    let spec = SeedSpec {
        products: 100,
        prices_per_product: 4,
        customers: 30_000,
        subscriptions: 20_000,
        items_per_subscription: 2,
        invoices: 10_000,
        lines_per_invoice: 1,
        ..SeedSpec::small()
    };
    let began = Instant::now();
    let report = t.sim.seed(&spec);
    let took = began.elapsed();
    println!("seeded {} objects in {took:?} ({:?})", report.objects, report.by_kind);
    assert!(report.objects >= 100_000, "{report:?}");
    assert!(t.sim.events().is_empty());

    // The seeded account pages like any other.
    let page = t.get("/v1/subscriptions?status=all&limit=100").await;
    assert_eq!(page.ids().len(), 100);
    let sub = &page.body["data"][0];
    assert_eq!(sub["items"]["total_count"], 2);
    let invoices = t.get("/v1/invoices?limit=5&status=paid").await;
    assert!(invoices.body["data"][0]["number"].is_string());
    assert_eq!(t.sim.count(Kind::Customer).0, 30_000);
}

#[tokio::test]
async fn same_seed_gives_the_same_account() {
    let a = TestSim::start().await;
    let b = TestSim::start().await;
    a.sim.set_clock(Some(1_750_000_000));
    b.sim.set_clock(Some(1_750_000_000));
    a.sim.seed(&SeedSpec::small());
    b.sim.seed(&SeedSpec::small());
    assert_eq!(a.sim.snapshot(Kind::Invoice), b.sim.snapshot(Kind::Invoice));
}
