//! Payment intents, charges, refunds, disputes, payment methods, setup
//! intents and checkout sessions (with their line items): creation, and the
//! events Stripe sends for each (docs.stripe.com/api/events/types).

use serde_json::{json, Value};

use super::other::{announce, change, check_ref, insert_new, live, patch};
use super::payment_params::{
    ChargeParams, CheckoutSessionParams, DisputeParams, PaymentIntentParams, PaymentMethodParams, RefundParams,
    SetupIntentParams,
};
use super::tx::Tx;
use crate::store::Kind;
use crate::{Shared, SimError};

pub(crate) fn create_payment_intent(shared: &Shared, p: PaymentIntentParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    check_ref(&tx, Kind::Customer, p.customer.as_deref())?;
    let set = json!({
        "amount": p.amount, "currency": p.currency.as_deref().unwrap_or("usd"), "customer": p.customer,
        "status": "requires_payment_method", "amount_received": 0, "amount_capturable": 0,
    });
    let id = insert_new(&mut tx, Kind::PaymentIntent, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::PaymentIntent, &id, Some("created"))
}

pub(crate) fn create_charge(shared: &Shared, p: ChargeParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    insert_charge(&mut tx, p)
}

/// A charge; its event is its outcome (`charge.succeeded`, `.pending` or
/// `.failed`): Stripe has no `charge.created`.
pub(super) fn insert_charge(tx: &mut Tx<'_>, p: ChargeParams) -> Result<Value, SimError> {
    let status = p.status.as_deref().unwrap_or("succeeded").to_owned();
    if !["succeeded", "pending", "failed"].contains(&status.as_str()) {
        return Err(SimError::invalid(format!("Invalid charge status: {status}"), Some("status")));
    }
    check_ref(tx, Kind::Customer, p.customer.as_deref())?;
    check_ref(tx, Kind::PaymentIntent, p.payment_intent.as_deref())?;
    check_ref(tx, Kind::Invoice, p.invoice.as_deref())?;
    let captured = p.captured.unwrap_or(true) && status == "succeeded";
    let failed = status == "failed";
    let set = json!({
        "amount": p.amount, "amount_captured": if captured { p.amount } else { 0 }, "amount_refunded": 0,
        "currency": p.currency.as_deref().unwrap_or("usd"), "customer": p.customer,
        "payment_intent": p.payment_intent, "invoice": p.invoice, "status": status, "captured": captured,
        "paid": status == "succeeded", "refunded": false, "disputed": false,
        "failure_code": if failed { json!("card_declined") } else { Value::Null },
        "failure_message": if failed { json!("Your card was declined.") } else { Value::Null },
    });
    let id = insert_new(tx, Kind::Charge, None, set, &p.metadata, p.fields, None)?;
    announce(tx, Kind::Charge, &id, Some(&status))
}

/// A refund: `refund.created`, and for a succeeded one the charge's new
/// `amount_refunded`/`refunded` in `charge.refunded`, as Stripe sends both.
pub(crate) fn create_refund(shared: &Shared, p: RefundParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let charge = live(&tx, Kind::Charge, &p.charge)?;
    let total = charge["amount"].as_i64().unwrap_or(0);
    let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
    let amount = p.amount.unwrap_or(total - refunded);
    if amount <= 0 || refunded + amount > total {
        return Err(SimError::invalid(
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({}).", total - refunded),
            Some("amount"),
        ));
    }
    let status = p.status.as_deref().unwrap_or("succeeded").to_owned();
    let set = json!({
        "amount": amount, "charge": p.charge, "currency": charge["currency"], "payment_intent": charge["payment_intent"],
        "status": status, "reason": p.reason,
    });
    let id = insert_new(&mut tx, Kind::Refund, None, set, &p.metadata, p.fields, None)?;
    let refund = announce(&mut tx, Kind::Refund, &id, Some("created"))?;
    if status == "succeeded" {
        let now_refunded = refunded + amount;
        let change_set = patch(json!({"amount_refunded": now_refunded, "refunded": now_refunded == total}));
        change(&mut tx, Kind::Charge, &p.charge, change_set, "refunded")?;
    }
    Ok(refund)
}

/// A dispute on a charge: `charge.dispute.created` (the event carries the
/// dispute). The charge is left as it was: Stripe's docs name no event
/// that would tell a mirror its `disputed` flag changed.
pub(crate) fn create_dispute(shared: &Shared, p: DisputeParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    let charge = live(&tx, Kind::Charge, &p.charge)?;
    let set = json!({
        "amount": p.amount.unwrap_or_else(|| charge["amount"].as_i64().unwrap_or(0)), "charge": p.charge,
        "currency": charge["currency"], "payment_intent": charge["payment_intent"],
        "reason": p.reason.as_deref().unwrap_or("general"), "status": p.status.as_deref().unwrap_or("needs_response"),
    });
    let id = insert_new(&mut tx, Kind::Dispute, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::Dispute, &id, Some("created"))
}

/// A payment method; given a customer it is attached at once
/// (`payment_method.attached`), else no event (none exists for creation).
pub(crate) fn create_payment_method(shared: &Shared, p: PaymentMethodParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    check_ref(&tx, Kind::Customer, p.customer.as_deref())?;
    let verb = p.customer.is_some().then_some("attached");
    let set = json!({"customer": p.customer});
    let id = insert_new(&mut tx, Kind::PaymentMethod, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::PaymentMethod, &id, verb)
}

pub(crate) fn create_setup_intent(shared: &Shared, p: SetupIntentParams) -> Result<Value, SimError> {
    let mut tx = Tx::begin(shared);
    check_ref(&tx, Kind::Customer, p.customer.as_deref())?;
    check_ref(&tx, Kind::PaymentMethod, p.payment_method.as_deref())?;
    let status = if p.payment_method.is_some() { "requires_confirmation" } else { "requires_payment_method" };
    let set = json!({"customer": p.customer, "payment_method": p.payment_method, "status": status});
    let id = insert_new(&mut tx, Kind::SetupIntent, None, set, &p.metadata, p.fields, None)?;
    announce(&mut tx, Kind::SetupIntent, &id, Some("created"))
}

/// An open checkout session with its line items (not embedded: Stripe
/// serves them at `/v1/checkout/sessions/{id}/line_items`). Stripe sends no
/// event when a session is created.
pub(crate) fn create_checkout_session(shared: &Shared, p: CheckoutSessionParams) -> Result<Value, SimError> {
    let mode = p.mode.as_deref().unwrap_or("payment").to_owned();
    if !["payment", "subscription", "setup"].contains(&mode.as_str()) {
        return Err(SimError::invalid(format!("Invalid mode: {mode}"), Some("mode")));
    }
    let mut tx = Tx::begin(shared);
    check_ref(&tx, Kind::Customer, p.customer.as_deref())?;
    check_ref(&tx, Kind::PaymentIntent, p.payment_intent.as_deref())?;
    check_ref(&tx, Kind::Subscription, p.subscription.as_deref())?;
    check_ref(&tx, Kind::Invoice, p.invoice.as_deref())?;
    let mut lines = Vec::with_capacity(p.line_items.len());
    for l in &p.line_items {
        let price = live(&tx, Kind::Price, &l.price)?;
        let quantity = l.quantity.unwrap_or(1);
        let amount = price["unit_amount"].as_i64().unwrap_or(0).saturating_mul(quantity as i64);
        lines.push((price, quantity, amount));
    }
    let total: i64 = lines.iter().map(|(_, _, a)| a).sum();
    let set = json!({
        "customer": p.customer, "mode": mode, "payment_intent": p.payment_intent, "subscription": p.subscription,
        "invoice": p.invoice, "status": "open", "payment_status": if mode == "setup" { "no_payment_required" } else { "unpaid" },
        "amount_subtotal": total, "amount_total": total, "expires_at": tx.now + 86_400,
        "customer_details": Value::Null, "customer_email": Value::Null,
    });
    let id = insert_new(&mut tx, Kind::CheckoutSession, None, set, &p.metadata, p.fields, None)?;
    let url = format!("https://checkout.stripe.com/c/pay/{id}");
    tx.store(Kind::CheckoutSession, &id, &{
        let mut v = tx.value(Kind::CheckoutSession, &id)?;
        v["url"] = json!(url);
        v
    });
    for (price, quantity, amount) in lines {
        let item = json!({
            "amount_subtotal": amount, "amount_total": amount, "amount_discount": 0, "amount_tax": 0,
            "currency": price["currency"], "description": price["nickname"], "quantity": quantity, "price": price,
            "adjustable_quantity": Value::Null,
        });
        insert_new(&mut tx, Kind::CheckoutLineItem, None, item, &Default::default(), Default::default(), Some(&id))?;
    }
    announce(&mut tx, Kind::CheckoutSession, &id, None)
}
