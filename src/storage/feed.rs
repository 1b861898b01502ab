//! The durable change feed, from Rust: reading it (`stripe-mirror changes`,
//! with `--follow` woken by `LISTEN stripe_mirror`), and the reader role's
//! right to call it.
//!
//! The feed itself is SQL (migration 7): statement-level triggers on every
//! mirrored table append each change to `stripe_mirror.changes` at a
//! transaction-major position, and `stripe_mirror.changes_after(after,
//! max_rows)` returns changes only below its snapshot's xmin, so a reader
//! following positions never skips one that commits late. This module only
//! calls it; what positions mean and why is in the migration.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};

/// SQLSTATE `changes_after` raises for a position older than retention kept.
pub const PRUNED_SQLSTATE: &str = "SM001";

/// Rows asked for per call while catching up.
const PAGE: i32 = 1000;

/// How long `--follow` waits without a notification before polling anyway:
/// notifications are not durable (a reconnect loses those sent meanwhile).
const POLL_FALLBACK: Duration = Duration::from_secs(5);

/// After a notification whose change was not readable yet (an older writing
/// transaction still open holds the feed back), poll again this soon.
const POLL_HELD_BACK: Duration = Duration::from_millis(250);

/// One change, as `changes_after` returns it and `changes` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Change {
    pub position: i64,
    #[serde(rename = "table")]
    #[sqlx(rename = "table_name")]
    pub table: String,
    pub id: String,
    pub op: String,
    pub changed_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The reader is behind retention: it must re-read the tables.
    #[error("{message}. {hint}")]
    Pruned { message: String, hint: String },
    #[error("the change feed is not installed in this database: run `stripe-mirror migrate`")]
    NotInstalled,
    #[error("database: {0}")]
    Db(#[source] sqlx::Error),
    #[error("cannot write the changes: {0}")]
    Output(#[source] std::io::Error),
}

impl From<sqlx::Error> for FeedError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &e {
            match d.code().as_deref() {
                Some(PRUNED_SQLSTATE) => {
                    let hint = d
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .and_then(|p| p.hint())
                        .unwrap_or_default()
                        .to_string();
                    return FeedError::Pruned { message: d.message().to_string(), hint };
                }
                // undefined_function: a database migrated before the feed.
                Some("42883") => return FeedError::NotInstalled,
                _ => {}
            }
        }
        FeedError::Db(e)
    }
}

/// Up to `max_rows` changes after `after`, in ascending position.
pub async fn changes_after(conn: &mut PgConnection, after: i64, max_rows: i32) -> Result<Vec<Change>, FeedError> {
    Ok(sqlx::query_as("SELECT * FROM stripe_mirror.changes_after($1, $2)")
        .bind(after)
        .bind(max_rows)
        .fetch_all(&mut *conn)
        .await?)
}

/// The position a new reader starts from, after reading the tables.
pub async fn head(conn: &mut PgConnection) -> Result<i64, FeedError> {
    Ok(sqlx::query_scalar("SELECT stripe_mirror.changes_head()").fetch_one(&mut *conn).await?)
}

/// The oldest position `changes_after` still answers for: where retention
/// has pruned up to (0 before it ever did).
pub async fn oldest_readable(conn: &mut PgConnection) -> Result<i64, FeedError> {
    Ok(sqlx::query_scalar("SELECT pruned_through FROM stripe_mirror.changes_horizon").fetch_one(&mut *conn).await?)
}

/// Lets `stripe_mirror_reader` call the feed functions, and nothing else of
/// the bookkeeping schema runs with our rights: USAGE on the schema only lets
/// it name objects (its tables stay unreadable); the feed functions are
/// SECURITY DEFINER with EXECUTE revoked from PUBLIC, granted here.
pub async fn grant_to_reader(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    for sql in [
        "GRANT USAGE ON SCHEMA stripe_mirror TO stripe_mirror_reader",
        "GRANT EXECUTE ON FUNCTION stripe_mirror.changes_after(bigint, integer), stripe_mirror.changes_head()
         TO stripe_mirror_reader",
    ] {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes changes as JSON lines; false when the reader went away (a closed
/// pipe, as with `| head`), which ends the command quietly.
fn print(out: &mut impl Write, changes: &[Change]) -> Result<bool, FeedError> {
    let written = (|| {
        for c in changes {
            serde_json::to_writer(&mut *out, c).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    })();
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(FeedError::Output(e)),
    }
}

/// Prints every change after `after` (default: the oldest kept); returns the
/// last position printed, or None when the output was closed.
async fn catch_up(pool: &PgPool, after: i64, out: &mut impl Write) -> Result<Option<i64>, FeedError> {
    let mut conn = pool.acquire().await?;
    let mut at = after;
    loop {
        let batch = changes_after(&mut conn, at, PAGE).await?;
        if !print(out, &batch)? {
            return Ok(None);
        }
        match batch.last() {
            Some(last) => at = last.position,
            None => return Ok(Some(at)),
        }
        if batch.len() < PAGE as usize {
            return Ok(Some(at));
        }
    }
}

/// `stripe-mirror changes [--after P] [--follow]`. With `follow`, keeps
/// polling after catching up: woken by `NOTIFY stripe_mirror` (sent when a
/// change commits), and every few seconds without one, since notifications
/// are lost across a reconnect and a change can be held back behind an open
/// writing transaction. The feed is the record; NOTIFY only says "look now".
pub async fn print_changes(
    pool: &PgPool,
    after: Option<i64>,
    follow: bool,
    out: &mut impl Write,
) -> Result<(), FeedError> {
    let after = match after {
        Some(p) => p,
        None => match oldest_readable(&mut *pool.acquire().await?).await {
            Ok(p) => p,
            // A reader's login may call the feed but not read its horizon:
            // from the start, then (changes_after says if it was pruned).
            Err(FeedError::Db(sqlx::Error::Database(d))) if d.code().as_deref() == Some("42501") => 0,
            Err(e) => return Err(e),
        },
    };
    // Listening before the first read: a change committed in between wakes us.
    let mut listener = match follow {
        true => {
            let mut l = PgListener::connect_with(pool).await?;
            l.listen("stripe_mirror").await?;
            Some(l)
        }
        false => None,
    };
    let Some(mut at) = catch_up(pool, after, out).await? else { return Ok(()) };
    let Some(listener) = listener.as_mut() else { return Ok(()) };
    let mut wait = POLL_FALLBACK;
    loop {
        let notified = matches!(tokio::time::timeout(wait, listener.try_recv()).await, Ok(Ok(Some(_))));
        // Coalesce a burst of notifications into one read.
        while listener.next_buffered().is_some() {}
        let before = at;
        match catch_up(pool, at, out).await? {
            Some(p) => at = p,
            None => return Ok(()),
        }
        wait = if notified && at == before { POLL_HELD_BACK } else { POLL_FALLBACK };
        tracing::debug!(position = at, notified, "change feed polled");
    }
}
