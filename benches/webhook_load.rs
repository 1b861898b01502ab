//! Webhook load benchmark: N concurrent senders post validly signed
//! `customer.updated` / `invoice.paid` events over TCP to a running daemon
//! (`app::start`, what `serve` runs) on a local Postgres (fsync and
//! synchronous_commit on). Prints acks/s, ack latency p50/p99, ack → row
//! committed p99 (measured by LISTENing on the `stripe_mirror` channel, which
//! fires after commit), and the CPU each part spent per event.
//!
//! The daemon runs on its own tokio runtime (threads `serve-*`) and the load
//! generator on another (`load-*`), so the CPU time of each is read from
//! `/proc` per thread; Postgres's is read from its processes (a throwaway
//! cluster only). Bodies are built and signed before the clock starts, so the
//! senders only do HTTP; the signing timestamp stays well inside the
//! daemon's 300 s tolerance.
//!
//! Run: `cargo bench --bench webhook_load` (uses DATABASE_URL if set, else a
//! throwaway cluster). `WEBHOOK_BENCH_EVENTS` sets events per run (default
//! 20000); `WEBHOOK_BENCH_ONLY=64,64@1000` picks rows (`concurrency` or
//! `concurrency@rate`).

mod common;

use std::collections::HashMap;

use common::{field, postgres_ticks, proc_stat, TICK};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::postgres::PgListener;
use stripe_mirror::config::Config;
use tokio::sync::Mutex;

const SECRET: &str = "whsec_bench";

fn main() -> anyhow::Result<()> {
    let serve_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("serve").enable_all().build()?;
    let load_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("load").enable_all().build()?;
    let result = load_rt.block_on(bench(serve_rt.handle().clone()));
    serve_rt.shutdown_background();
    result
}

async fn bench(serve: tokio::runtime::Handle) -> anyhow::Result<()> {
    let (base, _pg) = stripe_mirror::tools::pglocal::from_env_or_start(true).await?;
    // Postgres's CPU is read when it runs on this machine (found by its port).
    let pg_port = common::port_of(&base);
    let events: usize = std::env::var("WEBHOOK_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let only = std::env::var("WEBHOOK_BENCH_ONLY").unwrap_or_default();
    println!("webhook_load: {events} events per run, {} cores", std::thread::available_parallelism()?.get());
    println!(
        "{:>11} {:>10} {:>9} {:>9} {:>9} {:>14} {:>28}",
        "concurrency", "rate", "acks/s", "p50 ms", "p99 ms", "ack→row p99 ms", "CPU µs/event load/serve/pg"
    );
    for (concurrency, rate) in [(1, None), (16, None), (64, None), (16, Some(1000)), (64, Some(1000))] {
        let label = rate.map_or(format!("{concurrency}"), |r| format!("{concurrency}@{r}"));
        if !only.is_empty() && !only.split(',').any(|o| o == label) {
            continue;
        }
        let r = run(&base, pg_port, &serve, concurrency, rate, events).await?;
        let per =
            |t: Option<Duration>| t.map_or("-".to_string(), |t| format!("{:.0}", t.as_micros() as f64 / events as f64));
        println!(
            "{:>11} {:>10} {:>9.0} {:>9.2} {:>9.2} {:>14.1} {:>28}",
            concurrency,
            rate.map_or("open".to_string(), |r| format!("{r}/s")),
            r.acks_per_sec,
            r.p50,
            r.p99,
            r.commit_p99,
            format!("{}/{}/{}", per(Some(r.cpu.load)), per(Some(r.cpu.serve)), per(r.cpu.postgres)),
        );
    }
    Ok(())
}

struct Report {
    acks_per_sec: f64,
    p50: f64,
    p99: f64,
    commit_p99: f64,
    cpu: Cpu,
}

/// One signed request, ready to send.
struct Prepared {
    object_id: String,
    signature: String,
    body: bytes::Bytes,
}

async fn run(
    base: &str,
    pg_port: Option<&str>,
    serve: &tokio::runtime::Handle,
    concurrency: usize,
    rate: Option<u32>,
    events: usize,
) -> anyhow::Result<Report> {
    let db = fresh_db(base).await?;
    let mut config = Config::default();
    config.database.url = Some(db.clone().into());
    config.database.max_connections = 80;
    config.webhook.listen = "127.0.0.1:0".into();
    config.webhook.secrets = vec![SECRET.to_string().into()];
    let running = serve.spawn(async move { stripe_mirror::app::start(&config).await }).await??;
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
    let prepared: Arc<Vec<Prepared>> = Arc::new((0..events).map(|i| prepare(i, &customer, &invoice)).collect());
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let acked: Arc<Mutex<Vec<(usize, Instant, Duration)>>> = Arc::new(Mutex::new(Vec::with_capacity(events)));
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = Cpu::now(pg_port);
    let start = Instant::now();
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / f64::from(r)));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, acked, next, prepared) =
            (http.clone(), url.clone(), acked.clone(), next.clone(), prepared.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= events {
                    acked.lock().await.extend(mine);
                    return anyhow::Ok(());
                }
                if let Some(iv) = interval {
                    tokio::time::sleep_until((start + iv * i as u32).into()).await;
                }
                let p = &prepared[i];
                let sent = Instant::now();
                let status = http
                    .post(&url)
                    .header("stripe-signature", &p.signature)
                    .body(p.body.clone())
                    .send()
                    .await?
                    .status();
                anyhow::ensure!(status == 200, "status {status}");
                mine.push((i, Instant::now(), sent.elapsed()));
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed();
    // Wait for the apply workers to commit everything.
    let deadline = Instant::now() + Duration::from_secs(180);
    let wanted: Vec<usize> = acked.lock().await.iter().map(|(i, _, _)| *i).collect();
    loop {
        let done = {
            let c = committed.lock().await;
            wanted.iter().all(|&i| c.contains_key(&prepared[i].object_id))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = Cpu::now(pg_port).since(&cpu_before);
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
        .filter_map(|(i, at, _)| {
            committed.get(&prepared[*i].object_id).map(|c| c.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    anyhow::ensure!(commit.len() == events, "only {} of {events} rows committed: {statuses:?}", commit.len());
    Ok(Report {
        acks_per_sec: events as f64 / elapsed.as_secs_f64(),
        p50: percentile(&mut lat, 0.50),
        p99: percentile(&mut lat, 0.99),
        commit_p99: percentile(&mut commit, 0.99),
        cpu,
    })
}

/// Builds and signs event `i`: even ones a customer, odd ones an invoice.
fn prepare(i: usize, customer: &Value, invoice: &Value) -> Prepared {
    let (object_id, object, event_type) = if i.is_multiple_of(2) {
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
    let now = chrono::Utc::now().timestamp();
    let ev = json!({"id": format!("evt_bench_{i}"), "object": "event", "api_version": "2026-08-26.dahlia",
        "created": now, "data": {"object": object}, "livemode": false,
        "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": event_type});
    let body = serde_json::to_vec(&ev).unwrap_or_default();
    let signature = format!("t={now},v1={}", stripe_mirror::push::signature::sign(SECRET, now, &body));
    Prepared { object_id, signature, body: body.into() }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn fresh_db(base: &str) -> anyhow::Result<String> {
    Ok(stripe_mirror::tools::pglocal::create_database(base, "bench").await?)
}

/// CPU time (user + system) spent so far by the load generator's threads, the
/// daemon's threads, and the throwaway Postgres cluster listening on the port.
struct Cpu {
    load: Duration,
    serve: Duration,
    postgres: Option<Duration>,
}

impl Cpu {
    fn now(pg_port: Option<&str>) -> Cpu {
        let (mut load, mut serve) = (0, 0);
        for (comm, fields) in proc_stats("/proc/self/task") {
            let ticks = field(&fields, 11) + field(&fields, 12);
            if comm.starts_with("load") {
                load += ticks;
            } else if comm.starts_with("serve") {
                serve += ticks;
            }
        }
        Cpu {
            load: TICK * load as u32,
            serve: TICK * serve as u32,
            postgres: pg_port.and_then(postgres_ticks).map(|t| TICK * t as u32),
        }
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            load: self.load.saturating_sub(before.load),
            serve: self.serve.saturating_sub(before.serve),
            postgres: self.postgres.zip(before.postgres).map(|(a, b)| a.saturating_sub(b)),
        }
    }
}

/// `(comm, fields after comm)` of every task under `dir`.
fn proc_stats(dir: &str) -> Vec<(String, Vec<String>)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| proc_stat(&format!("{}/stat", e.path().display())))
        .collect()
}
