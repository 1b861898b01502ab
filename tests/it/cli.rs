//! The command line's promises: exit 2 naming the key on bad configuration
//! or a missing secret, before serving; secrets never printed.

use std::process::Command;

use crate::helpers::Scratch;

/// Runs the binary with a clean environment plus `env`; (exit code, stdout+stderr).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stripe-mirror"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("STRIPE_API_BASE")
        .env_remove("STRIPE_MIRROR_LISTEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run stripe-mirror");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn missing_webhook_secret_exits_2_naming_the_key_before_serving() {
    let (code, text) = run(&["serve"], &[("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db")]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("STRIPE_WEBHOOK_SECRET"), "{text}");
    assert!(!text.contains("hunter2"), "the database password leaked: {text}");
}

#[test]
fn bad_config_file_exits_2_naming_the_key() {
    let scratch = Scratch::new("cli");
    let dir = &scratch.dir;
    let path = dir.join("config.toml");
    std::fs::write(&path, "[webhook]\ntolerance_secs = \"five minutes\"\n").unwrap();
    let (code, text) = run(&["--config", path.to_str().unwrap(), "migrate"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("`webhook.tolerance_secs`"), "{text}");
    std::fs::write(&path, "[log]\nformat = \"xml\"\n").unwrap();
    let (code, text) = run(&["--config", path.to_str().unwrap(), "migrate"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("log.format"), "{text}");
}

#[test]
fn check_config_redacts_secrets() {
    let (code, text) = run(
        &["check-config"],
        &[
            ("DATABASE_URL", "postgres://u:hunter2@localhost/db"),
            ("STRIPE_SECRET_KEY", "sk_test_supersecret"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_supersecret"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    for secret in ["hunter2", "sk_test_supersecret", "whsec_supersecret"] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
}

#[test]
fn usage_error_exits_2() {
    let (code, _) = run(&["no-such-command"], &[]);
    assert_eq!(code, 2);
}

/// Postgres answers sqlx's `CREATE … IF NOT EXISTS` bookkeeping with a
/// NOTICE on every run after the first, which sqlx logs at info: every
/// command printed "schema … already exists, skipping".
#[tokio::test]
async fn migrate_twice_prints_no_notice() {
    let db = crate::helpers::fresh_database().await;
    for run_no in 1..=2 {
        let (code, text) = run(&["migrate"], &[("DATABASE_URL", db.as_str()), ("RUST_LOG", "info")]);
        assert_eq!(code, 0, "{text}");
        assert!(!text.contains("NOTICE") && !text.contains("notice"), "run {run_no} printed a notice: {text}");
        assert!(!text.contains("already exists"), "run {run_no}: {text}");
    }
}

/// stripe-sync-engine keeps its tables in schema `stripe` too. Migrating
/// into it failed with "relation "products" already exists"; now `migrate`
/// says what it found and what to set, creates nothing, and exits 2.
#[tokio::test]
async fn migrate_into_a_schema_holding_another_tools_tables_creates_nothing_and_exits_2() {
    let db = crate::helpers::fresh_database().await;
    let pool = sqlx::PgPool::connect(&db).await.expect("connect");
    sqlx::raw_sql(
        "CREATE SCHEMA stripe;
         CREATE TABLE stripe.products (id text PRIMARY KEY, name text);
         CREATE TABLE stripe.customers (id text PRIMARY KEY, email text);
         CREATE TABLE stripe.migrations (id int PRIMARY KEY, name text);",
    )
    .execute(&pool)
    .await
    .expect("another tool's tables");
    let (code, text) = run(&["migrate"], &[("DATABASE_URL", db.as_str())]);
    println!("{text}");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("database.schema"), "names the key: {text}");
    assert!(text.contains("customers") && text.contains("products"), "says what it found: {text}");
    assert!(!text.contains("already exists"), "{text}");
    let bookkeeping: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'stripe_mirror')")
            .fetch_one(&pool)
            .await
            .expect("query");
    assert!(!bookkeeping, "no stripe_mirror schema was created");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'stripe' ORDER BY 1")
            .fetch_all(&pool)
            .await
            .expect("query");
    assert_eq!(tables, ["customers", "migrations", "products"], "nothing added to the other tool's schema");
    // Set as told, it migrates into a schema of its own beside the other tool.
    let scratch = Scratch::new("cli-schema");
    let config = scratch.dir.join("config.toml");
    std::fs::write(&config, "[database]\nschema = \"stripe_data\"\n").expect("config");
    let (code, text) = run(&["--config", config.to_str().expect("path"), "migrate"], &[("DATABASE_URL", db.as_str())]);
    assert_eq!(code, 0, "{text}");
    let ours: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'stripe_data'")
        .fetch_one(&pool)
        .await
        .expect("query");
    assert_eq!(ours, stripe_mirror::storage::store::Table::ALL.len() as i64);
}
