//! Today's objects rewritten into the shapes of the versions before
//! `2025-03-31.basil` (docs.stripe.com/changelog/basil):
//!
//! - subscription: `current_period_start` / `current_period_end` at the top
//!   (in basil they moved to the items; the subscription's values are the
//!   items' latest start and earliest end), and its items carry none;
//! - invoice: top-level `subscription` (id or null) and `paid` (bool), and
//!   no `parent` (which replaced `subscription` in basil);
//! - `invoice.payments` is absent in both (an includable field today, unknown
//!   before basil), so nothing to do.
//!
//! Other fields that moved in basil (`invoice.charge`,
//! `invoice.payment_intent`, the line items' `price`/`plan`/`proration`) are
//! not modelled: the mirror depends on none of them.

use serde_json::{Map, Value};

/// All item periods of a subscription as `(latest start, earliest end)`,
/// for subscriptions whose embedded item list is truncated.
pub(crate) type Periods<'a> = &'a dyn Fn(&str) -> Option<(i64, i64)>;

/// Rewrite `v` (any object: subscription, subscription item, invoice; others
/// are left alone) into the pre-basil shape.
pub(crate) fn to_pre_basil(v: &mut Value, periods: Periods<'_>) {
    match v.get("object").and_then(Value::as_str) {
        Some("subscription") => subscription(v, periods),
        Some("subscription_item") => strip_periods(v),
        Some("invoice") => invoice(v),
        _ => {}
    }
}

/// `data.previous_attributes` of an event about `object` (already in the
/// pre-basil shape), rewritten to match: the old values of the fields that
/// only exist before basil are derived from the old values of today's.
pub(crate) fn previous_to_pre_basil(prev: &mut Value, object: &Value) {
    let Some(p) = prev.as_object_mut() else {
        return;
    };
    match object.get("object").and_then(Value::as_str) {
        Some("subscription") => {
            if let Some(items) = p.get_mut("items") {
                let old = embedded_periods(items);
                for item in items_mut(items) {
                    strip_periods(item);
                }
                if let Some((start, end)) = old {
                    changed(p, object, "current_period_start", Value::from(start));
                    changed(p, object, "current_period_end", Value::from(end));
                }
            }
        }
        Some("invoice") => {
            if let Some(status) = p.get("status").cloned() {
                changed(p, object, "paid", Value::Bool(status == "paid"));
            }
            if let Some(parent) = p.remove("parent") {
                changed(p, object, "subscription", parent_subscription(&parent));
            }
        }
        _ => {}
    }
}

/// Put the old value in `previous_attributes` if it differs from the new one.
fn changed(prev: &mut Map<String, Value>, object: &Value, key: &str, old: Value) {
    if object.get(key) != Some(&old) {
        prev.insert(key.to_owned(), old);
    }
}

fn subscription(v: &mut Value, periods: Periods<'_>) {
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let items = v.get("items");
    let truncated = items.and_then(|i| i.get("has_more")).and_then(Value::as_bool).unwrap_or(false);
    let period = match truncated {
        true => periods(&id).or_else(|| items.and_then(embedded_periods)),
        false => items.and_then(embedded_periods),
    };
    // A subscription always has an item; were it to have none, its start is
    // the best answer left.
    let fallback = v.get("start_date").and_then(Value::as_i64).unwrap_or_default();
    let (start, end) = period.unwrap_or((fallback, fallback));
    if let Some(items) = v.get_mut("items") {
        for item in items_mut(items) {
            strip_periods(item);
        }
    }
    if let Some(map) = v.as_object_mut() {
        map.insert("current_period_start".to_owned(), Value::from(start));
        map.insert("current_period_end".to_owned(), Value::from(end));
    }
}

/// `(latest start, earliest end)` of the items embedded in a list.
fn embedded_periods(items: &Value) -> Option<(i64, i64)> {
    let data = items.get("data")?.as_array()?;
    let starts = data.iter().filter_map(|i| i.get("current_period_start")?.as_i64());
    let ends = data.iter().filter_map(|i| i.get("current_period_end")?.as_i64());
    Some((starts.max()?, ends.min()?))
}

fn items_mut(items: &mut Value) -> impl Iterator<Item = &mut Value> {
    items.get_mut("data").and_then(Value::as_array_mut).into_iter().flatten()
}

fn strip_periods(item: &mut Value) {
    if let Some(map) = item.as_object_mut() {
        map.remove("current_period_start");
        map.remove("current_period_end");
    }
}

fn invoice(v: &mut Value) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    let parent = map.remove("parent").unwrap_or(Value::Null);
    map.insert("subscription".to_owned(), parent_subscription(&parent));
    let paid = map.get("status").and_then(Value::as_str) == Some("paid");
    map.insert("paid".to_owned(), Value::Bool(paid));
}

/// `parent.subscription_details.subscription`, or null.
fn parent_subscription(parent: &Value) -> Value {
    parent.pointer("/subscription_details/subscription").cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_state(_: &str) -> Option<(i64, i64)> {
        None
    }

    #[test]
    fn subscriptions_take_the_latest_start_and_earliest_end_of_their_items() {
        let mut sub = json!({"object": "subscription", "id": "sub_1", "items": {"has_more": false, "data": [
            {"object": "subscription_item", "current_period_start": 10, "current_period_end": 50},
            {"object": "subscription_item", "current_period_start": 20, "current_period_end": 40},
        ]}});
        to_pre_basil(&mut sub, &no_state);
        assert_eq!((sub["current_period_start"].as_i64(), sub["current_period_end"].as_i64()), (Some(20), Some(40)));
        assert!(sub["items"]["data"][0].get("current_period_start").is_none());
        let mut big = json!({"object": "subscription", "id": "sub_2", "items": {"has_more": true, "data": [
            {"current_period_start": 10, "current_period_end": 50}]}});
        to_pre_basil(&mut big, &|id: &str| (id == "sub_2").then_some((30, 35)));
        assert_eq!(big["current_period_end"], 35, "truncated lists ask the state");
    }

    #[test]
    fn invoices_get_subscription_and_paid_instead_of_parent() {
        let mut inv = json!({"object": "invoice", "status": "paid",
            "parent": {"subscription_details": {"subscription": "sub_1"}, "type": "subscription_details"}});
        to_pre_basil(&mut inv, &no_state);
        assert_eq!(inv, json!({"object": "invoice", "status": "paid", "subscription": "sub_1", "paid": true}));
        let mut prev = json!({"status": "open"});
        previous_to_pre_basil(&mut prev, &inv);
        assert_eq!(prev, json!({"status": "open", "paid": false}));
    }
}
