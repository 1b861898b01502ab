//! The webhook endpoints API: create (form-encoded, Stripe's brackets),
//! list, retrieve, update, delete, and deliveries to API-made endpoints.

use crate::helpers::{verified_by, Receiver, TestSim};

#[tokio::test]
async fn a_webhook_endpoint_secret_is_returned_only_at_creation() {
    let t = TestSim::start().await;
    let created = t
        .create_endpoint(
            "https://mirror.example.com/webhooks/stripe",
            &["customer.created", "invoice.paid"],
            "&api_version=2026-08-26.dahlia&metadata%5Bmanaged_by%5D=stripe-mirror&description=mirror",
        )
        .await;
    let id = created["id"].as_str().expect("id");
    assert!(id.starts_with("we_"));
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["api_version"], "2026-08-26.dahlia");
    assert_eq!(created["application"], serde_json::Value::Null);
    assert_eq!(created["enabled_events"], serde_json::json!(["customer.created", "invoice.paid"]));
    assert_eq!(created["metadata"]["managed_by"], "stripe-mirror");
    assert_eq!(created["description"], "mirror");
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["livemode"], false);
    assert_eq!(created["url"], "https://mirror.example.com/webhooks/stripe");
    assert!(created["created"].as_i64().is_some());
    assert!(created["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")));

    let got = t.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("secret").is_none(), "{}", got.body);
    let mut without_secret = created.clone();
    without_secret.as_object_mut().expect("object").remove("secret");
    assert_eq!(got.body, without_secret);
    let list = t.get("/v1/webhook_endpoints").await;
    assert_eq!(list.ids(), [id]);
    assert!(list.body["data"][0].get("secret").is_none());
    // The handle shows it, with its secret for signing.
    let ep = t.sim.webhook_endpoint(id).expect("on the handle");
    assert_eq!(ep.api_version.as_deref(), Some("2026-08-26.dahlia"));
    assert_eq!(ep.secrets, [created["secret"].as_str().unwrap_or_default()]);
}

#[tokio::test]
async fn creating_an_endpoint_needs_a_url_and_known_event_types() {
    let t = TestSim::start().await;
    let r = t.post_form("/v1/webhook_endpoints", "enabled_events[]=customer.created").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "parameter_missing");
    assert_eq!(r.body["error"]["param"], "url");
    let r = t.post_form("/v1/webhook_endpoints", "url=https://x.example").await;
    assert_eq!(r.body["error"]["param"], "enabled_events");
    for bad in ["customer.*", "customer.made_up"] {
        let r = t.post_form("/v1/webhook_endpoints", &format!("url=https://x.example&enabled_events[]={bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
        assert_eq!(r.body["error"]["param"], "enabled_events[0]");
    }
    let r =
        t.post_form("/v1/webhook_endpoints", "url=https://x.example&enabled_events[]=*&api_version=2099-01-01").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["message"], "Invalid Stripe API version: 2099-01-01");
    let r = t.post_form("/v1/webhook_endpoints", "url=https://x.example&enabled_events[]=*&secret=whsec_mine").await;
    assert_eq!(r.body["error"]["code"], "parameter_unknown");
    assert_eq!(r.body["error"]["message"], "Received unknown parameter: secret");
    let r = t.post_form("/v1/webhook_endpoints", "url=ftp://x.example&enabled_events[]=*").await;
    assert_eq!(r.body["error"]["code"], "url_invalid");
    // A Connect endpoint shows its application, not `connect`.
    let ep = t.create_endpoint("https://x.example", &["*"], "&connect=true").await;
    assert!(ep["application"].as_str().is_some_and(|a| a.starts_with("ca_")));
    assert!(ep.get("connect").is_none());
}

#[tokio::test]
async fn an_account_has_at_most_sixteen_endpoints() {
    let t = TestSim::start().await;
    t.sim.add_webhook_endpoint("http://127.0.0.1:9/dashboard", vec!["whsec_d".into()]);
    for i in 0..15 {
        t.create_endpoint(&format!("https://x.example/{i}"), &["*"], "").await;
    }
    let r = t.post_form("/v1/webhook_endpoints", "url=https://x.example/16&enabled_events[]=*").await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("maximum of 16")), "{}", r.body);
}

#[tokio::test]
async fn update_changes_url_events_status_and_metadata_but_never_the_version() {
    let t = TestSim::start().await;
    let ep = t.create_endpoint("https://x.example/a", &["*"], "&metadata[a]=1&metadata[b]=2").await;
    let path = format!("/v1/webhook_endpoints/{}", ep["id"].as_str().expect("id"));
    let r = t
        .post_form(
            &path,
            "url=https://x.example/b&enabled_events[0]=invoice.paid&disabled=true&metadata[a]=&metadata[c]=3",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["url"], "https://x.example/b");
    assert_eq!(r.body["enabled_events"], serde_json::json!(["invoice.paid"]));
    assert_eq!(r.body["status"], "disabled");
    assert_eq!(r.body["metadata"], serde_json::json!({"b": "2", "c": "3"}));
    assert!(r.body.get("secret").is_none());
    assert_eq!(t.post_form(&path, "disabled=false").await.body["status"], "enabled");
    for param in ["api_version", "connect"] {
        let r = t.post_form(&path, &format!("{param}=2026-08-26.dahlia")).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["error"]["message"], format!("Received unknown parameter: {param}"));
    }
    assert_eq!(t.post_form("/v1/webhook_endpoints/we_nope", "disabled=true").await.status, 404);
}

#[tokio::test]
async fn delete_answers_the_stub_and_the_endpoint_is_gone() {
    let t = TestSim::start().await;
    let ep = t.create_endpoint("https://x.example", &["*"], "").await;
    let id = ep["id"].as_str().expect("id");
    let r = t.delete(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(r.body, serde_json::json!({"id": id, "object": "webhook_endpoint", "deleted": true}));
    let r = t.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert!(t.sim.webhook_endpoints().is_empty());
    assert_eq!(t.delete(&format!("/v1/webhook_endpoints/{id}")).await.status, 404);
}

#[tokio::test]
async fn the_list_pages_every_endpoint_newest_first() {
    let t = TestSim::start().await;
    t.sim.set_clock(Some(1_700_000_000));
    let dashboard = t.sim.add_webhook_endpoint("http://127.0.0.1:9/dashboard", vec!["whsec_d".into()]);
    let mut want = vec![dashboard.id.clone()];
    for i in 0..4 {
        t.sim.advance(i % 2);
        let ep = t.create_endpoint(&format!("https://x.example/{i}"), &["*"], "").await;
        want.push(ep["id"].as_str().expect("id").to_owned());
    }
    want.reverse();
    assert_eq!(t.walk("/v1/webhook_endpoints", 2).await, want);
    let page = t.get(&format!("/v1/webhook_endpoints?limit=2&ending_before={}", want[4])).await;
    assert_eq!(page.ids(), want[2..4].to_vec());
    assert!(page.has_more());
    let oldest = t.get(&format!("/v1/webhook_endpoints/{}", dashboard.id)).await;
    assert_eq!(oldest.body["api_version"], serde_json::Value::Null, "Dashboard-made: the account's version");
    assert_eq!(oldest.body["enabled_events"], serde_json::json!(["*"]));
    let r = t.get("/v1/webhook_endpoints?starting_after=we_gone").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "resource_missing");
}

#[tokio::test]
async fn api_made_endpoints_get_the_events_they_enabled_signed_with_their_secret() {
    let t = TestSim::start().await;
    let (only_created, all) = (Receiver::start().await, Receiver::start().await);
    let a = t.create_endpoint(&only_created.url, &["customer.created"], "").await;
    let b = t.create_endpoint(&all.url, &["*"], "").await;
    let off = Receiver::start().await;
    let c = t.create_endpoint(&off.url, &["*"], "").await;
    t.post_form(&format!("/v1/webhook_endpoints/{}", c["id"].as_str().expect("id")), "disabled=true").await;
    let cus = t.customer("e@example.com");
    t.sim.update(stripe_sim::Kind::Customer, &cus, serde_json::json!({"name": "E"})).expect("update");
    t.sim.flush_webhooks().await.expect("drained");

    let got = only_created.drain().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event()["type"], "customer.created");
    assert_eq!(got[0].event()["pending_webhooks"], 2, "two enabled endpoints want customer.created");
    assert!(verified_by(&got[0], a["secret"].as_str().expect("secret")));
    assert!(!verified_by(&got[0], b["secret"].as_str().expect("secret")));
    let got = all.drain().await;
    let types: Vec<String> = got.iter().map(|d| d.event()["type"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(types, ["customer.created", "customer.updated"]);
    assert_eq!(got[1].event()["pending_webhooks"], 1);
    assert!(verified_by(&got[1], b["secret"].as_str().expect("secret")));
    assert!(off.drain().await.is_empty(), "a disabled endpoint is sent nothing");
}
