//! Webhook bodies before they reach the signature check: admission (the
//! declared size under `webhook.max_body_bytes`, room in the in-flight byte
//! budget), reading an admitted body into one buffer, and lingering on a
//! refused one. A body must be read whole before its signature can be
//! checked, so this module bounds what unauthenticated clients can make the
//! daemon hold. It decides no status code: [`BodyError`] says what went
//! wrong, `server` answers.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ops::metrics::Metrics;

/// A request answered before its body is read has up to this much of the
/// body read and discarded first, for at most [`LINGER_TIME`]. Hyper closes a
/// connection whose request body was left unread; a client still sending
/// then gets a broken pipe, not the answer (measured: 35 of 40 signed 2 MiB
/// posts never saw their 413).
pub const LINGER_BYTES: u64 = 8 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(5);
/// How long a request waits for room in the in-flight budget: a burst just
/// over it is served a moment later rather than refused.
const ADMISSION_WAIT: Duration = Duration::from_secs(1);
/// An admitted body holds its share of the budget until read: one sent
/// slower than this is dropped, so a few trickling clients cannot hold the
/// whole budget and starve every webhook.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a body was not (or not wholly) read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// No `Content-Length` (a chunked body): the limits need it up front.
    LengthRequired,
    TooLarge,
    /// The bytes of bodies in flight stayed at the budget for [`ADMISSION_WAIT`].
    Overloaded,
    /// The body ended early or the connection failed while reading it.
    Broken,
    /// The body took longer than [`READ_TIMEOUT`].
    Slow,
}

/// The limits: one body, and all bodies in flight. Cheap to clone; clones
/// share the budget.
#[derive(Clone)]
pub struct Budget {
    max_body: u64,
    /// One permit per byte of `webhook.max_bytes_in_flight`.
    bytes: Arc<Semaphore>,
    metrics: Metrics,
}

/// A body's share of the budget, given back when dropped (the request answered).
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    metrics: Metrics,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.metrics.body_in_flight(-(self.bytes as i64));
    }
}

impl Budget {
    /// `in_flight` above `u32::MAX` is refused by the configuration.
    pub fn new(max_body: u64, in_flight: u64, metrics: Metrics) -> Budget {
        let permits = usize::try_from(in_flight).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        Budget { max_body, bytes: Arc::new(Semaphore::new(permits)), metrics }
    }

    /// Lets in a body of the declared `length`, waiting up to
    /// [`ADMISSION_WAIT`] for room.
    pub async fn admit(&self, length: Option<u64>) -> Result<Admitted, BodyError> {
        let length = length.ok_or(BodyError::LengthRequired)?;
        if length > self.max_body {
            return Err(BodyError::TooLarge);
        }
        let permits = u32::try_from(length).map_err(|_| BodyError::TooLarge)?;
        let permit = tokio::time::timeout(ADMISSION_WAIT, self.bytes.clone().acquire_many_owned(permits))
            .await
            .map_err(|_| BodyError::Overloaded)?
            .map_err(|_| BodyError::Overloaded)?;
        self.metrics.body_in_flight(length as i64);
        Ok(Admitted { _permit: permit, bytes: length, metrics: self.metrics.clone() })
    }
}

/// Reads an admitted body (hyper holds it to its `Content-Length`) into one
/// buffer of that size, within [`READ_TIMEOUT`].
pub async fn read<S, B>(mut body: Pin<&mut S>, admitted: &Admitted) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let length = admitted.bytes;
    let read = async {
        let mut out = Vec::with_capacity(usize::try_from(length).map_err(|_| BodyError::TooLarge)?);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|_| BodyError::Broken)?;
            while chunk.has_remaining() {
                let part = chunk.chunk();
                out.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
            if out.len() as u64 > length {
                return Err(BodyError::Broken);
            }
        }
        Ok(out)
    };
    tokio::time::timeout(READ_TIMEOUT, read).await.unwrap_or(Err(BodyError::Slow))
}

/// Reads and discards the rest of a body answered without being read (up
/// to [`LINGER_BYTES`], for [`LINGER_TIME`]), so the answer reaches a client
/// that writes the whole body before reading. True when the body was read to
/// its end and the connection can be kept.
pub async fn linger<S, B>(mut body: Pin<&mut S>) -> bool
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let drain = async {
        let mut seen = 0u64;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => seen += c.remaining() as u64,
                Err(_) => return false,
            }
            if seen > LINGER_BYTES {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(LINGER_TIME, drain).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<bytes::Bytes, warp::Error>> {
        futures_util::stream::iter(parts.iter().map(|p| Ok(bytes::Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn an_admitted_body_is_read_whole_and_its_share_given_back() {
        let metrics = Metrics::default();
        let budget = Budget::new(100, 100, metrics.clone());
        let admitted = budget.admit(Some(7)).await.expect("admitted");
        assert!(metrics.render(0, 0.0).contains("stripe_mirror_webhook_body_bytes_in_flight 7"));
        let body = std::pin::pin!(chunks(&[b"{\"a\"", b":1}"]));
        assert_eq!(read(body, &admitted).await, Ok(b"{\"a\":1}".to_vec()));
        drop(admitted);
        assert!(metrics.render(0, 0.0).contains("stripe_mirror_webhook_body_bytes_in_flight 0"));
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_budget_a_body_waits_then_is_refused() {
        let budget = Budget::new(60, 100, Metrics::default());
        assert_eq!(budget.admit(None).await.err(), Some(BodyError::LengthRequired));
        assert_eq!(budget.admit(Some(61)).await.err(), Some(BodyError::TooLarge));
        let held = budget.admit(Some(60)).await.expect("fits");
        let started = tokio::time::Instant::now();
        assert_eq!(budget.admit(Some(60)).await.err(), Some(BodyError::Overloaded));
        assert_eq!(started.elapsed(), ADMISSION_WAIT);
        assert!(budget.admit(Some(40)).await.is_ok(), "a smaller one fits beside it");
        drop(held);
    }

    /// A client that declares a body and trickles it would hold its share of
    /// the in-flight budget for as long as it likes.
    #[tokio::test(start_paused = true)]
    async fn an_admitted_body_that_never_ends_is_dropped_after_the_timeout() {
        let admitted = Budget::new(1000, 1000, Metrics::default()).admit(Some(1000)).await.expect("admitted");
        let body = std::pin::pin!(chunks(&[b"{"]).chain(futures_util::stream::pending()));
        let started = tokio::time::Instant::now();
        assert_eq!(read(body, &admitted).await, Err(BodyError::Slow));
        assert_eq!(started.elapsed(), READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn lingering_reads_a_refused_body_to_its_end_or_gives_up() {
        assert!(linger(std::pin::pin!(chunks(&[b"abc", b"def"]))).await, "read to its end");
        let endless = chunks(&[b"x"]).chain(futures_util::stream::pending());
        assert!(!linger(std::pin::pin!(endless)).await, "gives up after LINGER_TIME");
    }
}
