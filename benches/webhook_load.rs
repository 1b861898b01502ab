//! Webhook load benchmark: N concurrent senders post validly signed
//! `customer.updated` / `invoice.paid` events to a running daemon on a local
//! Postgres (fsync on). Prints acks/s, ack latency p50/p99, and ack → row
//! committed p99 (measured by LISTENing on the `stripe_mirror` channel, which
//! fires after commit).
//!
//! Run: `cargo bench --bench webhook_load` (uses DATABASE_URL if set, else a
//! throwaway cluster). `WEBHOOK_BENCH_EVENTS` sets events per run (default 20000).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::postgres::PgListener;
use stripe_mirror::config::Config;
use tokio::sync::Mutex;

const SECRET: &str = "whsec_bench";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (base, _pg) = stripe_mirror::pglocal::from_env_or_start(true).await?;
    let events: usize = std::env::var("WEBHOOK_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    println!("webhook_load: {events} events per run, {} cores", std::thread::available_parallelism()?.get());
    println!(
        "{:>11} {:>10} {:>9} {:>9} {:>9} {:>14}",
        "concurrency", "rate", "acks/s", "p50 ms", "p99 ms", "ack→row p99 ms"
    );
    for (concurrency, rate) in [(1, None), (16, None), (64, None), (64, Some(1000))] {
        let r = run(&base, concurrency, rate, events).await?;
        println!(
            "{:>11} {:>10} {:>9.0} {:>9.2} {:>9.2} {:>14.1}",
            concurrency,
            rate.map_or("open".to_string(), |r| format!("{r}/s")),
            r.acks_per_sec,
            r.p50,
            r.p99,
            r.commit_p99
        );
    }
    Ok(())
}

struct Report {
    acks_per_sec: f64,
    p50: f64,
    p99: f64,
    commit_p99: f64,
}

async fn run(base: &str, concurrency: usize, rate: Option<u32>, events: usize) -> anyhow::Result<Report> {
    let db = fresh_db(base).await?;
    let mut config = Config::default();
    config.database.url = Some(db.clone().into());
    config.database.max_connections = 80;
    config.webhook.listen = "127.0.0.1:0".into();
    config.webhook.secrets = vec![SECRET.to_string().into()];
    let running = stripe_mirror::app::start(&config).await?;
    let url = format!("http://{}/webhooks/stripe", running.addr);

    let mut listener = PgListener::connect(&db).await?;
    listener.listen("stripe_mirror").await?;
    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let c2 = committed.clone();
    let listen_task = tokio::spawn(async move {
        while let Ok(n) = listener.recv().await {
            if let Ok(v) = serde_json::from_str::<Value>(n.payload()) {
                if let Some(id) = v["id"].as_str() {
                    c2.lock().await.insert(id.to_string(), Instant::now());
                }
            }
        }
    });

    let customer: Value = serde_json::from_str(include_str!("../tests/fixtures/customer.json"))?;
    let invoice: Value = serde_json::from_str(include_str!("../tests/fixtures/invoice.json"))?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let acked: Arc<Mutex<Vec<(String, Instant, Duration)>>> = Arc::new(Mutex::new(Vec::with_capacity(events)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / f64::from(r)));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, acked, next) = (http.clone(), url.clone(), acked.clone(), next.clone());
        let (customer, invoice) = (customer.clone(), invoice.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= events {
                    return anyhow::Ok(());
                }
                if let Some(iv) = interval {
                    tokio::time::sleep_until((start + iv * i as u32).into()).await;
                }
                let (object_id, body) = make_event(i, &customer, &invoice);
                let t = chrono::Utc::now().timestamp();
                let sig = format!("t={t},v1={}", stripe_mirror::signature::sign(SECRET, t, &body));
                let sent = Instant::now();
                let status = http.post(&url).header("stripe-signature", sig).body(body).send().await?.status();
                anyhow::ensure!(status == 200, "status {status}");
                acked.lock().await.push((object_id, Instant::now(), sent.elapsed()));
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed();
    // Wait for the apply workers to commit everything.
    let deadline = Instant::now() + Duration::from_secs(120);
    let wanted: Vec<String> = acked.lock().await.iter().map(|(id, _, _)| id.clone()).collect();
    loop {
        let done = {
            let c = committed.lock().await;
            wanted.iter().all(|id| c.contains_key(id))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    listen_task.abort();
    let statuses: Vec<(String, i64, Option<String>)> =
        sqlx::query_as("SELECT status, count(*), max(last_error) FROM stripe_mirror.events GROUP BY status")
            .fetch_all(&running.context.pool)
            .await?;
    running.stop().await;
    let acked = acked.lock().await;
    let committed = committed.lock().await;
    let mut lat: Vec<f64> = acked.iter().map(|(_, _, d)| d.as_secs_f64() * 1000.0).collect();
    let mut commit: Vec<f64> = acked
        .iter()
        .filter_map(|(id, at, _)| committed.get(id).map(|c| c.saturating_duration_since(*at).as_secs_f64() * 1000.0))
        .collect();
    anyhow::ensure!(commit.len() == events, "only {} of {events} rows committed: {statuses:?}", commit.len());
    Ok(Report {
        acks_per_sec: events as f64 / elapsed.as_secs_f64(),
        p50: percentile(&mut lat, 0.50),
        p99: percentile(&mut lat, 0.99),
        commit_p99: percentile(&mut commit, 0.99),
    })
}

fn make_event(i: usize, customer: &Value, invoice: &Value) -> (String, Vec<u8>) {
    let (id, object, event_type) = if i.is_multiple_of(2) {
        let id = format!("cus_bench_{i}");
        let mut c = customer.clone();
        c["id"] = json!(id);
        c["email"] = json!(format!("{id}@example.com"));
        (id, c, "customer.updated")
    } else {
        let id = format!("in_bench_{i}");
        let mut inv = invoice.clone();
        inv["id"] = json!(id);
        inv["status"] = json!("paid");
        inv["lines"]["data"][0]["id"] = json!(format!("il_bench_{i}"));
        (id, inv, "invoice.paid")
    };
    let ev = json!({"id": format!("evt_bench_{i}"), "object": "event", "api_version": "2026-08-26.dahlia",
        "created": chrono::Utc::now().timestamp(), "data": {"object": object}, "livemode": false,
        "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": event_type});
    (id, serde_json::to_vec(&ev).unwrap_or_default())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn fresh_db(base: &str) -> anyhow::Result<String> {
    Ok(stripe_mirror::pglocal::create_database(base, "bench").await?)
}
