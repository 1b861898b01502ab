//! The shape of a registry entry: what the mirror needs to know about one
//! Stripe type, as plain data (`const`), so an entry reads like the API
//! reference page it was written from.

/// One mirrored Stripe type.
#[derive(Debug)]
pub struct TypeDef {
    /// The `object` Stripe puts on it (`checkout.session`).
    pub object: &'static str,
    /// Its table in the mirrored schema; also its name in `[mirror] objects`.
    pub table: &'static str,
    /// `GET {path}/{id}` retrieves one object, `GET {path}` lists them
    /// (unless [`List::per`] says they are listed per parent object).
    pub path: &'static str,
    pub list: List,
    /// Every event type Stripe sends about the type, with what the mirror
    /// does. `endpoint create` subscribes to exactly the applied ones.
    pub events: &'static [Ev],
    /// The child list stored in a table of its own (subscription items).
    pub child: Option<Child>,
    /// The typed columns its migration generates (for the README).
    pub columns: &'static [&'static str],
}

/// How a complete listing of a type is made.
#[derive(Debug)]
pub struct List {
    /// The listings that together return every object, each a set of
    /// filters (`&[]`: the plain list). Several when a list hides some
    /// objects by default (prices: `active=true`, then `active=false`).
    pub queries: &'static [&'static [(&'static str, &'static str)]],
    /// Listed only per object of another type, never account-wide.
    pub per: Option<PerParent>,
    /// The field holding the creation time, which the list's `created`
    /// filter reads (invoice items call it `date`): list windows and the
    /// fallback when a list cursor's object was deleted use it.
    pub created: &'static str,
}

/// A list per parent object (`GET /v1/customers/{id}/payment_methods`).
#[derive(Debug)]
pub struct PerParent {
    /// The table of the parent type; the parents paged are its live rows.
    pub parent: &'static str,
    /// The list path; `{id}` is the parent's id.
    pub path: &'static str,
    /// Our typed column naming the parent. A row where it is NULL is listed
    /// nowhere (a detached payment method): the sweep leaves it alone.
    pub column: &'static str,
}

/// A type's children, stored in a table of their own.
#[derive(Debug)]
pub struct Child {
    pub table: &'static str,
    /// The plain column naming the parent, written by the mirror (some
    /// children do not name their parent themselves).
    pub parent_column: &'static str,
    /// The parent's field embedding the first children as a list object
    /// (`items`); `None` when Stripe never embeds them, so they are paged
    /// for every parent state written.
    pub embedded: Option<&'static str>,
    /// Where all of one parent's children are paged; `{id}` is the parent's id.
    pub path: &'static str,
    /// The query parameter naming the parent, for a list that takes it as a
    /// filter (`/v1/subscription_items?subscription=`).
    pub param: Option<&'static str>,
    pub columns: &'static [&'static str],
}

/// One event type and what applying it does.
#[derive(Debug, Clone, Copy)]
pub struct Ev {
    pub name: &'static str,
    pub does: Does,
}

/// What an event does to the type's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Does {
    /// Upsert `data.object` under the ordering rule.
    Upsert,
    /// Upsert too: the object's final state is kept, not deleted
    /// (`customer.subscription.deleted` is a cancellation).
    Cancel,
    /// Tombstone the row, keeping the last known data.
    Delete,
    /// The object in another type's shape (a plan for a price): never
    /// stored; the event of the same verb under this prefix carries it.
    Twin(&'static str),
    /// Recorded, deliberately not applied; the reason is the outcome detail.
    Ignore(&'static str),
}

impl Does {
    /// A short phrase for the README's event table.
    pub fn describe(self) -> &'static str {
        match self {
            Does::Upsert => "upsert",
            Does::Cancel => "upsert (kept: a final state, not a deletion)",
            Does::Delete => "tombstone (`deleted = true`, last data kept)",
            Does::Twin(_) => "nothing itself: its twin event carries the object",
            Does::Ignore(_) => "ignored (recorded)",
        }
    }
}

/// Entries are written with these, one line per event type.
pub const fn up(name: &'static str) -> Ev {
    Ev { name, does: Does::Upsert }
}

pub const fn cancel(name: &'static str) -> Ev {
    Ev { name, does: Does::Cancel }
}

pub const fn del(name: &'static str) -> Ev {
    Ev { name, does: Does::Delete }
}

pub const fn twin(name: &'static str, of: &'static str) -> Ev {
    Ev { name, does: Does::Twin(of) }
}

pub const fn ignore(name: &'static str, why: &'static str) -> Ev {
    Ev { name, does: Does::Ignore(why) }
}

/// The plain list, no filters, objects' creation time in `created`.
pub const PLAIN: List = List { queries: &[&[]], per: None, created: "created" };
