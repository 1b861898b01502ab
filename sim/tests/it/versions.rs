//! API versions: list and retrieve in the request's `Stripe-Version`,
//! events in the account default of their moment, endpoints in their own.

use serde_json::{json, Value};
use stripe_sim::{
    InvoiceParams, Kind, PriceParams, ProductParams, SimConfig, SubscriptionParams, API_VERSION, PRE_BASIL_API_VERSION,
};

use crate::helpers::{Receiver, TestSim};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// A subscription with `n` items of different intervals and a paid invoice
/// under it; returns (subscription, invoice).
fn billing(t: &TestSim, n: usize) -> (String, String) {
    let prod = id(&t.sim.create_product(ProductParams::named("Seats")).expect("product"));
    let prices: Vec<String> = (0..n)
        .map(|i| {
            let mut p = PriceParams::monthly(&prod, 100 + i as i64);
            if i == 0 {
                p.recurring = Some(stripe_sim::Recurring { interval: "week".into(), interval_count: 1 });
            }
            id(&t.sim.create_price(p).expect("price"))
        })
        .collect();
    let cus = t.customer("v@example.com");
    let items: Vec<(&str, u64)> = prices.iter().map(|p| (p.as_str(), 1)).collect();
    let sub = id(&t.sim.create_subscription(SubscriptionParams::new(&cus, &items)).expect("sub"));
    let inv = InvoiceParams { subscription: Some(sub.clone()), ..InvoiceParams::new(&cus, &[]) };
    let inv = id(&t.sim.create_invoice(inv).expect("invoice"));
    t.sim.pay_invoice(&inv).expect("paid");
    (sub, inv)
}

/// What the pre-basil shapes promise, checked on one subscription.
fn assert_pre_basil_subscription(sub: &Value, items: &[Value]) {
    let start = items.iter().filter_map(|i| i["current_period_start"].as_i64()).max();
    let end = items.iter().filter_map(|i| i["current_period_end"].as_i64()).min();
    assert_eq!(sub["current_period_start"].as_i64(), start, "latest item start");
    assert_eq!(sub["current_period_end"].as_i64(), end, "earliest item end");
    for item in sub["items"]["data"].as_array().expect("items") {
        assert!(item.get("current_period_start").is_none() && item.get("current_period_end").is_none());
    }
}

#[tokio::test]
async fn list_answers_in_the_requested_stripe_version() {
    let t = TestSim::start().await;
    let (sub, inv) = billing(&t, 12);
    let today_items = t.walk(&format!("/v1/subscription_items?subscription={sub}"), 100).await;
    let items: Vec<Value> =
        today_items.iter().map(|i| t.sim.retrieve(Kind::SubscriptionItem, i).expect("item")).collect();

    let old = t.get_at("/v1/subscriptions", PRE_BASIL_API_VERSION).await;
    assert_eq!(old.header("stripe-version"), Some(PRE_BASIL_API_VERSION));
    assert_pre_basil_subscription(&old.body["data"][0], &items);
    assert_eq!(old.body["data"][0]["items"]["has_more"], true, "12 items: still truncated at 10");
    let one = t.get_at(&format!("/v1/subscriptions/{sub}"), PRE_BASIL_API_VERSION).await;
    assert_eq!(one.body, old.body["data"][0]);
    let old_items = t.get_at(&format!("/v1/subscription_items?subscription={sub}"), PRE_BASIL_API_VERSION).await;
    assert!(old_items.body["data"][0].get("current_period_end").is_none());

    let old_inv = t.get_at(&format!("/v1/invoices/{inv}"), PRE_BASIL_API_VERSION).await.body;
    assert_eq!(old_inv["subscription"], sub.as_str());
    assert_eq!(old_inv["paid"], true);
    assert!(old_inv.get("parent").is_none());
    assert!(old_inv.get("payments").is_none());
    let listed = t.get_at("/v1/invoices", PRE_BASIL_API_VERSION).await;
    assert_eq!(listed.body["data"][0], old_inv);

    // Today's version (also what no header means): periods on items, parent on invoices.
    for now in [
        t.get(&format!("/v1/subscriptions/{sub}")).await,
        t.get_at(&format!("/v1/subscriptions/{sub}"), API_VERSION).await,
    ] {
        assert_eq!(now.header("stripe-version"), Some(API_VERSION));
        assert!(now.body.get("current_period_start").is_none());
        assert!(now.body["items"]["data"][0]["current_period_start"].as_i64().is_some());
    }
    let now_inv = t.get(&format!("/v1/invoices/{inv}")).await.body;
    assert_eq!(now_inv["parent"]["subscription_details"]["subscription"], sub.as_str());
    assert!(now_inv.get("paid").is_none());
    // A later release the simulator renders in today's shapes, named as asked.
    let endive = t.get_at(&format!("/v1/subscriptions/{sub}"), "2026-09-30.endive").await;
    assert_eq!(endive.header("stripe-version"), Some("2026-09-30.endive"));
    assert_eq!(endive.body, t.get(&format!("/v1/subscriptions/{sub}")).await.body);
}

#[tokio::test]
async fn an_unknown_stripe_version_is_400() {
    let t = TestSim::start().await;
    let r = t.get_at("/v1/customers", "2026-02-30.dahlia").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"error": {"message": "Invalid Stripe API version: 2026-02-30.dahlia", "type": "invalid_request_error"}})
    );
    // Beta flags after the version are Stripe's syntax, not another version.
    assert_eq!(t.get_at("/v1/customers", "2026-08-26.dahlia; some_beta=v1").await.status, 200);
    let config = SimConfig { default_api_version: "1999-01-01".into(), ..SimConfig::default() };
    assert!(stripe_sim::Sim::start(config).await.is_err());
    assert!(t.sim.set_default_api_version("nope").is_err());
}

#[tokio::test]
async fn events_keep_the_version_they_were_rendered_in() {
    let t = TestSim::start().await;
    let (sub, _) = billing(&t, 2);
    t.sim.set_default_api_version(PRE_BASIL_API_VERSION).expect("known version");
    assert_eq!(t.sim.default_api_version(), PRE_BASIL_API_VERSION);
    t.sim.update(Kind::Subscription, &sub, json!({"metadata": {"n": "1"}})).expect("update");
    let events = t.sim.events();
    let (newest, oldest) = (&events[0], events.last().expect("some"));
    assert_eq!(newest["type"], "customer.subscription.updated");
    assert_eq!(newest["api_version"], PRE_BASIL_API_VERSION);
    assert!(newest["data"]["object"]["current_period_end"].as_i64().is_some());
    assert_eq!(oldest["api_version"], API_VERSION);
    // Requests without a header now answer in the new default.
    assert!(t.get(&format!("/v1/subscriptions/{sub}")).await.body["current_period_end"].as_i64().is_some());
    // The Events API returns each as rendered, whatever Stripe-Version asks.
    for version in [API_VERSION, PRE_BASIL_API_VERSION] {
        let listed = t.get_at("/v1/events?limit=100", version).await;
        assert_eq!(listed.body["data"][0], *newest);
        assert_eq!(listed.body["data"].as_array().expect("data").last(), Some(oldest));
        let one = t.get_at(&format!("/v1/events/{}", oldest["id"].as_str().expect("id")), version).await;
        assert_eq!(one.body, *oldest);
    }
    // An invoice event in the old shape carries paid/subscription, and its
    // previous_attributes say what paid was.
    let inv = InvoiceParams {
        subscription: Some(sub.clone()),
        ..InvoiceParams::new(newest["data"]["object"]["customer"].as_str().expect("customer"), &[])
    };
    let inv = id(&t.sim.create_invoice(inv).expect("invoice"));
    t.sim.pay_invoice(&inv).expect("paid");
    let updated = t.sim.events().into_iter().find(|e| e["type"] == "invoice.updated").expect("invoice.updated");
    assert_eq!(updated["data"]["object"]["paid"], true);
    assert_eq!(updated["data"]["object"]["subscription"], sub.as_str());
    assert_eq!(updated["data"]["previous_attributes"]["paid"], false);
}

#[tokio::test]
async fn an_endpoint_with_a_pinned_version_receives_events_in_that_version() {
    let t = TestSim::start().await;
    let (dashboard, pinned_old, pinned_now) =
        (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    t.sim.add_webhook_endpoint(&dashboard.url, vec!["whsec_d".into()]);
    let extra = format!("&api_version={PRE_BASIL_API_VERSION}");
    t.create_endpoint(&pinned_old.url, &["customer.subscription.created"], &extra).await;
    t.create_endpoint(&pinned_now.url, &["*"], &format!("&api_version={API_VERSION}")).await;
    t.sim.set_default_api_version("2026-09-30.endive").expect("known");
    let (sub, _) = billing(&t, 2);
    t.sim.flush_webhooks().await.expect("drained");

    let created = |got: Vec<crate::helpers::Delivery>| {
        got.into_iter().map(|d| d.event()).find(|e| e["type"] == "customer.subscription.created").expect("sent")
    };
    let old = created(pinned_old.drain().await);
    let now = created(pinned_now.drain().await);
    let dash = created(dashboard.drain().await);
    assert_eq!(old["id"], now["id"], "one event, several renderings");
    assert_eq!(dash["id"], now["id"]);
    assert_eq!(old["api_version"], PRE_BASIL_API_VERSION);
    assert_eq!(now["api_version"], API_VERSION);
    assert_eq!(dash["api_version"], "2026-09-30.endive", "api_version null: the account default then");
    let items: Vec<Value> = now["data"]["object"]["items"]["data"].as_array().expect("items").clone();
    assert_pre_basil_subscription(&old["data"]["object"], &items);
    assert_eq!(old["data"]["object"]["id"], sub.as_str());
    // The Events API holds the account-default rendering.
    let stored = t.get(&format!("/v1/events/{}", now["id"].as_str().expect("id"))).await.body;
    assert_eq!(stored, dash);
}

#[tokio::test]
async fn snapshots_render_in_the_version_asked_and_default_to_the_pinned_one() {
    let t = TestSim::start().await;
    let (sub, inv) = billing(&t, 3);
    t.sim.set_default_api_version(PRE_BASIL_API_VERSION).expect("known");
    let pinned = t.sim.snapshot(Kind::Subscription);
    assert!(pinned[0].value().get("current_period_start").is_none(), "snapshot() is at the pinned version");
    let old = t.sim.snapshot_at(Kind::Subscription, PRE_BASIL_API_VERSION).expect("known");
    assert_eq!(old[0].id, sub);
    assert!(old[0].value()["current_period_start"].as_i64().is_some());
    let invoices = t.sim.snapshot_at(Kind::Invoice, PRE_BASIL_API_VERSION).expect("known");
    assert_eq!(invoices[0].id, inv);
    assert_eq!(invoices[0].value()["paid"], true);
    assert!(t.sim.snapshot_at(Kind::Invoice, "2030-01-01").is_err());
    let at = t.sim.retrieve_at(Kind::Invoice, &inv, PRE_BASIL_API_VERSION).expect("known").expect("found");
    assert_eq!(at, invoices[0].value());
}
