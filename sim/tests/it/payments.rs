//! The payment-side kinds: list, retrieve, paginate, filters, events and
//! their webhooks, detach, refunds.

use serde_json::{json, Value};
use stripe_sim::{
    ChargeParams, CheckoutLineParams, CheckoutSessionParams, DisputeParams, Kind, PaymentIntentParams,
    PaymentMethodParams, PriceParams, ProductParams, RefundParams, SetupIntentParams,
};

use crate::helpers::{Receiver, TestSim};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn payment_intents_list_newest_first_page_and_filter_by_customer() {
    let t = TestSim::start().await;
    let cus = t.customer("p@example.com");
    let mut made = Vec::new();
    for i in 0..7 {
        let customer = (i % 2 == 0).then(|| cus.clone());
        let pi = t.sim.create_payment_intent(PaymentIntentParams { amount: 100 + i, customer, ..Default::default() });
        made.push(id(&pi.expect("pi")));
    }
    made.reverse();
    assert_eq!(t.walk("/v1/payment_intents", 3).await, made);
    let mine = t.get(&format!("/v1/payment_intents?customer={cus}")).await;
    assert_eq!(mine.ids().len(), 4);
    let one = t.get(&format!("/v1/payment_intents/{}", made[0])).await;
    assert_eq!(one.body["object"], "payment_intent");
    assert_eq!(one.body["status"], "requires_payment_method");
}

#[tokio::test]
async fn a_succeeded_payment_intent_makes_a_charge_and_both_events_are_delivered() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_x".into()]);
    let pi = id(&t.sim.create_payment_intent(PaymentIntentParams { amount: 500, ..Default::default() }).expect("pi"));
    let done = t.sim.transition(Kind::PaymentIntent, &pi, "succeeded", json!({})).expect("succeeded");
    assert_eq!(done["status"], "succeeded");
    let charge = done["latest_charge"].as_str().expect("charge").to_owned();
    let listed = t.get(&format!("/v1/charges?payment_intent={pi}")).await;
    assert_eq!(listed.ids(), std::slice::from_ref(&charge));
    t.sim.flush_webhooks().await.expect("drained");
    let types: Vec<String> =
        rx.drain().await.iter().map(|d| d.event()["type"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(types, ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]);
    let events = t.get("/v1/events?type=charge.*").await;
    assert_eq!(events.body["data"][0]["data"]["object"]["id"], charge.as_str());
}

#[tokio::test]
async fn a_refund_emits_refund_created_and_charge_refunded_with_the_charge() {
    let t = TestSim::start().await;
    let ch = id(&t.sim.create_charge(ChargeParams { amount: 1000, ..Default::default() }).expect("charge"));
    let re = t.sim.create_refund(RefundParams { charge: ch.clone(), amount: Some(400), ..Default::default() });
    let re = id(&re.expect("refund"));
    let charge = t.get(&format!("/v1/charges/{ch}")).await.body;
    assert_eq!(charge["amount_refunded"], 400);
    assert_eq!(charge["refunded"], false);
    assert!(charge.get("refunds").is_none(), "not included by default since 2022-11-15");
    let evs = t.get("/v1/events?limit=3").await.body;
    assert_eq!(evs["data"][0]["type"], "charge.refunded");
    assert_eq!(evs["data"][0]["data"]["object"]["id"], ch.as_str());
    assert_eq!(evs["data"][1]["type"], "refund.created");
    assert_eq!(t.get(&format!("/v1/refunds?charge={ch}")).await.ids(), [re]);
    let too_much = t.sim.create_refund(RefundParams { charge: ch, amount: Some(700), ..Default::default() });
    assert!(too_much.is_err());
}

#[tokio::test]
async fn dispute_events_carry_the_dispute_object() {
    let t = TestSim::start().await;
    let ch = id(&t.sim.create_charge(ChargeParams { amount: 800, ..Default::default() }).expect("charge"));
    let dp = id(&t.sim.create_dispute(DisputeParams { charge: ch.clone(), ..Default::default() }).expect("dispute"));
    t.sim.transition(Kind::Dispute, &dp, "funds_withdrawn", json!({})).expect("withdrawn");
    t.sim.transition(Kind::Dispute, &dp, "closed", json!({"status": "won"})).expect("closed");
    let evs = t.get("/v1/events?type=charge.dispute.*").await.body;
    let types: Vec<&str> = evs["data"].as_array().expect("data").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["charge.dispute.closed", "charge.dispute.funds_withdrawn", "charge.dispute.created"]);
    assert_eq!(evs["data"][0]["data"]["object"]["object"], "dispute");
    assert_eq!(evs["data"][0]["data"]["object"]["status"], "won");
    assert_eq!(t.get(&format!("/v1/disputes?charge={ch}")).await.ids(), [dp]);
}

#[tokio::test]
async fn a_detached_payment_method_is_still_retrievable_but_no_longer_listed() {
    let t = TestSim::start().await;
    let cus = t.customer("pm@example.com");
    let pm = t.sim.create_payment_method(PaymentMethodParams { customer: Some(cus.clone()), ..Default::default() });
    let pm = id(&pm.expect("pm"));
    assert_eq!(t.get(&format!("/v1/payment_methods?customer={cus}")).await.ids(), std::slice::from_ref(&pm));
    assert_eq!(t.get(&format!("/v1/customers/{cus}/payment_methods")).await.ids(), std::slice::from_ref(&pm));
    t.sim.detach_payment_method(&pm).expect("detached");
    let got = t.get(&format!("/v1/payment_methods/{pm}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["customer"], Value::Null);
    assert!(t.get(&format!("/v1/payment_methods?customer={cus}")).await.ids().is_empty());
    assert!(t.get("/v1/payment_methods").await.ids().is_empty(), "listed per customer only");
    let evs = t.get("/v1/events?type=payment_method.*").await.body;
    assert_eq!(evs["data"][0]["type"], "payment_method.detached");
    assert_eq!(evs["data"][1]["type"], "payment_method.attached");
    assert_eq!(t.sim.snapshot(Kind::PaymentMethod).len(), 1);
}

#[tokio::test]
async fn setup_intents_filter_by_customer_and_emit_their_events() {
    let t = TestSim::start().await;
    let cus = t.customer("si@example.com");
    let si = t.sim.create_setup_intent(SetupIntentParams { customer: Some(cus.clone()), ..Default::default() });
    let si = id(&si.expect("si"));
    t.sim.create_setup_intent(SetupIntentParams::default()).expect("other");
    t.sim.transition(Kind::SetupIntent, &si, "succeeded", json!({})).expect("succeeded");
    assert_eq!(t.get(&format!("/v1/setup_intents?customer={cus}")).await.ids(), std::slice::from_ref(&si));
    assert_eq!(t.get(&format!("/v1/setup_intents/{si}")).await.body["status"], "succeeded");
    assert_eq!(t.get("/v1/events?limit=1").await.body["data"][0]["type"], "setup_intent.succeeded");
    assert!(t.sim.transition(Kind::SetupIntent, &si, "no_such_verb", json!({})).is_err());
}

#[tokio::test]
async fn checkout_line_items_are_not_embedded_and_page_oldest_first() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("Shirt")).expect("product"));
    let prices: Vec<String> =
        (0..12).map(|i| id(&t.sim.create_price(PriceParams::one_time(&prod, 100 * (i + 1))).expect("price"))).collect();
    let line_items = prices.iter().map(|p| CheckoutLineParams { price: p.clone(), quantity: Some(2) }).collect();
    let cs = t.sim.create_checkout_session(CheckoutSessionParams { line_items, ..Default::default() }).expect("cs");
    let cs = id(&cs);
    let got = t.get(&format!("/v1/checkout/sessions/{cs}")).await.body;
    assert_eq!(got["object"], "checkout.session");
    assert!(got.get("line_items").is_none());
    assert_eq!(got["amount_total"], 2 * 100 * (1..=12).sum::<i64>());
    let items = t.walk(&format!("/v1/checkout/sessions/{cs}/line_items"), 5).await;
    assert_eq!(items.len(), 12);
    let first = t.get(&format!("/v1/checkout/sessions/{cs}/line_items?limit=1")).await.body;
    assert_eq!(first["data"][0]["object"], "item");
    assert_eq!(first["data"][0]["price"]["id"], prices[0].as_str());
    assert_eq!(first["url"], format!("/v1/checkout/sessions/{cs}/line_items"));
    assert_eq!(t.get("/v1/events?limit=100").await.ids().len(), 13, "no checkout.session.created");
}

#[tokio::test]
async fn expired_checkout_sessions_are_still_listed_and_filter_by_status() {
    let t = TestSim::start().await;
    let a = id(&t.sim.create_checkout_session(CheckoutSessionParams::default()).expect("a"));
    let b = id(&t.sim.create_checkout_session(CheckoutSessionParams::default()).expect("b"));
    t.sim.transition(Kind::CheckoutSession, &a, "expired", json!({})).expect("expired");
    t.sim.transition(Kind::CheckoutSession, &b, "completed", json!({})).expect("completed");
    assert_eq!(t.get("/v1/checkout/sessions").await.ids(), [b.clone(), a.clone()]);
    assert_eq!(t.get("/v1/checkout/sessions?status=expired").await.ids(), std::slice::from_ref(&a));
    assert_eq!(t.get("/v1/checkout/sessions?status=bogus").await.status, 400);
    assert!(t.sim.transition(Kind::CheckoutSession, &a, "completed", json!({})).is_err());
    let evs = t.get("/v1/events").await.body;
    assert_eq!(evs["data"][0]["type"], "checkout.session.completed");
    assert_eq!(evs["data"][0]["data"]["object"]["payment_status"], "paid");
    assert_eq!(evs["data"][1]["type"], "checkout.session.expired");
}

#[tokio::test]
async fn endpoints_get_only_the_payment_events_they_enabled() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    t.create_endpoint(&rx.url, &["charge.succeeded"], "").await;
    t.sim.create_payment_intent(PaymentIntentParams { amount: 1, ..Default::default() }).expect("pi");
    t.sim.create_charge(ChargeParams { amount: 1, ..Default::default() }).expect("charge");
    t.sim.flush_webhooks().await.expect("drained");
    let got = rx.drain().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event()["type"], "charge.succeeded");
}
