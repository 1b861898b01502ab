//! The "Dashboard": every change to the account, each emitting the events
//! Stripe would, reachable from Rust (`Sim::create_customer`, …) and over
//! HTTP under `/_sim` (JSON in, JSON out, no auth; bound to localhost).
//!
//! | route | body | does |
//! |---|---|---|
//! | `POST /_sim/products` | [`ProductParams`] | create (`product.created`); an `id` of a deleted product makes a new incarnation |
//! | `POST /_sim/prices` | [`PriceParams`] | create (`price.created`, + `plan.created` if recurring); likewise for a deleted plan's `id` |
//! | `POST /_sim/customers` | [`CustomerParams`] | create (`customer.created`) |
//! | `POST /_sim/subscriptions` | [`SubscriptionParams`] | create (`customer.subscription.created`) |
//! | `POST /_sim/subscriptions/{id}/items` | [`SubscriptionUpdate`] | merge fields, add/remove items (`customer.subscription.updated`) |
//! | `POST /_sim/subscriptions/{id}/cancel` | – | cancel (`customer.subscription.deleted`) |
//! | `POST /_sim/invoices` | [`InvoiceParams`] | create a draft (`invoice.created`) |
//! | `POST /_sim/invoices/{id}/{finalize,pay,void,mark_uncollectible}` | – | state change + its events |
//! | `POST /_sim/{coupons,promotion_codes,tax_rates,payment_intents,charges,refunds,disputes,payment_methods,setup_intents,checkout_sessions,credit_notes,invoiceitems,subscription_schedules}` | [`CouponParams`] … [`SubscriptionScheduleParams`] | create (the kind's `*.created`, or Stripe's event for it: `charge.succeeded`, `payment_method.attached`, none for sessions) |
//! | `POST /_sim/{kind}/{id}/{verb}` | JSON object (merged last) | a payment-side transition named by its event (`payment_intents/pi_…/succeeded`; table in `transitions.rs`) |
//! | `POST /_sim/{kind}/{id}` | JSON object | generic update: merge top-level keys (`*.updated` with `previous_attributes`) |
//! | `DELETE /_sim/{kind}/{id}` | – | delete product/price/customer/draft invoice, cancel subscription, remove item |
//! | `GET /_sim/snapshot/{kind}` | – | `[{"id","deleted","object"}]`, every object incl. deleted |
//! | `GET`/`POST /_sim/clock` | `{"set": ts\|null}` / `{"advance": secs}` | read/pin/move the clock |
//! | `GET`/`POST /_sim/faults` | part of [`crate::Faults`] (+ `"hang_ms"`) | read/merge fault knobs |
//! | `GET /_sim/stats`, `POST /_sim/stats/reset` | – | `{"api": RequestStats, "webhooks": DeliveryStats}` |
//! | `GET`/`POST /_sim/webhook_endpoints`, `POST`/`DELETE /_sim/webhook_endpoints/{id}` | `{"url","secrets"}` / `{"secrets"}` | manage endpoints |
//! | `POST /_sim/flush` | `{"timeout_ms"}` | wait until webhook deliveries drain |
//! | `POST /_sim/seed` | [`crate::SeedSpec`] | seed without events |
//!
//! `{kind}` is a plural (`customers`, `subscription_items`, …). Errors use
//! Stripe's error body (`resource_missing` 404, `invalid_request_error` 400).

mod billing_extra;
mod catalog;
pub(crate) mod http;
mod invoices;
mod other;
mod params;
mod payment_params;
mod payments;
mod subscriptions;
mod transitions;
mod tx;

pub use payment_params::{
    ChargeParams, CheckoutLineParams, CheckoutSessionParams, CouponParams, CreditNoteLineParams, CreditNoteParams,
    DisputeParams, InvoiceItemParams, PaymentIntentParams, PaymentMethodParams, PromotionCodeParams, RefundParams,
    SetupIntentParams, SubscriptionScheduleParams, TaxRateParams,
};

pub use params::{
    CustomerParams, InvoiceParams, ItemParams, LineParams, PriceParams, ProductParams, Recurring, SubscriptionParams,
    SubscriptionUpdate,
};

use serde_json::Value;

use crate::store::Kind;
use crate::{Sim, SimError};

/// The Dashboard operations. Each returns the object as the API would show
/// it right after the change (a deleted stub for deletions).
impl Sim {
    pub fn create_product(&self, p: ProductParams) -> Result<Value, SimError> {
        catalog::create_product(&self.shared, p)
    }

    pub fn create_price(&self, p: PriceParams) -> Result<Value, SimError> {
        catalog::create_price(&self.shared, p)
    }

    pub fn create_customer(&self, p: CustomerParams) -> Result<Value, SimError> {
        catalog::create_customer(&self.shared, p)
    }

    /// Merge `patch`'s top-level keys into the object and emit
    /// `<type>.updated` with the old values in `previous_attributes`.
    /// Items and lines are updated in place and reported as an update of
    /// their subscription or invoice.
    pub fn update(&self, kind: Kind, id: &str, patch: Value) -> Result<Value, SimError> {
        catalog::update(&self.shared, kind, id, patch)
    }

    /// Delete a product, price or customer (emits `*.deleted` with the last
    /// full object; a customer's live subscriptions are canceled first, as
    /// Stripe does); cancel a subscription; delete a draft invoice; remove a
    /// subscription item.
    pub fn delete(&self, kind: Kind, id: &str) -> Result<Value, SimError> {
        catalog::delete(&self.shared, kind, id)
    }

    pub fn create_subscription(&self, p: SubscriptionParams) -> Result<Value, SimError> {
        subscriptions::create_subscription(&self.shared, p)
    }

    pub fn update_subscription(&self, id: &str, u: SubscriptionUpdate) -> Result<Value, SimError> {
        subscriptions::update_subscription(&self.shared, id, u)
    }

    /// Status `canceled`, `canceled_at`/`ended_at` now;
    /// `customer.subscription.deleted`. The subscription stays listable with
    /// `status=canceled|ended|all`.
    pub fn cancel_subscription(&self, id: &str) -> Result<Value, SimError> {
        subscriptions::cancel_subscription(&self.shared, id)
    }

    pub fn create_invoice(&self, p: InvoiceParams) -> Result<Value, SimError> {
        invoices::create_invoice(&self.shared, p)
    }

    /// draft → open: `invoice.finalized` + `invoice.updated`.
    pub fn finalize_invoice(&self, id: &str) -> Result<Value, SimError> {
        invoices::invoice_action(&self.shared, id, invoices::InvoiceAction::Finalize)
    }

    /// (draft →) open → paid: `invoice.paid` + `invoice.payment_succeeded` +
    /// `invoice.updated`.
    pub fn pay_invoice(&self, id: &str) -> Result<Value, SimError> {
        invoices::invoice_action(&self.shared, id, invoices::InvoiceAction::Pay)
    }

    /// open → void: `invoice.voided` + `invoice.updated`.
    pub fn void_invoice(&self, id: &str) -> Result<Value, SimError> {
        invoices::invoice_action(&self.shared, id, invoices::InvoiceAction::Void)
    }

    /// open → uncollectible: `invoice.marked_uncollectible` + `invoice.updated`.
    pub fn mark_uncollectible(&self, id: &str) -> Result<Value, SimError> {
        invoices::invoice_action(&self.shared, id, invoices::InvoiceAction::MarkUncollectible)
    }

    /// Delete a draft: `invoice.deleted`; afterwards retrieve is a 404.
    pub fn delete_invoice(&self, id: &str) -> Result<Value, SimError> {
        invoices::delete_invoice(&self.shared, id)
    }
}

/// The payment-side kinds (see `transitions.rs` for every verb).
impl Sim {
    /// `coupon.created`; a deleted coupon's `id` may be given again.
    pub fn create_coupon(&self, p: CouponParams) -> Result<Value, SimError> {
        billing_extra::create_coupon(&self.shared, p)
    }

    pub fn create_promotion_code(&self, p: PromotionCodeParams) -> Result<Value, SimError> {
        billing_extra::create_promotion_code(&self.shared, p)
    }

    pub fn create_tax_rate(&self, p: TaxRateParams) -> Result<Value, SimError> {
        billing_extra::create_tax_rate(&self.shared, p)
    }

    /// `invoiceitem.created`; [`Sim::delete`] emits `invoiceitem.deleted`.
    pub fn create_invoice_item(&self, p: InvoiceItemParams) -> Result<Value, SimError> {
        billing_extra::create_invoice_item(&self.shared, p)
    }

    pub fn create_subscription_schedule(&self, p: SubscriptionScheduleParams) -> Result<Value, SimError> {
        billing_extra::create_subscription_schedule(&self.shared, p)
    }

    /// `credit_note.created`, embedding the first ten lines.
    pub fn create_credit_note(&self, p: CreditNoteParams) -> Result<Value, SimError> {
        billing_extra::create_credit_note(&self.shared, p)
    }

    /// `payment_intent.created` (status `requires_payment_method`).
    pub fn create_payment_intent(&self, p: PaymentIntentParams) -> Result<Value, SimError> {
        payments::create_payment_intent(&self.shared, p)
    }

    /// `charge.succeeded` / `charge.pending` / `charge.failed` by status.
    pub fn create_charge(&self, p: ChargeParams) -> Result<Value, SimError> {
        payments::create_charge(&self.shared, p)
    }

    /// `refund.created`, then `charge.refunded` with the charge's new
    /// `amount_refunded` / `refunded`.
    pub fn create_refund(&self, p: RefundParams) -> Result<Value, SimError> {
        payments::create_refund(&self.shared, p)
    }

    /// `charge.dispute.created` (carrying the dispute).
    pub fn create_dispute(&self, p: DisputeParams) -> Result<Value, SimError> {
        payments::create_dispute(&self.shared, p)
    }

    /// With a customer: `payment_method.attached`; without: no event.
    pub fn create_payment_method(&self, p: PaymentMethodParams) -> Result<Value, SimError> {
        payments::create_payment_method(&self.shared, p)
    }

    pub fn create_setup_intent(&self, p: SetupIntentParams) -> Result<Value, SimError> {
        payments::create_setup_intent(&self.shared, p)
    }

    /// An open session with its line items; no event (Stripe has no
    /// `checkout.session.created`).
    pub fn create_checkout_session(&self, p: CheckoutSessionParams) -> Result<Value, SimError> {
        payments::create_checkout_session(&self.shared, p)
    }

    /// A state change named by its event's verb (`succeeded`, `detached`,
    /// `completed`, `voided`, `released`, …), `patch` merged last. Emits
    /// `<prefix>.<verb>`; `updated` is the generic [`Sim::update`].
    pub fn transition(&self, kind: Kind, id: &str, verb: &str, patch: Value) -> Result<Value, SimError> {
        if verb == "updated" {
            return catalog::update(&self.shared, kind, id, patch);
        }
        transitions::transition(&self.shared, kind, id, verb, patch)
    }

    /// `payment_method.attached`.
    pub fn attach_payment_method(&self, id: &str, customer: &str) -> Result<Value, SimError> {
        self.transition(Kind::PaymentMethod, id, "attached", serde_json::json!({ "customer": customer }))
    }

    /// `payment_method.detached`: `customer` becomes `null`; the method is
    /// still retrievable, and no longer listed for the customer.
    pub fn detach_payment_method(&self, id: &str) -> Result<Value, SimError> {
        self.transition(Kind::PaymentMethod, id, "detached", serde_json::json!({}))
    }
}
