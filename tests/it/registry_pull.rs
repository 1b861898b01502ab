//! The registry on the pull path, against the simulator: every type
//! backfilled, kept by its webhooks (detach, coupon delete and re-create,
//! session completed, credit note voided, invoice item deleted) and
//! repaired by a full sweep; a type the key may not list is skipped and the
//! run goes on; a full sweep costs what the registry's cost model says.

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
    let puller = stripe_mirror::pull::sync::Puller::new(ctx.pool.clone(), ctx.mirror.clone(), &config).expect("puller");
    let summary =
        stripe_mirror::pull::jobs::backfill(&Arc::new(puller), false, Arc::new(|_, _| {})).await.expect("backfill");
    let invoices = summary.per_kind["invoice"].skipped.clone().unwrap_or_default();
    assert!(invoices.contains("may not read /v1/invoices"), "{invoices}");
    assert!(summary.per_kind["customer"].inserted >= 1, "the run went on");
    assert!(s.app.row("customers", cus["id"].as_str().expect("id")).await.is_some());
    let status = stripe_mirror::ops::status::Status::read(&s.app.pool, "stripe", &config.stripe.api_version)
        .await
        .expect("status");
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
    let parents = kind.list_parent().map_or(0, |p| size_of(sim, p).listed.iter().sum());
    Size { listed, parents, paged_children }
}

#[tokio::test]
async fn a_full_sweep_costs_what_the_registry_says() {
    let s = SimApp::spawn_with(
        |c| {
            c.mirror.objects =
                Some(stripe_mirror::tools::compare::simulated_types().tables().iter().map(|t| t.to_string()).collect())
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
    // A long list of a new type, and sessions whose line items are paged once.
    for n in 0..250 {
        s.sim.create_charge(stripe_sim::ChargeParams { amount: 100 + n, ..Default::default() }).expect("charge");
    }
    let price = s.sim.snapshot(SimKind::Price)[0].id.clone();
    for _ in 0..20 {
        let line = stripe_sim::CheckoutLineParams { price: price.clone(), quantity: Some(1) };
        let session = stripe_sim::CheckoutSessionParams { line_items: vec![line], ..Default::default() };
        s.sim.create_checkout_session(session).expect("session");
    }
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
    let paged_once: u64 =
        stats.by_route.get("GET /v1/checkout/sessions/{id}/line_items").map_or(0, |m| m.values().sum());
    assert_eq!(paged_once, 0, "sessions stored unchanged with their line items are not paged again");
    let windows = u64::from(s.app.config.stripe.list_windows);
    let mut model = cost::Cost::default();
    for kind in stripe_mirror::tools::compare::simulated_types().iter() {
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

/// One object of each new type (two payment methods, a session with line
/// items, a credit note with lines), in the simulator.
fn seed_payment_side(sim: &stripe_sim::Sim) -> (String, String, String, String) {
    use stripe_sim::*;
    let id = |v: Value| v["id"].as_str().expect("id").to_string();
    let cus = id(sim.create_customer(CustomerParams::email("pay@example.com")).expect("customer"));
    let product = id(sim.create_product(ProductParams::named("Shirt")).expect("product"));
    let price = id(sim.create_price(PriceParams::monthly(&product, 1_500)).expect("price"));
    sim.create_coupon(CouponParams { id: Some("SPRING".into()), percent_off: Some(20.0), ..Default::default() })
        .expect("coupon");
    let promo = PromotionCodeParams { coupon: "SPRING".into(), customer: Some(cus.clone()), ..Default::default() };
    sim.create_promotion_code(promo).expect("promotion code");
    sim.create_tax_rate(TaxRateParams { percentage: 19.0, ..Default::default() }).expect("tax rate");
    let pm = id(sim
        .create_payment_method(PaymentMethodParams { customer: Some(cus.clone()), ..Default::default() })
        .expect("payment method"));
    sim.create_payment_method(PaymentMethodParams { customer: Some(cus.clone()), ..Default::default() }).expect("pm");
    let pi = id(sim
        .create_payment_intent(PaymentIntentParams { amount: 4_000, customer: Some(cus.clone()), ..Default::default() })
        .expect("payment intent"));
    let charge = id(sim
        .create_charge(ChargeParams {
            amount: 4_000,
            customer: Some(cus.clone()),
            payment_intent: Some(pi),
            ..Default::default()
        })
        .expect("charge"));
    sim.create_refund(RefundParams { charge: charge.clone(), amount: Some(1_000), ..Default::default() })
        .expect("refund");
    sim.create_dispute(DisputeParams { charge, ..Default::default() }).expect("dispute");
    sim.create_setup_intent(SetupIntentParams { customer: Some(cus.clone()), ..Default::default() })
        .expect("setup intent");
    let lines = (0..12).map(|_| CheckoutLineParams { price: price.clone(), quantity: Some(2) }).collect();
    let session = CheckoutSessionParams { customer: Some(cus.clone()), line_items: lines, ..Default::default() };
    let session = id(sim.create_checkout_session(session).expect("checkout session"));
    let invoice = id(sim.create_invoice(InvoiceParams::new(&cus, &[&price])).expect("invoice"));
    sim.finalize_invoice(&invoice).expect("finalize");
    let credit_lines = (0..11).map(|n| CreditNoteLineParams { amount: 10 + n, description: None }).collect();
    let note = CreditNoteParams { invoice, lines: credit_lines, ..Default::default() };
    let note = id(sim.create_credit_note(note).expect("credit note"));
    let item = id(sim
        .create_invoice_item(InvoiceItemParams { customer: cus.clone(), amount: 700, ..Default::default() })
        .expect("invoice item"));
    let sub = id(sim.create_subscription(SubscriptionParams::new(&cus, &[(&price, 1)])).expect("subscription"));
    let schedule = SubscriptionScheduleParams { customer: cus, subscription: Some(sub), ..Default::default() };
    sim.create_subscription_schedule(schedule).expect("schedule");
    (pm, session, note, item)
}

#[tokio::test]
async fn every_type_is_backfilled_kept_by_its_webhooks_and_repaired_by_the_sweep() {
    let s = SimApp::spawn().await;
    let (pm, session, note, item) = seed_payment_side(&s.sim);
    s.settle().await;
    s.backfill().await;
    let compared = s.assert_mirror_exact().await;
    let items: i64 = s.app.scalar("SELECT count(*) FROM stripe.checkout_session_line_items WHERE NOT deleted").await;
    let lines: i64 = s.app.scalar("SELECT count(*) FROM stripe.credit_note_line_items WHERE NOT deleted").await;
    assert_eq!((items, lines), (12, 11), "line items paged, credit note lines past the embedded ten");
    let methods: i64 = s.app.scalar("SELECT count(*) FROM stripe.payment_methods WHERE customer IS NOT NULL").await;
    assert_eq!(methods, 2, "listed per customer");

    // The push path: each type's quirk, delivered as Stripe sends it.
    s.sim.detach_payment_method(&pm).expect("detach");
    s.sim.delete(SimKind::Coupon, "SPRING").expect("delete coupon");
    s.sim.transition(SimKind::CheckoutSession, &session, "completed", serde_json::json!({})).expect("complete");
    s.sim.transition(SimKind::CreditNote, &note, "voided", serde_json::json!({})).expect("void");
    s.sim.delete(SimKind::InvoiceItem, &item).expect("delete invoice item");
    s.settle().await;
    s.assert_mirror_exact().await;
    let (data, deleted) = s.app.row("payment_methods", &pm).await.expect("row");
    assert!(!deleted && data["customer"].is_null(), "detached: kept, without a customer");
    assert!(s.app.row("coupons", "SPRING").await.expect("row").1, "tombstoned");

    // The pull path: with webhooks lost, a full sweep repairs every table.
    s.sim.update_faults(|f| f.delivery.drop_fraction = 1.0);
    s.sim.create_coupon(stripe_sim::CouponParams { id: Some("SPRING".into()), ..Default::default() }).expect("again");
    s.sim.advance(5);
    s.reconcile(true).await;
    assert!(s.assert_mirror_exact().await >= compared);
    assert!(!s.app.row("coupons", "SPRING").await.expect("row").1, "the coupon created again replaced its tombstone");
}
