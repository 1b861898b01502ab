//! Group commit for the webhook path. Each webhook must be committed before
//! it is acknowledged, and a commit waits for a WAL flush (~1 ms here), so
//! one commit per request caps a 2-core box near 1,000 acks/s. Requests that
//! arrive together are written by one multi-row INSERT and one commit, and
//! every request in it is answered after that commit: the same promise,
//! a fraction of the flushes.
//!
//! A few writer tasks share the queue, so one gathers the next batch while
//! another waits for its commit.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinSet;

use crate::push::event::{has_nul_escape, Envelope};
use crate::storage::inbox::{self, Stored};

const MAX_BATCH: usize = 500;

/// Why an event could not be stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Postgres cannot store the JSON (`\u0000` in `jsonb`): the sender's fault.
    #[error("event cannot be stored: {0}")]
    NotStorable(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

struct Request {
    envelope: Envelope,
    body: String,
    reply: oneshot::Sender<Result<Stored, StoreError>>,
}

#[derive(Clone)]
pub struct InboxWriter {
    queue: mpsc::Sender<Request>,
}

impl InboxWriter {
    /// Starts `writers` tasks on `tasks`; they stop once every clone of the
    /// returned writer is dropped and the queue is drained.
    pub fn spawn(pool: PgPool, writers: usize, tasks: &mut JoinSet<()>) -> InboxWriter {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tasks.spawn(write_loop(pool.clone(), rx.clone()));
        }
        InboxWriter { queue }
    }

    /// Stores one event; returns once it is committed. An event whose object
    /// the tables could never hold is refused here rather than parked later.
    pub async fn store(&self, envelope: Envelope, body: String) -> Result<Stored, StoreError> {
        if has_nul_escape(body.as_bytes()) {
            return Err(StoreError::NotStorable("\\u0000 cannot be stored in jsonb".into()));
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { envelope, body, reply })
            .await
            .map_err(|_| StoreError::Unavailable("inbox writer stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("inbox writer stopped".into()))?
    }
}

async fn write_loop(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Request>>>) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            batch
        };
        write_batch(&pool, batch).await;
    }
}

async fn write_batch(pool: &PgPool, batch: Vec<Request>) {
    let rows: Vec<(&Envelope, &str)> = batch.iter().map(|r| (&r.envelope, r.body.as_str())).collect();
    match inbox::insert_many(pool, &rows, "webhook").await {
        Ok(inserted) => answer_all(batch, inserted),
        // One bad body must not fail its neighbours: store them one by one.
        Err(e) if is_data_error(&e) => {
            for r in batch {
                let result = inbox::insert_many(pool, &[(&r.envelope, r.body.as_str())], "webhook")
                    .await
                    .map(|ids| if ids.is_empty() { Stored::Duplicate } else { Stored::New })
                    .map_err(classify);
                let _ = r.reply.send(result);
            }
        }
        Err(e) => {
            let err = classify(e);
            for r in batch {
                let _ = r.reply.send(Err(err.clone()));
            }
        }
    }
}

/// The first request naming a newly inserted id is `New`; redeliveries, in
/// this batch or earlier, are `Duplicate`.
fn answer_all(batch: Vec<Request>, mut inserted: HashSet<String>) {
    for r in batch {
        let stored = if inserted.remove(&r.envelope.id) { Stored::New } else { Stored::Duplicate };
        let _ = r.reply.send(Ok(stored));
    }
}

fn is_data_error(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("22")))
}

fn classify(e: sqlx::Error) -> StoreError {
    if is_data_error(&e) {
        StoreError::NotStorable(e.to_string())
    } else {
        StoreError::Unavailable(e.to_string())
    }
}
