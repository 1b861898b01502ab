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
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Product,
        Kind::Price,
        Kind::Plan,
        Kind::Customer,
        Kind::Subscription,
        Kind::SubscriptionItem,
        Kind::Invoice,
        Kind::InvoiceLineItem,
        Kind::Event,
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
        }
    }

    /// The plural used in URLs and in the mirror's table names
    /// (`invoice_line_items` for lines).
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
        }
    }

    /// Parse a plural (`customers`) or an object name (`customer`).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == s || k.object() == s)
    }

    /// The event-type prefix of this kind (`customer.subscription` for
    /// subscriptions); `None` for kinds that have no events of their own.
    pub fn event_prefix(self) -> Option<&'static str> {
        match self {
            Kind::Product => Some("product"),
            Kind::Price => Some("price"),
            Kind::Plan => Some("plan"),
            Kind::Customer => Some("customer"),
            Kind::Subscription => Some("customer.subscription"),
            Kind::Invoice => Some("invoice"),
            Kind::SubscriptionItem | Kind::InvoiceLineItem | Kind::Event => None,
        }
    }

    /// Kinds listed only inside a parent (oldest first, as Stripe shows the
    /// items of a subscription and the lines of an invoice).
    pub fn is_nested(self) -> bool {
        matches!(self, Kind::SubscriptionItem | Kind::InvoiceLineItem)
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
