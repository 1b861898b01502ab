//! Backfill benchmark: the simulator (in a child process, so its memory is
//! not ours) seeded with an account, then `backfill` into a local Postgres
//! with no rate limit and with 100 requests/s. Prints objects/s, the
//! rate-limit budget used, two Postgres ceilings for the same rows (our
//! upsert statement on one connection; bare id/jsonb tables on two — what
//! Postgres alone writes on this machine), and our peak RSS.
//!
//! Run: `cargo bench --bench backfill` (BACKFILL_BENCH_SEED=bench for the
//! ~1,000,000-object account; default `medium`, ~100,000 objects).
//! `BACKFILL_BENCH_WINDOWS` overrides `stripe.list_windows` (default 4),
//! `BACKFILL_BENCH_CONNECTIONS` the pool size (default 20).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use stripe_mirror::config::Config;
use stripe_mirror::event::Kind;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var("BACKFILL_BENCH_ROLE").as_deref() == Ok("sim") {
        return run_sim().await;
    }
    let seed = std::env::var("BACKFILL_BENCH_SEED").unwrap_or_else(|_| "medium".into());
    let (base, _pg) = stripe_mirror::pglocal::from_env_or_start(true).await?;
    let mut child = Command::new(std::env::current_exe()?)
        .env("BACKFILL_BENCH_ROLE", "sim")
        .env("BACKFILL_BENCH_SEED", &seed)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).read_line(&mut line)?;
    let (url, objects) = line.trim().split_once(' ').ok_or_else(|| anyhow::anyhow!("sim said {line:?}"))?;
    let objects: u64 = objects.parse()?;
    println!(
        "backfill bench: seed {seed}, {objects} objects in the account incl. items and lines, {} cores",
        std::thread::available_parallelism()?.get()
    );

    let (unlimited, rows, _) = backfill(&base, url, 0, None).await?;
    println!(
        "unlimited:   {:>9} objects in {:>6.1} s = {:>7.0} objects/s ({rows} rows incl. items/lines)",
        unlimited.0,
        unlimited.1,
        unlimited.0 as f64 / unlimited.1
    );
    let (limited, _, requests) = backfill(&base, url, 100, Some(30.0)).await?;
    let rss_mb = peak_rss_kb() / 1024;
    let ceiling = postgres_ceiling(&base, &unlimited.2).await?;
    let plain = plain_ceiling(&base, &unlimited.2).await?;
    let wrote = rows as f64 / unlimited.1;
    println!(
        "postgres ceiling, our upsert (same rows, 100 a statement, 1 connection, no API): {ceiling:.0} rows/s; \
         backfill wrote {wrote:.0} rows/s = {:.0}% of it",
        100.0 * wrote / ceiling
    );
    println!(
        "postgres ceiling, plain (same rows into (id, data jsonb lz4) tables, 100 a statement, 2 connections): \
         {plain:.0} rows/s; backfill wrote {:.0}% of it",
        100.0 * wrote / plain
    );
    let pages = limited.0 as f64 / 100.0;
    println!(
        "100 req/s:   {:>9} objects in {:>6.1} s = {:>7.0} objects/s; {:.0} requests/s sent = {:.0}% of the budget \
         ({:.0} full-page equivalents/s)",
        limited.0,
        limited.1,
        limited.0 as f64 / limited.1,
        requests / limited.1,
        requests / limited.1,
        pages / limited.1
    );
    println!("peak RSS of the mirror side during the backfills: {rss_mb} MB");
    let _ = child.kill();
    Ok(())
}

/// Backfills into a fresh database; stops after `stop_after` seconds if set.
/// Returns ((objects, seconds, database url), rows written, API requests sent).
async fn backfill(
    base: &str,
    sim_url: &str,
    rate: u32,
    stop_after: Option<f64>,
) -> anyhow::Result<((u64, f64, String), i64, f64)> {
    let db = fresh_db(base).await?;
    let mut config = Config::default();
    config.database.url = Some(db.clone().into());
    config.database.max_connections =
        std::env::var("BACKFILL_BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    config.stripe.api_base = sim_url.to_string();
    config.stripe.secret_key = Some("sk_test_sim".to_string().into());
    config.stripe.requests_per_second = if rate == 0 { 1_000_000 } else { rate };
    if let Some(w) = std::env::var("BACKFILL_BENCH_WINDOWS").ok().and_then(|v| v.parse().ok()) {
        config.stripe.list_windows = w;
    }
    let ctx = stripe_mirror::app::Context::connect(&config).await?;
    stripe_mirror::db::migrate(&ctx.pool, "stripe").await?;
    let api = ctx.mirror.api.clone().ok_or_else(|| anyhow::anyhow!("no client"))?;
    let puller = Arc::new(stripe_mirror::sync::Puller { pool: ctx.pool.clone(), mirror: ctx.mirror.clone(), api });
    let progress: Arc<dyn Fn(Kind, u64) + Send + Sync> = Arc::new(|_, _| {});
    let start = Instant::now();
    let run = stripe_mirror::jobs::backfill(&puller, true, progress);
    let objects = match stop_after {
        None => run.await?.per_kind.values().map(|c| c.fetched).sum::<u64>(),
        Some(secs) => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs_f64(secs), run).await;
            sqlx::query_scalar::<_, i64>(
                "SELECT (SELECT count(*) FROM stripe.products) + (SELECT count(*) FROM stripe.prices) + (SELECT count(*) FROM stripe.customers) + (SELECT count(*) FROM stripe.subscriptions) + (SELECT count(*) FROM stripe.invoices)",
            )
            .fetch_one(&ctx.pool)
            .await? as u64
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM stripe.products) + (SELECT count(*) FROM stripe.prices) + (SELECT count(*) FROM stripe.customers) + (SELECT count(*) FROM stripe.subscriptions) + (SELECT count(*) FROM stripe.invoices) + (SELECT count(*) FROM stripe.subscription_items) + (SELECT count(*) FROM stripe.invoice_line_items)",
    )
    .fetch_one(&ctx.pool)
    .await?;
    // Every request the client sent (all statuses), from its metrics.
    let requests: f64 = ctx
        .metrics
        .render(0, 0.0)
        .lines()
        .filter(|l| l.starts_with("stripe_mirror_api_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Ok(((objects, secs, db), rows, requests))
}

/// Our write path without the API: the rows the backfill wrote, re-upserted
/// into empty copies of our tables with our upsert statement, 100 rows a
/// batch, one connection (see `plain_ceiling` for Postgres alone).
async fn postgres_ceiling(base: &str, source_db: &str) -> anyhow::Result<f64> {
    let target = fresh_db(base).await?;
    let pool = stripe_mirror::db::connect(&source_db.to_string().into(), 4).await?;
    let tpool = stripe_mirror::db::connect(&target.clone().into(), 4).await?;
    stripe_mirror::db::migrate(&tpool, "stripe").await?;
    let store = stripe_mirror::store::Store::new("stripe");
    let mut total = 0usize;
    let mut elapsed = 0.0;
    for table in stripe_mirror::store::Table::ALL {
        let parent = table.parent_column().unwrap_or("id");
        let rows: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, data::text, {parent} FROM stripe.{}",
            table.name()
        )))
        .fetch_all(&pool)
        .await?;
        let raws: Vec<Box<serde_json::value::RawValue>> =
            rows.iter().map(|r| serde_json::value::RawValue::from_string(r.1.clone())).collect::<Result<_, _>>()?;
        let start = Instant::now();
        for (chunk, raw) in rows.chunks(100).zip(raws.chunks(100)) {
            let batch: Vec<stripe_mirror::store::Row> = chunk
                .iter()
                .zip(raw)
                .map(|(r, d)| stripe_mirror::store::Row {
                    version: stripe_mirror::store::Version::as_of(1),
                    id: &r.0,
                    data: d,
                    parent: table.parent_column().map(|_| r.2.as_str()),
                })
                .collect();
            let mut conn = tpool.acquire().await?;
            store.upsert(&mut conn, table, &batch).await?;
        }
        elapsed += start.elapsed().as_secs_f64();
        total += rows.len();
    }
    Ok(total as f64 / elapsed)
}

/// What Postgres alone writes for the same rows on this machine: each table's
/// rows upserted into a bare `(id text primary key, data jsonb lz4)` table —
/// no typed columns, trigger, version rule or bookkeeping — with batched
/// `UNNEST` upserts of 100 rows from two connections at once (one per core).
async fn plain_ceiling(base: &str, source_db: &str) -> anyhow::Result<f64> {
    let target = fresh_db(base).await?;
    let pool = stripe_mirror::db::connect(&source_db.to_string().into(), 2).await?;
    let tpool = stripe_mirror::db::connect(&target.clone().into(), 2).await?;
    let mut batches: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for table in stripe_mirror::store::Table::ALL {
        let name = table.name();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {name} (id text PRIMARY KEY, data jsonb COMPRESSION lz4 NOT NULL)"
        )))
        .execute(&tpool)
        .await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT id, data::text FROM stripe.{name}")))
                .fetch_all(&pool)
                .await?;
        for chunk in rows.chunks(100) {
            let (ids, data) = chunk.iter().cloned().unzip();
            batches.push((name.to_string(), ids, data));
        }
    }
    let total: usize = batches.iter().map(|b| b.1.len()).sum();
    let batches = Arc::new(std::sync::Mutex::new(batches.into_iter()));
    let start = Instant::now();
    let writers = (0..2).map(|_| {
        let (batches, tpool) = (batches.clone(), tpool.clone());
        tokio::spawn(async move {
            loop {
                let next = batches.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.next();
                let Some((name, ids, data)) = next else { return Ok::<(), anyhow::Error>(()) };
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {name} (id, data) SELECT * FROM UNNEST($1::text[], $2::jsonb[])
                     ON CONFLICT (id) DO UPDATE SET data = excluded.data"
                )))
                .bind(&ids)
                .bind(&data)
                .execute(&tpool)
                .await?;
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

async fn run_sim() -> anyhow::Result<()> {
    let seed = std::env::var("BACKFILL_BENCH_SEED").unwrap_or_default();
    let spec = match seed.as_str() {
        "medium" => stripe_sim::SeedSpec {
            products: 200,
            prices_per_product: 4,
            customers: 40_000,
            subscriptions: 30_000,
            invoices: 20_000,
            ..stripe_sim::SeedSpec::bench()
        },
        other => stripe_sim::SeedSpec::named(other).ok_or_else(|| anyhow::anyhow!("unknown seed {other}"))?,
    };
    let sim = stripe_sim::Sim::start(stripe_sim::SimConfig::default()).await?;
    let report = sim.seed(&spec);
    println!("{} {}", sim.base_url(), report.objects);
    std::future::pending::<()>().await;
    Ok(())
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn fresh_db(base: &str) -> anyhow::Result<String> {
    Ok(stripe_mirror::pglocal::create_database(base, "bench").await?)
}
