//! Rendering in a requested API version: today's JSON from the store,
//! rewritten by `versions::shapes` when the version predates basil. Only
//! subscriptions, their items and invoices differ, so every other kind (and
//! every version from basil on) is the stored bytes unchanged.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::{deleted_stub, Kind, Record, State};
use crate::versions::shapes::{previous_to_pre_basil, to_pre_basil};
use crate::versions::{ApiVersion, Shape};

/// Kinds whose shape differs before basil.
fn reshaped(kind: Kind) -> bool {
    matches!(kind, Kind::Subscription | Kind::SubscriptionItem | Kind::Invoice)
}

impl State {
    /// The object as the API answers it in `version`.
    pub fn render_at(&self, kind: Kind, rec: &Record, version: ApiVersion) -> String {
        self.reshape(kind, self.render(kind, rec), version)
    }

    /// Today's JSON of an object of `kind`, rewritten for `version`. A
    /// deleted object's frozen last state is rewritten the same way.
    pub fn reshape(&self, kind: Kind, text: String, version: ApiVersion) -> String {
        if version.shape() == Shape::Current || !reshaped(kind) {
            return text;
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(mut v) => {
                to_pre_basil(&mut v, &|sub| self.item_periods(sub));
                v.to_string()
            }
            // Our own JSON always parses; keep it rather than lose it.
            Err(_) => text,
        }
    }

    /// An event's `data`: the object (of any kind, told by its `object`) and
    /// its `previous_attributes`, rewritten for `version`.
    pub fn reshape_event_data<'a>(
        &self,
        object: &'a str,
        previous: Option<&'a Value>,
        version: ApiVersion,
    ) -> (Cow<'a, str>, Option<Cow<'a, Value>>) {
        let unchanged = (Cow::Borrowed(object), previous.map(Cow::Borrowed));
        if version.shape() == Shape::Current {
            return unchanged;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(object) else {
            return unchanged;
        };
        let kind = v.get("object").and_then(Value::as_str).and_then(Kind::parse);
        if !kind.is_some_and(reshaped) {
            return unchanged;
        }
        to_pre_basil(&mut v, &|sub| self.item_periods(sub));
        let previous = previous.map(|p| {
            let mut p = p.clone();
            previous_to_pre_basil(&mut p, &v);
            Cow::Owned(p)
        });
        (Cow::Owned(v.to_string()), previous)
    }

    /// `(latest start, earliest end)` over every live item of a
    /// subscription: its pre-basil `current_period_*`.
    pub fn item_periods(&self, subscription: &str) -> Option<(i64, i64)> {
        #[derive(Deserialize)]
        struct Period {
            current_period_start: i64,
            current_period_end: i64,
        }
        let items = self.table(Kind::SubscriptionItem);
        let periods: Vec<Period> = items
            .children_of(subscription)
            .filter_map(|id| items.get(id))
            .filter_map(|rec| serde_json::from_str(&self.render(Kind::SubscriptionItem, rec)).ok())
            .collect();
        let start = periods.iter().map(|p| p.current_period_start).max()?;
        let end = periods.iter().map(|p| p.current_period_end).min()?;
        Some((start, end))
    }

    /// What `GET /v1/{kind}/{id}` answers in `version`: the object,
    /// Stripe's deleted stub for deleted customers/products/prices/plans
    /// (and coupons and invoice items, which Stripe deletes the same way), or
    /// `None` (404) for anything missing and for deleted invoices and
    /// removed items.
    pub fn render_retrieve_at(&self, kind: Kind, id: &str, version: ApiVersion) -> Option<String> {
        let rec = self.table(kind).get(id)?;
        if !rec.deleted {
            return Some(self.render_at(kind, rec, version));
        }
        match kind {
            Kind::Customer | Kind::Product | Kind::Price | Kind::Plan | Kind::Coupon | Kind::InvoiceItem => {
                Some(deleted_stub(kind, id))
            }
            _ => None,
        }
    }

    /// [`State::render_list`] in `version`.
    pub fn render_list_at(
        &self,
        kind: Kind,
        ids: &[Arc<str>],
        has_more: bool,
        url: &str,
        version: ApiVersion,
    ) -> String {
        if version.shape() == Shape::Current || !reshaped(kind) {
            return self.render_list(kind, ids, has_more, url);
        }
        let table = self.table(kind);
        let data: Vec<String> =
            ids.iter().filter_map(|id| table.get(id)).map(|r| self.render_at(kind, r, version)).collect();
        let mut out = String::with_capacity(64 + data.iter().map(String::len).sum::<usize>());
        out.push_str("{\"object\":\"list\",\"data\":[");
        out.push_str(&data.join(","));
        out.push_str("],\"has_more\":");
        out.push_str(if has_more { "true" } else { "false" });
        out.push_str(",\"url\":");
        out.push_str(&super::json_str(url));
        out.push('}');
        out
    }
}
