//! The push path: a webhook from the HTTP request to the tables, in the
//! order it travels.
//!
//! * [`server`] — HTTP: the webhook endpoint, health, readiness, metrics;
//!   every status code is decided there.
//! * [`body`] — webhook bodies before the signature check: size limit,
//!   in-flight byte budget, reading, draining refused ones.
//! * [`signature`] — `Stripe-Signature` verification, a pure function.
//! * [`event`] — the event envelope and what each event type means (pure).
//! * [`inbox_writer`] — group commit of webhooks into the inbox.
//! * [`worker`] — apply workers draining the inbox in batches.
//! * [`apply`] — applying one event: returns an [`apply::Outcome`].
//! * [`resolver`] — events that need a Stripe answer, settled after the
//!   worker's transaction committed.

pub mod apply;
pub mod body;
pub mod event;
pub mod inbox_writer;
pub mod resolver;
pub mod server;
pub mod signature;
pub mod worker;
