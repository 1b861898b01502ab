//! Integration tests of the simulator over real HTTP: one binary, one
//! module per area, helpers in `helpers`.

mod accounts;
mod billing_extra;
mod custom_ids;
mod embedded;
mod errors;
mod filters;
mod helpers;
mod mutations;
mod pagination;
mod payments;
mod rate_limits;
mod seeding;
mod versions;
mod webhook_endpoints;
mod webhooks;
