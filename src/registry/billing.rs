//! Billing types: the catalog, customers, subscriptions, invoices. Event
//! lists: `shared/stripe/event-types.txt` (the 2026 spec's `enabled_events`).

use super::defs::{cancel, del, ignore, twin, up, Child, List, TypeDef, PLAIN};

pub const PRODUCT: TypeDef = TypeDef {
    object: "product",
    table: "products",
    path: "/v1/products",
    list: PLAIN,
    events: &[up("product.created"), del("product.deleted"), up("product.updated")],
    child: None,
    columns: &["name", "active", "default_price", "livemode", "created", "updated"],
};

/// "Returns a list of your active prices … For the list of inactive prices,
/// set `active` to false" (GET /v1/prices). Prices have no API delete, yet
/// Stripe sends `price.deleted` beside `plan.deleted`.
pub const PRICE: TypeDef = TypeDef {
    object: "price",
    table: "prices",
    path: "/v1/prices",
    list: List { queries: &[&[("active", "true")], &[("active", "false")]], per: None, created: "created" },
    events: &[
        up("price.created"),
        del("price.deleted"),
        up("price.updated"),
        // The same object in the legacy plan shape: the price.* twin (or a
        // retrieve of the price) is stored, never the plan.
        twin("plan.created", "price"),
        del("plan.deleted"),
        twin("plan.updated", "price"),
    ],
    child: None,
    columns: &[
        "product",
        "active",
        "currency",
        "unit_amount",
        "type",
        "recurring_interval",
        "recurring_interval_count",
        "lookup_key",
        "nickname",
        "livemode",
        "created",
    ],
};

const NOT_MIRRORED: &str = "not mirrored";

pub const CUSTOMER: TypeDef = TypeDef {
    object: "customer",
    table: "customers",
    path: "/v1/customers",
    list: PLAIN,
    events: &[
        up("customer.created"),
        del("customer.deleted"),
        up("customer.updated"),
        // Discounts, sources and tax ids are objects of their own.
        ignore("customer.discount.created", NOT_MIRRORED),
        ignore("customer.discount.deleted", NOT_MIRRORED),
        ignore("customer.discount.updated", NOT_MIRRORED),
        ignore("customer.source.created", NOT_MIRRORED),
        ignore("customer.source.deleted", NOT_MIRRORED),
        ignore("customer.source.expiring", NOT_MIRRORED),
        ignore("customer.source.updated", NOT_MIRRORED),
        ignore("customer.tax_id.created", NOT_MIRRORED),
        ignore("customer.tax_id.deleted", NOT_MIRRORED),
        ignore("customer.tax_id.updated", NOT_MIRRORED),
    ],
    child: None,
    columns: &["email", "name", "currency", "balance", "delinquent", "livemode", "created"],
};

/// "By default, returns a list of subscriptions that have not been
/// canceled": `status=all` lists every one.
pub const SUBSCRIPTION: TypeDef = TypeDef {
    object: "subscription",
    table: "subscriptions",
    path: "/v1/subscriptions",
    list: List { queries: &[&[("status", "all")]], per: None, created: "created" },
    events: &[
        up("customer.subscription.created"),
        // A canceled subscription is a state: the object has status `canceled`.
        cancel("customer.subscription.deleted"),
        up("customer.subscription.paused"),
        up("customer.subscription.pending_update_applied"),
        up("customer.subscription.pending_update_expired"),
        up("customer.subscription.resumed"),
        up("customer.subscription.trial_will_end"),
        up("customer.subscription.updated"),
    ],
    // No subscription_item.* events exist: items arrive inside the subscription.
    child: Some(Child {
        table: "subscription_items",
        parent_column: "subscription",
        embedded: Some("items"),
        path: "/v1/subscription_items",
        param: Some("subscription"),
        columns: &["price", "product", "quantity", "current_period_start", "current_period_end", "created"],
    }),
    columns: &[
        "customer",
        "status",
        "currency",
        "collection_method",
        "cancel_at_period_end",
        "current_period_start",
        "current_period_end",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "trial_end",
        "livemode",
        "created",
    ],
};

pub const INVOICE: TypeDef = TypeDef {
    object: "invoice",
    table: "invoices",
    path: "/v1/invoices",
    list: PLAIN,
    events: &[
        up("invoice.created"),
        // Drafts only can be deleted.
        del("invoice.deleted"),
        up("invoice.finalization_failed"),
        up("invoice.finalized"),
        up("invoice.marked_uncollectible"),
        up("invoice.overdue"),
        up("invoice.overpaid"),
        up("invoice.paid"),
        up("invoice.payment_action_required"),
        up("invoice.payment_attempt_required"),
        up("invoice.payment_failed"),
        up("invoice.payment_succeeded"),
        up("invoice.sent"),
        // Describes an invoice that does not exist yet (it has no id).
        ignore("invoice.upcoming", "upcoming invoice"),
        up("invoice.updated"),
        up("invoice.voided"),
        up("invoice.will_be_due"),
    ],
    child: Some(Child {
        table: "invoice_line_items",
        parent_column: "invoice",
        embedded: Some("lines"),
        path: "/v1/invoices/{id}/lines",
        param: None,
        columns: &[
            "amount",
            "currency",
            "description",
            "quantity",
            "price",
            "subscription",
            "period_start",
            "period_end",
        ],
    }),
    columns: &[
        "customer",
        "subscription",
        "status",
        "number",
        "currency",
        "amount_due",
        "amount_paid",
        "amount_remaining",
        "subtotal",
        "total",
        "due_date",
        "period_start",
        "period_end",
        "paid_at",
        "livemode",
        "created",
    ],
};
