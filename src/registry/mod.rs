//! The registry of mirrored types: one declarative [`TypeDef`] per Stripe
//! type, and everything the rest of the mirror asks about a type is read
//! from it — its table, how a complete listing is made (list path, the
//! filters that together return every object, or a list per parent object),
//! its retrieve path, every event type Stripe sends about it and what the
//! mirror does with each (upsert, cancel, tombstone, ignore), its child list
//! (embedded or not, and where the whole list is paged), and its typed
//! columns (documentation; the SQL is in `migrations/`).
//!
//! Backfill, the sweep, events catch-up, apply (`event::classify`), the
//! webhook endpoint's event list (`event::applied_event_types`), `status`
//! and the simulator comparison all iterate the registry; no other module
//! names a type. [`Kind`] (a type) and [`Table`] (a type's table or its
//! child table) are indices into it; [`TypeSet`] is a set of them (`[mirror]
//! objects`); [`cost`] derives what a full sweep of a type costs in requests.
//!
//! # Adding a type
//!
//! 1. Its entry in `billing.rs` or `payments.rs`, and its line in [`TYPES`].
//! 2. Its table in a new migration, with `SELECT stripe_mirror.mirror_table(…)`
//!    (the change feed's statement-level triggers, which also send its NOTIFY).
//! 3. Its kind in the simulator (a `stripe_sim::Kind` of the same `object`;
//!    a child table's kind's `plural()` is the table name), which `compare`
//!    then includes.
//!
//! # The account dimension
//!
//! A type is the same in every account, so Connect changes nothing here:
//! rows gain one column, `account` (the platform's id for its own objects),
//! with the primary key `(account, id)`; the store's statements take it as
//! one more `UNNEST` column and the object locks hash it with the id; the
//! pull path runs the same listings once per connected account with
//! `Stripe-Account`, and the push path routes an event by its `account`
//! instead of ignoring it. [`Kind`] and [`Table`] stay account-free.

mod billing;
pub mod cost;
mod defs;
mod events;
mod payments;
mod sets;

use std::fmt;

pub use defs::{Child, Does, Ev, List, PerParent, TypeDef};
pub use events::{applied_event_types, event_rule};
pub use sets::{TypeSet, TypeSetError};

/// Every mirrored type. The order is the order kinds are written in (apply
/// batches take row locks kind by kind in it) and the order of
/// [`Table::ALL`]; the five core types come first.
pub const TYPES: &[TypeDef] = &[
    billing::PRODUCT,
    billing::PRICE,
    billing::CUSTOMER,
    billing::SUBSCRIPTION,
    billing::INVOICE,
    billing::COUPON,
    billing::PROMOTION_CODE,
    billing::TAX_RATE,
    billing::INVOICE_ITEM,
    billing::CREDIT_NOTE,
    billing::SUBSCRIPTION_SCHEDULE,
    payments::PAYMENT_INTENT,
    payments::CHARGE,
    payments::REFUND,
    payments::DISPUTE,
    payments::PAYMENT_METHOD,
    payments::SETUP_INTENT,
    payments::CHECKOUT_SESSION,
];

const TYPE_COUNT: usize = TYPES.len();
const TABLE_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < TYPE_COUNT {
        n += if TYPES[i].child.is_some() { 2 } else { 1 };
        i += 1;
    }
    n
};

/// A mirrored type: an index into [`TYPES`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(u8);

impl Kind {
    /// Every type, in [`TYPES`] order.
    pub const ALL: [Kind; TYPE_COUNT] = {
        let mut all = [Kind(0); TYPE_COUNT];
        let mut i = 0;
        while i < TYPE_COUNT {
            all[i] = Kind(i as u8);
            i += 1;
        }
        all
    };

    pub fn def(self) -> &'static TypeDef {
        &TYPES[self.index()]
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The `object` field Stripe puts on this type.
    pub fn object_name(self) -> &'static str {
        self.def().object
    }

    /// API path of the retrieve endpoint (`{path}/{id}`) and, for types
    /// not listed per parent, of the list.
    pub fn api_path(self) -> &'static str {
        self.def().path
    }

    pub fn table(self) -> Table {
        Table { kind: self, child: false }
    }

    pub fn child_table(self) -> Option<Table> {
        self.def().child.as_ref().map(|_| Table { kind: self, child: true })
    }

    /// The type whose table is `name` (also the names of `[mirror] objects`).
    pub fn by_table(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.def().table == name)
    }

    /// The type whose objects say `object: name`.
    pub fn by_object(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.def().object == name)
    }

    /// For a type listed per parent: the parent's type.
    pub fn list_parent(self) -> Option<Kind> {
        self.def().list.per.as_ref().and_then(|p| Kind::by_table(p.parent))
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.object_name())
    }
}

/// A mirrored table: a type's own, or its child table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table {
    kind: Kind,
    child: bool,
}

impl Table {
    /// Every table, each type's followed by its child table.
    pub const ALL: [Table; TABLE_COUNT] = {
        let mut all = [Table { kind: Kind(0), child: false }; TABLE_COUNT];
        let (mut i, mut n) = (0, 0);
        while i < TYPE_COUNT {
            all[n] = Table { kind: Kind(i as u8), child: false };
            n += 1;
            if TYPES[i].child.is_some() {
                all[n] = Table { kind: Kind(i as u8), child: true };
                n += 1;
            }
            i += 1;
        }
        all
    };

    pub fn name(self) -> &'static str {
        match (self.child, &self.kind.def().child) {
            (true, Some(c)) => c.table,
            _ => self.kind.def().table,
        }
    }

    /// Child tables name their parent in a plain column.
    pub fn parent_column(self) -> Option<&'static str> {
        match (self.child, &self.kind.def().child) {
            (true, Some(c)) => Some(c.parent_column),
            _ => None,
        }
    }

    /// The type this table belongs to (a child table: its parent's type).
    pub fn kind(self) -> Kind {
        self.kind
    }

    /// Its position in [`Table::ALL`].
    pub fn index(self) -> usize {
        Table::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// The core tables by name, for code that means one of them (tests, the
/// feed's and retention's own), as the enum they replace named them. Every
/// other table is reached through the registry; `the_core_types_keep_their_tables_and_order`
/// checks these.
#[allow(non_upper_case_globals)]
impl Table {
    pub const Products: Table = Table { kind: Kind(0), child: false };
    pub const Prices: Table = Table { kind: Kind(1), child: false };
    pub const Customers: Table = Table { kind: Kind(2), child: false };
    pub const Subscriptions: Table = Table { kind: Kind(3), child: false };
    pub const SubscriptionItems: Table = Table { kind: Kind(3), child: true };
    pub const Invoices: Table = Table { kind: Kind(4), child: false };
    pub const InvoiceLineItems: Table = Table { kind: Kind(4), child: true };
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests;
