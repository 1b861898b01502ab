//! Coupons, promotion codes, tax rates, invoice items, subscription
//! schedules and credit notes (with their lines): creation and the checks
//! Stripe makes on the objects they reference.

use serde_json::{json, Value};

use super::other::{announce, check_ref, insert_new, live, opt};
use super::payment_params::{
    CouponParams, CreditNoteParams, InvoiceItemParams, PromotionCodeParams, SubscriptionScheduleParams, TaxRateParams,
};
use super::tx::Tx;
use crate::objects::random_id;
use crate::store::Kind;
use crate::{Shared, SimError};

pub(crate) fn create_coupon(shared: &Shared, p: CouponParams) -> Result<Value, SimError> {
    if p.amount_off.is_some() && p.currency.is_none() {
        return Err(SimError::invalid("Missing required param: currency.", Some("currency")));
    }
    let duration = p.duration.as_deref().unwrap_or("forever");
    if !["forever", "once", "repeating"].contains(&duration) {
        return Err(SimError::invalid(format!("Invalid duration: {duration}"), Some("duration")));
    }
    let percent_off = match (p.percent_off, p.amount_off) {
        (None, None) => Some(10.0),
        (pct, _) => pct,
    };
    let mut tx = Tx::begin(shared);
    let set = json!({
        "percent_off": percent_off, "amount_off": p.amount_off, "currency": p.currency,
        "duration": duration, "duration_in_months": p.duration_in_months, "name": p.name,
        "times_redeemed": 0, "valid": true,
    });
    let id = insert_new(&mut tx, Kind::Coupon, p.id, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::Coupon, &id, Some("created"))
}

pub(crate) fn create_promotion_code(shared: &Shared, p: PromotionCodeParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    live(&tx, Kind::Coupon, &p.coupon)?;
    check_ref(&tx, Kind::Customer, p.customer.as_deref())?;
    let code = p.code.unwrap_or_else(|| random_id(&mut fastrand::Rng::new(), "", 8).to_uppercase());
    let set = json!({
        "code": code, "customer": p.customer, "active": p.active.unwrap_or(true),
        "promotion": {"coupon": p.coupon, "type": "coupon"},
    });
    let id = insert_new(&mut tx, Kind::PromotionCode, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::PromotionCode, &id, Some("created"))
}

pub(crate) fn create_tax_rate(shared: &Shared, p: TaxRateParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let set = json!({
        "display_name": p.display_name.as_deref().unwrap_or("VAT"), "percentage": p.percentage,
        "inclusive": p.inclusive, "active": p.active.unwrap_or(true),
    });
    let id = insert_new(&mut tx, Kind::TaxRate, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::TaxRate, &id, Some("created"))
}

pub(crate) fn create_invoice_item(shared: &Shared, p: InvoiceItemParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    live(&tx, Kind::Customer, &p.customer)?;
    check_ref(&tx, Kind::Invoice, p.invoice.as_deref())?;
    let now = tx.now;
    let set = json!({
        "amount": p.amount, "net_amount": p.amount, "currency": p.currency.as_deref().unwrap_or("usd"),
        "customer": p.customer, "description": p.description, "invoice": p.invoice, "date": now,
        "period": {"end": now, "start": now},
        "pricing": {"price_details": null, "type": "price_details", "unit_amount_decimal": p.amount.to_string()},
    });
    let id = insert_new(&mut tx, Kind::InvoiceItem, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::InvoiceItem, &id, Some("created"))
}

pub(crate) fn create_subscription_schedule(shared: &Shared, p: SubscriptionScheduleParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    live(&tx, Kind::Customer, &p.customer)?;
    check_ref(&tx, Kind::Subscription, p.subscription.as_deref())?;
    check_ref(&tx, Kind::Price, p.price.as_deref())?;
    let (start, end) = (tx.now, tx.now + 30 * 86_400);
    let items: Vec<Value> = p
        .price
        .iter()
        .map(|price| {
            json!({"billing_thresholds": null, "discounts": [], "metadata": {}, "plan": price, "price": price,
                   "quantity": 1, "tax_rates": []})
        })
        .collect();
    let mut phase = crate::objects::fixture_phase();
    phase["start_date"] = json!(start);
    phase["end_date"] = json!(end);
    phase["items"] = Value::Array(items);
    let active = p.subscription.is_some();
    let set = json!({
        "customer": p.customer, "subscription": p.subscription,
        "status": if active { "active" } else { "not_started" },
        "current_phase": if active { json!({"end_date": end, "start_date": start}) } else { Value::Null },
        "phases": [phase],
    });
    let id = insert_new(&mut tx, Kind::SubscriptionSchedule, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::SubscriptionSchedule, &id, Some("created"))
}

/// A credit note on a finalized invoice, its lines inserted first so the
/// `credit_note.created` event embeds them (ten, then `has_more`).
pub(crate) fn create_credit_note(shared: &Shared, p: CreditNoteParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let inv = live(&tx, Kind::Invoice, &p.invoice)?;
    let status = inv["status"].as_str().unwrap_or("");
    if !["open", "paid"].contains(&status) {
        return Err(SimError::invalid(
            format!("You can only credit open or paid invoices; {} is {status}.", p.invoice),
            Some("invoice"),
        ));
    }
    let lines = match p.lines.is_empty() {
        true => vec![(inv["total"].as_i64().unwrap_or(0), Some("Credit".to_owned()))],
        false => p.lines.into_iter().map(|l| (l.amount, l.description)).collect(),
    };
    let amount: i64 = lines.iter().map(|(a, _)| a).sum();
    let currency = inv["currency"].clone();
    // Credit notes are numbered after their invoice (`ABCD-1234-CN-01`).
    let count = tx
        .st
        .table(Kind::CreditNote)
        .by_id
        .values()
        .filter(|r| r.fields.parent.as_deref() == Some(&*p.invoice))
        .count();
    let number = format!("{}-CN-{:02}", inv["number"].as_str().unwrap_or("SIM"), count + 1);
    let paid = status == "paid";
    let set = json!({
        "invoice": p.invoice, "customer": inv["customer"], "currency": currency, "amount": amount,
        "subtotal": amount, "subtotal_excluding_tax": amount, "total": amount, "total_excluding_tax": amount,
        "status": "issued", "number": number, "effective_at": tx.now, "reason": p.reason, "memo": opt(p.memo.as_deref()),
        "type": if paid { "post_payment" } else { "pre_payment" },
        "pre_payment_amount": if paid { 0 } else { amount }, "post_payment_amount": if paid { amount } else { 0 },
    });
    let id = insert_new(&mut tx, Kind::CreditNote, None, set, &p.metadata, p.fields, None)?;
    for (amount, description) in lines {
        let line = json!({
            "amount": amount, "description": description, "quantity": 1, "unit_amount": amount,
            "unit_amount_decimal": amount.to_string(), "livemode": false,
        });
        insert_new(&mut tx, Kind::CreditNoteLineItem, None, line, &Default::default(), Default::default(), Some(&id))?;
    }
    announce(&mut tx, Kind::CreditNote, &id, Some("created"))
}
