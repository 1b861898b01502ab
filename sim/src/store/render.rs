//! Turning stored documents into the JSON the API answers: filling holes,
//! deleted stubs, embedded lists truncated like Stripe's, and list bodies.

use std::sync::Arc;

use super::{Hole, Kind, Record, State};

/// Stripe embeds at most this many items/lines and sets `has_more`.
const EMBEDDED_LIMIT: usize = 10;

impl State {
    /// Append the object's current JSON (holes filled) to `out`.
    pub fn render_into(&self, kind: Kind, rec: &Record, out: &mut String) {
        let text = &rec.doc.text;
        let mut at = 0usize;
        for (offset, hole) in rec.doc.holes.iter() {
            let offset = *offset as usize;
            out.push_str(&text[at..offset]);
            at = offset;
            match hole {
                Hole::Items => self.embedded_list(Kind::SubscriptionItem, kind, &rec.id, out),
                Hole::Lines => self.embedded_list(Kind::InvoiceLineItem, kind, &rec.id, out),
                Hole::CreditNoteLines => self.embedded_list(Kind::CreditNoteLineItem, kind, &rec.id, out),
                Hole::Price(id) => self.render_ref(Kind::Price, id, out),
                Hole::Plan(id) => self.render_ref(Kind::Plan, id, out),
            }
        }
        out.push_str(&text[at..]);
    }

    /// The object's current JSON as a string.
    pub fn render(&self, kind: Kind, rec: &Record) -> String {
        let mut out = String::with_capacity(rec.doc.text.len() + 256);
        self.render_into(kind, rec, &mut out);
        out
    }

    /// `{"object":"list","data":[…],"has_more":…,"url":…}` for these ids.
    pub fn render_list(&self, kind: Kind, ids: &[Arc<str>], has_more: bool, url: &str) -> String {
        let table = self.table(kind);
        let mut out = String::with_capacity(64 + ids.len() * 1024);
        out.push_str("{\"object\":\"list\",\"data\":[");
        let mut first = true;
        for rec in ids.iter().filter_map(|id| table.get(id)) {
            if !first {
                out.push(',');
            }
            first = false;
            self.render_into(kind, rec, &mut out);
        }
        out.push_str("],\"has_more\":");
        out.push_str(if has_more { "true" } else { "false" });
        out.push_str(",\"url\":");
        out.push_str(&super::json_str(url));
        out.push('}');
        out
    }

    /// A price or plan embedded by reference. A deleted price keeps
    /// rendering its last state, as Stripe keeps showing it on old items.
    fn render_ref(&self, kind: Kind, id: &str, out: &mut String) {
        match self.table(kind).get(id) {
            Some(rec) => self.render_into(kind, rec, out),
            None => out.push_str("null"),
        }
    }

    /// The embedded `items`/`lines` list: the first page (oldest first),
    /// truncated at ten with `has_more` and `total_count`, like Stripe.
    fn embedded_list(&self, child: Kind, parent_kind: Kind, parent: &str, out: &mut String) {
        let table = self.table(child);
        let total = table.child_count(parent);
        out.push_str("{\"object\":\"list\",\"data\":[");
        for (i, id) in table.children_of(parent).take(EMBEDDED_LIMIT).enumerate() {
            if i > 0 {
                out.push(',');
            }
            if let Some(rec) = table.get(id) {
                self.render_into(child, rec, out);
            }
        }
        out.push_str("],\"has_more\":");
        out.push_str(if total > EMBEDDED_LIMIT { "true" } else { "false" });
        out.push_str(",\"total_count\":");
        out.push_str(&total.to_string());
        out.push_str(",\"url\":");
        out.push_str(&super::json_str(&nested_url(parent_kind, parent)));
        out.push('}');
    }
}

/// The URL of a parent's nested list.
fn nested_url(parent_kind: Kind, parent: &str) -> String {
    match parent_kind {
        Kind::Invoice => format!("/v1/invoices/{parent}/lines"),
        Kind::CreditNote => format!("/v1/credit_notes/{parent}/lines"),
        _ => format!("/v1/subscription_items?subscription={parent}"),
    }
}

/// `{"deleted":true,"id":…,"object":…}` as in fixtures/deleted_*.json.
pub(crate) fn deleted_stub(kind: Kind, id: &str) -> String {
    format!("{{\"deleted\":true,\"id\":{},\"object\":\"{}\"}}", super::json_str(id), kind.object())
}
