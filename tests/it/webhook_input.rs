//! Every line of DESIGN.md's bad-input table for the webhook endpoint, and
//! the durability and dedup promises of a good one.

use serde_json::json;
use stripe_mirror::signature::sign;

use crate::helpers::*;

fn body() -> Vec<u8> {
    serde_json::to_vec(&event("evt_in_1", "customer.created", 1_700_000_000, customer("cus_in", "Ada"))).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn valid_event_is_stored_before_the_ack_and_applied_once() {
    let app = TestApp::spawn().await;
    let ev = event("evt_ok", "customer.created", 1_700_000_000, customer("cus_ok", "Ada"));
    assert_eq!(app.post_event(&ev).await, 200);
    // Redelivery: acknowledged again, stored once.
    assert_eq!(app.post_event(&ev).await, 200);
    assert_eq!(app.inbox_count().await, 1);
    app.drained().await;
    assert_eq!(app.event_status("evt_ok").await, "applied");
    let (data, deleted) = app.row("customers", "cus_ok").await.expect("row");
    assert_eq!(data["name"], "Ada");
    assert!(!deleted);
}

#[tokio::test]
async fn missing_malformed_or_wrong_signatures_get_400_and_store_nothing() {
    let app = TestApp::spawn().await;
    let b = body();
    let t = now();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("garbage", Some("garbage".into())),
        ("non-hex v1", Some(format!("t={t},v1=zzzz"))),
        ("no v1", Some(format!("t={t},v0={}", sign(SECRET, t, &b)))),
        ("no t", Some(format!("v1={}", sign(SECRET, t, &b)))),
        ("wrong secret", Some(format!("t={t},v1={}", sign("whsec_other", t, &b)))),
        ("signature of another timestamp", Some(format!("t={},v1={}", t - 1, sign(SECRET, t, &b)))),
    ];
    for (name, header) in cases {
        assert_eq!(app.post_raw(header.as_deref(), b.clone()).await, 400, "{name}");
    }
    // Tampered body: signed one body, sent another.
    let mut tampered = b.clone();
    tampered[10] ^= 1;
    let header = format!("t={t},v1={}", sign(SECRET, t, &b));
    assert_eq!(app.post_raw(Some(&header), tampered).await, 400);
    assert_eq!(app.inbox_count().await, 0);
    let metrics =
        app.http.get(format!("http://{}/metrics", app.running.addr)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("stripe_mirror_webhooks_rejected_total{reason=\"signature_mismatch\"} 3"), "{metrics}");
    assert!(metrics.contains("stripe_mirror_webhooks_rejected_total{reason=\"signature_missing\"} 1"), "{metrics}");
}

#[tokio::test]
async fn timestamp_outside_tolerance_gets_400() {
    let app = TestApp::spawn_with(|c| c.webhook.tolerance_secs = 60).await;
    let b = body();
    for t in [now() - 61, now() + 61] {
        let header = format!("t={t},v1={}", sign(SECRET, t, &b));
        assert_eq!(app.post_raw(Some(&header), b.clone()).await, 400);
    }
    let t = now() - 30;
    let header = format!("t={t},v1={}", sign(SECRET, t, &b));
    assert_eq!(app.post_raw(Some(&header), b.clone()).await, 200);
    assert_eq!(app.inbox_count().await, 1);
}

#[tokio::test]
async fn rotated_secrets_are_all_accepted() {
    let app = TestApp::spawn_with(|c| {
        c.webhook.secrets = vec!["whsec_old".to_string().into(), "whsec_new".to_string().into()]
    })
    .await;
    let b = body();
    let t = now();
    // Stripe signs with every active secret while rolling; we hold the new one only on one replica.
    let both = format!("t={t},v1={},v1={}", sign("whsec_unknown", t, &b), sign("whsec_new", t, &b));
    assert_eq!(app.post_raw(Some(&both), b.clone()).await, 200);
    let old = format!("t={t},v1={}", sign("whsec_old", t, &b));
    assert_eq!(app.post_raw(Some(&old), b.clone()).await, 200);
    assert_eq!(app.inbox_count().await, 1);
}

#[tokio::test]
async fn body_over_the_limit_gets_413() {
    let app = TestApp::spawn_with(|c| c.webhook.max_body_bytes = 1024).await;
    let big = event(
        "evt_big",
        "customer.created",
        1,
        with(customer("cus_big", "B"), json!({"description": "x".repeat(2000)})),
    );
    assert_eq!(app.post_event(&big).await, 413);
    assert_eq!(app.inbox_count().await, 0);
}

#[tokio::test]
async fn signed_body_that_is_not_a_stripe_event_gets_400() {
    let app = TestApp::spawn().await;
    for b in [
        &b"not json at all"[..],
        br#"{"id":"cus_1","object":"customer"}"#,
        br#"{"id":"evt_1","object":"event","type":"x","created":1,"data":{"object":{"id":"a","n":"\u0000"}}}"#,
    ] {
        let t = now();
        let header = format!("t={t},v1={}", sign(SECRET, t, b));
        assert_eq!(app.post_raw(Some(&header), b.to_vec()).await, 400, "{}", String::from_utf8_lossy(b));
    }
    assert_eq!(app.inbox_count().await, 0);
}

#[tokio::test]
async fn any_method_but_post_gets_405() {
    let app = TestApp::spawn().await;
    for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
        let status = app.http.request(method.clone(), &app.url).send().await.unwrap().status();
        assert_eq!(status, 405, "{method}");
    }
}

#[tokio::test]
async fn database_down_gets_503_and_stripe_retries() {
    let app = TestApp::spawn().await;
    // Simulate the database going away by closing the pools the handler uses.
    app.pool.close().await;
    app.running.ack_pool.close().await;
    let ev = event("evt_503", "customer.created", 1, customer("cus_503", "X"));
    assert_eq!(app.post_event(&ev).await, 503);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let base = format!("http://{}", app.running.addr);
    assert_eq!(app.http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(app.http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    app.pool.close().await;
    assert_eq!(app.http.get(format!("{base}/readyz")).send().await.unwrap().status(), 503);
}
