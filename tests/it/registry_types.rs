//! The registry's new types on the push path, with events built from
//! Stripe's fixtures (`tests/fixtures`, from `stripe/openapi`): each lands in
//! its table with its typed columns, and each type's quirk holds — coupon
//! deletion and custom ids created again, detached payment methods kept,
//! refunds and disputes beside their charges, credit note lines, checkout
//! line items paged from the API (a stub of the two endpoints here), and
//! `[mirror] objects`. Against the simulator: `registry_pull.rs`.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use warp::Filter;

use crate::helpers::*;

/// Posts each event and waits until all are applied.
async fn apply(app: &TestApp, events: &[Value]) {
    for ev in events {
        assert_eq!(app.post_event(ev).await, 200);
    }
    app.drained().await;
}

#[tokio::test]
async fn every_new_type_is_mirrored_from_its_events_with_typed_columns() {
    let app = TestApp::spawn().await;
    let promo = with(
        fixture("promotion_code"),
        json!({"customer": "cus_p", "promotion": {"coupon": "Z4OV52SU", "type": "coupon"}}),
    );
    let pm = with(fixture("payment_method"), json!({"customer": "cus_p"}));
    let pi =
        with(fixture("payment_intent"), json!({"customer": "cus_p", "latest_charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8"}));
    let charge = with(fixture("charge"), json!({"payment_intent": "pi_1PgafyB7WZ01zgkWSjxsAJo3"}));
    let events = [
        event("evt_n1", "coupon.created", 10, fixture("coupon")),
        event("evt_n2", "promotion_code.created", 10, promo),
        event("evt_n3", "tax_rate.created", 10, fixture("tax_rate")),
        event("evt_n4", "invoiceitem.created", 10, fixture("invoiceitem")),
        event("evt_n5", "credit_note.created", 10, fixture("credit_note")),
        event("evt_n6", "subscription_schedule.created", 10, fixture("subscription_schedule")),
        event("evt_n7", "payment_intent.succeeded", 10, pi),
        event("evt_n8", "charge.succeeded", 10, charge),
        event("evt_n9", "refund.created", 10, fixture("refund")),
        event("evt_n10", "charge.dispute.created", 10, fixture("dispute")),
        event("evt_n11", "payment_method.attached", 10, pm),
        event("evt_n12", "setup_intent.created", 10, fixture("setup_intent")),
    ];
    apply(&app, &events).await;
    for id in (1..=12).map(|n| format!("evt_n{n}")) {
        assert_eq!(app.event_status(&id).await, "applied", "{id}");
    }
    let checks: [(&str, &str); 14] = [
        ("SELECT percent_off::text FROM stripe.coupons WHERE id = 'Z4OV52SU'", "25.5"),
        ("SELECT coupon FROM stripe.promotion_codes WHERE code = 'FALL20'", "Z4OV52SU"),
        ("SELECT percentage::text || country FROM stripe.tax_rates", "19DE"),
        ("SELECT customer || amount || extract(year FROM created AT TIME ZONE 'UTC') FROM stripe.invoice_items", "cus_QXg1o8vcGmoR3210002009"),
        ("SELECT invoice || status FROM stripe.credit_notes", "in_1Pgc75B7WZ01zgkWYv4iMwt7issued"),
        ("SELECT count(*)::text FROM stripe.credit_note_line_items WHERE credit_note = 'cn_1Pgc75B7WZ01zgkWJMPt5riP'", "2"),
        ("SELECT customer || status FROM stripe.subscription_schedules", "cus_QXg1o8vcGmoR32not_started"),
        ("SELECT amount || latest_charge FROM stripe.payment_intents", "1099ch_1PgafuB7WZ01zgkWXYmPNZs8"),
        ("SELECT payment_intent || amount || currency FROM stripe.charges", "pi_1PgafyB7WZ01zgkWSjxsAJo3100usd"),
        ("SELECT charge || status FROM stripe.refunds", "ch_1PgafuB7WZ01zgkWXYmPNZs8succeeded"),
        ("SELECT charge || status FROM stripe.disputes", "ch_1PgafuB7WZ01zgkWXYmPNZs8warning_needs_response"),
        ("SELECT customer || card_brand || card_last4 FROM stripe.payment_methods", "cus_pvisa4242"),
        ("SELECT status || usage FROM stripe.setup_intents", "requires_payment_methodoff_session"),
        ("SELECT to_char(evidence_due_by AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM stripe.disputes", "2024-08-14"),
    ];
    for (sql, want) in checks {
        let got: String = app.scalar(sql).await;
        assert_eq!(got, want, "{sql}");
    }
}

#[tokio::test]
async fn a_deleted_coupon_is_tombstoned_and_a_coupon_created_again_under_its_id_replaces_it() {
    let app = TestApp::spawn().await;
    let first = with(fixture("coupon"), json!({"id": "SPRING", "name": "v1", "created": 1_000}));
    let second = with(fixture("coupon"), json!({"id": "SPRING", "name": "v2", "created": 3_000}));
    apply(&app, &[event("evt_c1", "coupon.created", 1_000, first.clone())]).await;
    apply(&app, &[event("evt_c2", "coupon.deleted", 2_000, first.clone())]).await;
    let (data, deleted) = app.row("coupons", "SPRING").await.expect("row");
    assert!(deleted && data["name"] == "v1", "tombstoned with its last data");
    // A late update of the deleted incarnation changes nothing …
    apply(&app, &[event("evt_c3", "coupon.updated", 2_500, with(first, json!({"name": "late"})))]).await;
    assert_eq!(app.event_status("evt_c3").await, "stale");
    // … a coupon created again under the id (its own `created` is later) replaces the tombstone.
    apply(&app, &[event("evt_c4", "coupon.created", 3_000, second)]).await;
    let (data, deleted) = app.row("coupons", "SPRING").await.expect("row");
    assert!(!deleted && data["name"] == "v2");
}

#[tokio::test]
async fn a_detached_payment_method_keeps_its_row_without_a_customer() {
    let app = TestApp::spawn().await;
    let pm = with(fixture("payment_method"), json!({"id": "pm_d", "customer": "cus_d"}));
    apply(&app, &[event("evt_a", "payment_method.attached", 100, pm.clone())]).await;
    apply(&app, &[event("evt_d", "payment_method.detached", 200, with(pm, json!({"customer": null})))]).await;
    let (data, deleted) = app.row("payment_methods", "pm_d").await.expect("row");
    assert!(!deleted, "detaching is not deleting");
    assert!(data["customer"].is_null());
    let customer: Option<String> = app.scalar("SELECT customer FROM stripe.payment_methods WHERE id = 'pm_d'").await;
    assert_eq!(customer, None);
}

#[tokio::test]
async fn refunds_and_disputes_land_beside_their_charges_and_the_readme_revenue_query_nets_them() {
    let app = TestApp::spawn().await;
    let day = 1_767_268_800; // 2026-01-01 12:00 UTC: that day in any time zone within ±11 h
    let charge =
        with(fixture("charge"), json!({"id": "ch_r", "amount": 5000, "amount_captured": 5000, "created": day}));
    let refunded = with(charge.clone(), json!({"amount_refunded": 1500, "refunded": false}));
    let refund = with(fixture("refund"), json!({"id": "re_r", "charge": "ch_r", "amount": 1500, "created": day + 60}));
    let dispute = with(fixture("dispute"), json!({"id": "dp_r", "charge": "ch_r", "created": day + 120}));
    apply(
        &app,
        &[
            event("evt_r1", "charge.succeeded", day, charge),
            event("evt_r2", "charge.refunded", day + 60, refunded),
            event("evt_r3", "charge.refund.updated", day + 60, refund),
            event("evt_r4", "charge.dispute.created", day + 120, dispute),
        ],
    )
    .await;
    let refunded: i64 = app.scalar("SELECT amount_refunded FROM stripe.charges WHERE id = 'ch_r'").await;
    assert_eq!(refunded, 1500, "charge.refunded carries the charge");
    let joined: i64 = app
        .scalar("SELECT count(*) FROM stripe.charges c JOIN stripe.refunds r ON r.charge = c.id JOIN stripe.disputes d ON d.charge = c.id")
        .await;
    assert_eq!(joined, 1);
    let net: i64 = app.scalar(REVENUE_BY_DAY).await;
    assert_eq!(net, 3500);
}

/// The README's revenue query, net of refunds, for 2026-01-01.
const REVENUE_BY_DAY: &str = "
WITH gross AS (
  SELECT date_trunc('day', created) AS day, currency, sum(amount_captured) AS amount
  FROM stripe.charges WHERE NOT deleted AND status = 'succeeded' GROUP BY 1, 2),
refunded AS (
  SELECT date_trunc('day', created) AS day, currency, sum(amount) AS amount
  FROM stripe.refunds WHERE status IN ('pending', 'succeeded') GROUP BY 1, 2)
SELECT (g.amount - COALESCE(r.amount, 0))::int8
FROM gross g LEFT JOIN refunded r USING (day, currency)
WHERE g.day = '2026-01-01'";

#[tokio::test]
async fn credit_note_lines_follow_their_note_and_an_invoice_item_delete_is_a_tombstone() {
    let app = TestApp::spawn().await;
    let note = fixture("credit_note");
    let mut fewer = note.clone();
    fewer["lines"]["data"].as_array_mut().expect("lines").truncate(1);
    apply(&app, &[event("evt_cn1", "credit_note.created", 10, note)]).await;
    apply(&app, &[event("evt_cn2", "credit_note.updated", 20, fewer)]).await;
    let live: i64 = app.scalar("SELECT count(*) FROM stripe.credit_note_line_items WHERE NOT deleted").await;
    assert_eq!(live, 1, "a line gone from the complete embedded list is marked deleted");
    let item = fixture("invoiceitem");
    apply(&app, &[event("evt_ii1", "invoiceitem.created", 10, item.clone())]).await;
    apply(&app, &[event("evt_ii2", "invoiceitem.deleted", 20, item)]).await;
    assert!(app.row("invoice_items", "ii_1Pgc6sB7WZ01zgkWrG16hkdl").await.expect("row").1);
}

#[tokio::test]
async fn events_of_types_left_out_of_mirror_objects_are_acknowledged_and_ignored() {
    let app = TestApp::spawn_with(|c| c.mirror.objects = Some(vec!["customers".into()])).await;
    apply(
        &app,
        &[
            event("evt_o1", "coupon.created", 10, fixture("coupon")),
            event("evt_o2", "customer.created", 10, customer("cus_o", "Kept")),
        ],
    )
    .await;
    assert_eq!(app.event_status("evt_o1").await, "ignored");
    let detail: String = app.scalar("SELECT outcome_detail FROM stripe_mirror.events WHERE id = 'evt_o1'").await;
    assert_eq!(detail, stripe_mirror::push::apply::NOT_SELECTED);
    assert!(app.row("coupons", "Z4OV52SU").await.is_none());
    assert_eq!(app.event_status("evt_o2").await, "applied");
}

/// Two endpoints of Stripe's API, enough for the resolver: retrieve a
/// checkout session and page its line items (`limit`, `starting_after`).
struct StubStripe {
    url: String,
    session: Arc<Mutex<Value>>,
    items: Arc<Mutex<Vec<Value>>>,
    _stop: tokio_util::sync::DropGuard,
}

impl StubStripe {
    async fn start(session: Value, items: Vec<Value>) -> StubStripe {
        let (session, items) = (Arc::new(Mutex::new(session)), Arc::new(Mutex::new(items)));
        let (s, i) = (session.clone(), items.clone());
        let account = warp::path!("v1" / "account").map(|| warp::reply::json(&json!({"id": "acct_stub"})));
        let retrieve = warp::path!("v1" / "checkout" / "sessions" / String)
            .map(move |_: String| warp::reply::json(&*s.lock().expect("lock")));
        let lines = warp::path!("v1" / "checkout" / "sessions" / String / "line_items")
            .and(warp::query::<std::collections::HashMap<String, String>>())
            .map(move |id: String, q: std::collections::HashMap<String, String>| {
                let all = i.lock().expect("lock").clone();
                let start =
                    q.get("starting_after").and_then(|a| all.iter().position(|x| x["id"] == *a)).map_or(0, |p| p + 1);
                let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
                let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
                let has_more = start + page.len() < all.len();
                let url = format!("/v1/checkout/sessions/{id}/line_items");
                warp::reply::json(&json!({"object": "list", "data": page, "has_more": has_more, "url": url}))
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = tokio_util::sync::CancellationToken::new();
        let routes = warp::get().and(account.or(lines).or(retrieve));
        tokio::spawn(stripe_mirror::push::server::serve(listener, routes, stop.clone(), 64));
        StubStripe { url, session, items, _stop: stop.drop_guard() }
    }
}

fn line_items(n: usize) -> Vec<Value> {
    (0..n).map(|k| with(fixture("item"), json!({"id": format!("li_{k:03}"), "quantity": 1}))).collect()
}

#[tokio::test]
async fn a_checkout_session_event_is_applied_with_its_line_items_paged_from_the_api() {
    let session =
        with(fixture("checkout_session"), json!({"id": "cs_1", "status": "complete", "payment_status": "paid"}));
    let stub = StubStripe::start(session.clone(), line_items(150)).await;
    let app = TestApp::spawn_with(|c| {
        c.stripe.api_base = stub.url.clone();
        c.stripe.secret_key = Some("sk_test_stub".to_string().into());
        c.stripe.requests_per_second = 1_000;
        c.reconcile.events_schedule = "0 0 1 1 *".into();
        c.reconcile.full_schedule = "0 0 1 1 *".into();
    })
    .await;
    apply(&app, &[event("evt_cs1", "checkout.session.completed", 100, session.clone())]).await;
    assert_eq!(app.event_status("evt_cs1").await, "applied");
    let detail: String = app.scalar("SELECT outcome_detail FROM stripe_mirror.events WHERE id = 'evt_cs1'").await;
    assert!(detail.contains("not embedded"), "{detail}");
    let items: i64 = app
        .scalar(
            "SELECT count(*) FROM stripe.checkout_session_line_items WHERE checkout_session = 'cs_1' AND NOT deleted",
        )
        .await;
    assert_eq!(items, 150, "all line items, paged past the first 100");
    assert_eq!(app.row("checkout_sessions", "cs_1").await.expect("row").0["status"], "complete");

    // The session changes and loses line items: the complete paged list replaces them.
    *stub.items.lock().expect("lock") = line_items(2);
    *stub.session.lock().expect("lock") = with(session.clone(), json!({"amount_total": 2000}));
    apply(&app, &[event("evt_cs2", "checkout.session.async_payment_succeeded", 200, session)]).await;
    let live: i64 = app.scalar("SELECT count(*) FROM stripe.checkout_session_line_items WHERE NOT deleted").await;
    assert_eq!(live, 2);
    assert_eq!(app.row("checkout_sessions", "cs_1").await.expect("row").0["amount_total"], 2000);
}

#[tokio::test]
async fn a_sweep_pages_line_items_only_for_sessions_new_or_changed_since_they_were_paged() {
    use stripe_mirror::storage::store::{Row, Store, Version};
    let app = TestApp::spawn().await;
    let store = Store::new("stripe");
    let kind = stripe_mirror::registry::Kind::by_table("checkout_sessions").expect("registered");
    let session = |id: &str, total: i64| with(fixture("checkout_session"), json!({"id": id, "amount_total": total}));
    let (a, b) = (session("cs_a", 1), session("cs_b", 1));
    let a_listed = a.clone();
    let raw = |v: &Value| serde_json::value::to_raw_value(v).expect("raw");
    let (ra, rb, item) = (raw(&a), raw(&b), raw(&fixture("item")));
    let version = Version::as_of(10);
    let mut conn = app.pool.acquire().await.expect("conn");
    let sessions =
        [Row { id: "cs_a", data: &ra, parent: None, version }, Row { id: "cs_b", data: &rb, parent: None, version }];
    store.upsert(&mut conn, kind.table(), &sessions).await.expect("sessions");
    let line = Row { id: "li_a", data: &item, parent: Some("cs_a"), version };
    store.upsert(&mut conn, kind.child_table().expect("child table"), &[line]).await.expect("line item");
    let current = |listed: Vec<Value>| {
        let ids: Vec<String> = listed.iter().map(|v| v["id"].as_str().unwrap_or_default().to_string()).collect();
        let data: Vec<String> = listed.iter().map(Value::to_string).collect();
        (ids, data)
    };
    // cs_a is stored as listed, with its line items; cs_b was never paged; cs_c is new.
    let (ids, data) = current(vec![a, b, session("cs_c", 1)]);
    let (ids, data): (Vec<&str>, Vec<&str>) =
        (ids.iter().map(String::as_str).collect(), data.iter().map(String::as_str).collect());
    assert_eq!(store.children_current(&mut conn, kind.table(), &ids, &data).await.expect("query"), ["cs_a"]);
    // The price cs_a's line item shows changed since (a new nickname): the
    // line item shows the price as it is now, so cs_a is paged again; once
    // its line item shows the price as stored, it is current again.
    let prices = stripe_mirror::registry::Kind::by_table("prices").expect("registered").table();
    let shown = fixture("item")["price"].clone();
    let renamed = raw(&with(shown.clone(), json!({"nickname": "Renamed"})));
    let price_id = shown["id"].as_str().expect("price id");
    let price = |data| Row { id: price_id, data, parent: None, version: Version::as_of(20) };
    store.upsert(&mut conn, prices, &[price(&renamed)]).await.expect("price");
    let (ids, data) = current(vec![a_listed.clone()]);
    let (ids, data): (Vec<&str>, Vec<&str>) =
        (ids.iter().map(String::as_str).collect(), data.iter().map(String::as_str).collect());
    assert!(store.children_current(&mut conn, kind.table(), &ids, &data).await.expect("query").is_empty());
    let repaged = raw(&with(fixture("item"), json!({"price": with(shown, json!({"nickname": "Renamed"}))})));
    let line = Row { id: "li_a", data: &repaged, parent: Some("cs_a"), version: Version::as_of(20) };
    store.upsert(&mut conn, kind.child_table().expect("child table"), &[line]).await.expect("line item");
    assert_eq!(store.children_current(&mut conn, kind.table(), &ids, &data).await.expect("query"), ["cs_a"]);
    // cs_a changed since: paged again.
    let (ids, data) = current(vec![session("cs_a", 2)]);
    let (ids, data): (Vec<&str>, Vec<&str>) =
        (ids.iter().map(String::as_str).collect(), data.iter().map(String::as_str).collect());
    assert!(store.children_current(&mut conn, kind.table(), &ids, &data).await.expect("query").is_empty());
}
