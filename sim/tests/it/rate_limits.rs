//! Rate limits as Stripe states them: account-wide and per operation, each
//! 429 naming its limiter in `Stripe-Rate-Limited-Reason`; a `lock_timeout`
//! 429 names none.

use crate::helpers::TestSim;

#[tokio::test]
async fn the_account_limit_answers_global_rate() {
    let t = TestSim::start().await;
    t.sim.update_faults(|f| f.api.max_requests_per_sec = Some(2));
    let replies = [t.get("/v1/customers").await, t.get("/v1/products").await, t.get("/v1/prices").await];
    assert_eq!(replies.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200, 429]);
    let limited = &replies[2];
    assert_eq!(limited.header("stripe-rate-limited-reason"), Some("global-rate"));
    assert_eq!(limited.body["error"]["code"], "rate_limit");
    assert!(replies[0].header("stripe-rate-limited-reason").is_none());
    assert_eq!(t.sim.request_stats().limited_by("global-rate"), 1);
}

#[tokio::test]
async fn per_operation_limit_answers_endpoint_rate() {
    let t = TestSim::start().await;
    let cus = t.customer("rate@example.com");
    t.sim.update_faults(|f| f.api.per_operation_requests_per_sec = 3);
    let mut lists = Vec::new();
    for _ in 0..5 {
        lists.push(t.get("/v1/customers").await);
    }
    let statuses: Vec<u16> = lists.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(lists[3].header("stripe-rate-limited-reason"), Some("endpoint-rate"));
    assert_eq!(lists[3].header("stripe-should-retry"), Some("true"));
    // Retrieve is another operation, with a budget of its own; so is every
    // other list.
    for _ in 0..3 {
        assert_eq!(t.get(&format!("/v1/customers/{cus}")).await.status, 200);
        assert_eq!(t.get("/v1/invoices").await.status, 200);
    }
    assert_eq!(t.get("/v1/customers/cus_other").await.status, 429, "any id shares the retrieve budget");
    let stats = t.sim.request_stats();
    assert_eq!(stats.limited_by("endpoint-rate"), 3);
    assert_eq!(stats.limited_by("global-rate"), 0);
    assert_eq!(stats.by_route["GET /v1/customers"][&429], 2);
    assert_eq!(stats.by_route["GET /v1/customers/{id}"][&429], 1);
    // The budget is per second.
    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    assert_eq!(t.get("/v1/customers").await.status, 200);
}

#[tokio::test]
async fn a_lock_timeout_is_a_429_without_a_rate_limited_reason() {
    let t = TestSim::start().await;
    t.sim.update_faults(|f| f.api.lock_timeout_fraction = 1.0);
    let r = t.get("/v1/customers").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error"]["code"], "lock_timeout");
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    assert!(r.header("stripe-rate-limited-reason").is_none());
    assert_eq!(r.header("stripe-should-retry"), Some("true"));
    assert_eq!(t.sim.request_stats().limited_by("lock_timeout"), 1);
    t.sim.update_faults(|f| {
        f.api.lock_timeout_fraction = 0.0;
        f.api.rate_limit_fraction = 1.0;
    });
    let r = t.get("/v1/customers").await;
    assert_eq!(r.header("stripe-rate-limited-reason"), Some("global-concurrency"));
}
