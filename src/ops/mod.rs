//! Operating the mirror: what operators run, watch and schedule.
//!
//! * [`status`] — `stripe-mirror status`.
//! * [`metrics`] — `GET /metrics`.
//! * [`service`] — systemd notify and watchdog.
//! * [`schedule`] — cron schedules from config.toml.
//! * [`retention`] — `prune`, daily in `serve`, with [`privacy`]
//!   (redacting deleted customers).
//! * [`verify`] — `stripe-mirror verify [--repair]`: the tables against what
//!   the API lists.
//! * [`endpoints`] — the `endpoint` commands and the rules of a right
//!   endpoint: every applied event type, the pinned API version.

pub mod endpoints;
pub mod metrics;
pub mod privacy;
pub mod retention;
pub mod schedule;
pub mod service;
pub mod status;
pub mod verify;
