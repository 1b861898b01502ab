//! Error answers and headers, as Stripe sends them.

use std::time::Duration;

use crate::helpers::TestSim;

#[tokio::test]
async fn missing_object_is_404_resource_missing_naming_the_id() {
    let t = TestSim::start().await;
    let r = t.get("/v1/customers/cus_missing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert_eq!(r.body["error"]["message"], "No such customer: 'cus_missing'");
    assert_eq!(r.body["error"]["param"], "id");
    assert_eq!(t.get("/v1/nonsense").await.status, 404);
}

#[tokio::test]
async fn wrong_or_missing_key_is_401() {
    let t = TestSim::start().await;
    let r = t.get_with_key("/v1/customers", Some("sk_test_wrongwrongwrong1234")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    assert_eq!(r.body["error"]["message"], "Invalid API Key provided: sk_test_***************1234");
    let r = t.get_with_key("/v1/customers", None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn every_answer_has_date_request_id_and_json_content_type() {
    let t = TestSim::start().await;
    t.sim.set_clock(Some(784_111_777));
    for path in ["/v1/customers", "/v1/customers/cus_x"] {
        let r = t.get(path).await;
        assert_eq!(r.header("date"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(r.header("request-id").is_some_and(|id| id.starts_with("req_")));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn rate_limit_fault_answers_429_with_retry_after_and_should_retry() {
    let t = TestSim::start().await;
    t.sim.update_faults(|f| {
        f.api.rate_limit_fraction = 1.0;
        f.api.retry_after_secs = 3;
    });
    let r = t.get("/v1/customers").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error"]["code"], "rate_limit");
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(r.header("stripe-should-retry"), Some("true"));
    assert_eq!(t.sim.request_stats().by_route["GET /v1/customers"][&429], 1);
}

#[tokio::test]
async fn server_error_fault_answers_500_api_error() {
    let t = TestSim::start().await;
    t.sim.update_faults(|f| f.api.server_error_fraction = 1.0);
    let r = t.get("/v1/products").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["error"]["type"], "api_error");
    assert_eq!(r.header("stripe-should-retry"), Some("true"));
}

#[tokio::test]
async fn requests_beyond_the_rate_limit_get_429_and_are_counted() {
    let t = TestSim::start().await;
    t.sim.update_faults(|f| f.api.max_requests_per_sec = Some(5));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(t.get("/v1/customers").await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 3);
    let stats = t.sim.request_stats();
    assert_eq!(stats.total, 8);
    assert!(stats.peak_per_second >= 8);
    assert_eq!(stats.count_status(429), 3);
}

#[tokio::test]
async fn slow_and_hanging_requests_wait() {
    let t = TestSim::start().await;
    t.sim.update_faults(|f| {
        f.api.slow_fraction = 1.0;
        f.api.slow_ms = 150;
    });
    let began = std::time::Instant::now();
    assert_eq!(t.get("/v1/customers").await.status, 200);
    assert!(began.elapsed() >= Duration::from_millis(150));
    t.sim.update_faults(|f| {
        f.api.slow_fraction = 0.0;
        f.api.hang_for(Duration::from_secs(5));
    });
    let timed_out = t
        .http
        .get(format!("{}/v1/customers", t.sim.base_url()))
        .bearer_auth(t.sim.api_key())
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn subscription_items_list_requires_subscription() {
    let t = TestSim::start().await;
    let r = t.get("/v1/subscription_items").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "subscription");
    assert_eq!(t.get("/v1/subscription_items?subscription=sub_x").await.status, 404);
}
