//! Demo and test tools, not the product: what `stripe-mirror demo` and the
//! test suite stand on.
//!
//! * [`pglocal`] — a throwaway Postgres for `demo` and tests.
//! * [`compare`] — the mirror against the Stripe simulator, table by table.
//! * [`demo`] — `stripe-mirror demo`: the whole job with no Stripe account.

pub mod compare;
pub mod demo;
pub mod pglocal;
