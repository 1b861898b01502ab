//! Each list endpoint's filters, as list-endpoints.md describes them.

use serde_json::json;
use stripe_sim::{InvoiceParams, Kind, PriceParams, ProductParams, SubscriptionParams};

use crate::helpers::TestSim;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn id(v: &serde_json::Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn prices_list_only_active_prices_unless_asked() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("Tee")).expect("product"));
    let on = id(&t.sim.create_price(PriceParams::monthly(&prod, 1000)).expect("price"));
    let off = PriceParams { active: Some(false), ..PriceParams::one_time(&prod, 500) };
    let off = id(&t.sim.create_price(off).expect("price"));
    assert_eq!(t.get("/v1/prices").await.ids(), [on.as_str()]);
    assert_eq!(t.get("/v1/prices?active=false").await.ids(), [off.as_str()]);
    assert_eq!(t.get("/v1/prices?active=true&type=recurring").await.ids(), [on.as_str()]);
    assert_eq!(t.get("/v1/prices?type=one_time").await.ids(), Vec::<String>::new());
    assert_eq!(t.get("/v1/prices?active=maybe").await.status, 400);
    assert_eq!(t.get(&format!("/v1/prices?product={prod}")).await.ids(), [on.as_str()]);
    assert!(t.get("/v1/prices?product=prod_other").await.ids().is_empty());
    // Plans are the recurring prices only, all of them.
    assert_eq!(t.get("/v1/plans").await.ids(), [on]);
}

#[tokio::test]
async fn products_filter_on_active() {
    let t = TestSim::start().await;
    let a = id(&t.sim.create_product(ProductParams::named("A")).expect("a"));
    let b = id(&t.sim.create_product(ProductParams::named("B")).expect("b"));
    t.sim.update(Kind::Product, &b, json!({"active": false})).expect("archive");
    assert_eq!(t.get("/v1/products?active=true").await.ids(), [a.as_str()]);
    assert_eq!(t.get("/v1/products?active=false").await.ids(), [b.as_str()]);
    assert_eq!(t.get("/v1/products").await.ids(), [b, a]);
}

#[tokio::test]
async fn subscription_status_filter_follows_stripe_defaults() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("Plan")).expect("product"));
    let price = id(&t.sim.create_price(PriceParams::monthly(&prod, 900)).expect("price"));
    let cus = t.customer("s@example.com");
    let other = t.customer("o@example.com");
    let sub = |c: &str, status: &str| {
        let p = SubscriptionParams { status: Some(status.to_owned()), ..SubscriptionParams::new(c, &[(&price, 1)]) };
        id(&t.sim.create_subscription(p).expect("subscription"))
    };
    let active = sub(&cus, "active");
    let past_due = sub(&cus, "past_due");
    let expired = sub(&cus, "incomplete_expired");
    let canceled = sub(&other, "active");
    t.sim.cancel_subscription(&canceled).expect("cancel");

    let t = &t;
    let list = |q: String| async move { sorted(t.get(&format!("/v1/subscriptions?{q}")).await.ids()) };
    assert_eq!(list("".into()).await, sorted(vec![active.clone(), past_due.clone(), expired.clone()]));
    assert_eq!(list("status=all".into()).await.len(), 4);
    assert_eq!(list("status=canceled".into()).await, [canceled.as_str()]);
    assert_eq!(list("status=ended".into()).await, sorted(vec![canceled.clone(), expired]));
    assert_eq!(list("status=past_due".into()).await, [past_due]);
    assert_eq!(list(format!("status=all&customer={other}")).await, [canceled]);
    assert_eq!(t.get("/v1/subscriptions?status=bogus").await.status, 400);
}

#[tokio::test]
async fn invoices_filter_by_status_customer_and_subscription() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("Seat")).expect("product"));
    let price = id(&t.sim.create_price(PriceParams::monthly(&prod, 700)).expect("price"));
    let cus = t.customer("i@example.com");
    let sub = id(&t.sim.create_subscription(SubscriptionParams::new(&cus, &[(&price, 2)])).expect("sub"));
    let from_sub = InvoiceParams { subscription: Some(sub.clone()), ..InvoiceParams::new(&cus, &[]) };
    let billed = t.sim.create_invoice(from_sub).expect("invoice");
    assert_eq!(billed["parent"]["subscription_details"]["subscription"], sub.as_str());
    assert_eq!(billed["parent"]["type"], "subscription_details");
    assert_eq!(billed["total"], 1400);
    let one_off = id(&t.sim.create_invoice(InvoiceParams::new(&cus, &[&price])).expect("invoice"));
    t.sim.pay_invoice(&one_off).expect("pay");

    assert_eq!(t.get(&format!("/v1/invoices?subscription={sub}")).await.ids(), [id(&billed)]);
    assert_eq!(t.get("/v1/invoices?status=paid").await.ids(), [one_off.as_str()]);
    assert_eq!(t.get("/v1/invoices?status=draft").await.ids(), [id(&billed)]);
    assert_eq!(t.get(&format!("/v1/invoices?customer={cus}")).await.ids().len(), 2);
    assert_eq!(t.get("/v1/invoices?customer=cus_other").await.ids().len(), 0);
}

#[tokio::test]
async fn events_filter_by_type_wildcard_and_types_array() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("E")).expect("product"));
    t.sim.create_price(PriceParams::monthly(&prod, 100)).expect("price");
    t.customer("e@example.com");
    let types = |r: crate::helpers::Reply| -> Vec<String> {
        r.body["data"].as_array().expect("data").iter().map(|e| e["type"].as_str().unwrap_or("").to_owned()).collect()
    };
    assert_eq!(types(t.get("/v1/events?type=customer.*").await), ["customer.created"]);
    assert_eq!(types(t.get("/v1/events?type=*.created&limit=100").await).len(), 4);
    assert_eq!(
        types(t.get("/v1/events?types[]=plan.created&types[]=product.created").await),
        ["plan.created", "product.created"]
    );
    assert_eq!(types(t.get("/v1/events?type=price.created").await), ["price.created"]);
    assert_eq!(t.get("/v1/events?type=a&types[]=b").await.status, 400);
}
