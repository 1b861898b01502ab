//! `TestApp`: a fresh database per test, the daemon on port 0, and one
//! helper per thing a test does (sign and post an event, wait for the inbox
//! to drain, read a row).

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};
use stripe_mirror::app::{self, Running};
use stripe_mirror::config::Config;
use stripe_mirror::tools::pglocal::{self, LocalPostgres};
use tokio::sync::OnceCell;

pub const SECRET: &str = "whsec_test_secret";

static SERVER: OnceCell<(String, Option<LocalPostgres>)> = OnceCell::const_new();

/// URL of the server every test database lives on.
async fn server_url() -> String {
    let (url, _) = SERVER
        .get_or_init(|| async {
            pglocal::from_env_or_start(false).await.expect("start a throwaway Postgres (or set DATABASE_URL)")
        })
        .await;
    url.clone()
}

/// A directory for one test's files (config, logs, sockets), removed on
/// drop unless the test failed, so the logs are there to read.
pub struct Scratch {
    pub dir: std::path::PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sm-{name}-{}-{}", std::process::id(), fastrand::u32(..)));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A new empty database; its URL.
pub async fn fresh_database() -> String {
    pglocal::create_database(&server_url().await, "it").await.expect("create a test database")
}

pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::default();
    config.database.url = Some(database_url.to_string().into());
    config.webhook.listen = "127.0.0.1:0".into();
    config.webhook.secrets = vec![SECRET.to_string().into()];
    config.apply.retry_base_ms = 50;
    config.apply.max_attempts = 3;
    config
}

pub struct TestApp {
    pub running: Running,
    pub pool: PgPool,
    pub url: String,
    pub http: reqwest::Client,
    /// The database the daemon uses (for running the CLI against it).
    pub database_url: String,
    /// The configuration it was started with.
    pub config: Config,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let db = fresh_database().await;
        let mut config = test_config(&db);
        tweak(&mut config);
        let database_url = config.database.url.as_ref().map(|u| u.expose_secret().to_string()).unwrap_or(db);
        let running = app::start(&config).await.expect("daemon starts");
        let pool = running.context.pool.clone();
        let url = format!("http://{}/webhooks/stripe", running.addr);
        TestApp { running, pool, url, http: reqwest::Client::new(), database_url, config }
    }

    /// Signs `event` with the test secret, now, and posts it.
    pub async fn post_event(&self, event: &Value) -> reqwest::StatusCode {
        let body = serde_json::to_vec(event).expect("serialize");
        let t = chrono::Utc::now().timestamp();
        let header = format!("t={t},v1={}", stripe_mirror::push::signature::sign(SECRET, t, &body));
        self.post_raw(Some(&header), body).await
    }

    pub async fn post_raw(&self, signature: Option<&str>, body: Vec<u8>) -> reqwest::StatusCode {
        let mut req = self.http.post(&self.url).header("content-type", "application/json").body(body);
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        req.send().await.expect("request reaches the daemon").status()
    }

    /// Waits until no event is pending (the workers have caught up).
    pub async fn drained(&self) {
        for _ in 0..200 {
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await
                .expect("count pending");
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("inbox did not drain in 5 s");
    }

    pub async fn inbox_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM stripe_mirror.events").fetch_one(&self.pool).await.expect("count")
    }

    pub async fn event_status(&self, id: &str) -> String {
        sqlx::query_scalar("SELECT status FROM stripe_mirror.events WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("event row")
    }

    /// `(data, deleted)` of a row, if present.
    pub async fn row(&self, table: &str, id: &str) -> Option<(Value, bool)> {
        let sql = format!("SELECT data, deleted FROM stripe.{table} WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .expect("select row")
            .map(|r| (r.get::<Value, _>(0), r.get::<bool, _>(1)))
    }

    pub async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&self.pool).await.expect(sql)
    }
}

/// A fixture from `tests/fixtures` (Stripe's own shapes) as JSON.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists")).expect("fixture is JSON")
}

/// Overwrites top-level keys of `base` with `patch`.
pub fn with(mut base: Value, patch: Value) -> Value {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// A Stripe event envelope around `object`.
pub fn event(id: &str, event_type: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2026-08-26.dahlia",
        "created": created,
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
    })
}

pub fn customer(id: &str, name: &str) -> Value {
    with(fixture("customer"), json!({"id": id, "name": name, "email": format!("{id}@example.com")}))
}

/// A daemon wired to a fresh Stripe simulator: API calls go to the simulator
/// and the simulator delivers signed webhooks to the daemon.
pub struct SimApp {
    pub app: TestApp,
    pub sim: stripe_sim::Sim,
}

impl SimApp {
    pub async fn spawn() -> SimApp {
        SimApp::spawn_with(|_| {}, true).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config), webhooks: bool) -> SimApp {
        let sim = stripe_sim::Sim::start(stripe_sim::SimConfig::default()).await.expect("simulator starts");
        let base = sim.base_url();
        let key = sim.api_key().to_string();
        let app = TestApp::spawn_with(|c| {
            c.stripe.api_base = base;
            c.stripe.secret_key = Some(key.into());
            c.stripe.requests_per_second = 10_000;
            c.stripe.requests_per_second_per_operation = Some(0);
            c.stripe.max_retries = 8;
            // The schedule is driven by the tests, not the clock.
            c.reconcile.events_schedule = "0 0 1 1 *".into();
            c.reconcile.full_schedule = "0 0 1 1 *".into();
            tweak(c);
        })
        .await;
        if webhooks {
            sim.add_webhook_endpoint(app.url.clone(), vec![SECRET.to_string()]);
        }
        SimApp { app, sim }
    }

    pub fn puller(&self) -> std::sync::Arc<stripe_mirror::pull::sync::Puller> {
        let ctx = &self.app.running.context;
        let puller = stripe_mirror::pull::sync::Puller::new(ctx.pool.clone(), ctx.mirror.clone(), &self.app.config);
        std::sync::Arc::new(puller.expect("client configured"))
    }

    /// Waits for the simulator's deliveries, then for the inbox to drain.
    pub async fn settle(&self) {
        self.sim.wait_idle(Duration::from_secs(20)).await.expect("deliveries finish");
        self.app.drained().await;
    }

    pub async fn backfill(&self) -> stripe_mirror::pull::jobs::Summary {
        stripe_mirror::pull::jobs::backfill(&self.puller(), false, std::sync::Arc::new(|_, _| {}))
            .await
            .expect("backfill")
    }

    pub async fn reconcile(&self, full: bool) -> stripe_mirror::pull::jobs::Summary {
        let s = stripe_mirror::pull::jobs::reconcile(&self.puller(), full, 300).await.expect("reconcile");
        self.app.drained().await;
        s
    }

    /// The mirror equals the simulator, table by table and field by field
    /// (the rule is `stripe_mirror::tools::compare`'s). Returns the rows compared.
    pub async fn assert_mirror_exact(&self) -> usize {
        let diffs = stripe_mirror::tools::compare::compare(&self.app.pool, "stripe", &self.sim).await.expect("compare");
        for d in &diffs {
            assert!(d.equal(), "{}: {} rows differ, e.g. {:?}", d.table, d.mismatch_count, d.mismatches);
        }
        diffs.iter().map(|d| d.sim_live + d.sim_deleted).sum()
    }
}
