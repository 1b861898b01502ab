//! Embedded lists (subscription items, invoice lines): ten embedded with
//! `has_more`, the rest through their own list endpoints.

use serde_json::Value;
use stripe_sim::{InvoiceParams, Kind, PriceParams, ProductParams, SubscriptionParams};

use crate::helpers::TestSim;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

async fn prices(t: &TestSim, n: usize) -> Vec<String> {
    let prod = id(&t.sim.create_product(ProductParams::named("Many")).expect("product"));
    (0..n).map(|i| id(&t.sim.create_price(PriceParams::monthly(&prod, 100 + i as i64)).expect("price"))).collect()
}

#[tokio::test]
async fn subscription_with_250_items_embeds_ten_and_pages_the_rest() {
    let t = TestSim::start().await;
    let prices = prices(&t, 250).await;
    let cus = t.customer("big@example.com");
    let items: Vec<(&str, u64)> = prices.iter().map(|p| (p.as_str(), 1)).collect();
    let sub = t.sim.create_subscription(SubscriptionParams::new(&cus, &items)).expect("sub");
    let sub_id = id(&sub);

    let got = t.get(&format!("/v1/subscriptions/{sub_id}")).await.body;
    let embedded = &got["items"];
    assert_eq!(embedded["object"], "list");
    assert_eq!(embedded["data"].as_array().expect("data").len(), 10);
    assert_eq!(embedded["has_more"], true);
    assert_eq!(embedded["total_count"], 250);
    assert_eq!(embedded["url"], format!("/v1/subscription_items?subscription={sub_id}"));
    let first = &embedded["data"][0];
    assert_eq!(first["object"], "subscription_item");
    assert_eq!(first["subscription"], sub_id.as_str());
    assert_eq!(first["price"]["object"], "price");
    assert_eq!(first["price"]["id"], prices[0].as_str());
    assert!(first["current_period_end"].as_i64() > first["current_period_start"].as_i64());
    assert!(got.get("current_period_start").is_none(), "periods live on items");

    // The mirror's way: continue after the last embedded item.
    let last = id(&embedded["data"][9]);
    let mut all: Vec<String> = embedded["data"].as_array().expect("data").iter().map(id).collect();
    all.extend(t.walk(&format!("/v1/subscription_items?subscription={sub_id}&starting_after={last}"), 100).await);
    assert_eq!(all.len(), 250);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 250);
    let item = t.get(&format!("/v1/subscription_items/{}", all[200])).await;
    assert_eq!(item.status, 200);
    assert_eq!(item.body["subscription"], sub_id.as_str());
}

#[tokio::test]
async fn invoice_with_25_lines_embeds_ten_and_pages_the_rest() {
    let t = TestSim::start().await;
    let prices = prices(&t, 25).await;
    let cus = t.customer("lines@example.com");
    let refs: Vec<&str> = prices.iter().map(String::as_str).collect();
    let inv = t.sim.create_invoice(InvoiceParams::new(&cus, &refs)).expect("invoice");
    let inv_id = id(&inv);
    let lines = &inv["lines"];
    assert_eq!(lines["data"].as_array().expect("data").len(), 10);
    assert_eq!(lines["has_more"], true);
    assert_eq!(lines["url"], format!("/v1/invoices/{inv_id}/lines"));
    let line = &lines["data"][0];
    assert_eq!(line["object"], "line_item");
    assert_eq!(line["pricing"]["price_details"]["price"], prices[0].as_str());
    let rest = t.walk(&format!("/v1/invoices/{inv_id}/lines"), 7).await;
    assert_eq!(rest.len(), 25);
    assert_eq!(rest[..10], lines["data"].as_array().expect("data").iter().map(id).collect::<Vec<_>>()[..]);
    assert_eq!(t.get("/v1/invoices/in_nope/lines").await.status, 404);
}

#[tokio::test]
async fn recurring_prices_are_also_plans_with_the_same_id() {
    let t = TestSim::start().await;
    let prices = prices(&t, 1).await;
    let plan = t.get(&format!("/v1/plans/{}", prices[0])).await;
    assert_eq!(plan.status, 200);
    assert_eq!(plan.body["object"], "plan");
    assert_eq!(plan.body["amount"], 100);
    assert_eq!(plan.body["interval"], "month");
    let price = t.get(&format!("/v1/prices/{}", prices[0])).await;
    assert_eq!(plan.body["created"], price.body["created"]);
}

#[tokio::test]
async fn objects_keep_the_fixtures_legacy_keys() {
    let t = TestSim::start().await;
    let prices = prices(&t, 1).await;
    let cus = t.customer("legacy@example.com");
    let sub = t.sim.create_subscription(SubscriptionParams::new(&cus, &[(&prices[0], 1)])).expect("sub");
    assert_eq!(sub["items"]["data"][0]["plan"]["object"], "plan");
    let prod = t.get("/v1/products?limit=1").await;
    assert_eq!(prod.body["data"][0]["type"], "good");
    assert_eq!(sub["currency"], "usd");
    assert_eq!(sub["livemode"], false);
}

#[tokio::test]
async fn a_canceled_subscriptions_items_list_is_empty_though_it_still_embeds_them() {
    let t = TestSim::start().await;
    let prices = prices(&t, 12).await;
    let cus = t.customer("canceled@example.com");
    let items: Vec<(&str, u64)> = prices.iter().map(|p| (p.as_str(), 1)).collect();
    let sub = id(&t.sim.create_subscription(SubscriptionParams::new(&cus, &items)).expect("sub"));
    assert_eq!(t.walk(&format!("/v1/subscription_items?subscription={sub}"), 100).await.len(), 12);
    t.sim.cancel_subscription(&sub).expect("canceled");
    assert_eq!(t.walk(&format!("/v1/subscription_items?subscription={sub}"), 100).await.len(), 12, "by default");
    t.sim.update_faults(|f| f.api.canceled_subscription_items_empty = true);
    let list = t.get(&format!("/v1/subscription_items?subscription={sub}")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"], serde_json::json!([]));
    assert!(!list.has_more());
    let got = t.get(&format!("/v1/subscriptions/{sub}")).await.body;
    assert_eq!(got["status"], "canceled");
    assert_eq!(got["items"]["data"].as_array().expect("data").len(), 10, "embedded, truncated as before");
    assert_eq!(got["items"]["has_more"], true);
}

#[tokio::test]
async fn a_deleted_invoices_lines_are_resource_missing() {
    let t = TestSim::start().await;
    let prices = prices(&t, 2).await;
    let cus = t.customer("draft@example.com");
    let refs: Vec<&str> = prices.iter().map(String::as_str).collect();
    let inv = id(&t.sim.create_invoice(InvoiceParams::new(&cus, &refs)).expect("invoice"));
    assert_eq!(t.get(&format!("/v1/invoices/{inv}/lines")).await.ids().len(), 2);
    t.sim.delete(Kind::Invoice, &inv).expect("deleted");
    let r = t.get(&format!("/v1/invoices/{inv}/lines")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert_eq!(r.body["error"]["message"], format!("No such invoice: '{inv}'"));
}
