//! `[privacy] redact_deleted_customers`: a deleted customer's row keeps only
//! Stripe's deleted stub, and its finished events' payloads are reduced to
//! the same stub at prune time.
//!
//! The row side is a trigger on the customers table (migration 8), so it
//! holds for every writer the moment a tombstone is written, and nothing can
//! put the data back. This module stores the configured value where that
//! trigger reads it, rewrites customers tombstoned before it was on (once,
//! after it is turned on), and redacts the inbox (each prune).

use sqlx::{AssertSqlSafe, PgPool};

use crate::storage::store::Store;

/// Customers rewritten per transaction: each takes its row's object lock
/// (as every writer does), and advisory locks share the server's lock table.
const BACKLOG_BATCH: i64 = 500;

/// What one redaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Redacted {
    /// Customer rows tombstoned before the setting was on, now stubs.
    pub customers: u64,
    /// Inbox events whose payload was reduced to the stub.
    pub events: u64,
}

/// Stores the configured value for the trigger. Turning it on marks the
/// rows tombstoned before as still to rewrite (by the next prune).
pub async fn store_setting(pool: &PgPool, redact: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_mirror.privacy
         SET redact_deleted_customers = $1, updated_at = now(),
             backlog_redacted = backlog_redacted AND (redact_deleted_customers OR NOT $1)
         WHERE redact_deleted_customers IS DISTINCT FROM $1",
    )
    .bind(redact)
    .execute(pool)
    .await?;
    Ok(())
}

/// The stub, in SQL, of the object whose id is `id` and type `object`.
fn stub_sql(id: &str, object: &str) -> String {
    format!("jsonb_build_object('id', {id}, 'object', {object}, 'deleted', true)")
}

/// One pass, when the stored setting is on: the customers backlog (if not
/// done yet since it was turned on), then the inbox.
pub async fn redact(pool: &PgPool, store: &Store) -> Result<Redacted, sqlx::Error> {
    let (on, backlog_done): (bool, bool) =
        sqlx::query_as("SELECT redact_deleted_customers, backlog_redacted FROM stripe_mirror.privacy")
            .fetch_one(pool)
            .await?;
    let mut out = Redacted::default();
    if !on {
        return Ok(out);
    }
    if !backlog_done {
        out.customers = redact_backlog(pool, store).await?;
        sqlx::query("UPDATE stripe_mirror.privacy SET backlog_redacted = true WHERE redact_deleted_customers")
            .execute(pool)
            .await?;
    }
    out.events = redact_events(pool, store.schema()).await?;
    Ok(out)
}

/// Rewrites deleted customers whose data is more than the stub, in id order,
/// each batch under its rows' object locks (so it queues behind writers of
/// the same customers instead of deadlocking with them).
async fn redact_backlog(pool: &PgPool, store: &Store) -> Result<u64, sqlx::Error> {
    let t = format!("\"{}\".customers", store.schema());
    let stub = stub_sql("id", "'customer'");
    let find =
        format!("SELECT id FROM {t} WHERE id > $1 AND deleted AND data IS DISTINCT FROM {stub} ORDER BY id LIMIT $2");
    // The trigger would do it for any write of a deleted row; setting the
    // stub here says what is meant, and keeps working if the setting is
    // switched off meanwhile (then nothing is rewritten: see the WHERE).
    let rewrite = format!(
        "UPDATE {t} SET data = {stub}, synced_at = now()
         WHERE id = ANY($1) AND deleted AND data IS DISTINCT FROM {stub}
           AND (SELECT redact_deleted_customers FROM stripe_mirror.privacy)"
    );
    let (mut after, mut total) = (String::new(), 0);
    loop {
        let ids: Vec<String> =
            sqlx::query_scalar(AssertSqlSafe(find.as_str())).bind(&after).bind(BACKLOG_BATCH).fetch_all(pool).await?;
        let Some(last) = ids.last() else { return Ok(total) };
        after = last.clone();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut tx = pool.begin().await?;
        Store::lock_objects(&mut tx, &refs).await?;
        total += sqlx::query(AssertSqlSafe(rewrite.as_str())).bind(&ids).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
    }
}

/// Reduces to the stub the payloads of finished events about deleted
/// customers: those whose object is the customer (`customer.created`,
/// `.updated`, `.deleted`), and its sources, tax ids and discounts
/// (`customer.source.*`, `customer.tax_id.*`, `customer.discount.*`, whose
/// object names the customer). The envelope (id, type, created, …) is kept.
/// Pending and failed events are left whole: they still have to be applied,
/// and are redacted by the first prune after they finish. Subscription and
/// invoice events are billing records, kept like their rows.
async fn redact_events(pool: &PgPool, schema: &str) -> Result<u64, sqlx::Error> {
    let object = "e.payload::jsonb #> '{data,object}'";
    let redacted = format!(
        "jsonb_build_object('object', {})",
        stub_sql(&format!("{object} -> 'id'"), &format!("{object} -> 'object'"))
    );
    let set = format!("payload = (e.payload::jsonb || jsonb_build_object('data', {redacted}))::text");
    // Parsing the payload is the expensive part: the joins and the status
    // come first, so only events of deleted customers are parsed.
    let of_customer = format!(
        "UPDATE stripe_mirror.events e SET {set}
         FROM \"{schema}\".customers c
         WHERE c.id = e.object_id AND c.deleted AND e.status IN ('applied', 'ignored', 'stale')
           AND (e.payload::jsonb -> 'data') IS DISTINCT FROM {redacted}"
    );
    let of_its_objects = format!(
        "UPDATE stripe_mirror.events e SET {set}
         FROM \"{schema}\".customers c
         WHERE e.status IN ('applied', 'ignored', 'stale')
           AND (e.type LIKE 'customer.source.%' OR e.type LIKE 'customer.tax_id.%' OR e.type LIKE 'customer.discount.%')
           AND c.id = stripe_mirror.ref_id({object} -> 'customer') AND c.deleted
           AND (e.payload::jsonb -> 'data') IS DISTINCT FROM {redacted}"
    );
    let mut total = 0;
    for sql in [of_customer, of_its_objects] {
        total += sqlx::query(AssertSqlSafe(sql)).execute(pool).await?.rows_affected();
    }
    Ok(total)
}
