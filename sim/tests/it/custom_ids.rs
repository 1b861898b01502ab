//! Caller-chosen ids: a deleted product's (or plan's) id can be created
//! again, and the new incarnation is the one reads and snapshots show.

use serde_json::{json, Value};
use stripe_sim::{CustomerParams, Kind, PriceParams, ProductParams, SubscriptionParams};

use crate::helpers::TestSim;

fn named(id: &str, name: &str) -> ProductParams {
    ProductParams { id: Some(id.to_owned()), ..ProductParams::named(name) }
}

#[tokio::test]
async fn a_deleted_product_id_can_be_created_again_as_a_new_incarnation() {
    let t = TestSim::start().await;
    t.sim.set_clock(Some(1_700_000_000));
    let first = t.sim.create_product(named("gold", "Gold")).expect("created");
    assert!(t.sim.create_product(named("gold", "Again")).is_err(), "a live id is taken");
    t.sim.advance(10);
    t.sim.delete(Kind::Product, "gold").expect("deleted");
    assert_eq!(t.get("/v1/products/gold").await.body, json!({"id": "gold", "object": "product", "deleted": true}));
    t.sim.advance(10);
    let second = t.sim.create_product(named("gold", "Gold 2")).expect("created again");
    assert_eq!(second["created"], 1_700_000_020);
    assert!(second["created"].as_i64() > first["created"].as_i64());

    let got = t.get("/v1/products/gold").await.body;
    assert_eq!(got, second);
    assert_eq!(t.get("/v1/products").await.ids(), ["gold"], "listed once, as the new one");
    let snap = t.sim.snapshot(Kind::Product);
    assert_eq!(snap.len(), 1);
    assert!(!snap[0].deleted);
    assert_eq!(snap[0].value(), second);
    // Events: created, deleted, created; the old ones keep the old incarnation.
    let events: Vec<Value> = t.sim.events().into_iter().rev().collect();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap_or(""), e["data"]["object"]["name"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(seen, [("product.created", "Gold"), ("product.deleted", "Gold"), ("product.created", "Gold 2")]);
    assert_eq!(events[0]["data"]["object"]["created"], 1_700_000_000);
}

#[tokio::test]
async fn a_plan_created_again_leaves_old_subscriptions_on_the_old_incarnation() {
    let t = TestSim::start().await;
    let prod = t.sim.create_product(named("prod_seats", "Seats")).expect("product");
    let price = |amount| PriceParams { id: Some("seat-monthly".into()), ..PriceParams::monthly("prod_seats", amount) };
    t.sim.create_price(price(500)).expect("plan");
    let cus = t.sim.create_customer(CustomerParams::email("p@example.com")).expect("customer");
    let cus = cus["id"].as_str().expect("id");
    let sub = t.sim.create_subscription(SubscriptionParams::new(cus, &[("seat-monthly", 1)])).expect("sub");
    t.sim.delete(Kind::Price, "seat-monthly").expect("deleted");
    t.sim.advance(1);
    let again = t.sim.create_price(price(700)).expect("created again");
    assert_eq!(t.get("/v1/plans/seat-monthly").await.body["amount"], 700);
    assert_eq!(t.get("/v1/prices/seat-monthly").await.body, again);
    let old = t.get(&format!("/v1/subscriptions/{}", sub["id"].as_str().expect("id"))).await.body;
    assert_eq!(old["items"]["data"][0]["price"]["unit_amount"], 500, "the old subscription keeps the old plan");
    assert_eq!(old["items"]["data"][0]["plan"]["amount"], 500);
    let _ = prod;
}
