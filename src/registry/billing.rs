//! Billing types: the catalog, customers, subscriptions, invoices and what
//! adjusts them. Event lists: `tests/data/event-types.txt` (the 2026
//! spec's `enabled_events`) for the first five, stripe-node's
//! `WebhookEndpointCreateParams.EnabledEvent` for the rest
//! (<https://docs.stripe.com/api/events/types>).

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

/// Custom ids, and a deletion that is final for the id's incarnation only:
/// a coupon created again under a deleted id replaces the tombstone (its
/// own `created` is later; see `store`).
pub const COUPON: TypeDef = TypeDef {
    object: "coupon",
    table: "coupons",
    path: "/v1/coupons",
    list: PLAIN,
    events: &[up("coupon.created"), del("coupon.deleted"), up("coupon.updated")],
    child: None,
    columns: &[
        "name",
        "amount_off",
        "percent_off",
        "currency",
        "duration",
        "duration_in_months",
        "max_redemptions",
        "times_redeemed",
        "redeem_by",
        "valid",
        "livemode",
        "created",
    ],
};

/// No delete: a promotion code is deactivated (`active: false`), and the
/// list's `active` filter is optional (omitted: every code).
pub const PROMOTION_CODE: TypeDef = TypeDef {
    object: "promotion_code",
    table: "promotion_codes",
    path: "/v1/promotion_codes",
    list: PLAIN,
    events: &[up("promotion_code.created"), up("promotion_code.updated")],
    child: None,
    columns: &[
        "code",
        "coupon",
        "customer",
        "active",
        "expires_at",
        "max_redemptions",
        "times_redeemed",
        "livemode",
        "created",
    ],
};

/// No delete: tax rates are archived (`active: false`).
pub const TAX_RATE: TypeDef = TypeDef {
    object: "tax_rate",
    table: "tax_rates",
    path: "/v1/tax_rates",
    list: PLAIN,
    events: &[up("tax_rate.created"), up("tax_rate.updated")],
    child: None,
    columns: &[
        "display_name",
        "percentage",
        "inclusive",
        "active",
        "country",
        "state",
        "jurisdiction",
        "tax_type",
        "livemode",
        "created",
    ],
};

/// `invoiceitem.updated` is gone from the API (stripe-node v15.0.0, API
/// 2024-04-10: "Remove deprecated events invoiceitem.updated"): an item
/// changed in place, or pulled into an invoice, sends no event of its own;
/// the sweep is how such changes arrive. The creation time is `date`.
pub const INVOICE_ITEM: TypeDef = TypeDef {
    object: "invoiceitem",
    table: "invoice_items",
    path: "/v1/invoiceitems",
    list: List { queries: &[&[]], per: None, created: "date" },
    events: &[up("invoiceitem.created"), del("invoiceitem.deleted")],
    child: None,
    columns: &[
        "customer",
        "invoice",
        "subscription",
        "price",
        "amount",
        "currency",
        "quantity",
        "description",
        "proration",
        "period_start",
        "period_end",
        "livemode",
        "created",
    ],
};

/// No delete: a credit note is voided (`credit_note.voided`).
pub const CREDIT_NOTE: TypeDef = TypeDef {
    object: "credit_note",
    table: "credit_notes",
    path: "/v1/credit_notes",
    list: PLAIN,
    events: &[up("credit_note.created"), up("credit_note.updated"), up("credit_note.voided")],
    child: Some(Child {
        table: "credit_note_line_items",
        parent_column: "credit_note",
        embedded: Some("lines"),
        path: "/v1/credit_notes/{id}/lines",
        param: None,
        columns: &["type", "invoice_line_item", "amount", "quantity", "unit_amount", "description"],
    }),
    columns: &[
        "customer",
        "invoice",
        "status",
        "type",
        "number",
        "reason",
        "currency",
        "amount",
        "subtotal",
        "total",
        "effective_at",
        "voided_at",
        "livemode",
        "created",
    ],
};

/// No delete: schedules end canceled, completed or released.
pub const SUBSCRIPTION_SCHEDULE: TypeDef = TypeDef {
    object: "subscription_schedule",
    table: "subscription_schedules",
    path: "/v1/subscription_schedules",
    list: PLAIN,
    events: &[
        up("subscription_schedule.aborted"),
        up("subscription_schedule.canceled"),
        up("subscription_schedule.completed"),
        up("subscription_schedule.created"),
        up("subscription_schedule.expiring"),
        up("subscription_schedule.released"),
        up("subscription_schedule.updated"),
    ],
    child: None,
    columns: &[
        "customer",
        "subscription",
        "released_subscription",
        "status",
        "end_behavior",
        "current_phase_start",
        "current_phase_end",
        "canceled_at",
        "completed_at",
        "released_at",
        "livemode",
        "created",
    ],
};
