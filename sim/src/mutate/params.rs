//! Inputs of the Dashboard operations. The same structs are the JSON bodies
//! of the `/_sim` routes, so both front doors accept exactly the same thing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `create_product`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProductParams {
    /// Fixed id instead of a random `prod_…` (Stripe accepts caller-chosen
    /// product ids). The id of a deleted product may be given again: a new
    /// incarnation with its own `created` replaces it.
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    /// Default `true`.
    pub active: Option<bool>,
    pub metadata: Map<String, Value>,
}

impl ProductParams {
    pub fn named(name: impl Into<String>) -> ProductParams {
        ProductParams { name: name.into(), ..ProductParams::default() }
    }
}

/// Billing interval of a recurring price.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Recurring {
    /// `day`, `week`, `month` (default) or `year`.
    pub interval: String,
    pub interval_count: u32,
}

impl Default for Recurring {
    fn default() -> Self {
        Recurring { interval: "month".to_owned(), interval_count: 1 }
    }
}

/// `create_price`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PriceParams {
    /// Fixed id. Stripe takes none for prices, but a recurring price is
    /// also the plan of that id here, and plans take caller-chosen ids: a
    /// deleted plan's id may be given again (a new incarnation; old
    /// subscription items keep showing the old one).
    pub id: Option<String>,
    pub product: String,
    pub unit_amount: i64,
    /// Default `usd`.
    pub currency: Option<String>,
    /// `None`: a one-time price.
    pub recurring: Option<Recurring>,
    /// Default `true`.
    pub active: Option<bool>,
    pub nickname: Option<String>,
    pub lookup_key: Option<String>,
    pub metadata: Map<String, Value>,
}

impl PriceParams {
    /// A monthly price.
    pub fn monthly(product: impl Into<String>, unit_amount: i64) -> PriceParams {
        PriceParams {
            product: product.into(),
            unit_amount,
            recurring: Some(Recurring::default()),
            ..PriceParams::default()
        }
    }

    pub fn one_time(product: impl Into<String>, unit_amount: i64) -> PriceParams {
        PriceParams { product: product.into(), unit_amount, ..PriceParams::default() }
    }
}

/// `create_customer`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerParams {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
}

impl CustomerParams {
    pub fn email(email: impl Into<String>) -> CustomerParams {
        CustomerParams { email: Some(email.into()), ..CustomerParams::default() }
    }
}

/// One subscription item to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemParams {
    /// A recurring price id.
    pub price: String,
    /// Default 1.
    pub quantity: Option<u64>,
    pub metadata: Map<String, Value>,
}

/// `create_subscription`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionParams {
    pub id: Option<String>,
    pub customer: String,
    /// At least one; any number (Stripe embeds ten and pages the rest).
    pub items: Vec<ItemParams>,
    /// Default `active`; any Stripe subscription status.
    pub status: Option<String>,
    pub metadata: Map<String, Value>,
}

impl SubscriptionParams {
    /// A subscription with one item per `(price, quantity)`.
    pub fn new(customer: impl Into<String>, items: &[(&str, u64)]) -> SubscriptionParams {
        SubscriptionParams {
            customer: customer.into(),
            items: items
                .iter()
                .map(|(price, quantity)| ItemParams {
                    price: (*price).to_owned(),
                    quantity: Some(*quantity),
                    ..ItemParams::default()
                })
                .collect(),
            ..SubscriptionParams::default()
        }
    }
}

/// `update_subscription`: merge top-level fields, add and remove items.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionUpdate {
    pub patch: Map<String, Value>,
    pub add_items: Vec<ItemParams>,
    /// Subscription item ids (`si_…`).
    pub remove_items: Vec<String>,
}

/// One invoice line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LineParams {
    /// A price id; its amount, product and currency are used.
    pub price: Option<String>,
    /// Required when `price` is absent.
    pub unit_amount: Option<i64>,
    /// Default 1.
    pub quantity: Option<u64>,
    pub description: Option<String>,
}

/// `create_invoice` (a draft).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InvoiceParams {
    pub id: Option<String>,
    pub customer: String,
    /// Puts the invoice under `parent.subscription_details`.
    pub subscription: Option<String>,
    /// Empty with a subscription: one line per subscription item.
    pub lines: Vec<LineParams>,
    pub metadata: Map<String, Value>,
}

impl InvoiceParams {
    /// A draft with one line per price.
    pub fn new(customer: impl Into<String>, prices: &[&str]) -> InvoiceParams {
        InvoiceParams {
            customer: customer.into(),
            lines: prices
                .iter()
                .map(|p| LineParams { price: Some((*p).to_owned()), ..LineParams::default() })
                .collect(),
            ..InvoiceParams::default()
        }
    }
}
