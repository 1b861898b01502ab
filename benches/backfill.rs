//! Backfill benchmark: the simulator (in a child process, so its memory is
//! not ours) seeded with an account, then `backfill` into a local Postgres
//! with no rate limit and with 100 requests/s. Prints objects/s — every
//! Stripe object written, subscription items and invoice lines included, as
//! the account's size counts them, and the listed top-level objects alone —
//! where the CPU went (Postgres, mirror, simulator), the rate-limit budget
//! used, two Postgres ceilings for the same rows from two connections (bare
//! id/jsonb tables: what Postgres alone writes on this machine; our tables
//! and upsert statement), and our peak RSS.
//!
//! Run: `cargo bench --bench backfill` (BACKFILL_BENCH_SEED=bench for the
//! ~1,000,000-object account; default `medium`, ~100,000 objects).
//! `BACKFILL_BENCH_WINDOWS` overrides `stripe.list_windows` (default 4),
//! `BACKFILL_BENCH_CONNECTIONS` the pool size (default 20).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{field, postgres_ticks, proc_stat, TICK};

use stripe_mirror::config::Config;
use stripe_mirror::push::event::Kind;
use stripe_mirror::storage::store::Table;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var("BACKFILL_BENCH_ROLE").as_deref() == Ok("sim") {
        return run_sim().await;
    }
    let seed = std::env::var("BACKFILL_BENCH_SEED").unwrap_or_else(|_| "medium".into());
    let (base, _pg) = stripe_mirror::tools::pglocal::from_env_or_start(true).await?;
    let mut child = Command::new(std::env::current_exe()?)
        .env("BACKFILL_BENCH_ROLE", "sim")
        .env("BACKFILL_BENCH_SEED", &seed)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).read_line(&mut line)?;
    let (url, objects) = line.trim().split_once(' ').ok_or_else(|| anyhow::anyhow!("sim said {line:?}"))?;
    let objects: u64 = objects.parse()?;
    let cores = std::thread::available_parallelism()?.get();
    println!("backfill bench: seed {seed}, {objects} objects in the account incl. items and lines, {cores} cores");

    let sim = child.id();
    let pg_port = common::port_of(&base);
    let cpu_before = Cpu::now(pg_port, sim);
    let (unlimited, rows, _) = backfill(&base, url, 0, None).await?;
    let cpu = Cpu::now(pg_port, sim).since(&cpu_before);
    let secs = unlimited.1;
    println!(
        "unlimited:   {rows:>9} objects in {secs:>6.1} s = {:>7.0} objects/s, every Stripe object counted \
         (items and lines are objects too); {} listed (products, prices, customers, subscriptions, invoices) \
         = {:.0} listed objects/s",
        rows as f64 / secs,
        unlimited.0,
        unlimited.0 as f64 / secs
    );
    let available = secs * cores as f64;
    let share = |d: Duration| format!("{:.1} s ({:.0}%)", d.as_secs_f64(), 100.0 * d.as_secs_f64() / available);
    println!(
        "  CPU during it ({available:.0} core-seconds available): Postgres {}, mirror {}, simulator {}",
        cpu.postgres.map_or("not on this machine".into(), share),
        share(cpu.mirror),
        share(cpu.sim)
    );
    let (limited, limited_rows, requests) = backfill(&base, url, 100, Some(30.0)).await?;
    let rss_mb = peak_rss_kb() / 1024;
    let ours = postgres_ceiling(&base, &unlimited.2).await?;
    let plain = plain_ceiling(&base, &unlimited.2).await?;
    let wrote = rows as f64 / secs;
    println!(
        "postgres ceiling, plain (same rows into bare (id, data jsonb lz4) tables, 100 a statement, \
         2 connections, no API): {plain:.0} rows/s; the backfill wrote {wrote:.0} rows/s = {:.0}% of it",
        100.0 * wrote / plain
    );
    println!(
        "postgres ceiling, our tables and upsert (same rows, 100 a statement, 2 connections, no API): \
         {ours:.0} rows/s = {:.0}% of plain; the backfill wrote {:.0}% of it",
        100.0 * ours / plain,
        100.0 * wrote / ours
    );
    println!(
        "100 req/s:   {limited_rows:>9} objects in {:>6.1} s = {:>7.0} objects/s ({} listed = {:.0}/s); \
         {:.0} requests/s sent = {:.0}% of the budget ({:.0} full-page equivalents/s)",
        limited.1,
        limited_rows as f64 / limited.1,
        limited.0,
        limited.0 as f64 / limited.1,
        requests / limited.1,
        requests / limited.1,
        limited.0 as f64 / 100.0 / limited.1
    );
    println!("peak RSS of the mirror side during the backfills: {rss_mb} MB");
    let _ = child.kill();
    Ok(())
}

/// Backfills into a fresh database; stops after `stop_after` seconds if set.
/// Returns ((listed objects, seconds, database url), rows written — every
/// object incl. items and lines —, API requests sent).
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
    // The types the simulator serves (the others would only be skipped).
    config.mirror.objects =
        Some(stripe_mirror::tools::compare::simulated_types().tables().iter().map(|t| t.to_string()).collect());
    config.stripe.requests_per_second = if rate == 0 { 1_000_000 } else { rate };
    if rate == 0 {
        config.stripe.requests_per_second_per_operation = Some(0);
    }
    if let Some(w) = std::env::var("BACKFILL_BENCH_WINDOWS").ok().and_then(|v| v.parse().ok()) {
        config.stripe.list_windows = w;
    }
    let ctx = stripe_mirror::app::Context::connect(&config).await?;
    stripe_mirror::storage::db::migrate(&ctx.pool, "stripe").await?;
    let puller = stripe_mirror::pull::sync::Puller::new(ctx.pool.clone(), ctx.mirror.clone(), &config)
        .ok_or_else(|| anyhow::anyhow!("no client"))?;
    let puller = Arc::new(puller);
    let progress: Arc<dyn Fn(Kind, u64) + Send + Sync> = Arc::new(|_, _| {});
    let start = Instant::now();
    let run = stripe_mirror::pull::jobs::backfill(&puller, true, progress);
    let objects = match stop_after {
        None => run.await?.per_kind.values().map(|c| c.fetched).sum::<u64>(),
        Some(secs) => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs_f64(secs), run).await;
            let listed = Table::ALL.into_iter().filter(|t| t.parent_column().is_none());
            rows_in(&ctx.pool, listed).await? as u64
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let rows = rows_in(&ctx.pool, Table::ALL).await?;
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

/// Rows in `tables`, summed.
async fn rows_in(pool: &sqlx::PgPool, tables: impl IntoIterator<Item = Table>) -> anyhow::Result<i64> {
    let mut total = 0;
    for t in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM stripe.{}", t.name())))
            .fetch_one(pool)
            .await?;
        total += n;
    }
    Ok(total)
}

/// The rows the backfill wrote, 100 a batch, table by table, to be written
/// again by the two ceilings below.
struct Batch {
    table: Table,
    ids: Vec<String>,
    data: Vec<Box<serde_json::value::RawValue>>,
    parents: Vec<String>,
}

async fn load_batches(source_db: &str) -> anyhow::Result<Vec<Batch>> {
    let pool = stripe_mirror::storage::db::connect(&source_db.to_string().into(), 2).await?;
    let mut batches = Vec::new();
    for table in Table::ALL {
        let parent = table.parent_column().unwrap_or("id");
        let rows: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, data::text, {parent} FROM stripe.{}",
            table.name()
        )))
        .fetch_all(&pool)
        .await?;
        for chunk in rows.chunks(100) {
            let mut batch = Batch { table, ids: vec![], data: vec![], parents: vec![] };
            for (id, data, parent) in chunk.iter().cloned() {
                batch.ids.push(id);
                batch.data.push(serde_json::value::RawValue::from_string(data)?);
                batch.parents.push(parent);
            }
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// Writes every batch with `write`, from two connections at once (one per
/// core, as the backfill's concurrent lists do); rows/s.
async fn two_writers<F, Fut>(batches: Vec<Batch>, write: F) -> anyhow::Result<f64>
where
    F: Fn(Batch) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let total: usize = batches.iter().map(|b| b.ids.len()).sum();
    let batches = Arc::new(std::sync::Mutex::new(batches.into_iter()));
    let start = Instant::now();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (batches, write) = (batches.clone(), write.clone());
            tokio::spawn(async move {
                loop {
                    let next = batches.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.next();
                    let Some(batch) = next else { return Ok::<(), anyhow::Error>(()) };
                    write(batch).await?;
                }
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Our write path without the API: the same rows into empty copies of our
/// tables with our upsert statement (typed columns, NOTIFY trigger, version
/// rule), 100 rows a statement, two connections.
async fn postgres_ceiling(base: &str, source_db: &str) -> anyhow::Result<f64> {
    let batches = load_batches(source_db).await?;
    let tpool = stripe_mirror::storage::db::connect(&fresh_db(base).await?.into(), 2).await?;
    stripe_mirror::storage::db::migrate(&tpool, "stripe").await?;
    let store = Arc::new(stripe_mirror::storage::store::Store::new("stripe"));
    two_writers(batches, move |b: Batch| {
        let (tpool, store) = (tpool.clone(), store.clone());
        async move {
            let rows: Vec<stripe_mirror::storage::store::Row> = (0..b.ids.len())
                .map(|i| stripe_mirror::storage::store::Row {
                    id: &b.ids[i],
                    data: &b.data[i],
                    parent: b.table.parent_column().map(|_| b.parents[i].as_str()),
                    version: stripe_mirror::storage::store::Version::as_of(1),
                })
                .collect();
            store.upsert(&mut *tpool.acquire().await?, b.table, &rows).await?;
            Ok(())
        }
    })
    .await
}

/// What Postgres alone writes for the same rows on this machine: each table's
/// rows upserted into a bare `(id text primary key, data jsonb lz4)` table —
/// no typed columns, trigger, version rule or bookkeeping — with batched
/// `UNNEST` upserts of 100 rows from two connections at once.
async fn plain_ceiling(base: &str, source_db: &str) -> anyhow::Result<f64> {
    let batches = load_batches(source_db).await?;
    let tpool = stripe_mirror::storage::db::connect(&fresh_db(base).await?.into(), 2).await?;
    for table in Table::ALL {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {} (id text PRIMARY KEY, data jsonb COMPRESSION lz4 NOT NULL)",
            table.name()
        )))
        .execute(&tpool)
        .await?;
    }
    two_writers(batches, move |b: Batch| {
        let tpool = tpool.clone();
        async move {
            let data: Vec<&str> = b.data.iter().map(|d| d.get()).collect();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {} (id, data) SELECT * FROM UNNEST($1::text[], $2::jsonb[])
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                b.table.name()
            )))
            .bind(&b.ids)
            .bind(&data)
            .execute(&tpool)
            .await?;
            Ok(())
        }
    })
    .await
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

/// CPU time spent so far by the Postgres cluster (when it runs on this
/// machine), by this process (the mirror) and by the simulator child.
struct Cpu {
    postgres: Option<Duration>,
    mirror: Duration,
    sim: Duration,
}

impl Cpu {
    fn now(pg_port: Option<&str>, sim: u32) -> Cpu {
        let own = |path: String| {
            proc_stat(&path).map_or(Duration::ZERO, |(_, f)| TICK * (field(&f, 11) + field(&f, 12)) as u32)
        };
        Cpu {
            postgres: pg_port.and_then(postgres_ticks).map(|t| TICK * t as u32),
            mirror: own("/proc/self/stat".into()),
            sim: own(format!("/proc/{sim}/stat")),
        }
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            postgres: self.postgres.zip(before.postgres).map(|(a, b)| a.saturating_sub(b)),
            mirror: self.mirror.saturating_sub(before.mirror),
            sim: self.sim.saturating_sub(before.sim),
        }
    }
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
    Ok(stripe_mirror::tools::pglocal::create_database(base, "bench").await?)
}
