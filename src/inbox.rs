//! The event inbox (`stripe_mirror.events`): stored before a webhook is
//! acknowledged, claimed by apply workers with `FOR UPDATE SKIP LOCKED`.

use sqlx::{PgConnection, PgPool, Row as _};

use crate::apply::{InboxEvent, Outcome};
use crate::event::Envelope;

/// Whether an event was new to the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Duplicate,
}

/// Inserts an event; a redelivery (same id) changes nothing. One statement,
/// so when it returns the event is committed.
pub async fn insert(pool: &PgPool, env: &Envelope, body: &str, source: &str) -> Result<Stored, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO stripe_mirror.events (id, type, object_id, created, payload, source)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&env.id)
    .bind(&env.event_type)
    .bind(&env.object_id)
    .bind(env.created)
    .bind(body)
    .bind(source)
    .execute(pool)
    .await?;
    Ok(if done.rows_affected() == 1 { Stored::New } else { Stored::Duplicate })
}

/// Claims up to `limit` due events, oldest first, locked until the
/// transaction ends; other workers skip them.
pub async fn claim(conn: &mut PgConnection, limit: i64) -> Result<Vec<InboxEvent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, type, created, object_id, payload::text FROM stripe_mirror.events
         WHERE status = 'pending' AND next_attempt_at <= now()
         ORDER BY created, id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
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

pub async fn finish(conn: &mut PgConnection, id: &str, outcome: Outcome) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_mirror.events SET status = $2, outcome_detail = $3, processed_at = now(),
                attempts = attempts + 1, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(outcome.status())
    .bind(outcome.detail())
    .execute(&mut *conn)
    .await?;
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
