//! Focused tests for what the chaos scenarios found in the product.

use std::time::{Duration, Instant};

use crate::helpers::*;

/// Found by the two-replica scenario: a redelivered event's INSERT … ON
/// CONFLICT waited for the apply worker whose open transaction had updated
/// that event's inbox row, so the webhook's 200 waited for the apply (up to
/// 22 s when applies queued behind each other's row locks).
#[tokio::test]
async fn a_redelivery_is_acknowledged_while_a_worker_holds_the_event_row() {
    let app = TestApp::spawn().await;
    let ev = event("evt_held", "customer.created", 1_700_000_000, customer("cus_held", "Held"));
    assert_eq!(app.post_event(&ev).await, 200);
    app.drained().await;
    // What an apply worker does to the row inside its transaction.
    let mut tx = app.pool.begin().await.expect("begin");
    sqlx::query("UPDATE stripe_mirror.events SET attempts = attempts + 1 WHERE id = 'evt_held'")
        .execute(&mut *tx)
        .await
        .expect("update");
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(3), app.post_event(&ev))
        .await
        .expect("the redelivery is answered while the row is held");
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    tx.rollback().await.expect("rollback");
    assert_eq!(app.inbox_count().await, 1);
}
