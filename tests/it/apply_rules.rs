//! docs/design.md's semantics, one test each: newest wins, deleted stays deleted,
//! cancellation is not deletion, children, unknown kept, typed columns.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn older_event_does_not_overwrite_newer_row() {
    let app = TestApp::spawn().await;
    app.post_event(&event("evt_new", "customer.updated", 2000, customer("cus_1", "New"))).await;
    app.drained().await;
    app.post_event(&event("evt_old", "customer.updated", 1000, customer("cus_1", "Old"))).await;
    app.drained().await;
    assert_eq!(app.row("customers", "cus_1").await.unwrap().0["name"], "New");
    assert_eq!(app.event_status("evt_old").await, "stale");
}

#[tokio::test]
async fn updated_before_created_ends_with_the_newest_state() {
    let app = TestApp::spawn().await;
    app.post_event(&event("evt_u", "customer.updated", 2000, customer("cus_2", "Updated"))).await;
    app.post_event(&event("evt_c", "customer.created", 1000, customer("cus_2", "Created"))).await;
    app.drained().await;
    assert_eq!(app.row("customers", "cus_2").await.unwrap().0["name"], "Updated");
}

#[tokio::test]
async fn deleted_customer_is_not_resurrected_by_late_update() {
    let app = TestApp::spawn().await;
    app.post_event(&event("evt_1", "customer.created", 1000, customer("cus_3", "Alive"))).await;
    app.drained().await;
    app.post_event(&event("evt_2", "customer.deleted", 3000, customer("cus_3", "Last"))).await;
    app.drained().await;
    // A late update, even one newer than the delete, changes nothing.
    app.post_event(&event("evt_3", "customer.updated", 2000, customer("cus_3", "Late"))).await;
    app.post_event(&event("evt_4", "customer.updated", 4000, customer("cus_3", "Later"))).await;
    app.drained().await;
    let (data, deleted) = app.row("customers", "cus_3").await.unwrap();
    assert!(deleted);
    assert_eq!(data["name"], "Last", "the last known data is kept");
    assert_eq!(app.event_status("evt_4").await, "stale");
}

#[tokio::test]
async fn every_deletable_type_is_tombstoned() {
    let app = TestApp::spawn().await;
    let product = with(fixture("product"), json!({"id": "prod_d"}));
    let price = with(fixture("price"), json!({"id": "price_d"}));
    let invoice = with(fixture("invoice"), json!({"id": "in_d", "status": "draft"}));
    app.post_event(&event("evt_p", "product.created", 10, product.clone())).await;
    app.post_event(&event("evt_pr", "price.created", 10, price.clone())).await;
    app.post_event(&event("evt_i", "invoice.created", 10, invoice.clone())).await;
    app.drained().await;
    app.post_event(&event("evt_pd", "product.deleted", 20, product)).await;
    app.post_event(&event("evt_prd", "plan.deleted", 20, with(fixture("plan"), json!({"id": "price_d"})))).await;
    app.post_event(&event("evt_id", "invoice.deleted", 20, invoice)).await;
    app.drained().await;
    for (table, id) in [("products", "prod_d"), ("prices", "price_d"), ("invoices", "in_d")] {
        let (data, deleted) = app.row(table, id).await.unwrap();
        assert!(deleted, "{table}");
        assert_ne!(data["object"], "plan", "a plan-shaped object never replaces a price");
    }
    let lines_left: i64 =
        app.scalar("SELECT count(*) FROM stripe.invoice_line_items WHERE invoice = 'in_d' AND NOT deleted").await;
    assert_eq!(lines_left, 0);
}

#[tokio::test]
async fn canceled_subscription_keeps_its_row() {
    let app = TestApp::spawn().await;
    let sub = with(fixture("subscription"), json!({"id": "sub_c", "status": "active"}));
    app.post_event(&event("evt_s1", "customer.subscription.created", 100, sub.clone())).await;
    let canceled = with(sub, json!({"status": "canceled", "canceled_at": 200, "ended_at": 200}));
    app.post_event(&event("evt_s2", "customer.subscription.deleted", 200, canceled)).await;
    app.drained().await;
    let (data, deleted) = app.row("subscriptions", "sub_c").await.unwrap();
    assert!(!deleted);
    assert_eq!(data["status"], "canceled");
    let status: String = app.scalar("SELECT status FROM stripe.subscriptions WHERE id = 'sub_c'").await;
    assert_eq!(status, "canceled");
}

#[tokio::test]
async fn subscription_items_follow_their_parent() {
    let app = TestApp::spawn().await;
    let item = |id: &str| with(fixture("subscription_item"), json!({"id": id, "subscription": "sub_i"}));
    let items = |ids: &[&str]| json!({"object": "list", "data": ids.iter().map(|i| item(i)).collect::<Vec<_>>(), "has_more": false, "url": "/v1/subscription_items?subscription=sub_i"});
    let sub = with(fixture("subscription"), json!({"id": "sub_i", "items": items(&["si_a", "si_b"])}));
    app.post_event(&event("evt_1", "customer.subscription.created", 100, sub.clone())).await;
    app.drained().await;
    let n: i64 =
        app.scalar("SELECT count(*) FROM stripe.subscription_items WHERE subscription = 'sub_i' AND NOT deleted").await;
    assert_eq!(n, 2);
    // si_b removed, si_c added.
    app.post_event(&event(
        "evt_2",
        "customer.subscription.updated",
        200,
        with(sub, json!({"items": items(&["si_a", "si_c"])})),
    ))
    .await;
    app.drained().await;
    assert!(app.row("subscription_items", "si_b").await.unwrap().1, "removed item is marked deleted");
    assert!(!app.row("subscription_items", "si_c").await.unwrap().1);
}

#[tokio::test]
async fn invoice_lines_are_stored_as_children() {
    let app = TestApp::spawn().await;
    let line = |id: &str| with(fixture("line_item"), json!({"id": id, "invoice": "in_l"}));
    let invoice = with(
        fixture("invoice"),
        json!({"id": "in_l", "lines": {"object": "list", "data": [line("il_1"), line("il_2"), line("il_3")], "has_more": false, "url": "/v1/invoices/in_l/lines"}}),
    );
    app.post_event(&event("evt_1", "invoice.finalized", 100, invoice)).await;
    app.drained().await;
    let n: i64 = app.scalar("SELECT count(*) FROM stripe.invoice_line_items WHERE invoice = 'in_l'").await;
    assert_eq!(n, 3);
}

#[tokio::test]
async fn unknown_event_types_and_fields_are_kept_not_fatal() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_event(&event("evt_x", "payout.paid", 1, json!({"id": "po_1", "object": "payout"}))).await, 200);
    assert_eq!(
        app.post_event(&event("evt_t", "customer.tax_id.created", 1, json!({"id": "txi_1", "object": "tax_id"}))).await,
        200
    );
    assert_eq!(app.post_event(&event("evt_up", "invoice.upcoming", 1, json!({"object": "invoice"}))).await, 200);
    let odd =
        with(customer("cus_u", "U"), json!({"brand_new_field": {"nested": [1, 2]}, "tax_exempt": "some_future_value"}));
    app.post_event(&event("evt_u", "customer.created", 1, odd)).await;
    app.drained().await;
    for id in ["evt_x", "evt_t", "evt_up"] {
        assert_eq!(app.event_status(id).await, "ignored", "{id}");
    }
    let (data, _) = app.row("customers", "cus_u").await.unwrap();
    assert_eq!(data["brand_new_field"]["nested"][1], 2);
    assert_eq!(data["tax_exempt"], "some_future_value");
}

#[tokio::test]
async fn typed_columns_are_filled_from_both_api_version_shapes() {
    let app = TestApp::spawn().await;
    // Current shape (2025-03-31.basil and later): subscription under parent, periods on items.
    let current = with(
        fixture("invoice"),
        json!({"id": "in_new", "customer": "cus_9", "amount_due": 1234, "created": 1_700_000_000,
               "parent": {"type": "subscription_details", "quote_details": null,
                          "subscription_details": {"metadata": {}, "subscription": "sub_new"}}}),
    );
    // Older shape: top-level `subscription`, customer expanded.
    let mut older = with(
        current.clone(),
        json!({"id": "in_old", "subscription": "sub_old", "parent": null, "customer": {"id": "cus_9", "object": "customer"}}),
    );
    older.as_object_mut().unwrap().remove("lines");
    app.post_event(&event("evt_a", "invoice.created", 10, current)).await;
    app.post_event(&event("evt_b", "invoice.created", 10, older)).await;
    let sub_item = with(
        fixture("subscription_item"),
        json!({"id": "si_p", "current_period_start": 1_700_000_000, "current_period_end": 1_702_592_000}),
    );
    let sub_new = with(
        fixture("subscription"),
        json!({"id": "sub_p_new", "items": {"object": "list", "data": [sub_item], "has_more": false, "url": "/v1/subscription_items"}}),
    );
    let mut sub_old = with(
        fixture("subscription"),
        json!({"id": "sub_p_old", "current_period_start": 1_600_000_000, "current_period_end": 1_602_592_000}),
    );
    sub_old.as_object_mut().unwrap().remove("items");
    app.post_event(&event("evt_c", "customer.subscription.created", 10, sub_new)).await;
    app.post_event(&event("evt_d", "customer.subscription.created", 10, sub_old)).await;
    app.drained().await;
    let subs: String = app.scalar("SELECT string_agg(id || '=' || subscription || '/' || customer || '/' || amount_due, ',' ORDER BY id) FROM stripe.invoices").await;
    assert_eq!(subs, "in_new=sub_new/cus_9/1234,in_old=sub_old/cus_9/1234");
    let periods: String = app.scalar("SELECT string_agg(id || '=' || extract(epoch FROM current_period_start)::bigint, ',' ORDER BY id) FROM stripe.subscriptions").await;
    assert_eq!(periods, "sub_p_new=1700000000,sub_p_old=1600000000");
}

#[tokio::test]
async fn failing_event_is_retried_then_parked_while_the_rest_flows() {
    // No Stripe key: an invoice whose lines are truncated cannot be completed.
    let app = TestApp::spawn().await;
    let truncated = with(
        fixture("invoice"),
        json!({"id": "in_trunc", "lines": {"object": "list", "data": [], "has_more": true, "url": "/v1/invoices/in_trunc/lines"}}),
    );
    app.post_event(&event("evt_bad", "invoice.created", 10, truncated)).await;
    app.post_event(&event("evt_good", "customer.created", 10, customer("cus_flow", "F"))).await;
    for _ in 0..200 {
        if app.event_status("evt_bad").await == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(app.event_status("evt_bad").await, "failed");
    let (attempts, error): (i32, String) =
        sqlx::query_as("SELECT attempts, last_error FROM stripe_mirror.events WHERE id = 'evt_bad'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 3);
    assert!(error.contains("STRIPE_SECRET_KEY"), "{error}");
    assert_eq!(app.event_status("evt_good").await, "applied");
    assert!(app.row("invoices", "in_trunc").await.is_none(), "a failed apply leaves no partial write");
    // `events retry` puts it back in the queue.
    assert_eq!(stripe_mirror::storage::inbox::retry_failed(&app.pool, Some("evt_bad")).await.unwrap(), 1);
}

#[tokio::test]
async fn readers_are_notified_after_commit() {
    let app = TestApp::spawn().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool).await.unwrap();
    listener.listen("stripe_mirror").await.unwrap();
    app.post_event(&event("evt_n1", "customer.created", 10, customer("cus_n", "N"))).await;
    app.post_event(&event("evt_n2", "customer.deleted", 20, customer("cus_n", "N"))).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        // Generous: 5 s ran out once with 46 tests sharing two cores.
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), listener.recv()).await.unwrap().unwrap();
        seen.push(serde_json::from_str::<serde_json::Value>(n.payload()).unwrap());
    }
    assert_eq!(seen[0], json!({"table": "customers", "id": "cus_n", "op": "insert"}));
    assert_eq!(seen[1], json!({"table": "customers", "id": "cus_n", "op": "delete"}));
}

/// A reader that stops reading its LISTEN fills Postgres' notification
/// queue, and at 100 % every NOTIFY fails — with it the write that fired it.
/// Past `stripe_mirror.notify_queue_limit` (a fraction of the queue, 0.5 by
/// default) the write goes through without its notification and the skip
/// is counted; `status` and `/metrics` show the queue and the count. The
/// 8 GB queue cannot be filled in a test: a limit of 0 stands for "full".
#[tokio::test]
async fn over_the_notify_queue_limit_the_write_succeeds_without_its_notification_and_is_counted() {
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool).await.unwrap();
    listener.listen("stripe_mirror").await.unwrap();
    let mut writer = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    let insert = "INSERT INTO stripe.customers (id, data, version) VALUES ($1, '{}', 1)";
    sqlx::query(insert).bind("cus_q1").execute(&mut writer).await.expect("a write under the limit");
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await.unwrap().unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(n.payload()).unwrap()["id"], "cus_q1");
    // One statement of several rows (a page): a notification each, in order.
    let several =
        "INSERT INTO stripe.customers (id, data, version) SELECT $1 || n, '{}', 1 FROM generate_series(1, 3) n";
    sqlx::query(several).bind("cus_p").execute(&mut writer).await.unwrap();
    for want in ["cus_p1", "cus_p2", "cus_p3"] {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await.unwrap().unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(n.payload()).unwrap()["id"], want);
    }

    sqlx::query("SET stripe_mirror.notify_queue_limit = 0").execute(&mut writer).await.unwrap();
    sqlx::query(insert).bind("cus_q2").execute(&mut writer).await.expect("a write over the limit succeeds");
    sqlx::query(several).bind("cus_s").execute(&mut writer).await.expect("so does a statement of several rows");
    sqlx::query("UPDATE stripe.customers SET data = '{\"a\": 1}' WHERE id = 'cus_q2'")
        .execute(&mut writer)
        .await
        .expect("so does an update");
    // A marker notified after them: whatever arrives before it was skipped or not.
    sqlx::query("SELECT pg_notify('stripe_mirror', 'marker')").execute(&mut writer).await.unwrap();
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await.unwrap().unwrap();
    assert_eq!(n.payload(), "marker", "the writes over the limit notified nobody");
    assert_eq!(app.row("customers", "cus_q2").await.map(|r| r.0), Some(json!({"a": 1})));

    // A limit that is not a number is the default, not an error on every write.
    sqlx::query("SET stripe_mirror.notify_queue_limit = 'half'").execute(&mut writer).await.unwrap();
    let limit: f64 =
        sqlx::query_scalar("SELECT stripe_mirror.notify_queue_limit()").fetch_one(&mut writer).await.unwrap();
    assert_eq!(limit, 0.5);

    let (code, text) = crate::cli::run(&["status", "--json"], &[("DATABASE_URL", app.database_url.as_str())]);
    let v: serde_json::Value = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .next()
        .expect("a JSON document")
        .unwrap_or_else(|e| panic!("status --json is JSON: {e}: {text}"));
    assert_eq!(v["notifications_skipped"], 5, "one per row: {text}");
    assert_eq!(v["notify_queue_usage"], 0.0, "{text}");
    assert_eq!(v["notify_queue_limit"], 0.5, "the default limit: {text}");
    assert!(code == 0 || code == 1, "{text}");
    let (_, text) = crate::cli::run(&["status"], &[("DATABASE_URL", app.database_url.as_str())]);
    assert!(text.contains("notify queue:") && text.contains("5 notifications skipped"), "{text}");
    let metrics = app.http.get(format!("http://{}/metrics", app.running.addr)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("stripe_mirror_notify_queue_usage 0.0"), "{metrics}");
    assert!(metrics.contains("stripe_mirror_notifications_skipped 5"), "{metrics}");
}

#[tokio::test]
async fn a_batch_with_several_events_for_one_object_keeps_the_newest() {
    let app = TestApp::spawn().await;
    let evs: Vec<(String, serde_json::Value)> = [("evt_b1", 100, "A"), ("evt_b3", 300, "C"), ("evt_b2", 200, "B")]
        .iter()
        .map(|(id, t, name)| (id.to_string(), event(id, "customer.updated", *t, customer("cus_batch", name))))
        .collect();
    let bodies: Vec<String> = evs.iter().map(|(_, e)| e.to_string()).collect();
    let envs: Vec<stripe_mirror::push::event::Envelope> =
        bodies.iter().map(|b| stripe_mirror::push::event::Envelope::parse(b.as_bytes()).unwrap()).collect();
    let rows: Vec<(&stripe_mirror::push::event::Envelope, &str)> =
        envs.iter().zip(&bodies).map(|(e, b)| (e, b.as_str())).collect();
    // One commit, so the workers claim all three in one batch.
    stripe_mirror::storage::inbox::insert_many(&app.pool, &rows, "webhook").await.unwrap();
    app.drained().await;
    assert_eq!(app.row("customers", "cus_batch").await.unwrap().0["name"], "C");
    assert_eq!(app.event_status("evt_b3").await, "applied");
    assert_eq!(app.event_status("evt_b1").await, "stale");
    assert_eq!(app.event_status("evt_b2").await, "stale");
}
