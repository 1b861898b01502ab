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

mod catalog;
pub(crate) mod http;
mod invoices;
mod params;
mod subscriptions;
mod tx;

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
