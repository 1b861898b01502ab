//! Coupons, promotion codes, tax rates, credit notes, invoice items and
//! subscription schedules.

use serde_json::{json, Value};
use stripe_sim::{
    CouponParams, CreditNoteLineParams, CreditNoteParams, InvoiceItemParams, InvoiceParams, Kind, PromotionCodeParams,
    SubscriptionScheduleParams, TaxRateParams,
};

use crate::helpers::TestSim;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_deleted_coupon_id_can_be_created_again() {
    let t = TestSim::start().await;
    let c =
        t.sim.create_coupon(CouponParams { id: Some("SUMMER".into()), percent_off: Some(20.0), ..Default::default() });
    assert_eq!(c.expect("coupon")["percent_off"], 20.0);
    assert!(t.sim.create_coupon(CouponParams { id: Some("SUMMER".into()), ..Default::default() }).is_err());
    let stub = t.sim.delete(Kind::Coupon, "SUMMER").expect("deleted");
    assert_eq!(stub, json!({"deleted": true, "id": "SUMMER", "object": "coupon"}));
    assert_eq!(t.get("/v1/coupons/SUMMER").await.body["deleted"], true);
    assert!(t.get("/v1/coupons").await.ids().is_empty());
    t.sim
        .create_coupon(CouponParams { id: Some("SUMMER".into()), percent_off: Some(30.0), ..Default::default() })
        .expect("again");
    let got = t.get("/v1/coupons/SUMMER").await.body;
    assert_eq!(got["percent_off"], 30.0);
    let types: Vec<String> = t.get("/v1/events").await.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(types, ["coupon.created", "coupon.deleted", "coupon.created"]);
}

#[tokio::test]
async fn promotion_codes_and_tax_rates_filter_and_update() {
    let t = TestSim::start().await;
    let coupon = id(&t.sim.create_coupon(CouponParams::default()).expect("coupon"));
    let promo = t.sim.create_promotion_code(PromotionCodeParams {
        coupon: coupon.clone(),
        code: Some("FALL".into()),
        ..Default::default()
    });
    let promo = id(&promo.expect("promo"));
    t.sim.update(Kind::PromotionCode, &promo, json!({"active": false})).expect("updated");
    assert_eq!(t.get("/v1/promotion_codes?active=false").await.ids(), std::slice::from_ref(&promo));
    assert_eq!(
        t.get(&format!("/v1/promotion_codes?coupon={coupon}&code=FALL")).await.ids(),
        std::slice::from_ref(&promo)
    );
    assert!(t.get("/v1/promotion_codes?active=true").await.ids().is_empty());
    let tax = id(&t
        .sim
        .create_tax_rate(TaxRateParams { percentage: 19.0, inclusive: true, ..Default::default() })
        .expect("tax"));
    t.sim.create_tax_rate(TaxRateParams { percentage: 7.0, ..Default::default() }).expect("tax");
    assert_eq!(t.get("/v1/tax_rates?inclusive=true").await.ids(), [tax]);
    let ev = t.get("/v1/events?type=promotion_code.updated").await.body;
    assert_eq!(ev["data"][0]["data"]["previous_attributes"], json!({"active": true}));
    assert!(t.sim.delete(Kind::TaxRate, "txr_x").is_err(), "no delete for tax rates");
}

#[tokio::test]
async fn credit_note_lines_are_truncated_at_ten_and_paged() {
    let t = TestSim::start().await;
    let cus = t.customer("cn@example.com");
    let inv = t.sim.create_invoice(InvoiceParams {
        customer: cus.clone(),
        lines: vec![stripe_sim::LineParams { unit_amount: Some(5000), ..Default::default() }],
        ..Default::default()
    });
    let inv = id(&inv.expect("invoice"));
    t.sim.finalize_invoice(&inv).expect("open");
    let lines = (1..=13).map(|i| CreditNoteLineParams { amount: i, description: None }).collect();
    let cn = t.sim.create_credit_note(CreditNoteParams { invoice: inv.clone(), lines, ..Default::default() });
    let cn = cn.expect("credit note");
    assert_eq!(cn["lines"]["data"].as_array().map(Vec::len), Some(10));
    assert_eq!(cn["lines"]["has_more"], true);
    assert_eq!(cn["amount"], (1..=13).sum::<i64>());
    let cn = id(&cn);
    let all = t.walk(&format!("/v1/credit_notes/{cn}/lines"), 4).await;
    assert_eq!(all.len(), 13);
    assert_eq!(t.get(&format!("/v1/credit_notes?invoice={inv}")).await.ids(), std::slice::from_ref(&cn));
    t.sim.transition(Kind::CreditNote, &cn, "voided", json!({})).expect("voided");
    assert_eq!(t.get(&format!("/v1/credit_notes/{cn}")).await.body["status"], "void");
    assert_eq!(t.get("/v1/credit_notes").await.ids(), [cn], "void credit notes stay listed");
    let ev = t.get("/v1/events?limit=2").await.body;
    assert_eq!(ev["data"][0]["type"], "credit_note.voided");
    assert_eq!(ev["data"][1]["type"], "credit_note.created");
}

#[tokio::test]
async fn invoice_items_filter_by_pending_and_delete_with_an_event() {
    let t = TestSim::start().await;
    let cus = t.customer("ii@example.com");
    let pending = id(&t
        .sim
        .create_invoice_item(InvoiceItemParams { customer: cus.clone(), amount: 300, ..Default::default() })
        .expect("ii"));
    let inv = id(&t.sim.create_invoice(InvoiceParams::new(&cus, &[])).expect("invoice"));
    let billed = t.sim.create_invoice_item(InvoiceItemParams {
        customer: cus.clone(),
        amount: 200,
        invoice: Some(inv),
        ..Default::default()
    });
    let billed = id(&billed.expect("ii"));
    assert_eq!(t.get("/v1/invoiceitems?pending=true").await.ids(), std::slice::from_ref(&pending));
    assert_eq!(t.get(&format!("/v1/invoiceitems?customer={cus}")).await.ids(), [billed, pending.clone()]);
    t.sim.delete(Kind::InvoiceItem, &pending).expect("deleted");
    assert_eq!(t.get(&format!("/v1/invoiceitems/{pending}")).await.body["deleted"], true);
    assert_eq!(t.get("/v1/events?limit=1").await.body["data"][0]["type"], "invoiceitem.deleted");
    let snap = t.sim.snapshot(Kind::InvoiceItem);
    assert_eq!(snap.iter().filter(|r| r.deleted).count(), 1);
}

#[tokio::test]
async fn subscription_schedules_move_through_their_events_over_http() {
    let t = TestSim::start().await;
    let cus = t.customer("ss@example.com");
    let ss = id(&t
        .sim
        .create_subscription_schedule(SubscriptionScheduleParams { customer: cus.clone(), ..Default::default() })
        .expect("ss"));
    assert_eq!(t.get("/v1/subscription_schedules?scheduled=true").await.ids(), std::slice::from_ref(&ss));
    let url = format!("{}/_sim/subscription_schedules/{ss}/canceled", t.sim.base_url());
    let resp = t.http.post(url).body("{}").send().await.expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    let got = t.get(&format!("/v1/subscription_schedules/{ss}")).await.body;
    assert_eq!(got["status"], "canceled");
    assert_eq!(t.get(&format!("/v1/subscription_schedules?customer={cus}")).await.ids(), [ss]);
    let ev = t.get("/v1/events?type=subscription_schedule.*").await.body;
    assert_eq!(ev["data"][0]["type"], "subscription_schedule.canceled");
    assert_eq!(ev["data"][1]["type"], "subscription_schedule.created");
    let created = format!("{}/_sim/coupons", t.sim.base_url());
    let resp = t.http.post(created).body(r#"{"id":"HTTP10","percent_off":10}"#).send().await.expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(t.get("/v1/coupons/HTTP10").await.body["object"], "coupon");
}
