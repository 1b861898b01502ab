//! Scenario 5: hostile input. Thousands of requests (10,000 in long mode) —
//! forged, tampered, replayed (stale `t`), from the future, wrong secret,
//! oversized, truncated, non-JSON, signed non-events, wrong method, header
//! garbage (printable and binary), missing header, chunked without a length —
//! mixed with valid events and valid redeliveries, sent concurrently to the
//! real `serve` binary. Every hostile request gets the status docs/design.md's
//! bad-input table (and the README's troubleshooting table) documents,
//! none is stored or applied, every valid one is applied once, and each
//! refusal is counted in `stripe_mirror_webhooks_rejected_total`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use stripe_mirror::push::signature::sign;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::helpers::{customer, event, fresh_database, with, SECRET};

const MAX_BODY: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Variant {
    Valid,
    Redelivery,
    Forged,
    Tampered,
    Replayed,
    FromTheFuture,
    WrongSecret,
    Oversized,
    TruncatedBody,
    TruncatedSignedAsIs,
    NonJson,
    SignedNonEvent,
    WrongMethod,
    HeaderGarbage,
    HeaderBinary,
    MissingHeader,
    ChunkedNoLength,
}

use Variant::*;

const WEIGHTS: &[(Variant, u32)] = &[
    (Valid, 30),
    (Redelivery, 4),
    (Forged, 5),
    (Tampered, 5),
    (Replayed, 5),
    (FromTheFuture, 3),
    (WrongSecret, 5),
    (Oversized, 3),
    (TruncatedBody, 4),
    (TruncatedSignedAsIs, 4),
    (NonJson, 4),
    (SignedNonEvent, 4),
    (WrongMethod, 5),
    (HeaderGarbage, 6),
    (HeaderBinary, 3),
    (MissingHeader, 3),
    (ChunkedNoLength, 2),
];

impl Variant {
    /// The documented answer.
    fn expected(self) -> u16 {
        match self {
            Valid | Redelivery => 200,
            Oversized => 413,
            WrongMethod => 405,
            ChunkedNoLength => 411,
            _ => 400,
        }
    }
}

/// The `Stripe-Signature` a request carries.
enum Sig {
    /// A valid one for the body as sent, made when sending (`t` is fresh).
    SignNow,
    Fixed(Vec<u8>),
    Absent,
}

/// One request to send.
struct Request {
    variant: Variant,
    method: reqwest::Method,
    signature: Sig,
    body: Vec<u8>,
    /// Sent over a raw socket (binary header bytes, chunked body).
    raw: bool,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn header(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    format!("t={t},v1={}", sign(secret, t, body)).into_bytes()
}

fn hostile_body(i: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let ev = event(
        &format!("evt_hostile_{i}"),
        "customer.created",
        1_700_000_000 + i as i64,
        customer(&format!("cus_hostile_{i}"), &format!("Hostile {}", rng.u32(..))),
    );
    serde_json::to_vec(&ev).expect("serialize")
}

fn garbage_header(rng: &mut fastrand::Rng) -> Vec<u8> {
    let t = now();
    let options: Vec<String> = vec![
        String::new(),
        "garbage".into(),
        ",,,,".into(),
        format!("t={t}"),
        format!("t={t},v1="),
        format!("t={t},v1=zz{}", "0".repeat(62)),
        format!("t=,v1={}", "a".repeat(64)),
        format!("t={t},t={t},v1={}", "a".repeat(64)),
        format!("t=99999999999999999999999,v1={}", "a".repeat(64)),
        format!("v1={}", "b".repeat(64)),
        format!("t={t};v1={}", "c".repeat(64)),
        "t=1e9,v1=00".into(),
        (0..rng.usize(1..200)).map(|_| rng.char(' '..='~')).collect(),
        format!("t={t},{}", "v1=00,".repeat(2_000)),
    ];
    options[rng.usize(..options.len())].clone().into_bytes()
}

fn build(n: usize, rng: &mut fastrand::Rng) -> (Vec<Request>, usize) {
    let total: u32 = WEIGHTS.iter().map(|w| w.1).sum();
    let mut out = Vec::with_capacity(n);
    let mut valid_bodies: Vec<Vec<u8>> = Vec::new();
    for i in 0..n {
        let mut roll = rng.u32(..total);
        let mut variant = WEIGHTS
            .iter()
            .find(|(_, w)| {
                let hit = roll < *w;
                roll = roll.saturating_sub(*w);
                hit
            })
            .map_or(Valid, |w| w.0);
        if variant == Redelivery && valid_bodies.is_empty() {
            variant = Valid;
        }
        let t = now();
        let mut req =
            Request { variant, method: reqwest::Method::POST, signature: Sig::Absent, body: Vec::new(), raw: false };
        match variant {
            Valid => {
                let n = valid_bodies.len();
                let ev = event(
                    &format!("evt_valid_{n}"),
                    "customer.created",
                    1_700_000_000 + n as i64,
                    customer(&format!("cus_valid_{n}"), &format!("Valid {n}")),
                );
                req.body = serde_json::to_vec(&ev).expect("serialize");
                valid_bodies.push(req.body.clone());
            }
            Redelivery => req.body = valid_bodies[rng.usize(..valid_bodies.len())].clone(),
            _ => req.body = hostile_body(i, rng),
        }
        req.signature = match variant {
            Forged => Sig::Fixed(format!("t={t},v1={}", hex_of(rng, 32)).into_bytes()),
            Replayed => {
                let stale = t - 301 - rng.i64(0..86_400);
                Sig::Fixed(header(SECRET, stale, &req.body))
            }
            FromTheFuture => {
                let ahead = t + 301 + rng.i64(0..86_400);
                Sig::Fixed(header(SECRET, ahead, &req.body))
            }
            WrongSecret => Sig::Fixed(header("whsec_not_ours", t, &req.body)),
            HeaderGarbage => Sig::Fixed(garbage_header(rng)),
            HeaderBinary => {
                let mut h = format!("t={t},v1=").into_bytes();
                h.extend((0..rng.usize(1..64)).map(|_| rng.u8(0x80..=0xff)));
                Sig::Fixed(h)
            }
            MissingHeader => Sig::Absent,
            _ => Sig::SignNow,
        };
        match variant {
            Tampered => {
                // Signed as is, then one byte changed on the way.
                let at = rng.usize(..req.body.len());
                req.signature = Sig::Fixed(header(SECRET, t, &req.body));
                req.body[at] = if req.body[at] == b'x' { b'y' } else { b'x' };
            }
            Oversized => {
                let big = with(
                    customer(&format!("cus_hostile_{i}"), "Big"),
                    json!({"description": "x".repeat(MAX_BODY as usize + rng.usize(1..20_000))}),
                );
                req.body = serde_json::to_vec(&event(&format!("evt_hostile_{i}"), "customer.created", 1, big))
                    .expect("serialize");
            }
            TruncatedBody => {
                // Signature of the whole body, half of it sent.
                req.signature = Sig::Fixed(header(SECRET, t, &req.body));
                req.body.truncate(rng.usize(1..req.body.len()));
            }
            TruncatedSignedAsIs => req.body.truncate(rng.usize(1..req.body.len())),
            // At least one byte: an empty POST goes out without Content-Length (411).
            NonJson => req.body = (0..rng.usize(1..2_000)).map(|_| rng.u8(..)).collect(),
            SignedNonEvent => {
                let options = [
                    json!({"id": format!("cus_hostile_{i}"), "object": "customer"}),
                    json!({"id": format!("evt_hostile_{i}"), "object": "event", "type": "customer.created", "created": "soon", "data": {"object": {}}}),
                    json!({"id": format!("evt_hostile_{i}"), "object": "event", "type": "", "created": 1, "data": {"object": {"id": "x"}}}),
                    json!({"id": format!("evt_hostile_{i}"), "object": "event", "type": "customer.created", "created": 1, "data": {"object": [1, 2]}}),
                    json!({"id": format!("nope_hostile_{i}"), "object": "event", "type": "customer.created", "created": 1, "data": {"object": {"id": "x"}}}),
                    json!([1, 2, 3]),
                    json!(null),
                ];
                req.body = serde_json::to_vec(&options[rng.usize(..options.len())]).expect("serialize");
            }
            WrongMethod => {
                let methods =
                    [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH];
                req.method = methods[rng.usize(..methods.len())].clone();
            }
            HeaderBinary | ChunkedNoLength => req.raw = true,
            _ => {}
        }
        out.push(req);
    }
    (out, valid_bodies.len())
}

fn hex_of(rng: &mut fastrand::Rng, bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rng.u8(..))).collect()
}

/// Sends one request; its status (0 when no answer came).
async fn send(http: &reqwest::Client, addr: SocketAddr, url: &str, req: &Request) -> u16 {
    let signature = match &req.signature {
        Sig::SignNow => Some(header(SECRET, now(), &req.body)),
        Sig::Fixed(s) => Some(s.clone()),
        Sig::Absent => None,
    };
    if req.raw {
        return raw(addr, signature.as_deref(), &req.body, req.variant == ChunkedNoLength).await;
    }
    let mut r = http.request(req.method.clone(), url).header("content-type", "application/json").body(req.body.clone());
    if let Some(s) = signature {
        r = r.header("stripe-signature", s);
    }
    match r.send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(e) => {
            eprintln!("{:?}: {e:?}", req.variant);
            0
        }
    }
}

/// A request written byte by byte on a socket.
async fn raw(addr: SocketAddr, signature: Option<&[u8]>, body: &[u8], chunked: bool) -> u16 {
    let mut head =
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
            .to_vec();
    if let Some(s) = signature {
        head.extend_from_slice(b"Stripe-Signature: ");
        head.extend_from_slice(s);
        head.extend_from_slice(b"\r\n");
    }
    let mut payload = Vec::new();
    if chunked {
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        payload.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        payload.extend_from_slice(body);
        payload.extend_from_slice(b"\r\n0\r\n\r\n");
    } else {
        head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        payload.extend_from_slice(body);
    }
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { return 0 };
    if stream.write_all(&head).await.is_err() || stream.write_all(&payload).await.is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    // "HTTP/1.1 400 Bad Request"
    std::str::from_utf8(answer.get(9..12).unwrap_or_default()).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_with_the_documented_status_and_valid_ones_applied() {
    let _serial = serial().await;
    let started = Instant::now();
    let scratch = Scratch::new("chaos-hostile");
    let db = fresh_database().await;
    let mut settings = Settings::new(&db, None);
    settings.max_body_bytes = MAX_BODY;
    let daemon = settings.serve(&scratch, "serve", 0).await;
    let pool = PgPool::connect(&db).await.expect("connect");
    let n = size(3_000, 10_000);
    let mut rng = fastrand::Rng::with_seed(5);
    let (requests, valid_unique) = build(n, &mut rng);
    let addr: SocketAddr = format!("127.0.0.1:{}", daemon.port).parse().expect("addr");
    let url = daemon.webhook_url();
    let http = reqwest::Client::new();

    // 16 senders, each taking every 16th request.
    let requests = std::sync::Arc::new(requests);
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..16 {
        let (requests, http, url) = (requests.clone(), http.clone(), url.clone());
        tasks.spawn(async move {
            let mut got = Vec::new();
            for (i, req) in requests.iter().enumerate().skip(lane).step_by(16) {
                got.push((i, send(&http, addr, &url, req).await));
            }
            got
        });
    }
    let mut statuses = vec![0u16; requests.len()];
    while let Some(done) = tasks.join_next().await {
        for (i, s) in done.expect("sender") {
            statuses[i] = s;
        }
    }
    let sent_in = started.elapsed();

    let mut per_variant: BTreeMap<Variant, (usize, usize)> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (req, status) in requests.iter().zip(&statuses) {
        let entry = per_variant.entry(req.variant).or_default();
        entry.0 += 1;
        if *status == req.variant.expected() {
            entry.1 += 1;
        } else if wrong.len() < 20 {
            wrong.push((req.variant, req.variant.expected(), *status));
        }
    }
    let hostile = requests.iter().filter(|r| !matches!(r.variant, Valid | Redelivery)).count();
    let inbox = drained(&pool, Duration::from_secs(60)).await;
    let hostile_stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE id NOT LIKE 'evt\\_valid\\_%'")
            .fetch_one(&pool)
            .await
            .expect("count");
    let hostile_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stripe.customers WHERE id NOT LIKE 'cus\\_valid\\_%'")
            .fetch_one(&pool)
            .await
            .expect("count");
    let valid_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe.customers WHERE id LIKE 'cus\\_valid\\_%'")
        .fetch_one(&pool)
        .await
        .expect("count");
    let metrics = metrics_of(&daemon).await;
    let rejected = metric_sum(&metrics, "stripe_mirror_webhooks_rejected_total", &[]);
    let reasons: Vec<&str> =
        metrics.lines().filter(|l| l.starts_with("stripe_mirror_webhooks_rejected_total")).collect();

    println!(
        "chaos hostile: {n} requests ({hostile} hostile, {} valid of which {valid_unique} distinct) sent in {:.1} s \
         ({:.0}/s); inbox {inbox:?}; {rejected} refusals counted; total {:.1} s",
        n - hostile,
        sent_in.as_secs_f64(),
        n as f64 / sent_in.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    for (variant, (count, ok)) in &per_variant {
        println!("  {variant:?}: {count} sent, {ok} answered {}", variant.expected());
    }
    println!("  {}", reasons.join("\n  "));
    assert!(wrong.is_empty(), "(variant, documented, answered): {wrong:?}");
    assert_eq!(hostile_stored, 0, "a hostile event reached the inbox");
    assert_eq!(hostile_rows, 0, "a hostile event reached the tables");
    assert_eq!(inbox.total, valid_unique as i64, "every valid event stored once");
    assert_eq!(inbox.applied, valid_unique as i64, "every valid event applied: {inbox:?}");
    assert_eq!(valid_rows, valid_unique as i64);
    assert_eq!(rejected, hostile as u64, "each refusal counted once");
    let variants: HashSet<Variant> = requests.iter().map(|r| r.variant).collect();
    assert_eq!(variants.len(), WEIGHTS.len(), "every variant was sent");
}

/// Writes `request` on a fresh keep-alive connection; the response head
/// (lower-cased) and whether the server then closed the connection.
async fn keep_alive_probe(addr: SocketAddr, request: &[u8]) -> (String, bool) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_millis(1_000), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false, // still open after the answer
        }
    };
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    (text.split("\r\n\r\n").next().unwrap_or_default().to_string(), closed)
}

/// A refusal sent before the body was read (405, 413, 411) leaves unread
/// bytes on the connection, so the server closes it; it must say so with
/// `Connection: close`, or a client (or a proxy's upstream pool) reuses the
/// dead connection and the next webhook on it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_that_leave_the_body_unread_say_connection_close() {
    let _serial = serial().await;
    let scratch = Scratch::new("chaos-keepalive");
    let db = fresh_database().await;
    let mut settings = Settings::new(&db, None);
    settings.max_body_bytes = 1024;
    let daemon = settings.serve(&scratch, "serve", 0).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", daemon.port).parse().expect("addr");
    let body = "x".repeat(200_000);
    let cases = [
        (405, format!("PUT /webhooks/stripe HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}", body.len())),
        (413, format!("POST /webhooks/stripe HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}", body.len())),
        (
            411,
            "POST /webhooks/stripe HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_string(),
        ),
    ];
    for (status, request) in cases {
        let (head, closed) = keep_alive_probe(addr, request.as_bytes()).await;
        println!("{status}: closed={closed}\n{head}");
        assert!(head.starts_with(&format!("http/1.1 {status}")), "{head}");
        if closed {
            assert!(head.contains("connection: close"), "closed without saying so after {status}:\n{head}");
        }
    }
    // A refusal after the body was read keeps the connection usable.
    let ok = "POST /webhooks/stripe HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
    let (head, closed) = keep_alive_probe(addr, ok.as_bytes()).await;
    assert!(head.starts_with("http/1.1 400") && !closed, "{head} closed={closed}");
}
