//! Inputs of the Dashboard operations on the payment-side kinds (coupons
//! through subscription schedules). As with the core kinds, the same structs
//! are the JSON bodies of `POST /_sim/{plural}`.
//!
//! Every struct has `fields`: top-level keys laid over the built object
//! last, for any field the typed parameters do not cover (the object stays
//! whatever the caller makes it; `id`, `object` and `created` are refused).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `create_coupon`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CouponParams {
    /// Caller-chosen id (Stripe accepts one for coupons). A deleted
    /// coupon's id may be given again: a new incarnation.
    pub id: Option<String>,
    /// One of `percent_off` / `amount_off` (+ `currency`); neither: 10 %.
    pub percent_off: Option<f64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    /// `forever` (default), `once` or `repeating`.
    pub duration: Option<String>,
    pub duration_in_months: Option<i64>,
    pub name: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_promotion_code`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PromotionCodeParams {
    /// A live coupon's id.
    pub coupon: String,
    /// Default: a random upper-case code.
    pub code: Option<String>,
    pub customer: Option<String>,
    /// Default `true`.
    pub active: Option<bool>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_tax_rate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaxRateParams {
    /// Default `VAT`.
    pub display_name: Option<String>,
    pub percentage: f64,
    pub inclusive: bool,
    /// Default `true`.
    pub active: Option<bool>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_payment_intent`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentIntentParams {
    pub amount: i64,
    /// Default `usd`.
    pub currency: Option<String>,
    pub customer: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_charge`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChargeParams {
    pub amount: i64,
    /// Default `usd`.
    pub currency: Option<String>,
    pub customer: Option<String>,
    pub payment_intent: Option<String>,
    pub invoice: Option<String>,
    /// `succeeded` (default, `charge.succeeded`), `pending`
    /// (`charge.pending`) or `failed` (`charge.failed`).
    pub status: Option<String>,
    /// Default `true`; `false` is an authorization to capture later.
    pub captured: Option<bool>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_refund`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RefundParams {
    pub charge: String,
    /// Default: what is left to refund of the charge.
    pub amount: Option<i64>,
    /// `succeeded` (default) or `pending`.
    pub status: Option<String>,
    pub reason: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_dispute` (a cardholder disputing a charge).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DisputeParams {
    pub charge: String,
    /// Default: the charge's amount.
    pub amount: Option<i64>,
    /// Default `general`.
    pub reason: Option<String>,
    /// Default `needs_response`.
    pub status: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_payment_method`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentMethodParams {
    /// Attach at once (`payment_method.attached`); without, no event
    /// (Stripe has no `payment_method.created`).
    pub customer: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_setup_intent`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SetupIntentParams {
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// One line of a checkout session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckoutLineParams {
    /// A price id.
    pub price: String,
    /// Default 1.
    pub quantity: Option<u64>,
}

/// `create_checkout_session` (status `open`; Stripe sends no event for it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckoutSessionParams {
    pub customer: Option<String>,
    /// `payment` (default), `subscription` or `setup`.
    pub mode: Option<String>,
    pub payment_intent: Option<String>,
    pub subscription: Option<String>,
    pub invoice: Option<String>,
    pub line_items: Vec<CheckoutLineParams>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// One line of a credit note.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CreditNoteLineParams {
    pub amount: i64,
    pub description: Option<String>,
}

/// `create_credit_note`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CreditNoteParams {
    /// A finalized (open or paid) invoice.
    pub invoice: String,
    /// Empty: one line crediting the invoice's total.
    pub lines: Vec<CreditNoteLineParams>,
    pub reason: Option<String>,
    pub memo: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_invoice_item`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InvoiceItemParams {
    pub customer: String,
    pub amount: i64,
    /// Default `usd`.
    pub currency: Option<String>,
    pub description: Option<String>,
    /// `None`: pending (not yet on an invoice).
    pub invoice: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}

/// `create_subscription_schedule`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionScheduleParams {
    pub customer: String,
    /// A subscription the schedule manages (status `active`); without, the
    /// schedule is `not_started`.
    pub subscription: Option<String>,
    /// The price of the single phase's single item.
    pub price: Option<String>,
    pub metadata: Map<String, Value>,
    pub fields: Map<String, Value>,
}
