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
//! Push path (webhooks), in the order a request travels:
//! * [`server`] — HTTP: the webhook endpoint, health, readiness, metrics;
//!   every status code is decided there.
//! * [`body`] — webhook bodies before the signature check: size limit,
//!   in-flight byte budget, reading, draining refused ones.
//! * [`signature`] — `Stripe-Signature` verification, a pure function.
//! * [`event`] — the event envelope and what each event type means (pure).
//! * [`inbox_writer`] — group commit of webhooks into the inbox.
//! * [`inbox`] — the durable event inbox in `stripe_mirror.events`.
//! * [`worker`] — apply workers draining the inbox in batches.
//! * [`apply`] — applying one event: returns an [`apply::Outcome`].
//!
//! Shared by both paths:
//! * [`head`] — reading an object's id, type and embedded children in one pass.
//! * [`mirror`] — writing objects with their children; settles ties via the API.
//! * [`store`] — the tables and the newest-wins rule, in SQL.
//! * [`stripe_client`] + [`rate_limit`] — the Stripe API: retries, rate limit, `Date`.
//!
//! Pull path: [`sync`] (backfill and full sweep of the lists, in `created`
//! windows; events catch-up; the run lock), [`parent_lists`] (types listed
//! per parent object) and [`jobs`] (runs as commands and as `serve`'s
//! schedule; types skipped when the key may not read them).
//!
//! Control plane: [`control`] (the account and webhook endpoints, through
//! async-stripe) and [`endpoints`] (the `endpoint` commands and the rules of
//! a right endpoint: every applied event type, the pinned API version).
//!
//! Around them: [`config`] (config.toml + env), [`db`] (pool, migrations, the
//! reader role), [`schedule`] (cron), [`metrics`], [`service`] (systemd
//! notify and watchdog), [`status`] (`stripe-mirror status`), [`pglocal`] (a
//! throwaway Postgres for `demo` and tests), [`compare`] and [`demo`],
//! [`app`] (wiring `serve`: start and graceful drain), [`cli`].
//!
//! For readers and operators: [`feed`] (the durable change feed
//! `stripe_mirror.changes_after`, `stripe-mirror changes`), [`retention`]
//! (`prune`, daily in `serve`) with [`privacy`] (redacting deleted
//! customers), [`verify`] (`stripe-mirror verify [--repair]`: the tables
//! against what the API lists).

pub mod app;
pub mod apply;
pub mod body;
pub mod cli;
pub mod compare;
pub mod config;
pub mod control;
pub mod db;
pub mod demo;
pub mod endpoints;
pub mod event;
pub mod feed;
pub mod head;
pub mod identity;
pub mod inbox;
pub mod inbox_writer;
pub mod jobs;
pub mod metrics;
pub mod mirror;
pub mod parent_lists;
pub mod pglocal;
pub mod privacy;
pub mod rate_limit;
pub mod registry;
pub mod resolver;
pub mod retention;
pub mod schedule;
pub mod server;
pub mod service;
pub mod signature;
pub mod status;
pub mod store;
pub mod stripe_client;
pub mod sync;
pub mod verify;
pub mod worker;
