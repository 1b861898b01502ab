//! `TestApp`: a fresh database per test, the daemon on port 0, and one
//! helper per thing a test does (sign and post an event, wait for the inbox
//! to drain, read a row).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool, Row};
use stripe_mirror::app::{self, Running};
use stripe_mirror::config::Config;
use stripe_mirror::pglocal::{self, LocalPostgres};
use tokio::sync::OnceCell;

pub const SECRET: &str = "whsec_test_secret";

static SERVER: OnceCell<(String, Option<LocalPostgres>)> = OnceCell::const_new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// URL of the server every test database lives on.
async fn server_url() -> String {
    let (url, _) = SERVER
        .get_or_init(|| async {
            match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => (url, None),
                _ => {
                    let pg = pglocal::start(false).await.expect("start a throwaway Postgres (or set DATABASE_URL)");
                    (pg.url.clone(), Some(pg))
                }
            }
        })
        .await;
    url.clone()
}

/// A new empty database; its URL.
pub async fn fresh_database() -> String {
    let base = server_url().await;
    let name = format!("it_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
    let mut admin = PgConnection::connect(&base).await.expect("connect to the test server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.expect("create db");
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database part");
    let rest = base.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{prefix}/{name}{rest}")
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
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let db = fresh_database().await;
        let mut config = test_config(&db);
        tweak(&mut config);
        let running = app::start(&config).await.expect("daemon starts");
        let pool = running.context.pool.clone();
        let url = format!("http://{}/webhooks/stripe", running.addr);
        TestApp { running, pool, url, http: reqwest::Client::new() }
    }

    /// Signs `event` with the test secret, now, and posts it.
    pub async fn post_event(&self, event: &Value) -> reqwest::StatusCode {
        let body = serde_json::to_vec(event).expect("serialize");
        let t = chrono::Utc::now().timestamp();
        let header = format!("t={t},v1={}", stripe_mirror::signature::sign(SECRET, t, &body));
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

    pub fn puller(&self) -> std::sync::Arc<stripe_mirror::sync::Puller> {
        let ctx = &self.app.running.context;
        std::sync::Arc::new(stripe_mirror::sync::Puller {
            pool: ctx.pool.clone(),
            mirror: ctx.mirror.clone(),
            api: ctx.mirror.api.clone().expect("client configured"),
        })
    }

    /// Waits for the simulator's deliveries, then for the inbox to drain.
    pub async fn settle(&self) {
        self.sim.wait_idle(Duration::from_secs(20)).await.expect("deliveries finish");
        self.app.drained().await;
    }

    pub async fn backfill(&self) -> stripe_mirror::jobs::Summary {
        stripe_mirror::jobs::backfill(&self.puller(), false, std::sync::Arc::new(|_, _| {})).await.expect("backfill")
    }

    pub async fn reconcile(&self, full: bool) -> stripe_mirror::jobs::Summary {
        let s = stripe_mirror::jobs::reconcile(&self.puller(), full, 300).await.expect("reconcile");
        self.app.drained().await;
        s
    }

    /// The mirror equals the simulator: every live object present with the
    /// same JSON and not deleted; every object the simulator deleted is
    /// deleted or was never seen; nothing live in the mirror that is not
    /// live in the simulator. Returns the number of rows compared.
    pub async fn assert_mirror_exact(&self) -> usize {
        use stripe_sim::Kind as K;
        let tables = [
            (K::Product, "products"),
            (K::Price, "prices"),
            (K::Customer, "customers"),
            (K::Subscription, "subscriptions"),
            (K::SubscriptionItem, "subscription_items"),
            (K::Invoice, "invoices"),
            (K::InvoiceLineItem, "invoice_line_items"),
        ];
        let mut compared = 0;
        for (kind, table) in tables {
            let rows: Vec<(String, Value, bool)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT id, data, deleted FROM stripe.{table}")))
                    .fetch_all(&self.app.pool)
                    .await
                    .expect("read table");
            let mirror: std::collections::HashMap<String, (Value, bool)> =
                rows.into_iter().map(|(id, d, del)| (id, (d, del))).collect();
            let snapshot = self.sim.snapshot(kind);
            let live: std::collections::HashSet<&str> =
                snapshot.iter().filter(|r| !r.deleted).map(|r| r.id.as_str()).collect();
            for row in &snapshot {
                let got = mirror.get(&row.id);
                if row.deleted {
                    if let Some((_, deleted)) = got {
                        assert!(*deleted, "{table} {}: deleted in Stripe, live in the mirror", row.id);
                    }
                } else {
                    let (data, deleted) = got.unwrap_or_else(|| panic!("{table} {}: missing from the mirror", row.id));
                    assert!(!deleted, "{table} {}: live in Stripe, deleted in the mirror", row.id);
                    assert_eq!(data, &row.value(), "{table} {}: data differs", row.id);
                }
                compared += 1;
            }
            for (id, (_, deleted)) in &mirror {
                assert!(*deleted || live.contains(id.as_str()), "{table} {id}: live in the mirror, not in Stripe");
            }
        }
        compared
    }
}
