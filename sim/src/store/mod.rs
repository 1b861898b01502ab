//! The object store: every object of every kind as serialized JSON plus a
//! small index record, ordered indexes for pagination, and rendering of
//! objects and list bodies.
//!
//! Objects are kept as text, not `serde_json::Value` trees, so memory stays
//! proportional to the data and a page is built by concatenating stored
//! bytes. Each top-level kind has a `BTreeMap` keyed by
//! `(Reverse(created), Reverse(seq))`, which is exactly Stripe's newest-first
//! list order (ties in one second broken by insertion order), so a page costs
//! O(limit · log n). Nested kinds (subscription items, invoice lines) are
//! indexed per parent instead.

mod doc;
mod kind;
mod page;
mod render;
mod versioned;

pub(crate) use doc::{json_opt, json_str, Doc, Hole, HoleKind, Template};
pub use kind::Kind;
pub(crate) use page::{page, Created, Cursor, PageError, PageReq};
pub(crate) use render::deleted_stub;

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Sort key of an object in its list: newest first, then latest inserted.
pub(crate) type Key = (Reverse<i64>, Reverse<u64>);

pub(crate) fn key(created: i64, seq: u64) -> Key {
    (Reverse(created), Reverse(seq))
}

/// The fields lists filter on, kept beside the JSON so filters never parse.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    /// `active` of products, prices, plans, promotion codes and tax rates.
    pub active: bool,
    /// Subscription/invoice `status`, or the event `type`.
    pub tag: Option<Box<str>>,
    /// `customer` of subscriptions and invoices.
    pub customer: Option<Arc<str>>,
    /// The subscription of an item, invoice or checkout session; the invoice
    /// of a line, credit note or invoice item; the product of a price or
    /// plan; the charge of a refund or dispute; the coupon of a promotion
    /// code; the session of a checkout line item; the credit note of its
    /// line.
    pub parent: Option<Arc<str>>,
    /// Whether a price is recurring (it then also exists as a plan); a tax
    /// rate's `inclusive`; whether an invoice item is pending (no invoice).
    pub recurring: bool,
    /// A second reference lists filter on: the `payment_intent` of charges,
    /// refunds, disputes and checkout sessions; the `payment_method` of
    /// setup intents; the `code` of a promotion code.
    pub related: Option<Arc<str>>,
}

/// One stored object.
#[derive(Debug)]
pub(crate) struct Record {
    pub id: Arc<str>,
    pub created: i64,
    pub seq: u64,
    pub doc: Doc,
    pub deleted: bool,
    pub fields: Fields,
}

impl Record {
    pub fn key(&self) -> Key {
        key(self.created, self.seq)
    }
}

/// All objects of one kind.
#[derive(Debug)]
pub(crate) struct Table {
    pub kind: Kind,
    /// A live-mode account: objects inserted get `livemode: true`.
    livemode: bool,
    /// Every object ever created, deleted ones included (they still answer
    /// retrieve with a stub, and still serve as pagination cursors).
    pub by_id: HashMap<Arc<str>, Record>,
    /// Live top-level objects in list order.
    pub live: BTreeMap<Key, Arc<str>>,
    /// Live nested objects per parent id, in list order.
    pub children: HashMap<Arc<str>, BTreeMap<Key, Arc<str>>>,
}

impl Table {
    fn new(kind: Kind, livemode: bool) -> Table {
        Table { kind, livemode, by_id: HashMap::new(), live: BTreeMap::new(), children: HashMap::new() }
    }

    pub fn get(&self, id: &str) -> Option<&Record> {
        self.by_id.get(id)
    }

    /// The object if it exists and is not deleted.
    pub fn live_get(&self, id: &str) -> Option<&Record> {
        self.by_id.get(id).filter(|r| !r.deleted)
    }

    /// Add an object; an id that exists already (a deleted object's id
    /// created again) is replaced by the new incarnation.
    pub fn insert(&mut self, mut rec: Record) {
        // The fixtures every object is built from are test-mode ones. Events
        // are rendered live already (and may carry a caller's object).
        if self.livemode && self.kind != Kind::Event {
            rec.doc.set_livemode();
        }
        let k = rec.key();
        if self.kind.is_nested() {
            if let Some(parent) = &rec.fields.parent {
                self.children.entry(parent.clone()).or_default().insert(k, rec.id.clone());
            }
        } else {
            self.live.insert(k, rec.id.clone());
        }
        self.by_id.insert(rec.id.clone(), rec);
    }

    /// Replace an object's JSON and filter fields; its place in the list
    /// (created, seq, parent) does not change.
    pub fn replace(&mut self, id: &str, doc: Doc, fields: Fields) {
        if let Some(rec) = self.by_id.get_mut(id) {
            rec.doc = doc;
            rec.fields = Fields { parent: rec.fields.parent.clone(), ..fields };
        }
    }

    /// Remove from lists; the record stays for stubs, cursors and snapshots.
    pub fn mark_deleted(&mut self, id: &str) {
        let Some(rec) = self.by_id.get_mut(id) else {
            return;
        };
        rec.deleted = true;
        let k = rec.key();
        if let Some(parent) = &rec.fields.parent {
            if let Some(set) = self.children.get_mut(parent) {
                set.remove(&k);
            }
        }
        self.live.remove(&k);
    }

    /// Live children of `parent`, oldest first.
    pub fn children_of(&self, parent: &str) -> impl DoubleEndedIterator<Item = &Arc<str>> {
        self.children.get(parent).into_iter().flat_map(|m| m.values().rev())
    }

    pub fn child_count(&self, parent: &str) -> usize {
        self.children.get(parent).map_or(0, BTreeMap::len)
    }
}

/// Everything the simulator knows about the account.
#[derive(Debug)]
pub(crate) struct State {
    tables: Vec<Table>,
    /// Objects and events are `livemode: true` (a live key's account).
    pub livemode: bool,
    seq: u64,
    /// Invoice numbers are per account in the simulator (Stripe allows that
    /// mode); it keeps customers untouched when an invoice finalizes.
    pub invoice_number: u64,
}

impl Default for State {
    fn default() -> Self {
        State::new(false)
    }
}

impl State {
    pub fn new(livemode: bool) -> State {
        let tables = Kind::ALL.into_iter().map(|k| Table::new(k, livemode)).collect();
        State { tables, livemode, seq: 0, invoice_number: 0 }
    }

    pub fn table(&self, kind: Kind) -> &Table {
        &self.tables[kind.index()]
    }

    pub fn table_mut(&mut self, kind: Kind) -> &mut Table {
        &mut self.tables[kind.index()]
    }

    /// Insertion sequence: breaks ties between objects created in one second.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Whether an id is taken in any table (ids are random; this keeps them
    /// unique anyway).
    pub fn id_taken(&self, kind: Kind, id: &str) -> bool {
        self.table(kind).by_id.contains_key(id)
    }
}
