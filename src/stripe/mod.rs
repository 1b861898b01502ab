//! The Stripe API, as this crate calls it.
//!
//! * [`client`] — retrieves and list pages on our own client: verbatim
//!   bodies, retries, the HTTP `Date` of every answer.
//! * [`rate_limit`] — our side of Stripe's rate limit, shared by every task.
//! * [`control`] — the control plane (the account, webhook endpoints),
//!   through async-stripe.

pub mod client;
pub mod control;
pub mod rate_limit;
