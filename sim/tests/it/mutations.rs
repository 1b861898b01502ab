//! Dashboard operations: their events, their effect on reads, snapshots.

use serde_json::{json, Value};
use stripe_sim::{InvoiceParams, ItemParams, Kind, PriceParams, ProductParams, SubscriptionParams, SubscriptionUpdate};

use crate::helpers::TestSim;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap_or("")).collect()
}

#[tokio::test]
async fn updates_carry_previous_attributes_with_the_old_values() {
    let t = TestSim::start().await;
    let cus = t.customer("old@example.com");
    let new = t
        .sim
        .update(Kind::Customer, &cus, json!({"email": "new@example.com", "metadata": {"tier": "gold"}}))
        .expect("update");
    assert_eq!(new["email"], "new@example.com");
    let events = t.sim.events();
    assert_eq!(types(&events), ["customer.updated", "customer.created"]);
    let prev = &events[0]["data"]["previous_attributes"];
    assert_eq!(*prev, json!({"email": "old@example.com", "metadata": {}}));
    assert_eq!(events[0]["data"]["object"], new);
    // A no-op update emits nothing.
    t.sim.update(Kind::Customer, &cus, json!({"email": "new@example.com"})).expect("noop");
    assert_eq!(t.sim.events().len(), 2);
}

#[tokio::test]
async fn deleted_customer_retrieves_as_the_stub_and_leaves_lists() {
    let t = TestSim::start().await;
    let cus = t.customer("gone@example.com");
    let keep = t.customer("kept@example.com");
    t.sim.delete(Kind::Customer, &cus).expect("delete");
    let r = t.get(&format!("/v1/customers/{cus}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"id": cus, "object": "customer", "deleted": true}));
    assert_eq!(t.get("/v1/customers").await.ids(), [keep]);
    let update = t.sim.update(Kind::Customer, &cus, json!({"name": "zombie"}));
    assert!(update.is_err(), "a deleted customer cannot be updated");
}

#[tokio::test]
async fn deleting_a_customer_cancels_its_subscriptions_first() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("P")).expect("product"));
    let price = id(&t.sim.create_price(PriceParams::monthly(&prod, 100)).expect("price"));
    let cus = t.customer("c@example.com");
    let sub = id(&t.sim.create_subscription(SubscriptionParams::new(&cus, &[(&price, 1)])).expect("sub"));
    t.sim.delete(Kind::Customer, &cus).expect("delete");
    assert_eq!(types(&t.sim.events()[..2]), ["customer.deleted", "customer.subscription.deleted"]);
    let s = t.get(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s.body["status"], "canceled");
}

#[tokio::test]
async fn canceled_subscription_stays_retrievable_and_listable_with_status_all() {
    let t = TestSim::start().await;
    t.sim.set_clock(Some(1_750_000_000));
    let prod = id(&t.sim.create_product(ProductParams::named("P")).expect("product"));
    let price = id(&t.sim.create_price(PriceParams::monthly(&prod, 100)).expect("price"));
    let cus = t.customer("c@example.com");
    let sub = id(&t.sim.create_subscription(SubscriptionParams::new(&cus, &[(&price, 1)])).expect("sub"));
    t.sim.advance(60);
    let canceled = t.sim.cancel_subscription(&sub).expect("cancel");
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["canceled_at"], 1_750_000_060);
    assert_eq!(canceled["ended_at"], 1_750_000_060);
    assert_eq!(t.sim.events()[0]["type"], "customer.subscription.deleted");
    assert_eq!(t.get(&format!("/v1/subscriptions/{sub}")).await.body["status"], "canceled");
    assert!(t.get("/v1/subscriptions").await.ids().is_empty());
    assert_eq!(t.get("/v1/subscriptions?status=all").await.ids(), [sub]);
}

#[tokio::test]
async fn adding_and_removing_items_is_a_subscription_update() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("P")).expect("product"));
    let a = id(&t.sim.create_price(PriceParams::monthly(&prod, 100)).expect("price"));
    let b = id(&t.sim.create_price(PriceParams::monthly(&prod, 200)).expect("price"));
    let cus = t.customer("c@example.com");
    let sub = t.sim.create_subscription(SubscriptionParams::new(&cus, &[(&a, 1)])).expect("sub");
    let first_item = id(&sub["items"]["data"][0]);
    let update = SubscriptionUpdate {
        add_items: vec![ItemParams { price: b.clone(), quantity: Some(3), ..ItemParams::default() }],
        remove_items: vec![first_item.clone()],
        patch: json!({"metadata": {"k": "v"}}).as_object().cloned().unwrap_or_default(),
    };
    let new = t.sim.update_subscription(&id(&sub), update).expect("update");
    assert_eq!(new["items"]["data"].as_array().expect("items").len(), 1);
    assert_eq!(new["items"]["data"][0]["price"]["id"], b.as_str());
    let ev = &t.sim.events()[0];
    assert_eq!(ev["type"], "customer.subscription.updated");
    assert_eq!(ev["data"]["previous_attributes"]["items"]["data"][0]["id"], first_item.as_str());
    assert_eq!(ev["data"]["previous_attributes"]["metadata"], json!({}));
    assert_eq!(t.get(&format!("/v1/subscription_items/{first_item}")).await.status, 404);
    // Changing an item's quantity is also reported on the subscription.
    let item = id(&new["items"]["data"][0]);
    t.sim.update(Kind::SubscriptionItem, &item, json!({"quantity": 5})).expect("quantity");
    let ev = &t.sim.events()[0];
    assert_eq!(ev["type"], "customer.subscription.updated");
    assert_eq!(ev["data"]["object"]["items"]["data"][0]["quantity"], 5);
    assert_eq!(ev["data"]["previous_attributes"]["items"]["data"][0]["quantity"], 3);
}

#[tokio::test]
async fn price_changes_emit_plan_twins_in_the_same_second() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("P")).expect("product"));
    let price = id(&t.sim.create_price(PriceParams::monthly(&prod, 100)).expect("price"));
    t.sim.update(Kind::Price, &price, json!({"active": false})).expect("archive");
    t.sim.delete(Kind::Price, &price).expect("delete");
    let events = t.sim.events();
    assert_eq!(
        types(&events),
        [
            "plan.deleted",
            "price.deleted",
            "plan.updated",
            "price.updated",
            "plan.created",
            "price.created",
            "product.created"
        ]
    );
    assert_eq!(events[0]["data"]["object"]["id"], price.as_str());
    assert_eq!(events[2]["data"]["previous_attributes"], json!({"active": true}));
    assert_eq!(events[4]["created"], events[5]["created"]);
    let stub = t.get(&format!("/v1/prices/{price}")).await;
    assert_eq!(stub.body, json!({"id": price, "object": "price", "deleted": true}));
}

#[tokio::test]
async fn invoice_lifecycle_emits_stripes_events() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("P")).expect("product"));
    let price = id(&t.sim.create_price(PriceParams::one_time(&prod, 2500)).expect("price"));
    let cus = t.customer("inv@example.com");
    let inv = id(&t.sim.create_invoice(InvoiceParams::new(&cus, &[&price])).expect("invoice"));
    let before = t.sim.events().len();
    let paid = t.sim.pay_invoice(&inv).expect("pay a draft");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["amount_paid"], 2500);
    assert_eq!(paid["amount_remaining"], 0);
    assert!(paid["number"].as_str().is_some_and(|n| n.ends_with("-0001")));
    let events = t.sim.events();
    assert_eq!(
        types(&events[..events.len() - before]),
        ["invoice.updated", "invoice.payment_succeeded", "invoice.paid", "invoice.updated", "invoice.finalized"]
    );
    assert_eq!(events[0]["data"]["previous_attributes"]["status"], "open");
    assert!(t.sim.void_invoice(&inv).is_err(), "paid invoices cannot be voided");

    let draft = id(&t.sim.create_invoice(InvoiceParams::new(&cus, &[&price])).expect("draft"));
    t.sim.delete_invoice(&draft).expect("delete draft");
    assert_eq!(t.sim.events()[0]["type"], "invoice.deleted");
    let r = t.get(&format!("/v1/invoices/{draft}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert_eq!(t.get("/v1/invoices").await.ids(), [inv.as_str()]);

    let open = id(&t.sim.create_invoice(InvoiceParams::new(&cus, &[&price])).expect("open"));
    t.sim.finalize_invoice(&open).expect("finalize");
    t.sim.mark_uncollectible(&open).expect("uncollectible");
    let void = t.sim.void_invoice(&open).expect("void");
    assert_eq!(void["status"], "void");
    assert_eq!(types(&t.sim.events()[..2]), ["invoice.updated", "invoice.voided"]);
}

#[tokio::test]
async fn snapshot_rows_are_byte_identical_to_api_answers() {
    let t = TestSim::start().await;
    let prod = id(&t.sim.create_product(ProductParams::named("P")).expect("product"));
    let price = id(&t.sim.create_price(PriceParams::monthly(&prod, 100)).expect("price"));
    let cus = t.customer("snap@example.com");
    let gone = t.customer("gone@example.com");
    t.sim.delete(Kind::Customer, &gone).expect("delete");
    let sub = id(&t.sim.create_subscription(SubscriptionParams::new(&cus, &[(&price, 2)])).expect("sub"));
    t.sim
        .create_invoice(InvoiceParams { subscription: Some(sub.clone()), ..InvoiceParams::new(&cus, &[]) })
        .expect("inv");

    for kind in [Kind::Product, Kind::Price, Kind::Customer, Kind::Subscription, Kind::SubscriptionItem, Kind::Invoice]
    {
        for row in t.sim.snapshot(kind) {
            if row.deleted {
                assert_eq!(row.value()["email"], "gone@example.com", "deleted rows keep the last object");
                continue;
            }
            let resp = t
                .http
                .get(format!("{}/v1/{}/{}", t.sim.base_url(), kind.plural(), row.id))
                .bearer_auth(t.sim.api_key())
                .send()
                .await
                .expect("get");
            assert_eq!(resp.text().await.expect("text"), row.json, "{kind} {}", row.id);
        }
    }
    let lines = t.sim.snapshot(Kind::InvoiceLineItem);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].value()["parent"]["subscription_item_details"]["subscription"], sub.as_str());
}

#[tokio::test]
async fn the_sim_http_api_does_what_the_rust_api_does() {
    let t = TestSim::start().await;
    let base = t.sim.base_url();
    let post = |path: &str, body: Value| {
        let req = t.http.post(format!("{base}/_sim{path}")).body(body.to_string());
        async move {
            let resp = req.send().await.expect("post");
            let status = resp.status().as_u16();
            let v: Value = serde_json::from_str(&resp.text().await.expect("text")).expect("json");
            (status, v)
        }
    };
    let (s, prod) = post("/products", json!({"name": "Via HTTP"})).await;
    assert_eq!(s, 200);
    let (_, price) =
        post("/prices", json!({"product": prod["id"], "unit_amount": 500, "recurring": {"interval": "year"}})).await;
    assert_eq!(price["recurring"]["interval"], "year");
    let (_, cus) = post("/customers", json!({"email": "h@example.com"})).await;
    let (_, sub) = post("/subscriptions", json!({"customer": cus["id"], "items": [{"price": price["id"]}]})).await;
    assert_eq!(sub["status"], "active");
    let (s, upd) = post(&format!("/customers/{}", id(&cus)), json!({"name": "Renamed"})).await;
    assert_eq!((s, upd["name"].as_str()), (200, Some("Renamed")));
    let (s, err) = post("/customers/cus_nope", json!({"name": "x"})).await;
    assert_eq!(s, 404);
    assert_eq!(err["error"]["code"], "resource_missing");
    let (_, clock) = post("/clock", json!({"set": 1_700_000_000})).await;
    assert_eq!(clock["now"], 1_700_000_000);
    let (_, faults) = post("/faults", json!({"api": {"server_error_fraction": 0.5}})).await;
    assert_eq!(faults["api"]["server_error_fraction"], 0.5);
    assert_eq!(faults["delivery"]["max_attempts"], 10, "a fault patch merges");
    let snap: Value = serde_json::from_str(
        &t.http.get(format!("{base}/_sim/snapshot/customers")).send().await.expect("get").text().await.expect("text"),
    )
    .expect("json");
    assert_eq!(snap[0]["object"]["name"], "Renamed");
}
