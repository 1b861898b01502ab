//! Webhook delivery: signatures, order, retries, delivery faults.

use std::sync::atomic::Ordering;

use stripe_sim::Kind;

use crate::helpers::{verified_by, Receiver, TestSim};

#[tokio::test]
async fn webhooks_are_signed_with_every_active_secret() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    let ep = t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_old".into(), "whsec_new".into()]);
    t.customer("w@example.com");
    t.sim.flush_webhooks().await.expect("drained");
    let got = rx.drain().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].signature.matches("v1=").count(), 2);
    assert!(verified_by(&got[0], "whsec_old"));
    assert!(verified_by(&got[0], "whsec_new"));
    assert!(!verified_by(&got[0], "whsec_other"));
    let ts: i64 = got[0].signature[2..12].parse().expect("t");
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 5, "t is real time");

    // Rotation finished: only the new secret signs.
    t.sim.set_webhook_secrets(&ep.id, vec!["whsec_new".into()]).expect("rotate");
    t.customer("w2@example.com");
    t.sim.flush_webhooks().await.expect("drained");
    let got = rx.drain().await;
    assert_eq!(got[0].signature.matches("v1=").count(), 1);
    assert!(verified_by(&got[0], "whsec_new"));
}

#[tokio::test]
async fn events_arrive_in_order_with_stripes_envelope() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_x".into()]);
    let ids: Vec<String> = (0..5).map(|i| t.customer(&format!("o{i}@example.com"))).collect();
    t.sim.flush_webhooks().await.expect("drained");
    let got = rx.drain().await;
    let objs: Vec<String> =
        got.iter().map(|d| d.event()["data"]["object"]["id"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(objs, ids);
    let ev = got[0].event();
    assert_eq!(ev["object"], "event");
    assert_eq!(ev["api_version"], stripe_sim::API_VERSION);
    assert_eq!(ev["type"], "customer.created");
    assert_eq!(ev["livemode"], false);
    assert_eq!(ev["pending_webhooks"], 1);
    assert!(ev["request"]["id"].as_str().is_some_and(|r| r.starts_with("req_")));
    assert!(ev["id"].as_str().is_some_and(|r| r.starts_with("evt_")));
    // The delivered body is the stored event, byte for byte.
    let stored = t.get(&format!("/v1/events/{}", ev["id"].as_str().unwrap_or(""))).await;
    assert_eq!(stored.body, ev);
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_the_endpoint_answers_2xx() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    rx.fail_first.store(3, Ordering::SeqCst);
    t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_x".into()]);
    t.customer("r@example.com");
    t.sim.flush_webhooks().await.expect("drained");
    assert_eq!(rx.drain().await.len(), 1);
    let s = t.sim.delivery_stats();
    assert_eq!((s.attempted, s.delivered, s.retried, s.failed), (4, 1, 3, 0));
}

#[tokio::test]
async fn deliveries_give_up_after_max_attempts() {
    let t = TestSim::start().await;
    t.sim.update_faults(|f| {
        f.delivery.max_attempts = 3;
        f.delivery.initial_backoff_ms = 5;
    });
    // Nothing listens on this port.
    t.sim.add_webhook_endpoint("http://127.0.0.1:9/hook", vec!["whsec_x".into()]);
    t.customer("gone@example.com");
    t.sim.flush_webhooks().await.expect("drained");
    let s = t.sim.delivery_stats();
    assert_eq!((s.attempted, s.failed, s.retried, s.pending), (3, 1, 2, 0));
}

#[tokio::test]
async fn drop_and_duplicate_faults_change_what_arrives() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_x".into()]);
    t.sim.update_faults(|f| f.delivery.duplicate_fraction = 1.0);
    t.customer("dup@example.com");
    t.sim.flush_webhooks().await.expect("drained");
    let got = rx.drain().await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body);
    t.sim.update_faults(|f| {
        f.delivery.duplicate_fraction = 0.0;
        f.delivery.drop_fraction = 1.0;
    });
    t.customer("drop@example.com");
    t.sim.flush_webhooks().await.expect("drained");
    assert!(rx.drain().await.is_empty());
    let s = t.sim.delivery_stats();
    assert_eq!((s.duplicated, s.dropped, s.delivered), (1, 1, 2));
    // The dropped event is still in the Events API for reconcile to find.
    assert_eq!(t.get("/v1/events?type=customer.created").await.ids().len(), 2);
}

#[tokio::test]
async fn reorder_fault_shuffles_a_window_of_events() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_x".into()]);
    t.sim.update_faults(|f| f.delivery.reorder_window = 20);
    let ids: Vec<String> = (0..20).map(|i| t.customer(&format!("s{i}@example.com"))).collect();
    t.sim.flush_webhooks().await.expect("drained");
    let got: Vec<String> =
        rx.drain().await.iter().map(|d| d.event()["data"]["object"]["id"].as_str().unwrap_or("").to_owned()).collect();
    assert_ne!(got, ids, "20 events in order after a shuffle: 1 in 20! chance");
    let (mut a, mut b) = (got, ids);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[tokio::test]
async fn deleted_customer_event_carries_the_full_last_object() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    let cus = t.customer("bye@example.com");
    t.sim.add_webhook_endpoint(&rx.url, vec!["whsec_x".into()]);
    t.sim.delete(Kind::Customer, &cus).expect("delete");
    t.sim.flush_webhooks().await.expect("drained");
    let got = rx.drain().await;
    let ev = got[0].event();
    assert_eq!(ev["type"], "customer.deleted");
    assert_eq!(ev["data"]["object"]["email"], "bye@example.com");
}
