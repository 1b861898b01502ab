//! Products, prices (with their plan twins) and customers, plus the generic
//! update and delete every kind goes through (coupons and invoice items are
//! deleted here too: `*.deleted` and a deleted stub, as Stripe does).

use serde_json::{json, Value};

use super::params::{CustomerParams, PriceParams, ProductParams};
use super::tx::{check_patch, merge, metadata_json, parse, Tx};
use super::{invoices, subscriptions};
use crate::objects::{self, plan_from_price, previous_attributes, CustomerSpec, PriceSpec, ProductSpec};
use crate::store::Kind;
use crate::{Shared, SimError};

pub(crate) fn create_product(shared: &Shared, p: ProductParams) -> Result<Value, SimError> {
    if p.name.is_empty() {
        return Err(SimError::invalid("Missing required param: name.", Some("name")));
    }
    let mut tx = Tx::begin(shared);
    let id = tx.new_id(Kind::Product, p.id)?;
    let built = objects::product(&ProductSpec {
        id: &id,
        created: tx.now,
        name: &p.name,
        description: p.description.as_deref(),
        active: p.active.unwrap_or(true),
        metadata: &metadata_json(&p.metadata),
        default_price: None,
    });
    tx.insert(Kind::Product, &id, built);
    created(&mut tx, Kind::Product, &id)
}

pub(crate) fn create_price(shared: &Shared, p: PriceParams) -> Result<Value, SimError> {
    if let Some(r) = &p.recurring {
        if !["day", "week", "month", "year"].contains(&r.interval.as_str()) {
            return Err(SimError::invalid(
                format!("Invalid recurring[interval]: {}", r.interval),
                Some("recurring[interval]"),
            ));
        }
    }
    let mut tx = Tx::begin(shared);
    if tx.st.table(Kind::Product).live_get(&p.product).is_none() {
        return Err(SimError::not_found("product", &p.product));
    }
    let id = tx.new_id(Kind::Price, p.id)?;
    let built = objects::price(&PriceSpec {
        id: &id,
        created: tx.now,
        product: &p.product,
        active: p.active.unwrap_or(true),
        currency: p.currency.as_deref().unwrap_or("usd"),
        unit_amount: p.unit_amount,
        recurring: p.recurring.as_ref().map(|r| (r.interval.as_str(), r.interval_count.max(1))),
        nickname: p.nickname.as_deref(),
        lookup_key: p.lookup_key.as_deref(),
        metadata: &metadata_json(&p.metadata),
    });
    let seq = tx.st.next_seq();
    tx.insert_at(Kind::Price, &id, seq, built);
    let price = created(&mut tx, Kind::Price, &id)?;
    if p.recurring.is_some() {
        // The legacy plan twin: same id, same second, same list position.
        let plan = plan_from_price(&price);
        tx.insert_at(Kind::Plan, &id, seq, objects::to_doc(Kind::Plan, &plan));
        created(&mut tx, Kind::Plan, &id)?;
    }
    Ok(price)
}

pub(crate) fn create_customer(shared: &Shared, p: CustomerParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let id = tx.new_id(Kind::Customer, p.id)?;
    let prefix = format!("{:08X}", fastrand::u32(..));
    let built = objects::customer(&CustomerSpec {
        id: &id,
        created: tx.now,
        email: p.email.as_deref(),
        name: p.name.as_deref(),
        description: p.description.as_deref(),
        invoice_prefix: &prefix,
        metadata: &metadata_json(&p.metadata),
    });
    tx.insert(Kind::Customer, &id, built);
    created(&mut tx, Kind::Customer, &id)
}

/// Emit `<type>.created` for a freshly inserted object and return it.
pub(super) fn created(tx: &mut Tx<'_>, kind: Kind, id: &str) -> Result<Value, SimError> {
    let text = tx.render(kind, id)?;
    tx.emit_verb(kind, "created", &text, None);
    parse(&text)
}

pub(crate) fn update(shared: &Shared, kind: Kind, id: &str, patch: Value) -> Result<Value, SimError> {
    let Value::Object(patch) = patch else {
        return Err(SimError::invalid("An update must be a JSON object.", None));
    };
    check_patch(&patch)?;
    let mut tx = Tx::begin(shared);
    match kind {
        Kind::Product | Kind::Price | Kind::Customer | Kind::Subscription | Kind::Invoice => {
            let old = tx.value(kind, id)?;
            let mut new = old.clone();
            merge(&mut new, patch);
            updated(&mut tx, kind, id, &old, new)
        }
        Kind::SubscriptionItem | Kind::InvoiceLineItem => subscriptions::update_child(&mut tx, kind, id, patch),
        Kind::Plan | Kind::Event => {
            Err(SimError::invalid(format!("{} cannot be updated (update the price instead).", kind.plural()), None))
        }
        Kind::CheckoutLineItem | Kind::CreditNoteLineItem => Err(SimError::invalid(
            format!("{} cannot be updated: Stripe fixes them when their parent is created.", kind.plural()),
            None,
        )),
        _ => {
            let old = tx.value(kind, id)?;
            let mut new = old.clone();
            merge(&mut new, patch);
            updated(&mut tx, kind, id, &old, new)
        }
    }
}

/// Store `new` and emit `<type>.updated` (plus `plan.updated` for a
/// recurring price). No change, no event — as in Stripe.
pub(super) fn updated(tx: &mut Tx<'_>, kind: Kind, id: &str, old: &Value, mut new: Value) -> Result<Value, SimError> {
    if new == *old {
        return Ok(new);
    }
    if kind == Kind::Product {
        new["updated"] = json!(tx.now);
    }
    tx.store(kind, id, &new);
    let text = tx.render(kind, id)?;
    let prev = previous_attributes(old, &new);
    tx.emit_verb(kind, "updated", &text, Some(&prev));
    if kind == Kind::Price && tx.st.table(Kind::Plan).live_get(id).is_some() {
        let old_plan = tx.value(Kind::Plan, id)?;
        let new_plan = plan_from_price(&new);
        updated(tx, Kind::Plan, id, &old_plan, new_plan)?;
    }
    parse(&text)
}

pub(crate) fn delete(shared: &Shared, kind: Kind, id: &str) -> Result<Value, SimError> {
    match kind {
        Kind::Subscription => return subscriptions::cancel_subscription(shared, id),
        Kind::Invoice => return invoices::delete_invoice(shared, id),
        Kind::SubscriptionItem => return subscriptions::remove_item(shared, id),
        Kind::Product | Kind::Price | Kind::Customer | Kind::Coupon | Kind::InvoiceItem => {}
        _ => return Err(SimError::invalid(format!("{} cannot be deleted in the simulator.", kind.plural()), None)),
    }
    let mut tx = Tx::begin(shared);
    if kind == Kind::Customer {
        for sub in subscriptions::live_subscriptions_of(&tx, id) {
            subscriptions::cancel(&mut tx, &sub)?;
        }
    }
    let last = tx.mark_deleted(kind, id)?;
    tx.emit_verb(kind, "deleted", &last, None);
    if kind == Kind::Price && tx.st.table(Kind::Plan).live_get(id).is_some() {
        let plan = tx.mark_deleted(Kind::Plan, id)?;
        tx.emit("plan.deleted", &plan, None);
    }
    parse(&crate::store::deleted_stub(kind, id))
}
