//! Postgres: the connection pool, the migrations, the reader role, and the
//! notification queue's state.
//!
//! Migrations are the SQL files in `migrations/`, embedded at build time, with
//! `{{schema}}` replaced by `database.schema`, and run by sqlx's migrator. Its
//! bookkeeping table lives in `stripe_mirror`, so the data schema holds only
//! Stripe's data. A Postgres advisory lock (taken by sqlx) serialises
//! concurrent `migrate` runs from several replicas.

use std::borrow::Cow;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, PgPool, SqlSafeStr};

use crate::config::ConfigError;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "tables", include_str!("../../migrations/0001_tables.sql")),
    (2, "bookkeeping", include_str!("../../migrations/0002_bookkeeping.sql")),
    (3, "inbox payload text", include_str!("../../migrations/0003_inbox_payload_text.sql")),
    (4, "subscription period plpgsql", include_str!("../../migrations/0004_subscription_period_plpgsql.sql")),
    (5, "identity", include_str!("../../migrations/0005_identity.sql")),
    (6, "notify queue limit", include_str!("../../migrations/0006_notify_queue_limit.sql")),
    (7, "change feed", include_str!("../../migrations/0007_change_feed.sql")),
    (8, "privacy", include_str!("../../migrations/0008_privacy.sql")),
    (9, "payment objects", include_str!("../../migrations/0009_payment_objects.sql")),
    (10, "notify per statement", include_str!("../../migrations/0010_notify_per_statement.sql")),
];

/// A pooled connection idle longer than this is pinged before use.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The pool. sqlx pings every connection it hands out by default: a round
/// trip before each webhook batch and each apply pass. A connection in steady
/// use is not pinged; one idle for a while (the database may have restarted
/// meanwhile) still is, and is replaced if the ping fails.
///
/// Waiting for a free connection is back-pressure, not a failure: page
/// writers of a large backfill queue here for up to a minute. The
/// acknowledgements have a pool of their own that answers 503 quickly
/// instead ([`connect_for_acks`]).
pub async fn connect(url: &SecretString, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    connect_waiting(url, max_connections, Duration::from_secs(60)).await
}

/// The acknowledgements' pool: a webhook that cannot get a connection within
/// 5 s gets 503 (Stripe retries) rather than hanging until Stripe gives up.
pub async fn connect_for_acks(url: &SecretString, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    connect_waiting(url, max_connections, Duration::from_secs(5)).await
}

async fn connect_waiting(url: &SecretString, max_connections: u32, wait: Duration) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.expose_secret().parse()?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(wait)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move { Ok(meta.idle_for < PING_IDLE_AFTER || conn.ping().await.is_ok()) })
        })
        .after_connect(|conn, _| {
            Box::pin(async move {
                disable_nagle(conn).await;
                Ok(())
            })
        })
        .connect_with(options.application_name("stripe-mirror"))
        .await
}

/// Sets `TCP_NODELAY` on a new connection's socket. sqlx 0.9.0 leaves
/// Nagle's algorithm on (sqlx issue #4335; the fix, PR #4336, is not
/// released): a message sent in more than one segment then waits for the
/// server's delayed ACK, ~40 ms — the acknowledgements' p99 on a stock
/// Postgres over TCP was 47–50 ms, 23 ms over a Unix socket. sqlx does not
/// expose the socket, so it is found by the port Postgres sees us on.
/// Over a Unix socket, or behind a proxy, there is nothing to find.
async fn disable_nagle(conn: &mut sqlx::PgConnection) {
    let port: Option<i32> = sqlx::query_scalar("SELECT inet_client_port()").fetch_one(&mut *conn).await.ok().flatten();
    if let Some(port) = port.and_then(|p| u16::try_from(p).ok()) {
        if let Err(e) = tcp_nodelay_on_local_port(port, true) {
            tracing::debug!(error = %e, port, "TCP_NODELAY not set on the database connection");
        }
    }
}

/// Sets (or, with `set` false, reads) `TCP_NODELAY` on this process's TCP
/// socket bound to local `port`; `Ok(false)` when there is none.
pub fn tcp_nodelay_on_local_port(port: u16, set: bool) -> std::io::Result<bool> {
    use std::os::fd::{BorrowedFd, RawFd};
    for entry in std::fs::read_dir("/proc/self/fd")?.flatten() {
        let is_socket = std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else { continue };
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed for a getsockname and a
        // setsockopt. Were it closed and reused in between, those calls fail
        // (EBADF, ENOTSOCK) or reach another socket of this process, where
        // TCP_NODELAY is as harmless; no memory is involved.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        if local.is_some_and(|a| a.port() == port) {
            if set {
                socket.set_tcp_nodelay(true)?;
            }
            return socket.tcp_nodelay();
        }
    }
    Ok(false)
}

/// Begins a transaction whose commit does not wait for the disk
/// (`synchronous_commit = off` for it alone). For writes the mirror can
/// derive again and whose trigger is itself durable: applying inbox events
/// (the inbox row and its status change commit together, so an apply lost
/// with a Postgres crash leaves the event pending and it is applied again)
/// and backfill/sweep pages (the page and its checkpoint commit together).
/// Postgres loses at most the last ~0.2 s of such commits in a crash, never
/// out of order, and every later synchronous commit (an acknowledged webhook,
/// a finished run) flushes them first. Acknowledged webhooks are never
/// written this way. One fsync fewer per apply batch and per page leaves the
/// disk to the webhook acknowledgements.
pub async fn begin_replayable(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with(AssertSqlSafe("BEGIN; SET LOCAL synchronous_commit = off")).await
}

/// How often a writer redoes a transaction Postgres aborted as a deadlock
/// victim or a serialization failure before giving up.
pub const CONFLICT_RETRIES: u32 = 5;

/// A deadlock (`40P01`) or serialization failure (`40001`): the transaction
/// was rolled back and can simply be run again. Every writer takes its
/// objects' locks in one order first (`Store::lock_objects`), so these should
/// not happen; a bounded retry (counted in metrics) covers what does.
pub fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01") | Some("40001")))
}

fn migrator(schema: &str) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, name, sql)| {
            let sql = sql.replace("{{schema}}", schema);
            Migration::new(
                *version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    let mut m = Migrator::with_migrations(migrations);
    m.create_schema("stripe_mirror");
    m.dangerous_set_table_name("stripe_mirror._sqlx_migrations");
    m
}

/// Applies pending migrations; a no-op when current. On a first install,
/// refuses a schema that already holds relations ([`check_schema_is_free`]).
pub async fn migrate(pool: &PgPool, schema: &str) -> Result<(), SchemaError> {
    run_migrations(pool, schema, None).await
}

/// Applies pending migrations up to and including `version` only: an older
/// schema, for tests of upgrades.
pub async fn migrate_to(pool: &PgPool, schema: &str, version: i64) -> Result<(), SchemaError> {
    run_migrations(pool, schema, Some(version)).await
}

async fn run_migrations(pool: &PgPool, schema: &str, to: Option<i64>) -> Result<(), SchemaError> {
    check_schema_is_free(&mut *pool.acquire().await?, schema).await?;
    let m = migrator(schema);
    match to {
        Some(v) => m.run_to(v, pool).await?,
        None => m.run(pool).await?,
    }
    Ok(())
}

/// Before the first migration: the schema must hold nothing yet. Another
/// tool may use the same name (stripe-sync-engine keeps `products`,
/// `customers`, … in `stripe` too): migrating into it would fail half way
/// on "relation already exists", and mixing our tables with someone else's
/// breaks "the schema holds only Stripe's data" and `grant-reader`. Checked
/// before anything is created, `stripe_mirror` included.
async fn check_schema_is_free(conn: &mut sqlx::PgConnection, schema: &str) -> Result<(), SchemaError> {
    let installed: bool = sqlx::query_scalar(
        "SELECT to_regclass('stripe_mirror._sqlx_migrations') IS NOT NULL
            AND EXISTS (SELECT 1 FROM stripe_mirror._sqlx_migrations WHERE version = 1 AND success)",
    )
    .fetch_one(&mut *conn)
    .await
    .or_else(|e| match e {
        // The AND is not guaranteed to short-circuit: no table, no install.
        sqlx::Error::Database(ref d) if d.code().as_deref() == Some("42P01") => Ok(false),
        e => Err(e),
    })?;
    if installed {
        return Ok(());
    }
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') ORDER BY c.relname",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await?;
    if found.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 8;
    let mut list = found.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join(", ");
    if found.len() > SHOWN {
        list.push_str(&format!(" and {} more", found.len() - SHOWN));
    }
    Err(refused(format!(
        "schema \"{schema}\" already holds {} relation(s) stripe-mirror did not create ({list}): another \
         tool's, perhaps (stripe-sync-engine uses \"stripe\" too). stripe-mirror keeps its schema to itself: \
         set database.schema to a schema of its own (e.g. \"stripe_data\") and run migrate again. Nothing was \
         created.",
        found.len()
    )))
}

/// True when every embedded migration is applied (`/readyz`).
pub async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM stripe_mirror._sqlx_migrations WHERE success")
        .fetch_optional(pool)
        .await
        .or_else(|e| match e {
            sqlx::Error::Database(ref d) if d.code().as_deref() == Some("42P01") => Ok(None),
            e => Err(e),
        })?;
    Ok(applied == Some(MIGRATIONS.len() as i64))
}

/// Postgres' notification queue as the change trigger sees it (migration 6).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NotifyQueue {
    /// `pg_notification_queue_usage()`: the fraction of the cluster's queue in use.
    pub usage: f64,
    /// The usage from which the trigger skips notifications.
    pub limit: f64,
    /// Notifications skipped so far in this database.
    pub skipped: i64,
}

/// Reads [`NotifyQueue`] (`status`, `/metrics`), in one round trip.
pub async fn notify_queue(pool: &PgPool) -> Result<NotifyQueue, sqlx::Error> {
    let (usage, limit, skipped): (f64, f64, i64) = sqlx::query_as(
        "SELECT pg_notification_queue_usage(), stripe_mirror.notify_queue_limit(),
                CASE WHEN is_called THEN last_value ELSE 0 END
         FROM stripe_mirror.notifications_skipped",
    )
    .fetch_one(pool)
    .await?;
    Ok(NotifyQueue { usage, limit, skipped })
}

/// Why migrating or granting on `database.schema` was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// `database.schema` names a schema this command must not touch; the
    /// message says what was found and what to do.
    #[error(transparent)]
    Refused(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

fn refused(message: String) -> SchemaError {
    SchemaError::Refused(ConfigError { key: "database.schema".into(), message })
}

/// The optional reader step (`grant-reader ROLE`): a `stripe_mirror_reader`
/// role with USAGE and SELECT on the mirrored schema only, granted to
/// `role`. The bookkeeping schema stays private. Idempotent; `role` must
/// exist.
///
/// The grant covers every table of the schema, present and future, so it is
/// refused unless the schema holds the mirror's tables and nothing else
/// ([`check_mirror_owns`]). Future tables come from later migrations, run by
/// the role that owns the mirrored tables: the default privileges are set
/// `FOR ROLE` that owner (whoever runs this must be a member of it, as a
/// superuser is), not for the role running the command.
pub async fn grant_reader(pool: &PgPool, schema: &str, role: &str) -> Result<(), SchemaError> {
    let mut tx = pool.begin().await?;
    let owners = check_mirror_owns(&mut tx, schema).await?;
    for owner in &owners {
        let member: bool =
            sqlx::query_scalar("SELECT pg_has_role($1, 'MEMBER')").bind(owner).fetch_one(&mut *tx).await?;
        if !member {
            let me: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut *tx).await?;
            return Err(refused(format!(
                "the mirrored tables in schema \"{schema}\" belong to role {owner}, and {me} is not a member of it: \
                 run grant-reader as {owner} (or a superuser), so that tables later migrations add are covered too"
            )));
        }
    }
    sqlx::query(
        "DO $$ BEGIN CREATE ROLE stripe_mirror_reader NOLOGIN;
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    )
    .execute(&mut *tx)
    .await?;
    // Identifiers cannot be bound as parameters; quote_ident does the quoting.
    let quote = |name: &str| sqlx::query_scalar::<_, String>("SELECT quote_ident($1)").bind(name.to_string());
    let schema_q = quote(schema).fetch_one(&mut *tx).await?;
    let role_q = quote(role).fetch_one(&mut *tx).await?;
    let mut statements = vec![
        format!("GRANT USAGE ON SCHEMA {schema_q} TO stripe_mirror_reader"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA {schema_q} TO stripe_mirror_reader"),
    ];
    for owner in &owners {
        let owner_q = quote(owner).fetch_one(&mut *tx).await?;
        statements.push(format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner_q} IN SCHEMA {schema_q} GRANT SELECT ON TABLES TO stripe_mirror_reader"
        ));
    }
    statements.push(format!("GRANT stripe_mirror_reader TO {role_q}"));
    for sql in statements {
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    // The change feed: EXECUTE on its functions (and USAGE on stripe_mirror
    // to name them); no table of stripe_mirror becomes readable.
    crate::storage::feed::grant_to_reader(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Relations a schema-wide grant reaches: tables, partitioned tables,
/// views, materialized views, foreign tables.
const GRANTABLE_RELKINDS: &str = "('r', 'p', 'v', 'm', 'f')";

/// Refuses unless `schema` is the mirror's alone: not `public`, holding
/// every mirrored table, and nothing else. A table is the mirror's when it
/// carries the change-feed trigger our migrations put on each one
/// (`stripe_mirror.record_changes`), so tables later migrations add count
/// without a list to keep here. Returns the roles owning the mirror's tables.
async fn check_mirror_owns(conn: &mut sqlx::PgConnection, schema: &str) -> Result<Vec<String>, SchemaError> {
    if schema == "public" {
        return Err(refused(
            "grant-reader grants SELECT on every table of the schema, present and future, and \"public\" is \
             every role's default schema, where other applications' tables live: give the mirror a schema of its \
             own (e.g. \"stripe\"), or grant SELECT on its tables by hand"
                .into(),
        ));
    }
    let rows: Vec<(String, bool, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT c.relname::text,
                EXISTS (SELECT 1 FROM pg_trigger t
                        WHERE t.tgrelid = c.oid AND t.tgfoid = to_regproc('stripe_mirror.record_changes')),
                pg_get_userbyid(c.relowner)::text
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN {GRANTABLE_RELKINDS}
         ORDER BY c.relname"
    )))
    .bind(schema)
    .fetch_all(&mut *conn)
    .await?;
    let missing: Vec<&str> = crate::storage::store::Table::ALL
        .iter()
        .map(|t| t.name())
        .filter(|name| !rows.iter().any(|(rel, ours, _)| rel == name && *ours))
        .collect();
    if !missing.is_empty() {
        return Err(refused(format!(
            "schema \"{schema}\" does not hold the mirror's tables (missing: {}): run `stripe-mirror migrate` \
             first, or set it to the schema the mirror was migrated into",
            missing.join(", ")
        )));
    }
    let foreign: Vec<&str> = rows.iter().filter(|(_, ours, _)| !ours).map(|(rel, _, _)| rel.as_str()).collect();
    if !foreign.is_empty() {
        return Err(refused(format!(
            "schema \"{schema}\" also holds relations the mirror did not create ({}); grant-reader would let \
             the reader see them and any added later: move them elsewhere, or give the mirror a schema of its own",
            foreign.join(", ")
        )));
    }
    let mut owners: Vec<String> = rows.into_iter().map(|(_, _, owner)| owner).collect();
    owners.sort();
    owners.dedup();
    Ok(owners)
}
