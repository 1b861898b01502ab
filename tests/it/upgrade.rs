//! Upgrades keep what is stored: a database left by an older version, with
//! events still pending in its inbox, is migrated by `serve` and they are
//! applied, and the typed columns it stored equal what the current
//! functions compute.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{customer, event, fresh_database, test_config};

#[tokio::test]
async fn events_stored_as_jsonb_before_migration_3_survive_it_and_are_applied() {
    let db = fresh_database().await;
    let pool = PgPool::connect(&db).await.expect("connect");
    stripe_mirror::storage::db::migrate_to(&pool, "stripe", 2).await.expect("migrate to version 2");
    let ev = event("evt_before_upgrade", "customer.created", 100, customer("cus_before_upgrade", "Old"));
    // What the previous version's inbox writer did: the body cast to jsonb.
    sqlx::query(
        "INSERT INTO stripe_mirror.events (id, type, object_id, created, payload)
         VALUES ('evt_before_upgrade', 'customer.created', 'cus_before_upgrade', 100, $1::jsonb)",
    )
    .bind(ev.to_string())
    .execute(&pool)
    .await
    .expect("insert an event the old way");

    let running = stripe_mirror::app::start(&test_config(&db)).await.expect("daemon starts and migrates");
    let mut status = String::new();
    for _ in 0..200 {
        status = sqlx::query_scalar("SELECT status FROM stripe_mirror.events WHERE id = 'evt_before_upgrade'")
            .fetch_one(&pool)
            .await
            .expect("the event row is still there");
        if status != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "applied");
    let name: String = sqlx::query_scalar("SELECT name FROM stripe.customers WHERE id = 'cus_before_upgrade'")
        .fetch_one(&pool)
        .await
        .expect("the customer row");
    assert_eq!(name, "Old");
    let payload: String =
        sqlx::query_scalar("SELECT payload FROM stripe_mirror.events WHERE id = 'evt_before_upgrade'")
            .fetch_one(&pool)
            .await
            .expect("payload");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&payload).expect("payload is JSON"), json!(ev));
    running.stop().await;
}

#[tokio::test]
async fn subscription_periods_stored_before_migration_4_equal_what_its_functions_compute() {
    let db = fresh_database().await;
    let pool = PgPool::connect(&db).await.expect("connect");
    stripe_mirror::storage::db::migrate_to(&pool, "stripe", 3).await.expect("migrate to version 3");
    let item = |start: serde_json::Value, end: serde_json::Value| json!({"id": "si", "current_period_start": start, "current_period_end": end});
    let items = |list: Vec<serde_json::Value>| json!({"object": "list", "data": list, "has_more": false});
    // (id, subscription, expected start, expected end) in Unix seconds.
    let cases: Vec<(&str, serde_json::Value, Option<i64>, Option<i64>)> = vec![
        (
            "sub_top_level",
            json!({"current_period_start": 100, "current_period_end": 200, "items": items(vec![item(json!(5), json!(6))])}),
            Some(100),
            Some(200),
        ),
        (
            "sub_latest_start_earliest_end",
            json!({"items": items(vec![item(json!(10), json!(50)), item(json!(20), json!(40)), item(json!(15), json!(45))])}),
            Some(20),
            Some(40),
        ),
        (
            "sub_top_level_null",
            json!({"current_period_start": null, "items": items(vec![item(json!(7), json!(8))])}),
            Some(7),
            Some(8),
        ),
        (
            "sub_odd_values_skipped",
            json!({"items": items(vec![item(json!("x"), json!(null)), item(json!(1e12), json!(true)), item(json!(30), json!(60))])}),
            Some(30),
            Some(60),
        ),
        ("sub_no_items", json!({"items": items(vec![])}), None, None),
        ("sub_items_not_a_list", json!({"items": {"data": {"current_period_start": 1}}}), None, None),
        ("sub_without_items", json!({"status": "active"}), None, None),
        ("sub_not_an_object", json!([1, 2]), None, None),
    ];
    for (id, data, _, _) in &cases {
        sqlx::query("INSERT INTO stripe.subscriptions (id, data, version) VALUES ($1, $2::jsonb, 1)")
            .bind(id)
            .bind(data.to_string())
            .execute(&pool)
            .await
            .expect("insert with the functions of migration 1");
    }
    stripe_mirror::storage::db::migrate(&pool, "stripe").await.expect("migrate to current");

    // Stored by the old functions, recomputed by the new ones: no difference.
    let differ: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM stripe.subscriptions
         WHERE current_period_start IS DISTINCT FROM stripe_mirror.sub_period_start(data)
            OR current_period_end IS DISTINCT FROM stripe_mirror.sub_period_end(data)",
    )
    .fetch_all(&pool)
    .await
    .expect("compare");
    assert!(differ.is_empty(), "stored and recomputed periods differ for {differ:?}");
    assert_periods(&pool, &cases).await;
    // Rows written after the upgrade get the same.
    sqlx::query("UPDATE stripe.subscriptions SET data = data || '{}'::jsonb").execute(&pool).await.expect("rewrite");
    assert_periods(&pool, &cases).await;
}

async fn assert_periods(pool: &PgPool, cases: &[(&str, serde_json::Value, Option<i64>, Option<i64>)]) {
    for (id, _, start, end) in cases {
        let (s, e): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT extract(epoch FROM current_period_start)::int8, extract(epoch FROM current_period_end)::int8
             FROM stripe.subscriptions WHERE id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("row");
        assert_eq!((s, e), (*start, *end), "{id}");
    }
}
