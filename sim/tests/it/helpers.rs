//! A started simulator, a `/v1` client, and a webhook receiver.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stripe_sim::{CustomerParams, Sim, SimConfig};
use tokio::sync::{mpsc, Mutex};
use warp::Filter;

/// A simulator on a free port plus a client holding its key.
pub struct TestSim {
    pub sim: Sim,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn ids(&self) -> Vec<String> {
        self.body["data"]
            .as_array()
            .map(|a| a.iter().map(|o| o["id"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn has_more(&self) -> bool {
        self.body["has_more"].as_bool().expect("has_more is a bool")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestSim {
    pub async fn start() -> TestSim {
        TestSim::start_with(SimConfig::default()).await
    }

    pub async fn start_with(config: SimConfig) -> TestSim {
        let sim = Sim::start(config).await.expect("sim starts");
        TestSim { sim, http: reqwest::Client::new() }
    }

    /// `GET {base}{path}` with the right key.
    pub async fn get(&self, path: &str) -> Reply {
        self.get_with_key(path, Some(self.sim.api_key())).await
    }

    pub async fn get_with_key(&self, path: &str, key: Option<&str>) -> Reply {
        let mut req = self.http.get(format!("{}{}", self.sim.base_url(), path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        send(req).await
    }

    /// `GET` with a `Stripe-Version` header.
    pub async fn get_at(&self, path: &str, version: &str) -> Reply {
        let req = self.http.get(format!("{}{}", self.sim.base_url(), path)).bearer_auth(self.sim.api_key());
        send(req.header("stripe-version", version)).await
    }

    /// `POST` a form-encoded body (Stripe's bracket syntax) with the key.
    pub async fn post_form(&self, path: &str, form: &str) -> Reply {
        let req = self
            .http
            .post(format!("{}{}", self.sim.base_url(), path))
            .bearer_auth(self.sim.api_key())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        send(req).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        send(self.http.delete(format!("{}{}", self.sim.base_url(), path)).bearer_auth(self.sim.api_key())).await
    }

    /// Walk a list to the end with `starting_after`, returning ids in order.
    pub async fn walk(&self, path: &str, limit: usize) -> Vec<String> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let after = cursor.as_ref().map(|c| format!("&starting_after={c}")).unwrap_or_default();
            let page = self.get(&format!("{path}{sep}limit={limit}{after}")).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let got = page.ids();
            cursor = got.last().cloned();
            ids.extend(got);
            if !page.has_more() {
                return ids;
            }
        }
    }

    /// Create a webhook endpoint through the API; returns the create answer.
    pub async fn create_endpoint(&self, url: &str, events: &[&str], extra: &str) -> Value {
        let mut form = format!("url={}", urlencode(url));
        for (i, e) in events.iter().enumerate() {
            form.push_str(&format!("&enabled_events%5B{i}%5D={}", urlencode(e)));
        }
        form.push_str(extra);
        let r = self.post_form("/v1/webhook_endpoints", &form).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    pub fn customer(&self, email: &str) -> String {
        let c = self.sim.create_customer(CustomerParams::email(email)).expect("customer");
        c["id"].as_str().expect("id").to_owned()
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).expect("JSON body");
    Reply { status, headers, body }
}

/// Percent-encode a form value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Check a `Stripe-Signature` the way a receiver does: every `v1=` that
/// matches one of our secrets counts.
pub fn verified_by(delivery: &crate::helpers::Delivery, secret: &str) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in delivery.signature.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    sigs.contains(&stripe_sim::sign(secret, t, delivery.body.as_bytes()))
}

/// One webhook as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub signature: String,
    pub body: String,
}

impl Delivery {
    pub fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("event JSON")
    }
}

/// A local webhook endpoint that records deliveries and can fail the first
/// `fail_first` of them with 500.
pub struct Receiver {
    pub url: String,
    rx: Mutex<mpsc::UnboundedReceiver<Delivery>>,
    pub fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let fail_first = Arc::new(AtomicUsize::new(0));
        let fails = fail_first.clone();
        let route = warp::post()
            .and(warp::header::optional::<String>("stripe-signature"))
            .and(warp::body::bytes())
            .map(move |sig: Option<String>, body: bytes::Bytes| {
                let failing = fails.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                if failing {
                    return warp::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let _ = tx.send(Delivery {
                    signature: sig.unwrap_or_default(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                warp::http::StatusCode::OK
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver { url: format!("http://{addr}/webhooks/stripe"), rx: Mutex::new(rx), fail_first }
    }

    /// Everything received so far.
    pub async fn drain(&self) -> Vec<Delivery> {
        let mut rx = self.rx.lock().await;
        let mut out = Vec::new();
        while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
            out.push(d);
        }
        out
    }
}
