//! One builder per kind: typed values in, a stored document plus its filter
//! fields out. Values are written exactly as serde_json writes them (compact,
//! keys sorted) so that a document edited later through `serde_json::Value`
//! keeps the same bytes for unchanged fields; nested fragments are written
//! by hand because seeding builds millions of them, and the unit tests below
//! check every builder against serde_json.

use std::sync::Arc;

use super::templates::templates;
use crate::store::{json_opt, json_str, Doc, Fields};

fn b(v: bool) -> &'static str {
    if v {
        "true"
    } else {
        "false"
    }
}

fn opt_i64(v: Option<i64>) -> String {
    v.map_or_else(|| "null".to_owned(), |n| n.to_string())
}

pub(crate) struct ProductSpec<'a> {
    pub id: &'a str,
    pub created: i64,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub active: bool,
    pub metadata: &'a str,
    pub default_price: Option<&'a str>,
}

pub(crate) fn product(s: &ProductSpec<'_>) -> (Doc, Fields) {
    let created = s.created.to_string();
    let doc = templates().product.render(
        &[
            &json_str(s.id),
            &created,
            &created,
            &json_str(s.name),
            &json_opt(s.description),
            b(s.active),
            s.metadata,
            &json_opt(s.default_price),
        ],
        None,
    );
    let fields = Fields { active: s.active, ..Fields::default() };
    (doc, fields)
}

pub(crate) struct PriceSpec<'a> {
    pub id: &'a str,
    pub created: i64,
    pub product: &'a str,
    pub active: bool,
    pub currency: &'a str,
    pub unit_amount: i64,
    /// `(interval, interval_count)` for recurring prices.
    pub recurring: Option<(&'a str, u32)>,
    pub nickname: Option<&'a str>,
    pub lookup_key: Option<&'a str>,
    pub metadata: &'a str,
}

pub(crate) fn price(s: &PriceSpec<'_>) -> (Doc, Fields) {
    let recurring = match s.recurring {
        Some((interval, count)) => format!(
            "{{\"interval\":{},\"interval_count\":{count},\"meter\":null,\
             \"trial_period_days\":null,\"usage_type\":\"licensed\"}}",
            json_str(interval)
        ),
        None => "null".to_owned(),
    };
    let kind = if s.recurring.is_some() { "\"recurring\"" } else { "\"one_time\"" };
    let doc = templates().price.render(
        &[
            &json_str(s.id),
            &s.created.to_string(),
            &json_str(s.product),
            b(s.active),
            &json_str(s.currency),
            &s.unit_amount.to_string(),
            &json_str(&s.unit_amount.to_string()),
            &recurring,
            kind,
            &json_opt(s.nickname),
            &json_opt(s.lookup_key),
            s.metadata,
        ],
        None,
    );
    let fields = Fields {
        active: s.active,
        recurring: s.recurring.is_some(),
        parent: Some(Arc::from(s.product)),
        ..Fields::default()
    };
    (doc, fields)
}

pub(crate) struct CustomerSpec<'a> {
    pub id: &'a str,
    pub created: i64,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub invoice_prefix: &'a str,
    pub metadata: &'a str,
}

pub(crate) fn customer(s: &CustomerSpec<'_>) -> (Doc, Fields) {
    let doc = templates().customer.render(
        &[
            &json_str(s.id),
            &s.created.to_string(),
            &json_opt(s.email),
            &json_opt(s.name),
            &json_opt(s.description),
            &json_str(s.invoice_prefix),
            s.metadata,
        ],
        None,
    );
    (doc, Fields::default())
}

pub(crate) struct SubscriptionSpec<'a> {
    pub id: &'a str,
    pub created: i64,
    pub customer: &'a str,
    pub status: &'a str,
    pub canceled_at: Option<i64>,
    pub currency: &'a str,
    pub metadata: &'a str,
}

pub(crate) fn subscription(s: &SubscriptionSpec<'_>) -> (Doc, Fields) {
    let created = s.created.to_string();
    let reason = if s.canceled_at.is_some() { "\"cancellation_requested\"" } else { "null" };
    let cancellation = format!("{{\"comment\":null,\"feedback\":null,\"reason\":{reason}}}");
    let doc = templates().subscription.render(
        &[
            &json_str(s.id),
            &created,
            &json_str(s.customer),
            &json_str(s.status),
            &created,
            &created,
            &opt_i64(s.canceled_at),
            &opt_i64(s.canceled_at),
            &cancellation,
            &json_str(s.currency),
            s.metadata,
        ],
        None,
    );
    let fields = Fields { tag: Some(s.status.into()), customer: Some(Arc::from(s.customer)), ..Fields::default() };
    (doc, fields)
}

pub(crate) struct ItemSpec<'a> {
    pub id: &'a str,
    pub created: i64,
    pub subscription: &'a Arc<str>,
    pub price: &'a Arc<str>,
    pub quantity: u64,
    pub period: (i64, i64),
    pub metadata: &'a str,
}

pub(crate) fn item(s: &ItemSpec<'_>) -> (Doc, Fields) {
    let doc = templates().item.render(
        &[
            &json_str(s.id),
            &s.created.to_string(),
            &json_str(s.subscription),
            &s.quantity.to_string(),
            &s.period.0.to_string(),
            &s.period.1.to_string(),
            s.metadata,
        ],
        Some(s.price),
    );
    let fields = Fields { parent: Some(s.subscription.clone()), ..Fields::default() };
    (doc, fields)
}

pub(crate) struct InvoiceSpec<'a> {
    pub id: &'a str,
    pub created: i64,
    pub customer: &'a str,
    pub customer_email: Option<&'a str>,
    pub customer_name: Option<&'a str>,
    pub currency: &'a str,
    pub status: &'a str,
    pub number: Option<&'a str>,
    pub total: i64,
    pub subscription: Option<&'a str>,
    pub period: (i64, i64),
    pub metadata: &'a str,
    /// When it left draft (open, paid, void, uncollectible).
    pub finalized_at: Option<i64>,
    /// When it reached its final status (paid/void/uncollectible).
    pub settled_at: Option<i64>,
}

pub(crate) fn invoice(s: &InvoiceSpec<'_>) -> (Doc, Fields) {
    let paid = s.status == "paid";
    let amount_paid = if paid { s.total } else { 0 };
    let remaining = if paid || s.status == "void" { 0 } else { s.total };
    let at = |st: &str| if s.status == st { s.settled_at } else { None };
    let transitions = format!(
        "{{\"finalized_at\":{},\"marked_uncollectible_at\":{},\"paid_at\":{},\"voided_at\":{}}}",
        opt_i64(s.finalized_at),
        opt_i64(at("uncollectible")),
        opt_i64(at("paid")),
        opt_i64(at("void")),
    );
    let parent = match s.subscription {
        Some(sub) => format!(
            "{{\"quote_details\":null,\"subscription_details\":{{\"metadata\":{{}},\"subscription\":{}}},\
             \"type\":\"subscription_details\"}}",
            json_str(sub)
        ),
        None => "null".to_owned(),
    };
    let reason = if s.subscription.is_some() { "\"subscription_cycle\"" } else { "\"manual\"" };
    let total = s.total.to_string();
    let doc = templates().invoice.render(
        &[
            &json_str(s.id),
            &s.created.to_string(),
            &json_str(s.customer),
            &json_opt(s.customer_email),
            &json_opt(s.customer_name),
            &json_str(s.currency),
            &json_str(s.status),
            &json_opt(s.number),
            &total,
            &amount_paid.to_string(),
            &remaining.to_string(),
            &total,
            &total,
            &total,
            &total,
            b(paid),
            if paid { "1" } else { "0" },
            &opt_i64(s.finalized_at),
            &transitions,
            reason,
            &parent,
            &json_opt(s.subscription),
            &s.period.0.to_string(),
            &s.period.1.to_string(),
            s.metadata,
        ],
        None,
    );
    let fields = Fields {
        tag: Some(s.status.into()),
        customer: Some(Arc::from(s.customer)),
        parent: s.subscription.map(Arc::from),
        ..Fields::default()
    };
    (doc, fields)
}

pub(crate) struct LineSpec<'a> {
    pub id: &'a str,
    pub invoice: &'a Arc<str>,
    pub unit_amount: i64,
    pub quantity: u64,
    pub currency: &'a str,
    pub description: Option<&'a str>,
    pub period: (i64, i64),
    pub price: Option<&'a str>,
    pub product: Option<&'a str>,
    pub subscription: Option<&'a str>,
    pub subscription_item: Option<&'a str>,
    /// The invoice item a one-off line comes from (`ii_…`).
    pub invoice_item: &'a str,
}

pub(crate) fn line(s: &LineSpec<'_>) -> (Doc, Fields) {
    let amount = (s.unit_amount.saturating_mul(s.quantity as i64)).to_string();
    let parent = match s.subscription {
        Some(sub) => format!(
            "{{\"invoice_item_details\":null,\"subscription_item_details\":{{\"invoice_item\":null,\
             \"proration\":false,\"proration_details\":{{\"credited_items\":null}},\"subscription\":{},\
             \"subscription_item\":{}}},\"type\":\"subscription_item_details\"}}",
            json_str(sub),
            json_opt(s.subscription_item)
        ),
        None => format!(
            "{{\"invoice_item_details\":{{\"invoice_item\":{},\"proration\":false,\
             \"proration_details\":{{\"credited_items\":null}},\"subscription\":null}},\
             \"subscription_item_details\":null,\"type\":\"invoice_item_details\"}}",
            json_str(s.invoice_item)
        ),
    };
    let details = match s.price {
        Some(p) => format!("{{\"price\":{},\"product\":{}}}", json_str(p), json_opt(s.product)),
        None => "null".to_owned(),
    };
    let pricing = format!(
        "{{\"price_details\":{details},\"type\":\"price_details\",\"unit_amount_decimal\":\"{}\"}}",
        s.unit_amount
    );
    let period = format!("{{\"end\":{},\"start\":{}}}", s.period.1, s.period.0);
    let doc = templates().line.render(
        &[
            &json_str(s.id),
            &json_str(s.invoice),
            &amount,
            &amount,
            &json_str(s.currency),
            &json_opt(s.description),
            &s.quantity.to_string(),
            &period,
            &json_opt(s.subscription),
            &parent,
            &pricing,
            "{}",
        ],
        None,
    );
    let fields = Fields { parent: Some(s.invoice.clone()), ..Fields::default() };
    (doc, fields)
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
