//! Accounts and keys: `GET /v1/account`, modes from key prefixes, keys of
//! other accounts, restricted keys.

use serde_json::json;
use stripe_sim::{Kind, SimConfig};

use crate::helpers::{Receiver, TestSim};

#[tokio::test]
async fn the_account_endpoint_names_the_keys_account() {
    let t = TestSim::start().await;
    let r = t.get("/v1/account").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], "acct_1SimMain00000000");
    assert_eq!(r.body["object"], "account");
    assert_eq!(r.body["type"], "standard");
    for key in ["business_profile", "charges_enabled", "country", "default_currency", "details_submitted"] {
        assert!(r.body.get(key).is_some(), "{key}");
    }
    for key in ["email", "payouts_enabled", "settings", "created"] {
        assert!(r.body.get(key).is_some(), "{key}");
    }
    let custom = TestSim::start_with(SimConfig { account_id: "acct_1Custom".into(), ..SimConfig::default() }).await;
    assert_eq!(custom.get("/v1/account").await.body["id"], "acct_1Custom");
}

#[tokio::test]
async fn a_key_of_another_account_sees_an_empty_account() {
    let t = TestSim::start().await;
    let cus = t.customer("mine@example.com");
    t.sim.add_other_account_key("sk_test_other", "acct_1Other");
    let t = &t;
    let other = |path: String| async move { t.get_with_key(&path, Some("sk_test_other")).await };
    assert_eq!(other("/v1/account".into()).await.body["id"], "acct_1Other");
    let list = other("/v1/customers".into()).await;
    assert_eq!((list.status, list.ids().len(), list.has_more()), (200, 0, false));
    assert!(other("/v1/events".into()).await.ids().is_empty());
    let r = other(format!("/v1/customers/{cus}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert!(other("/v1/webhook_endpoints".into()).await.ids().is_empty());
    // The main key still sees everything.
    assert_eq!(t.get("/v1/customers").await.ids(), [cus]);
}

#[tokio::test]
async fn a_restricted_key_reads_objects_but_not_the_account() {
    let t = TestSim::start().await;
    let cus = t.customer("r@example.com");
    let key = "rk_test_51Restricted000000000000qs8Kgd";
    t.sim.add_restricted_key(key);
    assert_eq!(t.get_with_key("/v1/customers", Some(key)).await.ids(), std::slice::from_ref(&cus));
    assert_eq!(t.get_with_key(&format!("/v1/customers/{cus}"), Some(key)).await.status, 200);
    let r = t.get_with_key("/v1/account", Some(key)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    let message = r.body["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("The provided key 'rk_test_"), "{message}");
    assert!(message.contains("qs8Kgd' does not have the required permissions for this endpoint"), "{message}");
    assert!(message.contains("on account 'acct_1SimMain00000000'"), "{message}");
    assert!(!message.contains("Restricted0000"), "the key is masked: {message}");
    assert_eq!(r.header("stripe-should-retry"), Some("false"));
}

#[tokio::test]
async fn a_key_can_lose_access_to_one_resource() {
    let t = TestSim::start().await;
    t.sim.add_restricted_key("rk_test_noinvoices");
    t.sim.restrict_key("rk_test_noinvoices", &["/v1/invoices"]).expect("known key");
    let key = Some("rk_test_noinvoices");
    for path in ["/v1/invoices", "/v1/invoices/in_1", "/v1/invoices/in_1/lines"] {
        let r = t.get_with_key(path, key).await;
        assert_eq!(r.status, 403, "{path}");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("'rak_invoice_read'")));
    }
    // `/v1/invoiceitems` shares the prefix but is another resource (served
    // since the simulator has invoice items): not denied.
    assert_eq!(t.get_with_key("/v1/invoiceitems", key).await.status, 200, "only the prefix itself is denied");
    assert_eq!(t.get_with_key("/v1/customers", key).await.status, 200);
    assert!(t.sim.restrict_key("rk_test_unknown", &["/v1/invoices"]).is_err());
}

#[tokio::test]
async fn a_live_key_makes_objects_and_events_live() {
    let config = SimConfig { api_key: "sk_live_sim".into(), ..SimConfig::default() };
    let t = TestSim::start_with(config).await;
    assert!(t.sim.livemode());
    let rx = Receiver::start().await;
    t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_x".into()]);
    let cus = t.customer("live@example.com");
    assert_eq!(t.get(&format!("/v1/customers/{cus}")).await.body["livemode"], true);
    let product = t.sim.create_product(stripe_sim::ProductParams::named("Live")).expect("product");
    let price = t.sim.create_price(stripe_sim::PriceParams::monthly(product["id"].as_str().expect("id"), 5));
    let price = price.expect("price");
    assert_eq!(price["livemode"], true);
    let sub =
        t.sim.create_subscription(stripe_sim::SubscriptionParams::new(&cus, &[(price["id"].as_str().expect("id"), 1)]));
    let sub = sub.expect("subscription");
    assert_eq!(sub["livemode"], true);
    assert_eq!(sub["items"]["data"][0]["price"]["livemode"], true);
    assert_eq!(sub["items"]["data"][0]["plan"]["livemode"], true);
    let inv = stripe_sim::InvoiceParams::new(&cus, &[price["id"].as_str().expect("id")]);
    let inv = t.sim.create_invoice(inv).expect("invoice");
    assert_eq!(inv["livemode"], true);
    assert_eq!(inv["lines"]["data"][0]["livemode"], true);
    t.sim.flush_webhooks().await.expect("drained");
    let got = rx.drain().await;
    assert!(got.iter().all(|d| d.event()["livemode"] == true), "every event is live");
    assert_eq!(t.get("/v1/events?limit=1").await.body["data"][0]["livemode"], true);
    let ep = t.create_endpoint("https://x.example", &["*"], "").await;
    assert_eq!(ep["livemode"], true);
    // The test-mode default stays test mode.
    let test = TestSim::start().await;
    let c = test.customer("t@example.com");
    assert_eq!(test.sim.retrieve(Kind::Customer, &c).expect("found")["livemode"], json!(false));
}
