//! Upgrades keep what is stored: a database left by an older version, with
//! events still pending in its inbox, is migrated by `serve` and they are
//! applied.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{customer, event, fresh_database, test_config};

#[tokio::test]
async fn events_stored_as_jsonb_before_migration_3_survive_it_and_are_applied() {
    let db = fresh_database().await;
    let pool = PgPool::connect(&db).await.expect("connect");
    stripe_mirror::db::migrate_to(&pool, "stripe", 2).await.expect("migrate to version 2");
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
