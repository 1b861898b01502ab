//! The chaos suite (issue 6): the real `serve` binary, a real Postgres and
//! the Stripe simulator driven through faults, and afterwards the tables
//! must equal the simulator's state row by row (`stripe_mirror::tools::compare`).
//!
//! CI mode (plain `cargo test`) runs every scenario at a size that fits CI
//! time; `CHAOS_LONG=1` runs the full sizes of the issue (10,000-event
//! bursts, 10,000 hostile requests, 10,000-operation histories). The
//! scenarios run one at a time (they would only measure each other's load
//! otherwise) and each prints what it did.
//!
//! This module owns the harness: a `serve` child process with a config file,
//! the CLI (`reconcile --full`, `backfill`) as child processes, inbox counts,
//! waiting, and the exact-mirror assertion.

mod api_trouble;
mod crash;
mod hostile;
mod lossy;
mod outage;
mod props;
mod regressions;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use stripe_sim::Sim;

use crate::daemon::{free_port, Daemon};
pub use crate::helpers::Scratch;
use crate::helpers::SECRET;

/// `CHAOS_LONG=1`: the full sizes.
pub fn long() -> bool {
    std::env::var("CHAOS_LONG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `ci` in CI mode, `long` with `CHAOS_LONG=1`.
pub fn size(ci: usize, long_mode: usize) -> usize {
    if long() {
        long_mode
    } else {
        ci
    }
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held for the whole scenario: chaos scenarios run one at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// What goes into the daemon's and the CLI's config.toml.
#[derive(Clone)]
pub struct Settings {
    pub db: String,
    /// The simulator's base URL; the API key is the simulator's.
    pub api_base: Option<String>,
    pub requests_per_second: u32,
    pub timeout_secs: u64,
    pub max_retries: u32,
    pub max_body_bytes: u64,
    pub retry_base_ms: u64,
    /// `[mirror] objects`; `None`: every type.
    pub objects: Option<Vec<String>>,
}

impl Settings {
    pub fn new(db: &str, sim: Option<&Sim>) -> Settings {
        Settings {
            db: db.to_string(),
            api_base: sim.map(Sim::base_url),
            requests_per_second: 200,
            timeout_secs: 10,
            max_retries: 10,
            max_body_bytes: 1_048_576,
            retry_base_ms: 100,
            objects: None,
        }
    }

    /// Writes `config.toml` into `dir` (the listen address comes from the
    /// environment); its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.toml"));
        let api_base = self.api_base.as_deref().unwrap_or("https://api.stripe.com");
        let text = format!(
            r#"[database]
max_connections = 10

[stripe]
api_base = "{api_base}"
requests_per_second = {rps}
requests_per_second_per_operation = 0
timeout_secs = {timeout}
max_retries = {retries}

[webhook]
max_body_bytes = {max_body}

[apply]
workers = 2
max_attempts = 8
retry_base_ms = {retry_base}

[reconcile]
# Driven by the tests, not the clock.
events_schedule = "0 0 1 1 *"
full_schedule = "0 0 1 1 *"

[log]
format = "json"
level = "warn"
{mirror}"#,
            rps = self.requests_per_second,
            timeout = self.timeout_secs,
            retries = self.max_retries,
            max_body = self.max_body_bytes,
            retry_base = self.retry_base_ms,
            mirror = self.objects.as_ref().map_or(String::new(), |o| format!("\n[mirror]\nobjects = {o:?}\n")),
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn command(&self, config: &Path, log: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stripe-mirror"));
        command
            .arg("--config")
            .arg(config)
            .env("DATABASE_URL", &self.db)
            .env("STRIPE_WEBHOOK_SECRET", SECRET)
            .env_remove("STRIPE_API_BASE")
            .env_remove("STRIPE_MIRROR_LISTEN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("create log file"));
        match &self.api_base {
            Some(_) => command.env("STRIPE_SECRET_KEY", "sk_test_sim"),
            None => command.env_remove("STRIPE_SECRET_KEY"),
        };
        command
    }

    /// Starts `stripe-mirror serve` on `port` (0: a free one) and waits for `/healthz`.
    pub async fn serve(&self, scratch: &Scratch, name: &str, port: u16) -> Daemon {
        let port = if port == 0 { free_port() } else { port };
        let config = self.write(&scratch.dir, name);
        let log = scratch.dir.join(format!("{name}.log"));
        let mut command = self.command(&config, &log);
        command.arg("serve").env("STRIPE_MIRROR_LISTEN", format!("127.0.0.1:{port}")).stdout(Stdio::null());
        let daemon = Daemon { child: command.spawn().expect("spawn stripe-mirror serve"), port };
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if client.get(daemon.http("/healthz")).send().await.is_ok() {
                return daemon;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("serve did not start on port {port}; see {}", log.display());
    }

    /// Runs a CLI command (`reconcile --full`, `backfill`) to completion;
    /// panics unless it exits 0. Its stdout and how long it took.
    pub async fn cli(&self, scratch: &Scratch, args: &[&str]) -> (String, Duration) {
        let name = args.join("_").replace('-', "");
        let config = self.write(&scratch.dir, &name);
        let log = scratch.dir.join(format!("{name}.log"));
        let mut command = self.command(&config, &log);
        command.args(args);
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("run cli");
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(output.status.success(), "stripe-mirror {args:?} failed ({}):\n{stdout}\n{stderr}", output.status);
        (stdout, elapsed)
    }
}

/// Inbox rows by status (and in all).
#[derive(Debug, Default, Clone, Copy)]
pub struct Inbox {
    pub total: i64,
    pub applied: i64,
    pub stale: i64,
    pub ignored: i64,
    pub pending: i64,
    pub failed: i64,
    pub from_webhooks: i64,
    pub from_events_api: i64,
    /// Rows whose `attempts` is not 1: applied more than once, or retried.
    pub attempts_not_one: i64,
}

impl Inbox {
    pub async fn read(pool: &PgPool) -> Inbox {
        let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*),
                    count(*) FILTER (WHERE status = 'applied'),
                    count(*) FILTER (WHERE status = 'stale'),
                    count(*) FILTER (WHERE status = 'ignored'),
                    count(*) FILTER (WHERE status = 'pending'),
                    count(*) FILTER (WHERE status = 'failed'),
                    count(*) FILTER (WHERE source = 'webhook'),
                    count(*) FILTER (WHERE source = 'events_api'),
                    count(*) FILTER (WHERE status <> 'pending' AND attempts <> 1)
             FROM stripe_mirror.events",
        )
        .fetch_one(pool)
        .await
        .expect("count inbox");
        Inbox {
            total: row.0,
            applied: row.1,
            stale: row.2,
            ignored: row.3,
            pending: row.4,
            failed: row.5,
            from_webhooks: row.6,
            from_events_api: row.7,
            attempts_not_one: row.8,
        }
    }

    /// Rows the workers are done with.
    pub fn processed(&self) -> i64 {
        self.applied + self.stale + self.ignored
    }
}

/// Waits until nothing is pending in the inbox; panics after `timeout`.
pub async fn drained(pool: &PgPool, timeout: Duration) -> Inbox {
    let deadline = Instant::now() + timeout;
    loop {
        let inbox = Inbox::read(pool).await;
        if inbox.pending == 0 {
            return inbox;
        }
        assert!(Instant::now() < deadline, "inbox did not drain in {timeout:?}: {inbox:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tables equal the simulator, table by table and field by field.
/// Returns the number of simulator rows compared.
pub async fn assert_mirror_exact(pool: &PgPool, sim: &Sim) -> usize {
    let diffs = stripe_mirror::tools::compare::compare(pool, "stripe", sim).await.expect("compare");
    let equal = diffs.iter().all(|d| d.equal());
    if !equal {
        stripe_mirror::tools::compare::print(&diffs);
        for d in diffs.iter().filter(|d| !d.equal()) {
            for id in d.mismatches.iter().take(3) {
                let row: Option<(serde_json::Value, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT data, deleted FROM stripe.{} WHERE id = $1",
                    d.table
                )))
                .bind(id)
                .fetch_optional(pool)
                .await
                .expect("select");
                let sim_row = sim.snapshot(table_kind(d.table)).into_iter().find(|r| &r.id == id);
                eprintln!(
                    "{} {id}:\n  mirror: {}\n  sim:    {}",
                    d.table,
                    row.map_or("absent".into(), |(v, del)| format!("deleted={del} {v}")),
                    sim_row.map_or("absent".into(), |r| format!("deleted={} {}", r.deleted, r.value())),
                );
            }
        }
    }
    assert!(equal, "the mirror differs from the simulator (see above)");
    diffs.iter().map(|d| d.sim_live + d.sim_deleted).sum()
}

/// Rows (live or deleted) of every mirrored table the simulator keeps.
pub async fn table_rows(pool: &PgPool) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for &(_, table) in stripe_mirror::tools::compare::TABLES.iter() {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM stripe.{table}")))
            .fetch_one(pool)
            .await
            .expect("count rows");
        out.push((table, n));
    }
    out
}

fn table_kind(table: &str) -> stripe_sim::Kind {
    stripe_mirror::tools::compare::TABLES.iter().find(|(_, t)| *t == table).map(|(k, _)| *k).expect("known table")
}

/// A sum of one counter family in a `/metrics` text, over the lines whose
/// labels contain every one of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

pub async fn metrics_of(daemon: &Daemon) -> String {
    reqwest::get(daemon.http("/metrics")).await.expect("GET /metrics").text().await.expect("metrics body")
}

/// What the processes logged (warnings and errors, JSON lines): how many of
/// each message, with the first `error` field of each. For the printout.
pub fn log_summary(scratch: &Scratch) -> String {
    let mut counts: std::collections::BTreeMap<String, (usize, String)> = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&scratch.dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_none_or(|e| e != "log") {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).unwrap_or_default().lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let message = v["fields"]["message"].as_str().unwrap_or("?").to_string();
            let error = v["fields"]["error"].as_str().unwrap_or_default().chars().take(160).collect();
            counts.entry(message).or_insert((0, error)).0 += 1;
        }
    }
    if counts.is_empty() {
        return "nothing logged at warn or above".into();
    }
    counts.iter().map(|(m, (n, e))| format!("{n} × {m:?} {e}")).collect::<Vec<_>>().join("; ")
}
