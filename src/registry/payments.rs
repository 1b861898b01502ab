//! Payment types: intents, charges with their refunds and disputes, payment
//! methods, setup intents, checkout sessions. Event lists: stripe-node's
//! `WebhookEndpointCreateParams.EnabledEvent`, and `refund.failed`, which
//! Stripe sends for every refund since 2024-10-28.acacia
//! (docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update).
//! None of these types can be deleted, so none has a delete event.

use super::defs::{up, Child, List, PerParent, TypeDef, PLAIN};

pub const PAYMENT_INTENT: TypeDef = TypeDef {
    object: "payment_intent",
    table: "payment_intents",
    path: "/v1/payment_intents",
    list: PLAIN,
    events: &[
        up("payment_intent.amount_capturable_updated"),
        up("payment_intent.canceled"),
        up("payment_intent.created"),
        up("payment_intent.partially_funded"),
        up("payment_intent.payment_failed"),
        up("payment_intent.processing"),
        up("payment_intent.requires_action"),
        up("payment_intent.succeeded"),
    ],
    child: None,
    columns: &[
        "customer",
        "status",
        "amount",
        "amount_received",
        "currency",
        "payment_method",
        "latest_charge",
        "invoice",
        "description",
        "canceled_at",
        "livemode",
        "created",
    ],
};

/// `charge.refunded` carries the charge (its `amount_refunded`); the refund
/// itself arrives as `refund.created` and, under `charge.*`, as
/// `charge.refund.updated` (a refund object: see [`REFUND`]). A charge's
/// `refunds` list is not included by default since 2022-11-15; refunds are
/// a table of their own.
pub const CHARGE: TypeDef = TypeDef {
    object: "charge",
    table: "charges",
    path: "/v1/charges",
    list: PLAIN,
    events: &[
        up("charge.captured"),
        up("charge.expired"),
        up("charge.failed"),
        up("charge.pending"),
        up("charge.refunded"),
        up("charge.succeeded"),
        up("charge.updated"),
    ],
    child: None,
    columns: &[
        "customer",
        "payment_intent",
        "invoice",
        "payment_method",
        "balance_transaction",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "paid",
        "captured",
        "refunded",
        "disputed",
        "failure_code",
        "livemode",
        "created",
    ],
};

pub const REFUND: TypeDef = TypeDef {
    object: "refund",
    table: "refunds",
    path: "/v1/refunds",
    list: PLAIN,
    events: &[up("refund.created"), up("refund.failed"), up("refund.updated"), up("charge.refund.updated")],
    child: None,
    columns: &["charge", "payment_intent", "status", "reason", "amount", "currency", "created"],
};

/// Every `charge.dispute.*` event carries the dispute, not the charge.
pub const DISPUTE: TypeDef = TypeDef {
    object: "dispute",
    table: "disputes",
    path: "/v1/disputes",
    list: PLAIN,
    events: &[
        up("charge.dispute.closed"),
        up("charge.dispute.created"),
        up("charge.dispute.funds_reinstated"),
        up("charge.dispute.funds_withdrawn"),
        up("charge.dispute.updated"),
    ],
    child: None,
    columns: &[
        "charge",
        "payment_intent",
        "status",
        "reason",
        "amount",
        "currency",
        "evidence_due_by",
        "is_charge_refundable",
        "livemode",
        "created",
    ],
};

/// Listed per customer only (`GET /v1/payment_methods` without `customer`
/// lists Treasury payment methods). Detaching is not deleting: "After a
/// PaymentMethod is detached, it can no longer be used for a payment or
/// re-attached to a Customer" — `payment_method.detached` carries the
/// method with `customer: null`, and that state is final.
pub const PAYMENT_METHOD: TypeDef = TypeDef {
    object: "payment_method",
    table: "payment_methods",
    path: "/v1/payment_methods",
    list: List {
        queries: &[&[]],
        per: Some(PerParent { parent: "customers", path: "/v1/customers/{id}/payment_methods", column: "customer" }),
        created: "created",
    },
    events: &[
        up("payment_method.attached"),
        up("payment_method.automatically_updated"),
        up("payment_method.detached"),
        up("payment_method.updated"),
    ],
    child: None,
    columns: &[
        "customer",
        "type",
        "card_brand",
        "card_last4",
        "card_exp_month",
        "card_exp_year",
        "livemode",
        "created",
    ],
};

pub const SETUP_INTENT: TypeDef = TypeDef {
    object: "setup_intent",
    table: "setup_intents",
    path: "/v1/setup_intents",
    list: PLAIN,
    events: &[
        up("setup_intent.canceled"),
        up("setup_intent.created"),
        up("setup_intent.requires_action"),
        up("setup_intent.setup_failed"),
        up("setup_intent.succeeded"),
    ],
    child: None,
    columns: &["customer", "payment_method", "status", "usage", "livemode", "created"],
};

/// No `checkout.session.created` event: a session reaches the push path
/// when it completes or expires (24 h after creation by default); open
/// sessions arrive through the sweep. Line items are an includable field,
/// absent from events and lists: they are paged from
/// `/v1/checkout/sessions/{id}/line_items` for every session state written.
pub const CHECKOUT_SESSION: TypeDef = TypeDef {
    object: "checkout.session",
    table: "checkout_sessions",
    path: "/v1/checkout/sessions",
    list: PLAIN,
    events: &[
        up("checkout.session.async_payment_failed"),
        up("checkout.session.async_payment_succeeded"),
        up("checkout.session.completed"),
        up("checkout.session.expired"),
    ],
    child: Some(Child {
        table: "checkout_session_line_items",
        parent_column: "checkout_session",
        embedded: None,
        path: "/v1/checkout/sessions/{id}/line_items",
        param: None,
        columns: &[
            "price",
            "product",
            "quantity",
            "currency",
            "amount_subtotal",
            "amount_discount",
            "amount_tax",
            "amount_total",
            "description",
        ],
    }),
    columns: &[
        "customer",
        "customer_email",
        "status",
        "payment_status",
        "mode",
        "amount_subtotal",
        "amount_total",
        "currency",
        "payment_intent",
        "setup_intent",
        "subscription",
        "invoice",
        "payment_link",
        "client_reference_id",
        "expires_at",
        "livemode",
        "created",
    ],
};
