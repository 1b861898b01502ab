//! Stored state, written by both paths: the inbox, the mirrored tables and
//! the one code path that writes them, the database itself, the account the
//! tables belong to, and the change feed every write appends to.
//!
//! * [`inbox`] — the durable event inbox in `stripe_mirror.events`.
//! * [`head`] — reading an object's id, type and embedded children in one pass.
//! * [`mirror`] — writing objects with their children; settles ties via the API.
//! * [`store`] — the tables and the newest-wins rule, in SQL.
//! * [`db`] — pool, migrations, the reader role.
//! * [`identity`] — the Stripe account and mode the tables mirror, and the
//!   checks that keep every other one out.
//! * [`feed`] — the durable change feed (`stripe_mirror.changes_after`,
//!   `stripe-mirror changes`).

pub mod db;
pub mod feed;
pub mod head;
pub mod identity;
pub mod inbox;
pub mod mirror;
pub mod store;
