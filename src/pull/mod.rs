//! The pull path: listing the API instead of waiting for webhooks.
//!
//! * [`sync`] — backfill and the full sweep of the lists, in `created`
//!   windows; events catch-up; the run lock.
//! * [`parent_lists`] — types Stripe lists only per parent object.
//! * [`jobs`] — runs as commands and as `serve`'s schedule; types skipped
//!   when the key may not read them.

pub mod jobs;
pub mod parent_lists;
pub mod sync;
