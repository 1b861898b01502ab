//! stripe-mirror keeps a Postgres schema equal to one Stripe account for
//! products, prices, customers, subscriptions (with items) and invoices (with
//! line items) at its core, and the account's other billing and payment
//! objects (coupons … checkout sessions) through one registry of types.
//!
//! # Layout
//!
//! At the centre, [`registry`]: one declarative entry per mirrored type
//! (table, listings, retrieve path, events and what each does, child lists,
//! typed columns). Every component below iterates it; none names a type.
//!
//! * [`push`] — the webhook path, in the order a request travels: HTTP,
//!   body, signature, event, inbox writer, apply workers, resolver.
//! * [`pull`] — backfill, sweep and events catch-up, and the jobs that run them.
//! * [`storage`] — what both paths write: the inbox, the tables and the one
//!   code path that writes them, the database, the account's identity, the
//!   change feed.
//! * [`stripe`] — the Stripe API: our client, the rate limit, the control
//!   plane.
//! * [`ops`] — status, metrics, systemd, schedules, retention and privacy,
//!   `verify`, the `endpoint` commands.
//! * [`tools`] — not the product: a throwaway Postgres, the comparison with
//!   the simulator, `demo`.
//!
//! Top level: [`config`] (config.toml + env), [`app`] (wiring `serve`: start
//! and graceful drain), [`cli`].

pub mod app;
pub mod cli;
pub mod config;
pub mod ops;
pub mod pull;
pub mod push;
pub mod registry;
pub mod storage;
pub mod stripe;
pub mod tools;
