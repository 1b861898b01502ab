//! Integration tests of the simulator over real HTTP: one binary, one
//! module per area, helpers in `helpers`.

mod embedded;
mod errors;
mod filters;
mod helpers;
mod mutations;
mod pagination;
mod seeding;
mod webhook_endpoints;
mod webhooks;
