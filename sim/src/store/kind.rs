//! The kinds of object the simulator keeps, and their Stripe names.

use std::fmt;

/// A kind of Stripe object the simulator stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Product,
    Price,
    /// Recurring prices seen as legacy plan objects (same ids).
    Plan,
    Customer,
    Subscription,
    SubscriptionItem,
    Invoice,
    /// Invoice lines (`object: "line_item"`).
    InvoiceLineItem,
    Event,
    Coupon,
    PromotionCode,
    TaxRate,
    PaymentIntent,
    Charge,
    Refund,
    Dispute,
    /// Listed per customer only (`GET /v1/payment_methods?customer=`).
    PaymentMethod,
    SetupIntent,
    /// `object: "checkout.session"`, served under `/v1/checkout/sessions`.
    CheckoutSession,
    /// A session's line items (`object: "item"`), only under
    /// `/v1/checkout/sessions/{id}/line_items`.
    CheckoutLineItem,
    CreditNote,
    /// A credit note's lines (`object: "credit_note_line_item"`).
    CreditNoteLineItem,
    /// `object: "invoiceitem"`, served under `/v1/invoiceitems`.
    InvoiceItem,
    SubscriptionSchedule,
}

impl Kind {
    pub const ALL: [Kind; 24] = [
        Kind::Product,
        Kind::Price,
        Kind::Plan,
        Kind::Customer,
        Kind::Subscription,
        Kind::SubscriptionItem,
        Kind::Invoice,
        Kind::InvoiceLineItem,
        Kind::Event,
        Kind::Coupon,
        Kind::PromotionCode,
        Kind::TaxRate,
        Kind::PaymentIntent,
        Kind::Charge,
        Kind::Refund,
        Kind::Dispute,
        Kind::PaymentMethod,
        Kind::SetupIntent,
        Kind::CheckoutSession,
        Kind::CheckoutLineItem,
        Kind::CreditNote,
        Kind::CreditNoteLineItem,
        Kind::InvoiceItem,
        Kind::SubscriptionSchedule,
    ];

    /// The JSON `object` value.
    pub fn object(self) -> &'static str {
        match self {
            Kind::Product => "product",
            Kind::Price => "price",
            Kind::Plan => "plan",
            Kind::Customer => "customer",
            Kind::Subscription => "subscription",
            Kind::SubscriptionItem => "subscription_item",
            Kind::Invoice => "invoice",
            Kind::InvoiceLineItem => "line_item",
            Kind::Event => "event",
            Kind::Coupon => "coupon",
            Kind::PromotionCode => "promotion_code",
            Kind::TaxRate => "tax_rate",
            Kind::PaymentIntent => "payment_intent",
            Kind::Charge => "charge",
            Kind::Refund => "refund",
            Kind::Dispute => "dispute",
            Kind::PaymentMethod => "payment_method",
            Kind::SetupIntent => "setup_intent",
            Kind::CheckoutSession => "checkout.session",
            Kind::CheckoutLineItem => "item",
            Kind::CreditNote => "credit_note",
            Kind::CreditNoteLineItem => "credit_note_line_item",
            Kind::InvoiceItem => "invoiceitem",
            Kind::SubscriptionSchedule => "subscription_schedule",
        }
    }

    /// The plural used in URLs and in the mirror's table names
    /// (`invoice_line_items` for lines). For checkout sessions the URL is
    /// `/v1/checkout/sessions`; the plural names the table.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Product => "products",
            Kind::Price => "prices",
            Kind::Plan => "plans",
            Kind::Customer => "customers",
            Kind::Subscription => "subscriptions",
            Kind::SubscriptionItem => "subscription_items",
            Kind::Invoice => "invoices",
            Kind::InvoiceLineItem => "invoice_line_items",
            Kind::Event => "events",
            Kind::Coupon => "coupons",
            Kind::PromotionCode => "promotion_codes",
            Kind::TaxRate => "tax_rates",
            Kind::PaymentIntent => "payment_intents",
            Kind::Charge => "charges",
            Kind::Refund => "refunds",
            Kind::Dispute => "disputes",
            Kind::PaymentMethod => "payment_methods",
            Kind::SetupIntent => "setup_intents",
            Kind::CheckoutSession => "checkout_sessions",
            Kind::CheckoutLineItem => "checkout_session_line_items",
            Kind::CreditNote => "credit_notes",
            Kind::CreditNoteLineItem => "credit_note_line_items",
            Kind::InvoiceItem => "invoiceitems",
            Kind::SubscriptionSchedule => "subscription_schedules",
        }
    }

    /// Parse a plural (`customers`) or an object name (`customer`).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == s || k.object() == s)
    }

    /// The event-type prefix of this kind (`customer.subscription` for
    /// subscriptions, `charge.dispute` for disputes); `None` for kinds that
    /// have no events of their own. Which verbs exist per prefix is
    /// Stripe's list (`data/event-types.txt`), checked when emitting.
    pub fn event_prefix(self) -> Option<&'static str> {
        match self {
            Kind::Product => Some("product"),
            Kind::Price => Some("price"),
            Kind::Plan => Some("plan"),
            Kind::Customer => Some("customer"),
            Kind::Subscription => Some("customer.subscription"),
            Kind::Invoice => Some("invoice"),
            Kind::Coupon => Some("coupon"),
            Kind::PromotionCode => Some("promotion_code"),
            Kind::TaxRate => Some("tax_rate"),
            Kind::PaymentIntent => Some("payment_intent"),
            Kind::Charge => Some("charge"),
            Kind::Refund => Some("refund"),
            Kind::Dispute => Some("charge.dispute"),
            Kind::PaymentMethod => Some("payment_method"),
            Kind::SetupIntent => Some("setup_intent"),
            Kind::CheckoutSession => Some("checkout.session"),
            Kind::CreditNote => Some("credit_note"),
            Kind::InvoiceItem => Some("invoiceitem"),
            Kind::SubscriptionSchedule => Some("subscription_schedule"),
            Kind::SubscriptionItem
            | Kind::InvoiceLineItem
            | Kind::Event
            | Kind::CheckoutLineItem
            | Kind::CreditNoteLineItem => None,
        }
    }

    /// Kinds listed only inside a parent (oldest first, as Stripe shows the
    /// items of a subscription and the lines of an invoice).
    pub fn is_nested(self) -> bool {
        matches!(
            self,
            Kind::SubscriptionItem | Kind::InvoiceLineItem | Kind::CheckoutLineItem | Kind::CreditNoteLineItem
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.plural())
    }
}
