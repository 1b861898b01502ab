//! Invoices and their lines: create a draft, then finalize, pay, void,
//! mark uncollectible or delete it, each with the events Stripe sends.

use std::sync::Arc;

use serde_json::{json, Value};

use super::catalog::created;
use super::params::{InvoiceParams, LineParams};
use super::tx::{metadata_json, parse, Tx};
use crate::objects::{self, previous_attributes, random_id, InvoiceSpec, LineSpec};
use crate::store::Kind;
use crate::{Shared, SimError};

/// A line before it is built.
struct Draft {
    price: Option<String>,
    product: Option<String>,
    unit_amount: i64,
    quantity: u64,
    currency: String,
    description: Option<String>,
    period: (i64, i64),
    subscription_item: Option<String>,
}

pub(crate) fn create_invoice(shared: &Shared, p: InvoiceParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let customer = tx.value(Kind::Customer, &p.customer)?;
    if let Some(sub) = &p.subscription {
        if tx.st.table(Kind::Subscription).get(sub).is_none() {
            return Err(SimError::not_found("subscription", sub));
        }
    }
    let drafts = match (&p.subscription, p.lines.is_empty()) {
        (Some(sub), true) => lines_from_subscription(&tx, sub)?,
        _ => p.lines.iter().enumerate().map(|(i, l)| explicit_line(&tx, i, l)).collect::<Result<Vec<_>, _>>()?,
    };
    let currency = drafts.first().map_or("usd".to_owned(), |d| d.currency.clone());
    let total: i64 = drafts.iter().map(|d| d.unit_amount.saturating_mul(d.quantity as i64)).sum();
    let id = tx.new_id(Kind::Invoice, p.id)?;
    let built = objects::invoice(&InvoiceSpec {
        id: &id,
        created: tx.now,
        customer: &p.customer,
        customer_email: customer["email"].as_str(),
        customer_name: customer["name"].as_str(),
        currency: &currency,
        status: "draft",
        number: None,
        total,
        subscription: p.subscription.as_deref(),
        period: (tx.now, tx.now),
        metadata: &metadata_json(&p.metadata),
        finalized_at: None,
        settled_at: None,
    });
    let invoice = tx.insert(Kind::Invoice, &id, built);
    let sub = p.subscription.as_deref();
    for d in &drafts {
        insert_line(&mut tx, &invoice, d, sub)?;
    }
    created(&mut tx, Kind::Invoice, &id)
}

fn insert_line(tx: &mut Tx<'_>, invoice: &Arc<str>, d: &Draft, sub: Option<&str>) -> Result<(), SimError> {
    let id = tx.new_id(Kind::InvoiceLineItem, None)?;
    let ii = random_id(&mut fastrand::Rng::new(), "ii_1", 23);
    let built = objects::line(&LineSpec {
        id: &id,
        invoice,
        unit_amount: d.unit_amount,
        quantity: d.quantity,
        currency: &d.currency,
        description: d.description.as_deref(),
        period: d.period,
        price: d.price.as_deref(),
        product: d.product.as_deref(),
        subscription: d.subscription_item.as_ref().and(sub),
        subscription_item: d.subscription_item.as_deref(),
        invoice_item: &ii,
    });
    tx.insert(Kind::InvoiceLineItem, &id, built);
    Ok(())
}

/// One line per item of the subscription, for its current period.
fn lines_from_subscription(tx: &Tx<'_>, sub: &str) -> Result<Vec<Draft>, SimError> {
    let ids: Vec<String> = tx.st.table(Kind::SubscriptionItem).children_of(sub).map(|id| id.to_string()).collect();
    ids.iter()
        .map(|si| {
            let item = tx.value(Kind::SubscriptionItem, si)?;
            let price = &item["price"];
            let quantity = item["quantity"].as_u64().unwrap_or(1);
            let product = price["product"].as_str().map(str::to_owned);
            let name = product
                .as_deref()
                .and_then(|p| tx.value(Kind::Product, p).ok())
                .and_then(|p| p["name"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "Subscription".to_owned());
            Ok(Draft {
                price: price["id"].as_str().map(str::to_owned),
                product,
                unit_amount: price["unit_amount"].as_i64().unwrap_or(0),
                quantity,
                currency: price["currency"].as_str().unwrap_or("usd").to_owned(),
                description: Some(format!("{quantity} × {name}")),
                period: (
                    item["current_period_start"].as_i64().unwrap_or(tx.now),
                    item["current_period_end"].as_i64().unwrap_or(tx.now),
                ),
                subscription_item: Some(si.clone()),
            })
        })
        .collect()
}

fn explicit_line(tx: &Tx<'_>, i: usize, l: &LineParams) -> Result<Draft, SimError> {
    let quantity = l.quantity.unwrap_or(1);
    let (price, product, amount, currency) = match &l.price {
        Some(id) => {
            let p = tx.value(Kind::Price, id)?;
            let amount = l.unit_amount.or(p["unit_amount"].as_i64()).unwrap_or(0);
            let product = p["product"].as_str().map(str::to_owned);
            let currency = p["currency"].as_str().unwrap_or("usd").to_owned();
            (Some(id.clone()), product, amount, currency)
        }
        None => {
            let amount = l.unit_amount.ok_or_else(|| {
                SimError::invalid(format!("Missing required param: lines[{i}][unit_amount]."), Some("lines"))
            })?;
            (None, None, amount, "usd".to_owned())
        }
    };
    Ok(Draft {
        price,
        product,
        unit_amount: amount,
        quantity,
        currency,
        description: l.description.clone(),
        period: (tx.now, tx.now),
        subscription_item: None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvoiceAction {
    Finalize,
    Pay,
    Void,
    MarkUncollectible,
}

pub(crate) fn invoice_action(shared: &Shared, id: &str, action: InvoiceAction) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let status = tx.value(Kind::Invoice, id)?["status"].as_str().unwrap_or("").to_owned();
    // Paying a draft finalizes it first, as Stripe's pay endpoint does.
    if action == InvoiceAction::Pay && status == "draft" {
        apply(&mut tx, id, InvoiceAction::Finalize)?;
    }
    apply(&mut tx, id, action)
}

/// One state change: check the status, edit, store, emit.
fn apply(tx: &mut Tx<'_>, id: &str, action: InvoiceAction) -> Result<Value, SimError> {
    let old = tx.value(Kind::Invoice, id)?;
    let status = old["status"].as_str().unwrap_or("");
    let (allowed, verb): (&[&str], &str) = match action {
        InvoiceAction::Finalize => (&["draft"], "finalize"),
        InvoiceAction::Pay => (&["open", "uncollectible"], "pay"),
        InvoiceAction::Void => (&["open", "uncollectible"], "void"),
        InvoiceAction::MarkUncollectible => (&["open"], "mark uncollectible"),
    };
    if !allowed.contains(&status) {
        return Err(SimError::invalid(
            format!("You can only {verb} invoices whose status is {}; {id} is {status}.", allowed.join(" or ")),
            None,
        ));
    }
    let now = tx.now;
    let mut new = old.clone();
    let events: &[&str] = match action {
        InvoiceAction::Finalize => {
            tx.st.invoice_number += 1;
            let prefix = invoice_prefix(tx, &old);
            new["status"] = json!("open");
            new["number"] = json!(format!("{prefix}-{:04}", tx.st.invoice_number));
            new["status_transitions"]["finalized_at"] = json!(now);
            new["effective_at"] = json!(now);
            new["hosted_invoice_url"] = json!(format!("https://invoice.stripe.com/i/acct_sim/{id}"));
            new["invoice_pdf"] = json!(format!("https://pay.stripe.com/invoice/acct_sim/{id}/pdf"));
            new["next_payment_attempt"] = json!(now + 3600);
            &["invoice.finalized"]
        }
        InvoiceAction::Pay => {
            new["status"] = json!("paid");
            new["amount_paid"] = old["amount_due"].clone();
            new["amount_remaining"] = json!(0);
            new["attempted"] = json!(true);
            new["attempt_count"] = json!(old["attempt_count"].as_i64().unwrap_or(0) + 1);
            new["status_transitions"]["paid_at"] = json!(now);
            new["next_payment_attempt"] = Value::Null;
            &["invoice.paid", "invoice.payment_succeeded"]
        }
        InvoiceAction::Void => {
            new["status"] = json!("void");
            new["amount_remaining"] = json!(0);
            new["status_transitions"]["voided_at"] = json!(now);
            new["next_payment_attempt"] = Value::Null;
            &["invoice.voided"]
        }
        InvoiceAction::MarkUncollectible => {
            new["status"] = json!("uncollectible");
            new["status_transitions"]["marked_uncollectible_at"] = json!(now);
            new["next_payment_attempt"] = Value::Null;
            &["invoice.marked_uncollectible"]
        }
    };
    tx.store(Kind::Invoice, id, &new);
    let text = tx.render(Kind::Invoice, id)?;
    for e in events {
        tx.emit(e, &text, None);
    }
    let prev = previous_attributes(&old, &new);
    tx.emit("invoice.updated", &text, Some(&prev));
    parse(&text)
}

/// The customer's `invoice_prefix` (deleted customers still have one).
fn invoice_prefix(tx: &Tx<'_>, invoice: &Value) -> String {
    let customer = invoice["customer"].as_str().unwrap_or("");
    tx.st
        .table(Kind::Customer)
        .get(customer)
        .and_then(|r| serde_json::from_str::<Value>(&r.doc.text).ok())
        .and_then(|c| c["invoice_prefix"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "SIM".to_owned())
}

/// Delete a draft: `invoice.deleted` with the last object; its lines go too.
pub(crate) fn delete_invoice(shared: &Shared, id: &str) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let inv = tx.value(Kind::Invoice, id)?;
    if inv["status"] != "draft" {
        return Err(SimError::invalid(format!("You can only delete draft invoices; {id} is {}.", inv["status"]), None));
    }
    let last = tx.mark_deleted(Kind::Invoice, id)?;
    let lines: Vec<String> = tx.st.table(Kind::InvoiceLineItem).children_of(id).map(|l| l.to_string()).collect();
    for line in lines {
        tx.mark_deleted(Kind::InvoiceLineItem, &line)?;
    }
    tx.emit("invoice.deleted", &last, None);
    parse(&crate::store::deleted_stub(Kind::Invoice, id))
}
