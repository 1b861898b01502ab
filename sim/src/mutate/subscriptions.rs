//! Subscriptions and their items: create, update (fields and items),
//! cancel; and edits of a nested object (item or invoice line) reported as
//! an update of its parent, which is how Stripe reports them.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::catalog::{created, updated};
use super::params::{ItemParams, SubscriptionParams, SubscriptionUpdate};
use super::tx::{check_patch, merge, metadata_json, parse, Tx};
use crate::objects::{self, add_interval, plan_from_price, ItemSpec, SubscriptionSpec};
use crate::store::Kind;
use crate::{Shared, SimError};

pub(crate) const STATUSES: &[&str] =
    &["active", "canceled", "incomplete", "incomplete_expired", "past_due", "paused", "trialing", "unpaid"];

pub(crate) fn create_subscription(shared: &Shared, p: SubscriptionParams) -> Result<Value, SimError> {
    if p.items.is_empty() {
        return Err(SimError::invalid("Missing required param: items.", Some("items")));
    }
    let status = p.status.as_deref().unwrap_or("active");
    if !STATUSES.contains(&status) {
        return Err(SimError::invalid(format!("Invalid status: {status}"), Some("status")));
    }
    let mut tx = Tx::begin(shared);
    if tx.st.table(Kind::Customer).live_get(&p.customer).is_none() {
        return Err(SimError::not_found("customer", &p.customer));
    }
    // Check every price before inserting anything.
    let first = recurring_price(&tx, &p.items[0].price)?;
    for item in &p.items[1..] {
        recurring_price(&tx, &item.price)?;
    }
    let id = tx.new_id(Kind::Subscription, p.id)?;
    let built = objects::subscription(&SubscriptionSpec {
        id: &id,
        created: tx.now,
        customer: &p.customer,
        status,
        canceled_at: (status == "canceled").then_some(tx.now),
        currency: first["currency"].as_str().unwrap_or("usd"),
        metadata: &metadata_json(&p.metadata),
    });
    let sub = tx.insert(Kind::Subscription, &id, built);
    for item in &p.items {
        add_item(&mut tx, &sub, item)?;
    }
    created(&mut tx, Kind::Subscription, &id)
}

/// A live recurring price as JSON, or why it cannot be subscribed to.
fn recurring_price(tx: &Tx<'_>, id: &str) -> Result<Value, SimError> {
    let price = tx.value(Kind::Price, id)?;
    if price["type"] != "recurring" {
        return Err(SimError::invalid(
            format!("The price specified ({id}) is not recurring; subscriptions need recurring prices."),
            Some("items[price]"),
        ));
    }
    Ok(price)
}

fn add_item(tx: &mut Tx<'_>, sub: &Arc<str>, item: &ItemParams) -> Result<(), SimError> {
    let price = recurring_price(tx, &item.price)?;
    let interval = price["recurring"]["interval"].as_str().unwrap_or("month");
    let count = price["recurring"]["interval_count"].as_u64().unwrap_or(1);
    let id = tx.new_id(Kind::SubscriptionItem, None)?;
    let price_id: Arc<str> = Arc::from(item.price.as_str());
    let built = objects::item(&ItemSpec {
        id: &id,
        created: tx.now,
        subscription: sub,
        price: &price_id,
        quantity: item.quantity.unwrap_or(1),
        period: (tx.now, add_interval(tx.now, interval, count as u32)),
        metadata: &metadata_json(&item.metadata),
    });
    tx.insert(Kind::SubscriptionItem, &id, built);
    Ok(())
}

pub(crate) fn update_subscription(shared: &Shared, id: &str, u: SubscriptionUpdate) -> Result<Value, SimError> {
    check_patch(&u.patch)?;
    let mut tx = Tx::begin(shared);
    let old = tx.value(Kind::Subscription, id)?;
    let sub: Arc<str> = Arc::from(id);
    for item in &u.remove_items {
        let owner = tx.st.table(Kind::SubscriptionItem).live_get(item).and_then(|r| r.fields.parent.clone());
        if owner.as_deref() != Some(id) {
            return Err(SimError::not_found("subscription_item", item));
        }
    }
    let remaining = tx.st.table(Kind::SubscriptionItem).child_count(id) + u.add_items.len();
    if remaining <= u.remove_items.len() {
        return Err(SimError::invalid(
            "A subscription must keep at least one item; cancel it instead.",
            Some("remove_items"),
        ));
    }
    for item in &u.add_items {
        recurring_price(&tx, &item.price)?;
    }
    for item in &u.add_items {
        add_item(&mut tx, &sub, item)?;
    }
    for item in &u.remove_items {
        tx.mark_deleted(Kind::SubscriptionItem, item)?;
    }
    let mut new = tx.value(Kind::Subscription, id)?;
    merge(&mut new, u.patch);
    updated(&mut tx, Kind::Subscription, id, &old, new)
}

/// `DELETE /_sim/subscription_items/{id}`: remove one item.
pub(crate) fn remove_item(shared: &Shared, id: &str) -> Result<Value, SimError> {
    let sub = {
        let st = shared.read();
        let rec = st.table(Kind::SubscriptionItem).live_get(id);
        rec.and_then(|r| r.fields.parent.clone()).ok_or_else(|| SimError::not_found("subscription_item", id))?
    };
    let update = SubscriptionUpdate { remove_items: vec![id.to_owned()], ..SubscriptionUpdate::default() };
    update_subscription(shared, &sub, update)?;
    parse(&crate::store::deleted_stub(Kind::SubscriptionItem, id))
}

pub(crate) fn cancel_subscription(shared: &Shared, id: &str) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    cancel(&mut tx, id)
}

/// Cancel now: `customer.subscription.deleted` with the canceled object.
pub(crate) fn cancel(tx: &mut Tx<'_>, id: &str) -> Result<Value, SimError> {
    let mut sub = tx.value(Kind::Subscription, id)?;
    if sub["status"] == "canceled" {
        return Err(SimError::invalid(format!("The subscription {id} has already been canceled."), None));
    }
    sub["status"] = json!("canceled");
    sub["canceled_at"] = json!(tx.now);
    sub["ended_at"] = json!(tx.now);
    sub["cancel_at_period_end"] = json!(false);
    sub["cancellation_details"] = json!({"comment": null, "feedback": null, "reason": "cancellation_requested"});
    tx.store(Kind::Subscription, id, &sub);
    let text = tx.render(Kind::Subscription, id)?;
    tx.emit("customer.subscription.deleted", &text, None);
    parse(&text)
}

/// A customer's subscriptions that are not canceled yet.
pub(crate) fn live_subscriptions_of(tx: &Tx<'_>, customer: &str) -> Vec<String> {
    let t = tx.st.table(Kind::Subscription);
    t.live
        .values()
        .filter_map(|id| t.get(id))
        .filter(|r| r.fields.customer.as_deref() == Some(customer) && r.fields.tag.as_deref() != Some("canceled"))
        .map(|r| r.id.to_string())
        .collect()
}

/// Edit an item or a line in place and emit `*.updated` for its parent,
/// with the old embedded list in `previous_attributes` (Stripe puts the
/// whole array there when an element changed).
pub(crate) fn update_child(
    tx: &mut Tx<'_>,
    kind: Kind,
    id: &str,
    mut patch: Map<String, Value>,
) -> Result<Value, SimError> {
    let (parent_kind, list_key) = match kind {
        Kind::SubscriptionItem => (Kind::Subscription, "items"),
        _ => (Kind::Invoice, "lines"),
    };
    let parent = tx
        .st
        .table(kind)
        .live_get(id)
        .and_then(|r| r.fields.parent.clone())
        .ok_or_else(|| SimError::not_found(kind.object(), id))?;
    if kind == Kind::SubscriptionItem {
        if let Some(Value::String(price)) = patch.get("price").cloned() {
            let price = recurring_price(tx, &price)?;
            patch.insert("plan".into(), plan_from_price(&price));
            patch.insert("price".into(), price);
        }
    }
    let parent_old = tx.value(parent_kind, &parent)?;
    let old = tx.value(kind, id)?;
    let mut new = old.clone();
    merge(&mut new, patch);
    if new == old {
        return Ok(new);
    }
    tx.store(kind, id, &new);
    let text = tx.render(parent_kind, &parent)?;
    let parent_new = parse(&text)?;
    let mut prev = objects::previous_attributes(&parent_old, &parent_new);
    // The changed element may sit beyond the ten embedded ones; Stripe still
    // reports the array as changed.
    if let Value::Object(p) = &mut prev {
        p.entry(list_key).or_insert_with(|| parent_old[list_key].clone());
    }
    let prefix = parent_kind.event_prefix().unwrap_or("invoice");
    tx.emit(&format!("{prefix}.updated"), &text, Some(&prev));
    tx.value(kind, id)
}
