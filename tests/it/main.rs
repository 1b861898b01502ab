//! The integration suite: one binary, a real Postgres (DATABASE_URL, or a
//! throwaway cluster started from the system's binaries), the real daemon
//! started in-process on port 0, and the Stripe simulator where the daemon
//! must talk to Stripe.

mod apply_rules;
mod chaos;
mod cli;
mod crash;
mod daemon;
mod demo;
mod endpoints;
mod feed;
mod flood;
mod helpers;
mod operate;
mod plans;
mod pull;
mod pull_edges;
mod real_stripe;
mod registry_pull;
mod registry_types;
mod retention;
mod safety;
mod slow_stripe;
mod upgrade;
mod verify;
mod versions;
mod webhook_input;
