//! Seeding: a realistic account built directly in the store, without
//! events or webhooks (seeded history predates any listener). `created`
//! times spread over the past months; a seeded account of a million objects
//! takes seconds because every object comes from a template.

mod billing;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::objects::{self, id_format, plan_from_price, random_id};
use crate::store::{Doc, Fields, Kind, Record, State};
use crate::{Shared, Sim};

/// What to seed. Fractions are in 0..=1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SeedSpec {
    pub products: usize,
    pub prices_per_product: usize,
    /// Share of prices that are recurring (the rest are one-time).
    pub recurring_fraction: f64,
    pub inactive_price_fraction: f64,
    pub customers: usize,
    /// Customers seeded as already deleted.
    pub deleted_customer_fraction: f64,
    pub subscriptions: usize,
    pub items_per_subscription: usize,
    pub canceled_fraction: f64,
    pub invoices: usize,
    pub lines_per_invoice: usize,
    /// `created` spreads over this many days before now.
    pub history_days: u32,
    /// Same seed, same ids and values.
    pub rng_seed: u64,
}

impl Default for SeedSpec {
    fn default() -> Self {
        SeedSpec::small()
    }
}

impl SeedSpec {
    /// A few of everything (tests).
    pub fn small() -> SeedSpec {
        SeedSpec {
            products: 5,
            prices_per_product: 2,
            recurring_fraction: 0.75,
            inactive_price_fraction: 0.1,
            customers: 20,
            deleted_customer_fraction: 0.0,
            subscriptions: 15,
            items_per_subscription: 2,
            canceled_fraction: 0.2,
            invoices: 20,
            lines_per_invoice: 2,
            history_days: 180,
            rng_seed: 42,
        }
    }

    /// About 5,000 objects (`stripe-mirror demo`).
    pub fn demo() -> SeedSpec {
        SeedSpec {
            products: 20,
            prices_per_product: 3,
            customers: 1000,
            subscriptions: 800,
            items_per_subscription: 2,
            invoices: 800,
            lines_per_invoice: 2,
            ..SeedSpec::small()
        }
    }

    /// About 1,000,000 objects (benchmarks).
    pub fn bench() -> SeedSpec {
        SeedSpec {
            products: 1000,
            prices_per_product: 4,
            customers: 200_000,
            subscriptions: 150_000,
            items_per_subscription: 2,
            invoices: 100_000,
            lines_per_invoice: 2,
            ..SeedSpec::small()
        }
    }

    /// `small`, `demo` or `bench`.
    pub fn named(name: &str) -> Option<SeedSpec> {
        match name {
            "small" => Some(SeedSpec::small()),
            "demo" => Some(SeedSpec::demo()),
            "bench" => Some(SeedSpec::bench()),
            _ => None,
        }
    }
}

/// What seeding made.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SeedReport {
    /// Objects created, plans not counted (they are views of prices).
    pub objects: usize,
    pub by_kind: BTreeMap<String, usize>,
    pub elapsed_ms: u64,
}

impl Sim {
    /// Seed the account (no events, no webhooks).
    pub fn seed(&self, spec: &SeedSpec) -> SeedReport {
        seed(&self.shared, spec)
    }
}

struct PriceRef {
    id: Arc<str>,
    product: Arc<str>,
    interval: &'static str,
    amount: i64,
}

struct CustomerRef {
    id: Arc<str>,
    created: i64,
    prefix: String,
    /// `customer{n}@example.com` / `Customer {n}`.
    n: usize,
}

/// The seeding pass, under one write lock.
struct Seeder<'a> {
    st: &'a mut State,
    rng: fastrand::Rng,
    now: i64,
    start: i64,
    /// Objects made, per kind (indexed like `Kind::ALL`).
    counts: [usize; Kind::ALL.len()],
}

pub(crate) fn seed(shared: &Shared, spec: &SeedSpec) -> SeedReport {
    let began = Instant::now();
    let now = shared.clock.now();
    let mut st = shared.write();
    let mut s = Seeder {
        st: &mut st,
        rng: fastrand::Rng::with_seed(spec.rng_seed),
        now,
        start: now - i64::from(spec.history_days.max(1)) * 86_400,
        counts: [0; Kind::ALL.len()],
    };
    let prices = s.catalog(spec);
    let customers = s.customers(spec);
    let subs = s.subscriptions(spec, &customers, &prices);
    s.invoices(spec, &customers, &prices, &subs);
    let mut report = SeedReport::default();
    for kind in Kind::ALL {
        let n = s.counts[kind as usize];
        if n > 0 {
            report.by_kind.insert(kind.plural().to_owned(), n);
        }
        if kind != Kind::Plan {
            report.objects += n;
        }
    }
    report.elapsed_ms = began.elapsed().as_millis() as u64;
    report
}

impl Seeder<'_> {
    fn id(&mut self, kind: Kind) -> String {
        let (prefix, len) = id_format(kind);
        loop {
            let id = random_id(&mut self.rng, prefix, len);
            if !self.st.id_taken(kind, &id) {
                return id;
            }
        }
    }

    fn put(&mut self, kind: Kind, id: &str, created: i64, (doc, fields): (Doc, Fields)) -> Arc<str> {
        let id: Arc<str> = Arc::from(id);
        let seq = self.st.next_seq();
        self.st.table_mut(kind).insert(Record { id: id.clone(), created, seq, doc, deleted: false, fields });
        self.counts[kind as usize] += 1;
        id
    }

    /// A time between `from` and now.
    fn after(&mut self, from: i64) -> i64 {
        let from = from.clamp(self.start, self.now);
        self.rng.i64(from..=self.now)
    }

    /// A time in the first tenth of the history: the catalog exists before
    /// the customers who subscribe to it.
    fn early(&mut self, from: i64) -> i64 {
        let end = self.start + (self.now - self.start) / 10;
        self.rng.i64(from.clamp(self.start, end)..=end)
    }

    fn catalog(&mut self, spec: &SeedSpec) -> Vec<PriceRef> {
        let mut recurring = Vec::new();
        for i in 0..spec.products {
            let id = self.id(Kind::Product);
            let created = self.early(self.start);
            let built = objects::product(&objects::ProductSpec {
                id: &id,
                created,
                name: &format!("Product {i}"),
                description: None,
                active: true,
                metadata: "{}",
                default_price: None,
            });
            let product = self.put(Kind::Product, &id, created, built);
            for _ in 0..spec.prices_per_product {
                if let Some(p) = self.price(spec, &product, created) {
                    recurring.push(p);
                }
            }
        }
        recurring
    }

    /// One price (and its plan if recurring); returns active recurring ones.
    fn price(&mut self, spec: &SeedSpec, product: &Arc<str>, after: i64) -> Option<PriceRef> {
        let id = self.id(Kind::Price);
        let created = self.early(after);
        let is_recurring = self.rng.f64() < spec.recurring_fraction;
        let interval = ["month", "month", "month", "year", "week"][self.rng.usize(..5)];
        let active = self.rng.f64() >= spec.inactive_price_fraction;
        let amount = self.rng.i64(5..500) * 100;
        let built = objects::price(&objects::PriceSpec {
            id: &id,
            created,
            product,
            active,
            currency: "usd",
            unit_amount: amount,
            recurring: is_recurring.then_some((interval, 1)),
            nickname: None,
            lookup_key: None,
            metadata: "{}",
        });
        let text = built.0.text.to_string();
        let id = self.put(Kind::Price, &id, created, built);
        if !is_recurring {
            return None;
        }
        let price: serde_json::Value = serde_json::from_str(&text).ok()?;
        let plan = plan_from_price(&price);
        self.put(Kind::Plan, &id, created, objects::to_doc(Kind::Plan, &plan));
        active.then(|| PriceRef { id, product: product.clone(), interval, amount })
    }

    fn customers(&mut self, spec: &SeedSpec) -> Vec<CustomerRef> {
        let mut live = Vec::with_capacity(spec.customers);
        for i in 0..spec.customers {
            let id = self.id(Kind::Customer);
            let created = self.after(self.start + (self.now - self.start) / 10);
            let prefix = format!("{:08X}", self.rng.u32(..));
            let built = objects::customer(&objects::CustomerSpec {
                id: &id,
                created,
                email: Some(&format!("customer{i}@example.com")),
                name: Some(&format!("Customer {i}")),
                description: None,
                invoice_prefix: &prefix,
                metadata: "{}",
            });
            let id = self.put(Kind::Customer, &id, created, built);
            if self.rng.f64() < spec.deleted_customer_fraction {
                self.st.table_mut(Kind::Customer).mark_deleted(&id);
            } else {
                live.push(CustomerRef { id, created, prefix, n: i });
            }
        }
        live
    }
}
