//! `stripe-sim`: a stateful simulator of the slice of the Stripe API that
//! stripe-mirror uses — list and retrieve for products, prices, plans,
//! customers, subscriptions (+ items), invoices (+ lines) and events — that
//! also changes state like the Dashboard, emits Stripe's events, delivers
//! them as signed webhooks, and injects faults on both paths.
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
//! # Layout
//!
//! - [`sim`](crate::Sim) (`sim.rs`) — the handle: start/shutdown, clock,
//!   faults, webhook endpoints, stats; the shared state all tasks see.
//! - `store` — objects as JSON text with holes for embedded objects, the
//!   per-kind ordered indexes, Stripe pagination, rendering of objects,
//!   deleted stubs, embedded lists and list bodies.
//! - `objects` — fixtures turned into templates; one builder per kind; ids;
//!   the plan view of a price; `previous_attributes`.
//! - `events` — the event envelope and the event log behind `/v1/events`.
//! - `webhooks` — endpoints (enabled events, status, API version),
//!   `Stripe-Signature`, the delivery queue (retry, backoff,
//!   drop/duplicate/delay/reorder faults), its worker task and an optional
//!   per-attempt delivery log.
//! - `api` — the warp front door: auth, API faults, `/v1` reads, the
//!   webhook endpoints API (form-encoded bodies), Stripe's error bodies and
//!   headers; hands `/_sim` to `mutate`.
//! - `versions` — the Stripe API versions the simulator knows.
//! - `account` — accounts and API keys.
//! - [`mutate`] — the Dashboard operations (Rust methods on [`Sim`]) and the
//!   `/_sim` HTTP routes (documented there).
//! - [`faults`] — fault knobs, the rate limiter, request counters.
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
    CustomerParams, InvoiceParams, ItemParams, LineParams, PriceParams, ProductParams, Recurring, SubscriptionParams,
    SubscriptionUpdate,
};
pub use seed::{SeedReport, SeedSpec};
pub use sim::{Sim, SimConfig};
pub use snapshot::SnapshotRow;
pub use store::Kind;
pub use versions::{is_known_api_version, API_VERSION, PRE_BASIL_API_VERSION};
pub use webhooks::{sign, signature_header, DeliveryRecord, DeliveryStats, WebhookEndpoint, MAX_ENDPOINTS_PER_ACCOUNT};

pub(crate) use sim::Shared;
