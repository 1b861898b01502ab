//! The event inbox (`stripe_mirror.events`): stored before a webhook is
//! acknowledged, claimed by apply workers with `FOR UPDATE SKIP LOCKED`.
//! The payload is the event's JSON text as received (`text`, lz4): Postgres
//! neither parses it on insert nor renders it on claim.

use sqlx::{PgConnection, PgPool, Row as _};

use crate::push::apply::{InboxEvent, Outcome};
use crate::push::event::Envelope;

/// Whether an event was new to the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Duplicate,
}

/// The inbox insert. It commits with `synchronous_commit` at least `on`
/// whatever the role or database default (see [`insert_many`]).
const INSERT: &str = "INSERT INTO stripe_mirror.events (id, type, object_id, created, payload, source)
     SELECT i.id, i.type, i.object_id, i.created, i.payload, $6
     FROM (SELECT set_config('synchronous_commit',
             CASE current_setting('synchronous_commit') WHEN 'remote_apply' THEN 'remote_apply' ELSE 'on' END,
             true)) AS durable,
          UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[]) AS i(id, type, object_id, created, payload)
     WHERE (SELECT 1 FROM stripe_mirror.events e WHERE e.id = i.id LIMIT 1) IS NULL
     ON CONFLICT (id) DO NOTHING RETURNING id";

const CLAIM: &str = "SELECT id, type, created, object_id, payload FROM stripe_mirror.events
     WHERE status = 'pending' AND next_attempt_at <= now()
     ORDER BY created, id LIMIT $1 FOR UPDATE SKIP LOCKED";

const FINISH: &str = "UPDATE stripe_mirror.events e
     SET status = u.status, outcome_detail = u.detail, processed_at = now(),
         attempts = e.attempts + 1, last_error = NULL
     FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(id, status, detail)
     WHERE e.id = u.id";

/// Outcomes of events settled by the resolver, which holds no claim: an
/// event another worker or replica finished meanwhile is left as it is.
const FINISH_PENDING: &str = "UPDATE stripe_mirror.events e
     SET status = u.status, outcome_detail = u.detail, processed_at = now(),
         attempts = e.attempts + 1, last_error = NULL
     FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(id, status, detail)
     WHERE e.id = u.id AND e.status = 'pending'";

/// Events handed to the resolver stay pending, out of the claim's reach
/// until their lease runs out: if this process dies, another claims them.
const DEFER: &str = "UPDATE stripe_mirror.events e
     SET next_attempt_at = now() + $3::float8 * interval '1 second', outcome_detail = u.why
     FROM UNNEST($1::text[], $2::text[]) AS u(id, why)
     WHERE e.id = u.id";

/// The statements run for every webhook batch and apply batch, for the test
/// that checks their cached plans (see `Store::statements`).
pub const HOT_STATEMENTS: [&str; 5] = [INSERT, CLAIM, FINISH, FINISH_PENDING, DEFER];

/// Inserts several events in one statement (one commit); returns the ids
/// that were new. Used by the webhook group commit and the events catch-up.
///
/// This commit is what an acknowledgement promises, so it waits for the WAL
/// flush even where the role or database defaults to `synchronous_commit =
/// off` (common on managed Postgres tuned for speed; an acknowledged event
/// would then be lost in a Postgres crash). The statement sets it for its
/// own transaction (`set_config(…, true)` is `SET LOCAL`; Postgres reads the
/// setting at commit): no extra round trip, no session state, so it holds on
/// any pooled connection and behind a transaction-pooling proxy.
/// `remote_apply`, the one stronger level, is kept.
pub async fn insert_many(
    pool: &PgPool,
    rows: &[(&Envelope, &str)],
    source: &str,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let ids: Vec<&str> = rows.iter().map(|(e, _)| e.id.as_str()).collect();
    let types: Vec<&str> = rows.iter().map(|(e, _)| e.event_type.as_str()).collect();
    let objects: Vec<Option<&str>> = rows.iter().map(|(e, _)| e.object_id.as_deref()).collect();
    let created: Vec<i64> = rows.iter().map(|(e, _)| e.created).collect();
    let bodies: Vec<&str> = rows.iter().map(|(_, b)| *b).collect();
    // A redelivery of a stored event is filtered by the snapshot, before the
    // ON CONFLICT: that alone would wait for an apply worker's open
    // transaction that updated the row (its status), holding this webhook's
    // ack hostage to the apply. The filter is a scalar subquery on purpose:
    // it is always one primary-key probe per event, whereas a NOT EXISTS or a
    // separate `id = ANY($1)` read let the cached generic plan, made while the
    // inbox was small, scan the whole inbox per batch as it grew.
    sqlx::query_scalar(INSERT)
        .bind(&ids)
        .bind(&types)
        .bind(&objects)
        .bind(&created)
        .bind(&bodies)
        .bind(source)
        .fetch_all(pool)
        .await
        .map(|v: Vec<String>| v.into_iter().collect())
}

/// Claims up to `limit` due events, oldest first, locked until the
/// transaction ends; other workers skip them. The walk follows
/// `events_claim_idx` and stops after `limit` rows it could lock.
pub async fn claim(conn: &mut PgConnection, limit: i64) -> Result<Vec<InboxEvent>, sqlx::Error> {
    let rows = sqlx::query(CLAIM).bind(limit).fetch_all(&mut *conn).await?;
    rows.into_iter()
        .map(|r| {
            Ok(InboxEvent {
                id: r.try_get(0)?,
                event_type: r.try_get(1)?,
                created: r.try_get(2)?,
                object_id: r.try_get(3)?,
                payload: r.try_get(4)?,
            })
        })
        .collect()
}

/// Records the outcomes of applied events, in one statement.
pub async fn finish(conn: &mut PgConnection, done: &[(&str, Outcome)]) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = done.iter().map(|(id, _)| *id).collect();
    let statuses: Vec<&str> = done.iter().map(|(_, o)| o.status()).collect();
    let details: Vec<&str> = done.iter().map(|(_, o)| o.detail()).collect();
    sqlx::query(FINISH).bind(&ids).bind(&statuses).bind(&details).execute(&mut *conn).await?;
    Ok(())
}

/// Records the outcomes of events the resolver settled (still pending ones only).
pub async fn finish_pending(conn: &mut PgConnection, done: &[(&str, Outcome)]) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = done.iter().map(|(id, _)| *id).collect();
    let statuses: Vec<&str> = done.iter().map(|(_, o)| o.status()).collect();
    let details: Vec<&str> = done.iter().map(|(_, o)| o.detail()).collect();
    sqlx::query(FINISH_PENDING).bind(&ids).bind(&statuses).bind(&details).execute(&mut *conn).await?;
    Ok(())
}

/// Leaves events pending for the resolver, leased for `lease_secs`.
pub async fn defer(conn: &mut PgConnection, events: &[(&str, &str)], lease_secs: f64) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let (ids, whys): (Vec<&str>, Vec<&str>) = events.iter().copied().unzip();
    sqlx::query(DEFER).bind(&ids).bind(&whys).bind(lease_secs).execute(&mut *conn).await?;
    Ok(())
}

/// Records a failed attempt: retried after `delay_ms`, or parked as `failed`
/// once `max_attempts` is reached. Returns true when parked.
pub async fn fail(
    conn: &mut PgConnection,
    id: &str,
    error: &str,
    max_attempts: i32,
    base_delay_ms: u64,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE stripe_mirror.events
         SET attempts = attempts + 1, last_error = $2,
             status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END,
             next_attempt_at = now() + least($4::float8 * power(2, attempts), 300000) * interval '1 millisecond'
         WHERE id = $1 RETURNING status",
    )
    .bind(id)
    .bind(error)
    .bind(max_attempts)
    .bind(base_delay_ms as f64)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<String, _>(0)? == "failed")
}

/// Puts parked events back in the queue (`events retry`).
pub async fn retry_failed(pool: &PgPool, id: Option<&str>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE stripe_mirror.events SET status = 'pending', attempts = 0, next_attempt_at = now()
         WHERE status = 'failed' AND ($1::text IS NULL OR id = $1)",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Pending events and the age in seconds of the oldest (metrics, status).
pub async fn depth(pool: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT count(*), COALESCE(extract(epoch FROM now() - min(received_at))::float8, 0)
         FROM stripe_mirror.events WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
