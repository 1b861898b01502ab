//! Stripe's cursor pagination: newest first, every object once, both
//! directions, limit bounds, `created` ranges.

use crate::helpers::TestSim;

/// 35 customers over three seconds, many sharing a second.
async fn customers_in_few_seconds(t: &TestSim) -> Vec<String> {
    t.sim.set_clock(Some(1_700_000_000));
    let mut ids = Vec::new();
    for i in 0..35 {
        if i % 12 == 11 {
            t.sim.advance(1);
        }
        ids.push(t.customer(&format!("c{i}@example.com")));
    }
    ids.reverse(); // newest first
    ids
}

#[tokio::test]
async fn starting_after_walk_returns_every_object_once_newest_first() {
    let t = TestSim::start().await;
    let want = customers_in_few_seconds(&t).await;
    for limit in [1, 7, 10, 100] {
        assert_eq!(t.walk("/v1/customers", limit).await, want, "limit {limit}");
    }
}

#[tokio::test]
async fn ending_before_walks_backwards_towards_newer_objects() {
    let t = TestSim::start().await;
    let want = customers_in_few_seconds(&t).await;
    let oldest = want.last().expect("some");
    let mut cursor = oldest.clone();
    let mut seen: Vec<String> = vec![oldest.clone()];
    loop {
        let page = t.get(&format!("/v1/customers?limit=10&ending_before={cursor}")).await;
        assert_eq!(page.status, 200);
        let ids = page.ids();
        // Each page is still newest first and sits right before the cursor.
        let mut batch = ids.clone();
        batch.extend(seen);
        seen = batch;
        if !page.has_more() {
            break;
        }
        cursor = ids.first().expect("non-empty page").clone();
    }
    assert_eq!(seen, want);
}

#[tokio::test]
async fn default_limit_is_ten_and_out_of_range_limits_are_400_naming_limit() {
    let t = TestSim::start().await;
    customers_in_few_seconds(&t).await;
    let page = t.get("/v1/customers").await;
    assert_eq!(page.ids().len(), 10);
    assert!(page.has_more());
    assert_eq!(page.body["object"], "list");
    assert_eq!(page.body["url"], "/v1/customers");
    for bad in ["0", "101", "-1", "ten"] {
        let r = t.get(&format!("/v1/customers?limit={bad}")).await;
        assert_eq!(r.status, 400, "limit={bad}");
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
        assert_eq!(r.body["error"]["param"], "limit");
    }
    assert_eq!(t.get("/v1/customers?limit=100").await.ids().len(), 35);
}

#[tokio::test]
async fn created_ranges_bound_the_list() {
    let t = TestSim::start().await;
    customers_in_few_seconds(&t).await; // seconds ..000, ..001, ..002
    let count = |r: crate::helpers::Reply| r.ids().len();
    assert_eq!(count(t.get("/v1/customers?limit=100&created=1700000000").await), 11);
    assert_eq!(count(t.get("/v1/customers?limit=100&created[gt]=1700000000").await), 24);
    assert_eq!(count(t.get("/v1/customers?limit=100&created[gte]=1700000001&created[lt]=1700000002").await), 12);
    assert_eq!(count(t.get("/v1/customers?limit=100&created[lte]=1700000001").await), 23);
    assert_eq!(count(t.get("/v1/customers?limit=100&created[gt]=1700000005").await), 0);
    let bad = t.get("/v1/customers?created[gte]=soon").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["param"], "created[gte]");
}

#[tokio::test]
async fn unknown_cursor_is_resource_missing_and_both_cursors_are_refused() {
    let t = TestSim::start().await;
    let r = t.get("/v1/customers?starting_after=cus_nope").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert_eq!(r.body["error"]["param"], "starting_after");
    let r = t.get("/v1/customers?starting_after=a&ending_before=b").await;
    assert_eq!(r.status, 400);
}

/// stripe-php#1264: a cursor whose object was deleted is refused, so a
/// client paging while objects are deleted must be able to start over.
#[tokio::test]
async fn starting_after_a_deleted_object_is_resource_missing() {
    let t = TestSim::start().await;
    let want = customers_in_few_seconds(&t).await;
    t.sim.delete(stripe_sim::Kind::Customer, &want[5]).expect("delete");
    for param in ["starting_after", "ending_before"] {
        let r = t.get(&format!("/v1/customers?limit=3&{param}={}", want[5])).await;
        assert_eq!(r.status, 400, "{param}");
        assert_eq!(
            r.body,
            serde_json::json!({"error": {
                "code": "resource_missing",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                "message": format!("No such customer: '{}'", want[5]),
                "param": param,
                "type": "invalid_request_error",
            }})
        );
    }
    let page = t.get(&format!("/v1/customers?limit=3&starting_after={}", want[4])).await;
    assert_eq!(page.ids(), want[6..9].to_vec(), "live cursors still work and skip the deleted one");
}
