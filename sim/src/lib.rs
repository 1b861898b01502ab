//! `stripe-sim`: a stateful simulator of the slice of the Stripe API that
//! stripe-mirror uses — list and retrieve for products, prices, plans,
//! customers, subscriptions (+ items), invoices (+ lines) and events,
//! `GET /v1/account` and the webhook endpoints API — that also changes state
//! like the Dashboard, emits Stripe's events, delivers them as signed
//! webhooks, and injects faults on both paths.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stripe_sim::SimError> {
//! use stripe_sim::{CustomerParams, Sim, SimConfig};
//! let sim = Sim::start(SimConfig::default()).await?;
//! sim.add_webhook_endpoint("http://127.0.0.1:8080/webhooks/stripe", vec!["whsec_test".into()]);
//! let cus = sim.create_customer(CustomerParams::email("a@example.com"))?;
//! sim.flush_webhooks().await?;
//! // GET {sim.base_url()}/v1/customers/{cus["id"]} with `Authorization: Bearer sk_test_sim`
//! # let _ = cus; Ok(()) }
//! ```
//!
//! # Behaving as Stripe documents (facts.md)
//!
//! - **Accounts and keys.** [`SimConfig::api_key`] reads the main account
//!   ([`SimConfig::account_id`]); its prefix sets the mode (`sk_live_`:
//!   `livemode: true` everywhere). [`Sim::add_other_account_key`] adds a key
//!   of an empty account, [`Sim::add_restricted_key`] a key that reads
//!   everything but `GET /v1/account` (403), [`Sim::restrict_key`] takes
//!   endpoints away from a key.
//! - **API versions.** One canonical state in today's shapes, rendered per
//!   request (`Stripe-Version`, else the account default,
//!   [`SimConfig::default_api_version`] / [`Sim::set_default_api_version`]);
//!   versions before `2025-03-31.basil` (e.g. [`PRE_BASIL_API_VERSION`])
//!   get the pre-basil shapes. Events are rendered once, at the default of
//!   their moment; endpoints with an `api_version` get them in theirs.
//!   [`Sim::snapshot`] is at the pinned [`API_VERSION`], [`Sim::snapshot_at`]
//!   at any.
//! - **Webhook endpoints API.** `POST/GET/DELETE /v1/webhook_endpoints`,
//!   form-encoded, at most [`MAX_ENDPOINTS_PER_ACCOUNT`]; deliveries follow
//!   each endpoint's `enabled_events`, status and version.
//! - **Custom ids.** A deleted product's (or plan's) id can be created
//!   again: a new incarnation.
//! - **Rate limits.** Account-wide ([`ApiFaults::max_requests_per_sec`],
//!   `Stripe-Rate-Limited-Reason: global-rate`) and per operation
//!   ([`ApiFaults::per_operation_requests_per_sec`], `endpoint-rate`), plus
//!   `lock_timeout` 429s ([`ApiFaults::lock_timeout_fraction`]); counted by
//!   reason in [`RequestStats::limited`].
//! - **Cursors and children.** A `starting_after`/`ending_before` naming a
//!   deleted object is 400 `resource_missing`; a deleted invoice's lines are
//!   404; with [`ApiFaults::canceled_subscription_items_empty`] a canceled
//!   subscription's item list is Stripe's empty one.
//!
//! # Layout
//!
//! - [`sim`](crate::Sim) (`sim.rs`) — the handle: start/shutdown, clock,
//!   faults, webhook endpoints, stats; the shared state all tasks see.
//!   `handle.rs`: the handle's keys, API versions and versioned reads.
//! - `account` — accounts and API keys: which account a key reads, its mode,
//!   what it may not do, the account object.
//! - `versions` — the Stripe API versions that exist, and the pre-basil
//!   shapes of subscriptions, items and invoices.
//! - `store` — objects as JSON text with holes for embedded objects, the
//!   per-kind ordered indexes, Stripe pagination, rendering of objects (in a
//!   requested version), deleted stubs, embedded lists and list bodies.
//! - `objects` — fixtures turned into templates; one builder per kind; ids;
//!   the plan view of a price; `previous_attributes`.
//! - `events` — the event envelope (rendered per version) and the event log
//!   behind `/v1/events`.
//! - `webhooks` — endpoints (enabled events, status, API version),
//!   `Stripe-Signature`, the delivery queue (retry, backoff,
//!   drop/duplicate/delay/reorder faults), its worker task and an optional
//!   per-attempt delivery log.
//! - `api` — the warp front door: keys and permissions, API faults and rate
//!   limiters, `Stripe-Version`, `/v1` reads, `/v1/account`, the webhook
//!   endpoints API (form-encoded bodies), Stripe's error bodies and headers;
//!   hands `/_sim` to `mutate`.
//! - [`mutate`] — the Dashboard operations (Rust methods on [`Sim`]) and the
//!   `/_sim` HTTP routes (documented there).
//! - [`faults`] — fault knobs, the rate limiters, request counters.
//! - `seed` — bulk seeding without events.
//! - `history` — a scripted account history ([`HistorySpec`]) for
//!   end-to-end tests: thousands of operations, many per simulated second.
//! - `snapshot` — every object of a kind, for row-by-row comparison.
//! - `clock` — the settable simulated clock and HTTP dates.
//! - `error` — [`SimError`].

mod account;
mod api;
mod clock;
mod error;
mod events;
pub mod faults;
mod handle;
mod history;
pub mod mutate;
mod objects;
mod seed;
mod sim;
mod snapshot;
mod store;
mod versions;
mod webhooks;

pub use clock::http_date;
pub use error::SimError;
pub use faults::{ApiFaults, DeliveryFaults, Faults, RequestStats};
pub use history::{HistoryReport, HistorySpec};
pub use mutate::{
    ChargeParams, CheckoutLineParams, CheckoutSessionParams, CouponParams, CreditNoteLineParams, CreditNoteParams,
    CustomerParams, DisputeParams, InvoiceItemParams, InvoiceParams, ItemParams, LineParams, PaymentIntentParams,
    PaymentMethodParams, PriceParams, ProductParams, PromotionCodeParams, Recurring, RefundParams, SetupIntentParams,
    SubscriptionParams, SubscriptionScheduleParams, SubscriptionUpdate, TaxRateParams,
};
pub use seed::{SeedReport, SeedSpec};
pub use sim::{Sim, SimConfig};
pub use snapshot::SnapshotRow;
pub use store::Kind;
pub use versions::{is_known_api_version, API_VERSION, PRE_BASIL_API_VERSION};
pub use webhooks::{sign, signature_header, DeliveryRecord, DeliveryStats, WebhookEndpoint, MAX_ENDPOINTS_PER_ACCOUNT};

pub(crate) use sim::Shared;
