//! Stripe's fixtures (sim/fixtures/, copied unchanged from stripe/openapi
//! fixtures3.json) turned into templates.
//!
//! Generator filler is normalised first (placeholder ids, `"currency":
//! "currency"`, random numbers, objects where a fresh account has `null`);
//! every key the fixture carries is kept, including legacy ones the current
//! API version no longer documents (`product.type`, `invoice.subscription`,
//! `subscription_item.plan`, `line_item.subscription`), because the mirror
//! must store unknown fields verbatim.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::store::{HoleKind, Template};

pub(crate) struct Templates {
    pub product: Template,
    pub price: Template,
    pub customer: Template,
    pub subscription: Template,
    pub item: Template,
    pub invoice: Template,
    pub line: Template,
}

/// Slots of each template, in the order the builders pass values.
pub(crate) const PRODUCT_SLOTS: &[&str] =
    &["/id", "/created", "/updated", "/name", "/description", "/active", "/metadata", "/default_price"];
pub(crate) const PRICE_SLOTS: &[&str] = &[
    "/id",
    "/created",
    "/product",
    "/active",
    "/currency",
    "/unit_amount",
    "/unit_amount_decimal",
    "/recurring",
    "/type",
    "/nickname",
    "/lookup_key",
    "/metadata",
];
pub(crate) const CUSTOMER_SLOTS: &[&str] =
    &["/id", "/created", "/email", "/name", "/description", "/invoice_prefix", "/metadata"];
pub(crate) const SUBSCRIPTION_SLOTS: &[&str] = &[
    "/id",
    "/created",
    "/customer",
    "/status",
    "/start_date",
    "/billing_cycle_anchor",
    "/canceled_at",
    "/ended_at",
    "/cancellation_details",
    "/currency",
    "/metadata",
];
pub(crate) const ITEM_SLOTS: &[&str] =
    &["/id", "/created", "/subscription", "/quantity", "/current_period_start", "/current_period_end", "/metadata"];
pub(crate) const INVOICE_SLOTS: &[&str] = &[
    "/id",
    "/created",
    "/customer",
    "/customer_email",
    "/customer_name",
    "/currency",
    "/status",
    "/number",
    "/amount_due",
    "/amount_paid",
    "/amount_remaining",
    "/subtotal",
    "/subtotal_excluding_tax",
    "/total",
    "/total_excluding_tax",
    "/attempted",
    "/attempt_count",
    "/effective_at",
    "/status_transitions",
    "/billing_reason",
    "/parent",
    "/subscription",
    "/period_start",
    "/period_end",
    "/metadata",
];
pub(crate) const LINE_SLOTS: &[&str] = &[
    "/id",
    "/invoice",
    "/amount",
    "/subtotal",
    "/currency",
    "/description",
    "/quantity",
    "/period",
    "/subscription",
    "/parent",
    "/pricing",
    "/metadata",
];

pub(crate) fn templates() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(|| Templates {
        product: Template::compile(product_base(), PRODUCT_SLOTS, &[]),
        price: Template::compile(price_base(), PRICE_SLOTS, &[]),
        customer: Template::compile(customer_base(), CUSTOMER_SLOTS, &[]),
        subscription: Template::compile(subscription_base(), SUBSCRIPTION_SLOTS, &[("/items", HoleKind::Items)]),
        item: Template::compile(item_base(), ITEM_SLOTS, &[("/price", HoleKind::Price), ("/plan", HoleKind::Plan)]),
        invoice: Template::compile(invoice_base(), INVOICE_SLOTS, &[("/lines", HoleKind::Lines)]),
        line: Template::compile(line_base(), LINE_SLOTS, &[]),
    })
}

/// The bundled fixtures are part of the binary; a parse failure is a build
/// defect caught by the unit tests, never input-dependent.
fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("bundled fixture is valid JSON")
}

fn set(v: &mut Value, pairs: &[(&str, Value)]) {
    for (ptr, val) in pairs {
        if let Some(slot) = v.pointer_mut(ptr) {
            *slot = val.clone();
        }
    }
}

fn product_base() -> Value {
    let mut v = fixture(include_str!("../../fixtures/product.json"));
    set(&mut v, &[("/package_dimensions", Value::Null)]);
    v
}

fn price_base() -> Value {
    let mut v = fixture(include_str!("../../fixtures/price.json"));
    set(&mut v, &[("/custom_unit_amount", Value::Null), ("/transform_quantity", Value::Null)]);
    v
}

/// The plan fixture: the shape [`super::plan_from_price`] fills.
pub(crate) fn plan_base() -> Value {
    let mut v = fixture(include_str!("../../fixtures/plan.json"));
    set(&mut v, &[("/transform_usage", Value::Null)]);
    v
}

fn customer_base() -> Value {
    let mut v = fixture(include_str!("../../fixtures/customer.json"));
    set(
        &mut v,
        &[
            ("/address", Value::Null),
            ("/discount", Value::Null),
            ("/shipping", Value::Null),
            ("/currency", Value::Null),
        ],
    );
    v
}

fn subscription_base() -> Value {
    let mut v = fixture(include_str!("../../fixtures/subscription.json"));
    let nulls = [
        "/cancel_at",
        "/next_pending_invoice_item_invoice",
        "/pause_collection",
        "/pending_invoice_item_interval",
        "/pending_update",
        "/transfer_data",
        "/trial_end",
        "/trial_start",
        "/billing_cycle_anchor_config",
        "/managed_payments",
    ];
    for p in nulls {
        set(&mut v, &[(p, Value::Null)]);
    }
    set(
        &mut v,
        &[
            ("/cancel_at_period_end", json!(false)),
            ("/billing_mode", json!({"type": "classic", "flexible": null})),
            ("/billing_schedules", json!([])),
            ("/billing_thresholds", Value::Null),
        ],
    );
    v
}

fn item_base() -> Value {
    let mut v = fixture(include_str!("../../fixtures/subscription_item.json"));
    set(&mut v, &[("/billing_thresholds", Value::Null)]);
    v
}

fn invoice_base() -> Value {
    let mut v = fixture(include_str!("../../fixtures/invoice.json"));
    let nulls = [
        "/customer_address",
        "/customer_shipping",
        "/due_date",
        "/from_invoice",
        "/last_finalization_error",
        "/next_payment_attempt",
        "/shipping_cost",
        "/shipping_details",
        "/webhooks_delivered_at",
    ];
    for p in nulls {
        set(&mut v, &[(p, Value::Null)]);
    }
    set(&mut v, &[("/amount_overpaid", json!(0)), ("/auto_advance", json!(true))]);
    v
}

fn line_base() -> Value {
    fixture(include_str!("../../fixtures/line_item.json"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles_from_its_fixture() {
        let _ = super::templates();
        let _ = super::plan_base();
    }
}
