//! The history's operations on the payment-side kinds: coupons (a
//! custom-id coupon deleted and created again among them), promotion codes,
//! tax rates, pending invoice items, credit notes, subscription schedules,
//! payment intents and their charges, refunds, disputes, payment methods,
//! setup intents and checkout sessions (with line items).
//!
//! They draw on a random stream of their own (seeded from `rng_seed`), so
//! the core operations are chosen exactly as they were before these kinds
//! joined the script: the core mix and its reproducibility are unchanged,
//! and a share [`EXTRA_PERCENT`] of the steps is one of these instead.
//! They read the core model (customers, prices, subscriptions, invoices)
//! and never change it.

use serde_json::json;

use super::{id_of, InvoiceState, Model};
use crate::mutate::{
    CheckoutLineParams, CheckoutSessionParams, CouponParams, CreditNoteLineParams, CreditNoteParams, DisputeParams,
    InvoiceItemParams, PaymentIntentParams, PaymentMethodParams, PromotionCodeParams, RefundParams, SetupIntentParams,
    SubscriptionScheduleParams, TaxRateParams,
};
use crate::store::Kind;
use crate::{Sim, SimError};

/// Share of the steps (in percent) that operate on the payment-side kinds.
pub(super) const EXTRA_PERCENT: u32 = 35;

/// Caller-chosen coupon ids: each is deleted when live and created again
/// when deleted, so incarnations of one id follow each other.
const CUSTOM_COUPONS: &[&str] = &["SPRING", "VIP-GOLD", "WELCOME10"];

/// Weights of the operations (they add up to 100).
const ACTIONS: &[(u32, &str)] = &[
    (3, "coupon.create"),
    (4, "coupon.update"),
    (2, "coupon.delete"),
    (4, "coupon.custom"),
    (4, "promotion_code.create"),
    (3, "promotion_code.update"),
    (2, "tax_rate.create"),
    (3, "tax_rate.update"),
    (5, "invoice_item.create"),
    (3, "invoice_item.delete"),
    (4, "credit_note.create"),
    (2, "credit_note.void"),
    (4, "subscription_schedule.create"),
    (2, "subscription_schedule.cancel"),
    (2, "subscription_schedule.release"),
    (8, "payment_intent.create"),
    (6, "payment_intent.succeed"),
    (2, "payment_intent.cancel"),
    (4, "refund.create"),
    (2, "dispute.create"),
    (1, "dispute.close"),
    (5, "payment_method.attach"),
    (3, "payment_method.update"),
    (2, "payment_method.detach"),
    (4, "setup_intent.create"),
    (2, "setup_intent.confirm"),
    (1, "setup_intent.cancel"),
    (6, "checkout.create"),
    (4, "checkout.complete"),
    (3, "checkout.expire"),
];

/// Whether `action` (a `HistoryReport::by_action` key) is one of these.
#[cfg(test)]
pub(super) fn is_payment_side(action: &str) -> bool {
    ACTIONS.iter().any(|a| a.1 == action)
}

/// What the payment-side script knows is live (and in which state).
pub(super) struct Extra {
    pub(super) rng: fastrand::Rng,
    coupons: Vec<String>,
    custom_live: Vec<&'static str>,
    promotion_codes: Vec<String>,
    tax_rates: Vec<String>,
    /// Pending invoice items (on no invoice yet).
    invoice_items: Vec<String>,
    /// Invoices credited once already (a second note could exceed the total).
    credited: Vec<String>,
    credit_notes: Vec<String>,
    schedules: Vec<String>,
    /// In `requires_payment_method`.
    payment_intents: Vec<String>,
    /// Succeeded charges: (id, amount not yet refunded).
    charges: Vec<(String, i64)>,
    disputed: Vec<String>,
    open_disputes: Vec<String>,
    /// Attached: (method, customer).
    payment_methods: Vec<(String, String)>,
    /// Neither succeeded nor canceled: (intent, has a payment method).
    setup_intents: Vec<(String, bool)>,
    /// Open sessions: (session, mode is payment).
    sessions: Vec<(String, bool)>,
}

impl Extra {
    pub(super) fn new(rng_seed: u64) -> Extra {
        Extra {
            // Another stream than the core script's, from the same seed.
            rng: fastrand::Rng::with_seed(rng_seed ^ 0x9e37_79b9_7f4a_7c15),
            coupons: Vec::new(),
            custom_live: Vec::new(),
            promotion_codes: Vec::new(),
            tax_rates: Vec::new(),
            invoice_items: Vec::new(),
            credited: Vec::new(),
            credit_notes: Vec::new(),
            schedules: Vec::new(),
            payment_intents: Vec::new(),
            charges: Vec::new(),
            disputed: Vec::new(),
            open_disputes: Vec::new(),
            payment_methods: Vec::new(),
            setup_intents: Vec::new(),
            sessions: Vec::new(),
        }
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        pick(&mut self.rng, v)
    }

    fn word(&mut self) -> String {
        const WORDS: &[&str] = &["autumn", "basalt", "cedar", "dune", "echo", "flint", "garnet", "haze", "ivory"];
        format!("{} {}", WORDS[self.rng.usize(..WORDS.len())], self.rng.u32(..10_000))
    }
}

fn pick<T: Clone>(rng: &mut fastrand::Rng, v: &[T]) -> Option<T> {
    (!v.is_empty()).then(|| v[rng.usize(..v.len())].clone())
}

/// Removes and returns a random element.
fn take<T>(rng: &mut fastrand::Rng, v: &mut Vec<T>) -> Option<T> {
    (!v.is_empty()).then(|| v.swap_remove(rng.usize(..v.len())))
}

impl Sim {
    /// A few coupons and tax rates to refer to from the start.
    pub(super) fn extra_setup(&self, m: &mut Model) -> Result<(), SimError> {
        for pct in [10.0, 25.0, 50.0] {
            let coupon = self.create_coupon(CouponParams { percent_off: Some(pct), ..CouponParams::default() })?;
            m.x.coupons.push(id_of(&coupon));
            m.done("coupon.create");
        }
        // A custom id, deleted and created again by `coupon.custom`.
        let custom = CUSTOM_COUPONS[0];
        self.create_coupon(CouponParams { id: Some(custom.into()), percent_off: Some(15.0), ..Default::default() })?;
        m.x.custom_live.push(custom);
        m.done("coupon.custom");
        for (name, pct) in [("VAT", 20.0), ("Sales tax", 7.25)] {
            let params = TaxRateParams { display_name: Some(name.into()), percentage: pct, ..TaxRateParams::default() };
            m.x.tax_rates.push(id_of(&self.create_tax_rate(params)?));
            m.done("tax_rate.create");
        }
        Ok(())
    }

    /// One weighted-random payment-side operation (counted by `m.done` if
    /// it did something).
    pub(super) fn extra_step(&self, m: &mut Model) -> Result<(), SimError> {
        let total: u32 = ACTIONS.iter().map(|a| a.0).sum();
        let mut roll = m.x.rng.u32(..total);
        let action = ACTIONS
            .iter()
            .find(|(w, _)| {
                let hit = roll < *w;
                roll = roll.saturating_sub(*w);
                hit
            })
            .map_or("payment_intent.create", |a| a.1);
        let customer = m.x.pick(&m.customers);
        let (x, live_customers) = (&mut m.x, &m.customers);
        let did = match action {
            "coupon.create" => {
                let params = match x.rng.bool() {
                    true => CouponParams { percent_off: Some(f64::from(5 * x.rng.u8(1..15))), ..Default::default() },
                    false => CouponParams {
                        amount_off: Some(x.rng.i64(100..2_000)),
                        currency: Some("usd".into()),
                        duration: Some("repeating".into()),
                        duration_in_months: Some(x.rng.i64(1..12)),
                        name: Some(x.word()),
                        ..Default::default()
                    },
                };
                x.coupons.push(id_of(&self.create_coupon(params)?));
                true
            }
            "coupon.update" => match pick(&mut x.rng, &x.coupons) {
                Some(c) => {
                    let patch = match x.rng.bool() {
                        true => json!({"name": x.word()}),
                        false => json!({"metadata": {"campaign": x.word()}}),
                    };
                    self.update(Kind::Coupon, &c, patch)?;
                    true
                }
                None => false,
            },
            // Keep a few for the promotion codes.
            "coupon.delete" if x.coupons.len() > 3 => {
                let c = take(&mut x.rng, &mut x.coupons).unwrap_or_default();
                self.delete(Kind::Coupon, &c)?;
                true
            }
            "coupon.custom" => {
                let id = CUSTOM_COUPONS[x.rng.usize(..CUSTOM_COUPONS.len())];
                if x.custom_live.contains(&id) {
                    x.custom_live.retain(|k| *k != id);
                    self.delete(Kind::Coupon, id)?;
                } else {
                    let params = CouponParams {
                        id: Some(id.into()),
                        percent_off: Some(f64::from(5 * x.rng.u8(1..10))),
                        name: Some(x.word()),
                        ..Default::default()
                    };
                    self.create_coupon(params)?;
                    x.custom_live.push(id);
                }
                true
            }
            "promotion_code.create" => match pick(&mut x.rng, &x.coupons) {
                Some(coupon) => {
                    let customer = customer.filter(|_| x.rng.u8(..4) == 0);
                    let params = PromotionCodeParams { coupon, customer, ..Default::default() };
                    x.promotion_codes.push(id_of(&self.create_promotion_code(params)?));
                    true
                }
                None => false,
            },
            "promotion_code.update" => match pick(&mut x.rng, &x.promotion_codes) {
                Some(p) => {
                    let patch = match x.rng.bool() {
                        true => json!({"active": x.rng.bool()}),
                        false => json!({"metadata": {"channel": x.word()}}),
                    };
                    self.update(Kind::PromotionCode, &p, patch)?;
                    true
                }
                None => false,
            },
            "tax_rate.create" => {
                let params = TaxRateParams {
                    display_name: Some(x.word()),
                    percentage: f64::from(x.rng.u8(1..25)),
                    inclusive: x.rng.bool(),
                    ..Default::default()
                };
                x.tax_rates.push(id_of(&self.create_tax_rate(params)?));
                true
            }
            "tax_rate.update" => match pick(&mut x.rng, &x.tax_rates) {
                Some(t) => {
                    let patch = match x.rng.bool() {
                        true => json!({"active": x.rng.bool()}),
                        false => json!({"display_name": x.word(), "metadata": {"region": x.word()}}),
                    };
                    self.update(Kind::TaxRate, &t, patch)?;
                    true
                }
                None => false,
            },
            "invoice_item.create" => match customer {
                Some(customer) => {
                    let params = InvoiceItemParams {
                        customer,
                        amount: x.rng.i64(100..5_000),
                        description: Some(x.word()),
                        ..Default::default()
                    };
                    x.invoice_items.push(id_of(&self.create_invoice_item(params)?));
                    true
                }
                None => false,
            },
            "invoice_item.delete" => match take(&mut x.rng, &mut x.invoice_items) {
                Some(item) => {
                    self.delete(Kind::InvoiceItem, &item)?;
                    true
                }
                None => false,
            },
            "credit_note.create" => {
                let open: Vec<String> = m
                    .invoices
                    .iter()
                    .filter(|i| i.1 == InvoiceState::Open && !m.x.credited.contains(&i.0))
                    .map(|i| i.0.clone())
                    .collect();
                let x = &mut m.x;
                let invoice = x.pick(&open);
                let total =
                    invoice.as_ref().and_then(|i| self.retrieve(Kind::Invoice, i)).and_then(|v| v["total"].as_i64());
                match (invoice, total) {
                    (Some(invoice), Some(total)) if total > 1 => {
                        // One, two or (with its paging) twelve lines.
                        let n = [1, 2, 12][x.rng.usize(..3)].min(total as usize);
                        let each = x.rng.i64(1..=total / n as i64);
                        let lines = (0..n)
                            .map(|_| CreditNoteLineParams { amount: each, description: Some(x.word()) })
                            .collect();
                        let params = CreditNoteParams {
                            invoice: invoice.clone(),
                            lines,
                            reason: Some("order_change".into()),
                            ..Default::default()
                        };
                        x.credit_notes.push(id_of(&self.create_credit_note(params)?));
                        x.credited.push(invoice);
                        true
                    }
                    _ => false,
                }
            }
            "credit_note.void" => match take(&mut x.rng, &mut x.credit_notes) {
                Some(cn) => {
                    self.transition(Kind::CreditNote, &cn, "voided", json!({}))?;
                    true
                }
                None => false,
            },
            "subscription_schedule.create" => {
                let sub = m.subs.get(m.x.rng.usize(..m.subs.len().max(1))).cloned();
                let recurring = m.recurring();
                let x = &mut m.x;
                let price = x.pick(&recurring);
                // Half manage a live subscription; the rest start later.
                let (customer, subscription) = match sub {
                    Some(s) if x.rng.bool() => (Some(s.customer), Some(s.id)),
                    _ => (customer, None),
                };
                match customer {
                    Some(customer) => {
                        let params = SubscriptionScheduleParams { customer, subscription, price, ..Default::default() };
                        x.schedules.push(id_of(&self.create_subscription_schedule(params)?));
                        true
                    }
                    None => false,
                }
            }
            "subscription_schedule.cancel" | "subscription_schedule.release" => {
                match take(&mut x.rng, &mut x.schedules) {
                    Some(s) => {
                        let verb = if action.ends_with("cancel") { "canceled" } else { "released" };
                        self.transition(Kind::SubscriptionSchedule, &s, verb, json!({}))?;
                        true
                    }
                    None => false,
                }
            }
            "payment_intent.create" => {
                let customer = customer.filter(|_| x.rng.u8(..4) > 0);
                let params = PaymentIntentParams { amount: x.rng.i64(100..20_000), customer, ..Default::default() };
                x.payment_intents.push(id_of(&self.create_payment_intent(params)?));
                true
            }
            "payment_intent.succeed" => match take(&mut x.rng, &mut x.payment_intents) {
                Some(pi) => {
                    let done = self.transition(Kind::PaymentIntent, &pi, "succeeded", json!({}))?;
                    if let Some(charge) = done["latest_charge"].as_str() {
                        x.charges.push((charge.to_owned(), done["amount"].as_i64().unwrap_or(0)));
                    }
                    true
                }
                None => false,
            },
            "payment_intent.cancel" => match take(&mut x.rng, &mut x.payment_intents) {
                Some(pi) => {
                    self.transition(Kind::PaymentIntent, &pi, "canceled", json!({}))?;
                    true
                }
                None => false,
            },
            "refund.create" => {
                let refundable: Vec<usize> = (0..x.charges.len()).filter(|&i| x.charges[i].1 > 0).collect();
                match x.pick(&refundable) {
                    Some(i) => {
                        let (charge, left) = x.charges[i].clone();
                        // Half refund what is left, the others a part.
                        let amount = if x.rng.bool() { left } else { x.rng.i64(1..=left) };
                        let params = RefundParams { charge, amount: Some(amount), ..Default::default() };
                        self.create_refund(params)?;
                        x.charges[i].1 -= amount;
                        true
                    }
                    None => false,
                }
            }
            "dispute.create" => {
                let free: Vec<String> =
                    x.charges.iter().filter(|c| !x.disputed.contains(&c.0)).map(|c| c.0.clone()).collect();
                match x.pick(&free) {
                    Some(charge) => {
                        let params = DisputeParams { charge: charge.clone(), ..Default::default() };
                        x.open_disputes.push(id_of(&self.create_dispute(params)?));
                        x.disputed.push(charge);
                        true
                    }
                    None => false,
                }
            }
            "dispute.close" => match take(&mut x.rng, &mut x.open_disputes) {
                Some(d) => {
                    let status = if x.rng.bool() { "won" } else { "lost" };
                    self.transition(Kind::Dispute, &d, "closed", json!({ "status": status }))?;
                    true
                }
                None => false,
            },
            // Created and attached at once: a method attached to no
            // customer is listed nowhere, so no mirror could know it.
            "payment_method.attach" => match customer {
                Some(c) => {
                    let params = PaymentMethodParams { customer: Some(c.clone()), ..Default::default() };
                    x.payment_methods.push((id_of(&self.create_payment_method(params)?), c));
                    true
                }
                None => false,
            },
            "payment_method.update" => match pick(&mut x.rng, &x.payment_methods) {
                Some((pm, _)) => {
                    self.update(Kind::PaymentMethod, &pm, json!({"metadata": {"label": x.word()}}))?;
                    true
                }
                None => false,
            },
            "payment_method.detach" => match take(&mut x.rng, &mut x.payment_methods) {
                Some((pm, _)) => {
                    // Final: a detached method is never attached again.
                    self.detach_payment_method(&pm)?;
                    true
                }
                None => false,
            },
            "setup_intent.create" => {
                let (customer, payment_method) = match pick(&mut x.rng, &x.payment_methods) {
                    Some((pm, c)) if x.rng.bool() && live_customers.contains(&c) => (Some(c), Some(pm)),
                    _ => (customer, None),
                };
                let has_method = payment_method.is_some();
                let params = SetupIntentParams { customer, payment_method, ..Default::default() };
                x.setup_intents.push((id_of(&self.create_setup_intent(params)?), has_method));
                true
            }
            "setup_intent.confirm" => {
                let ready: Vec<String> = x.setup_intents.iter().filter(|s| s.1).map(|s| s.0.clone()).collect();
                match x.pick(&ready) {
                    Some(si) => {
                        x.setup_intents.retain(|k| k.0 != si);
                        self.transition(Kind::SetupIntent, &si, "succeeded", json!({}))?;
                        true
                    }
                    None => false,
                }
            }
            "setup_intent.cancel" => match take(&mut x.rng, &mut x.setup_intents) {
                Some((si, _)) => {
                    self.transition(Kind::SetupIntent, &si, "canceled", json!({}))?;
                    true
                }
                None => false,
            },
            "checkout.create" => {
                let payment = x.rng.u8(..4) > 0;
                let candidates: Vec<String> = m.prices.iter().filter(|p| p.2 != payment).map(|p| p.0.clone()).collect();
                let x = &mut m.x;
                let n = 1 + x.rng.usize(..3);
                let mut line_items: Vec<CheckoutLineParams> = Vec::new();
                for _ in 0..n {
                    if let Some(price) = x.pick(&candidates) {
                        if !line_items.iter().any(|l| l.price == price) {
                            line_items.push(CheckoutLineParams { price, quantity: Some(1 + x.rng.u64(..3)) });
                        }
                    }
                }
                let mode = if payment { "payment" } else { "subscription" };
                let params = CheckoutSessionParams {
                    customer: customer.filter(|_| x.rng.bool()),
                    mode: Some(mode.into()),
                    line_items,
                    ..Default::default()
                };
                x.sessions.push((id_of(&self.create_checkout_session(params)?), payment));
                true
            }
            // A payment session completes with a succeeded payment intent.
            "checkout.complete" => match take(&mut x.rng, &mut x.sessions) {
                Some((cs, payment)) => {
                    let patch = match payment {
                        true => {
                            let session = self.retrieve(Kind::CheckoutSession, &cs).unwrap_or_default();
                            let amount = session["amount_total"].as_i64().unwrap_or(0).max(50);
                            // Its customer may have been deleted since.
                            let customer =
                                session["customer"].as_str().map(str::to_owned).filter(|c| live_customers.contains(c));
                            let params = PaymentIntentParams { amount, customer, ..Default::default() };
                            let pi = id_of(&self.create_payment_intent(params)?);
                            let done = self.transition(Kind::PaymentIntent, &pi, "succeeded", json!({}))?;
                            if let Some(charge) = done["latest_charge"].as_str() {
                                x.charges.push((charge.to_owned(), amount));
                            }
                            json!({ "payment_intent": pi })
                        }
                        false => json!({}),
                    };
                    self.transition(Kind::CheckoutSession, &cs, "completed", patch)?;
                    true
                }
                None => false,
            },
            "checkout.expire" => match take(&mut x.rng, &mut x.sessions) {
                Some((cs, _)) => {
                    self.transition(Kind::CheckoutSession, &cs, "expired", json!({}))?;
                    true
                }
                None => false,
            },
            _ => false,
        };
        if did {
            m.done(action);
        }
        Ok(())
    }
}
