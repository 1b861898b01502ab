//! A scripted account history for end-to-end tests: thousands of Dashboard
//! operations across every mirrored type — creates, updates, deletes,
//! cancellations, invoices finalized/paid/voided/marked uncollectible/deleted,
//! a subscription with more items and an invoice with more lines than Stripe
//! embeds — played on the simulated clock so that many events share a second.
//! About a third of the steps operate on the payment-side kinds (coupons
//! through checkout sessions: `payments.rs`).
//!
//! The choice of operations is reproducible from `rng_seed` (object ids are
//! random). Operations the simulator refuses (an invalid state transition the
//! script did not foresee) are counted as `refused`, not as mutations.

mod payments;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::clock::real_now;
use crate::mutate::{
    CustomerParams, InvoiceParams, ItemParams, LineParams, PriceParams, ProductParams, SubscriptionParams,
    SubscriptionUpdate,
};
use crate::store::Kind;
use crate::{Sim, SimError};

/// What to play.
#[derive(Debug, Clone)]
pub struct HistorySpec {
    /// Successful operations to perform, setup included.
    pub mutations: usize,
    /// Mean operations per simulated second (the clock moves one second with
    /// probability `1/per_second` after each operation).
    pub per_second: usize,
    /// Items of the big subscription (Stripe embeds 10 and pages the rest).
    pub big_subscription_items: usize,
    /// Lines of the big invoice.
    pub big_invoice_lines: usize,
    pub rng_seed: u64,
    /// Real time slept each time the simulated clock moves, so deliveries
    /// overlap with the script.
    pub pace: Duration,
}

impl Default for HistorySpec {
    fn default() -> Self {
        HistorySpec {
            mutations: 2_000,
            per_second: 8,
            big_subscription_items: 120,
            big_invoice_lines: 40,
            rng_seed: 6,
            pace: Duration::from_millis(5),
        }
    }
}

/// What was played.
#[derive(Debug, Clone, Default)]
pub struct HistoryReport {
    /// Successful operations.
    pub mutations: usize,
    /// Operations per action name (`customer.update`, `invoice.pay`, …).
    pub by_action: BTreeMap<&'static str, usize>,
    /// Operations the simulator refused.
    pub refused: usize,
    /// Simulated seconds of the first and last operation.
    pub first_second: i64,
    pub last_second: i64,
    /// Ids of the big subscription and the big invoice.
    pub big_subscription: String,
    pub big_invoice: String,
}

#[derive(Clone)]
struct Sub {
    id: String,
    customer: String,
    items: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum InvoiceState {
    Draft,
    Open,
    Uncollectible,
}

/// The script's model of the account: what is live, so each step picks an
/// operation that is valid.
struct Model {
    rng: fastrand::Rng,
    products: Vec<String>,
    /// (price id, product id, recurring)
    prices: Vec<(String, String, bool)>,
    customers: Vec<String>,
    subs: Vec<Sub>,
    invoices: Vec<(String, InvoiceState)>,
    /// The payment-side kinds, with a random stream of their own.
    x: payments::Extra,
    report: HistoryReport,
}

fn id_of(v: &serde_json::Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

impl Model {
    fn done(&mut self, action: &'static str) {
        self.report.mutations += 1;
        *self.report.by_action.entry(action).or_default() += 1;
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.rng.usize(..v.len())].clone())
    }

    fn recurring(&self) -> Vec<String> {
        self.prices.iter().filter(|p| p.2).map(|p| p.0.clone()).collect()
    }

    fn word(&mut self) -> String {
        const WORDS: &[&str] = &["alpha", "bravo", "cobalt", "delta", "ember", "fjord", "gala", "harbor", "iris"];
        format!("{} {}", WORDS[self.rng.usize(..WORDS.len())], self.rng.u32(..10_000))
    }
}

impl Sim {
    /// Plays a scripted history (see the module docs). The clock is pinned
    /// from `mutations / per_second + 120` seconds ago and follows real time
    /// again at the end, so every event is in the past when the script ends.
    pub async fn play_history(&self, spec: &HistorySpec) -> Result<HistoryReport, SimError> {
        let per_second = spec.per_second.max(1);
        let start = real_now() - (spec.mutations / per_second) as i64 - 120;
        self.set_clock(Some(start));
        let mut m = Model {
            rng: fastrand::Rng::with_seed(spec.rng_seed),
            products: Vec::new(),
            prices: Vec::new(),
            customers: Vec::new(),
            subs: Vec::new(),
            invoices: Vec::new(),
            x: payments::Extra::new(spec.rng_seed),
            report: HistoryReport { first_second: start, ..HistoryReport::default() },
        };
        let result = self.play(spec, per_second, &mut m).await;
        m.report.last_second = self.now();
        self.set_clock(None);
        result.map(|()| m.report)
    }

    async fn play(&self, spec: &HistorySpec, per_second: usize, m: &mut Model) -> Result<(), SimError> {
        self.setup(spec, m)?;
        self.extra_setup(m)?;
        while m.report.mutations < spec.mutations {
            // The payment-side steps draw only on their own stream, so the
            // core steps are the same, in the same order, as without them.
            let extra = m.x.rng.u32(..100) < payments::EXTRA_PERCENT;
            let result = if extra { self.extra_step(m) } else { self.step(m) };
            match result {
                Ok(()) => {}
                // An operation the model thought valid; Stripe would say no too.
                Err(SimError::InvalidRequest { .. }) | Err(SimError::NotFound { .. }) => m.report.refused += 1,
                Err(e) => return Err(e),
            }
            let rng = if extra { &mut m.x.rng } else { &mut m.rng };
            if rng.usize(..per_second) == 0 {
                self.advance(1);
                if !spec.pace.is_zero() {
                    tokio::time::sleep(spec.pace).await;
                }
            }
        }
        Ok(())
    }

    /// A catalog, customers, the big subscription and the big invoice.
    fn setup(&self, spec: &HistorySpec, m: &mut Model) -> Result<(), SimError> {
        for p in 0..8 {
            let product = id_of(&self.create_product(ProductParams::named(format!("Product {p}")))?);
            m.done("product.create");
            for (i, recurring) in [true, true, false].into_iter().enumerate() {
                let amount = 500 + 100 * i as i64 + p;
                let params = match recurring {
                    true => PriceParams::monthly(&product, amount),
                    false => PriceParams::one_time(&product, amount),
                };
                let price = id_of(&self.create_price(params)?);
                m.prices.push((price, product.clone(), recurring));
                m.done("price.create");
            }
            m.products.push(product);
        }
        for c in 0..20 {
            let cus = id_of(&self.create_customer(CustomerParams::email(format!("setup{c}@example.com")))?);
            m.customers.push(cus);
            m.done("customer.create");
        }
        // The big ones: one product whose prices fill a subscription.
        let big = id_of(&self.create_product(ProductParams::named("Seats"))?);
        m.done("product.create");
        let mut big_prices = Vec::new();
        for i in 0..spec.big_subscription_items.max(spec.big_invoice_lines) {
            let price = id_of(&self.create_price(PriceParams::monthly(&big, 100 + i as i64))?);
            m.done("price.create");
            big_prices.push(price);
        }
        let cus = id_of(&self.create_customer(CustomerParams::email("big@example.com"))?);
        m.done("customer.create");
        let items: Vec<(&str, u64)> =
            big_prices.iter().take(spec.big_subscription_items).map(|p| (p.as_str(), 1)).collect();
        if !items.is_empty() {
            let sub = self.create_subscription(SubscriptionParams::new(&cus, &items))?;
            m.done("subscription.create");
            let item_ids = sub_item_ids(self, &id_of(&sub));
            m.report.big_subscription = id_of(&sub);
            m.subs.push(Sub { id: id_of(&sub), customer: cus.clone(), items: item_ids });
        }
        let lines: Vec<&str> = big_prices.iter().take(spec.big_invoice_lines).map(String::as_str).collect();
        if !lines.is_empty() {
            let inv = id_of(&self.create_invoice(InvoiceParams::new(&cus, &lines))?);
            m.done("invoice.create");
            self.finalize_invoice(&inv)?;
            m.done("invoice.finalize");
            m.report.big_invoice = inv.clone();
            m.invoices.push((inv, InvoiceState::Open));
        }
        m.customers.push(cus);
        for p in big_prices {
            m.prices.push((p, big.clone(), true));
        }
        m.products.push(big);
        Ok(())
    }

    /// One weighted-random operation.
    fn step(&self, m: &mut Model) -> Result<(), SimError> {
        const ACTIONS: &[(u32, &str)] = &[
            (12, "customer.create"),
            (14, "customer.update"),
            (3, "customer.delete"),
            (2, "product.create"),
            (4, "product.update"),
            (1, "product.delete"),
            (3, "price.create"),
            (5, "price.update"),
            (1, "price.delete"),
            (7, "subscription.create"),
            (6, "subscription.update"),
            (3, "subscription.items"),
            (4, "subscription_item.update"),
            (3, "subscription.cancel"),
            (8, "invoice.create"),
            (5, "invoice.finalize"),
            (5, "invoice.pay"),
            (2, "invoice.void"),
            (1, "invoice.mark_uncollectible"),
            (2, "invoice.delete"),
            (2, "invoice_line.update"),
        ];
        let total: u32 = ACTIONS.iter().map(|a| a.0).sum();
        let mut roll = m.rng.u32(..total);
        let action = ACTIONS
            .iter()
            .find(|(w, _)| {
                let hit = roll < *w;
                roll = roll.saturating_sub(*w);
                hit
            })
            .map_or("customer.create", |a| a.1);
        let did = match action {
            "customer.create" => {
                let email = format!("c{}@example.com", m.rng.u32(..1_000_000));
                let cus =
                    self.create_customer(CustomerParams { name: Some(m.word()), ..CustomerParams::email(email) })?;
                m.customers.push(id_of(&cus));
                true
            }
            "customer.update" => match m.pick(&m.customers.clone()) {
                Some(c) => {
                    let patch = match m.rng.u8(..3) {
                        0 => json!({"name": m.word()}),
                        1 => json!({"email": format!("u{}@example.com", m.rng.u32(..1_000_000))}),
                        _ => json!({"metadata": {"tier": m.word()}, "balance": m.rng.i64(-5000..5000)}),
                    };
                    self.update(Kind::Customer, &c, patch)?;
                    true
                }
                None => false,
            },
            "customer.delete" if m.customers.len() > 10 => {
                let i = m.rng.usize(..m.customers.len());
                let c = m.customers.swap_remove(i);
                self.delete(Kind::Customer, &c)?;
                m.subs.retain(|s| s.customer != c);
                true
            }
            "product.create" => {
                let name = m.word();
                m.products.push(id_of(&self.create_product(ProductParams::named(name))?));
                true
            }
            "product.update" => match m.pick(&m.products.clone()) {
                Some(p) => {
                    let patch = match m.rng.bool() {
                        true => json!({"name": m.word()}),
                        false => json!({"description": m.word(), "metadata": {"k": m.word()}}),
                    };
                    self.update(Kind::Product, &p, patch)?;
                    true
                }
                None => false,
            },
            "product.delete" if m.products.len() > 6 => {
                // Only products nobody's live price uses: deleting the rest
                // would leave prices that the script can no longer create.
                let free: Vec<String> =
                    m.products.iter().filter(|p| !m.prices.iter().any(|x| &x.1 == *p)).cloned().collect();
                match m.pick(&free) {
                    Some(p) => {
                        self.delete(Kind::Product, &p)?;
                        m.products.retain(|x| *x != p);
                        true
                    }
                    None => false,
                }
            }
            "price.create" => match m.pick(&m.products.clone()) {
                Some(p) => {
                    let recurring = m.rng.u8(..3) > 0;
                    let amount = m.rng.i64(100..10_000);
                    let params = match recurring {
                        true => PriceParams::monthly(&p, amount),
                        false => PriceParams::one_time(&p, amount),
                    };
                    let price = id_of(&self.create_price(params)?);
                    m.prices.push((price, p, recurring));
                    true
                }
                None => false,
            },
            "price.update" => match m.pick(&m.prices.clone()) {
                Some((price, _, _)) => {
                    let patch = match m.rng.bool() {
                        true => json!({"nickname": m.word()}),
                        false => json!({"metadata": {"campaign": m.word()}}),
                    };
                    self.update(Kind::Price, &price, patch)?;
                    true
                }
                None => false,
            },
            "price.delete" if m.prices.len() > 20 => {
                let i = m.rng.usize(..m.prices.len());
                let (price, _, _) = m.prices.swap_remove(i);
                self.delete(Kind::Price, &price)?;
                true
            }
            "subscription.create" => {
                let recurring = m.recurring();
                match (m.pick(&m.customers.clone()), recurring.is_empty()) {
                    (Some(c), false) => {
                        let n = 1 + m.rng.usize(..3);
                        let mut chosen: Vec<String> = Vec::new();
                        for _ in 0..n {
                            if let Some(p) = m.pick(&recurring) {
                                if !chosen.contains(&p) {
                                    chosen.push(p);
                                }
                            }
                        }
                        let items: Vec<(&str, u64)> = chosen.iter().map(|p| (p.as_str(), 1 + m.rng.u64(..3))).collect();
                        let sub = id_of(&self.create_subscription(SubscriptionParams::new(&c, &items))?);
                        let item_ids = sub_item_ids(self, &sub);
                        m.subs.push(Sub { id: sub, customer: c, items: item_ids });
                        true
                    }
                    _ => false,
                }
            }
            "subscription.update" => match m.pick(&m.subs.clone()) {
                Some(s) => {
                    let patch = match m.rng.bool() {
                        true => json!({"metadata": {"note": m.word()}}),
                        false => json!({"cancel_at_period_end": m.rng.bool()}),
                    };
                    self.update(Kind::Subscription, &s.id, patch)?;
                    true
                }
                None => false,
            },
            "subscription.items" => match (m.pick(&m.subs.clone()), m.pick(&m.recurring())) {
                (Some(s), Some(price)) => {
                    let remove = if s.items.len() > 1 && m.rng.bool() { m.pick(&s.items) } else { None };
                    let update = SubscriptionUpdate {
                        add_items: vec![ItemParams { price, quantity: Some(1), ..ItemParams::default() }],
                        remove_items: remove.into_iter().collect(),
                        ..SubscriptionUpdate::default()
                    };
                    self.update_subscription(&s.id, update)?;
                    let items = sub_item_ids(self, &s.id);
                    if let Some(x) = m.subs.iter_mut().find(|x| x.id == s.id) {
                        x.items = items;
                    }
                    true
                }
                _ => false,
            },
            "subscription_item.update" => match m.pick(&m.subs.clone()) {
                Some(s) => match m.pick(&s.items) {
                    Some(item) => {
                        let q = 1 + m.rng.u64(..9);
                        self.update(Kind::SubscriptionItem, &item, json!({"quantity": q}))?;
                        true
                    }
                    None => false,
                },
                None => false,
            },
            "subscription.cancel" if m.subs.len() > 1 => {
                let i = m.rng.usize(..m.subs.len());
                let s = m.subs.swap_remove(i);
                self.cancel_subscription(&s.id)?;
                true
            }
            "invoice.create" => match m.pick(&m.customers.clone()) {
                Some(c) => {
                    let from_sub = m.subs.iter().filter(|s| s.customer == c).map(|s| s.id.clone()).next();
                    let params = match from_sub {
                        Some(sub) if m.rng.bool() => {
                            InvoiceParams { subscription: Some(sub), ..InvoiceParams::new(&c, &[]) }
                        }
                        _ => {
                            let n = 1 + m.rng.usize(..4);
                            let lines = (0..n)
                                .map(|_| match m.pick(&m.prices.clone()) {
                                    Some((price, _, _)) if m.rng.bool() => {
                                        LineParams { price: Some(price), ..LineParams::default() }
                                    }
                                    _ => LineParams {
                                        unit_amount: Some(m.rng.i64(100..5_000)),
                                        description: Some(m.word()),
                                        ..LineParams::default()
                                    },
                                })
                                .collect();
                            InvoiceParams { lines, ..InvoiceParams::new(&c, &[]) }
                        }
                    };
                    let inv = id_of(&self.create_invoice(params)?);
                    m.invoices.push((inv, InvoiceState::Draft));
                    true
                }
                None => false,
            },
            "invoice.finalize" => self.invoice_step(m, &[InvoiceState::Draft], |s, id| {
                s.finalize_invoice(id).map(|_| Some(InvoiceState::Open))
            })?,
            "invoice.pay" => self.invoice_step(
                m,
                &[InvoiceState::Draft, InvoiceState::Open, InvoiceState::Uncollectible],
                |s, id| s.pay_invoice(id).map(|_| None),
            )?,
            "invoice.void" => self.invoice_step(m, &[InvoiceState::Open, InvoiceState::Uncollectible], |s, id| {
                s.void_invoice(id).map(|_| None)
            })?,
            "invoice.mark_uncollectible" => self.invoice_step(m, &[InvoiceState::Open], |s, id| {
                s.mark_uncollectible(id).map(|_| Some(InvoiceState::Uncollectible))
            })?,
            "invoice.delete" => {
                self.invoice_step(m, &[InvoiceState::Draft], |s, id| s.delete_invoice(id).map(|_| None))?
            }
            "invoice_line.update" => {
                let drafts: Vec<String> =
                    m.invoices.iter().filter(|i| i.1 == InvoiceState::Draft).map(|i| i.0.clone()).collect();
                match m.pick(&drafts) {
                    Some(inv) => {
                        let lines = self.snapshot_children(Kind::InvoiceLineItem, &inv);
                        match m.pick(&lines) {
                            Some(line) => {
                                self.update(Kind::InvoiceLineItem, &line, json!({"description": m.word()}))?;
                                true
                            }
                            None => false,
                        }
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if did {
            m.done(action);
        }
        Ok(())
    }

    /// An operation on a random invoice in one of `states`; `op` returns the
    /// invoice's next state (`None`: final, or gone).
    fn invoice_step(
        &self,
        m: &mut Model,
        states: &[InvoiceState],
        op: impl FnOnce(&Sim, &str) -> Result<Option<InvoiceState>, SimError>,
    ) -> Result<bool, SimError> {
        let candidates: Vec<usize> = (0..m.invoices.len()).filter(|&i| states.contains(&m.invoices[i].1)).collect();
        let Some(i) = m.pick(&candidates) else {
            return Ok(false);
        };
        let id = m.invoices[i].0.clone();
        match op(self, &id)? {
            Some(next) => m.invoices[i].1 = next,
            None => {
                m.invoices.swap_remove(i);
            }
        }
        Ok(true)
    }

    /// Live children (`SubscriptionItem` or `InvoiceLineItem`) of `parent`.
    fn snapshot_children(&self, kind: Kind, parent: &str) -> Vec<String> {
        let st = self.shared.read();
        st.table(kind).children_of(parent).map(|id| id.to_string()).collect()
    }
}

fn sub_item_ids(sim: &Sim, sub: &str) -> Vec<String> {
    sim.snapshot_children(Kind::SubscriptionItem, sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;

    #[tokio::test]
    async fn a_history_covers_every_type_and_ends_in_the_past() {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let spec = HistorySpec {
            mutations: 1_000,
            big_subscription_items: 15,
            big_invoice_lines: 12,
            pace: Duration::ZERO,
            ..HistorySpec::default()
        };
        let report = sim.play_history(&spec).await.unwrap();
        assert_eq!(report.mutations, 1_000);
        for action in
            ["customer.delete", "subscription.cancel", "invoice.pay", "invoice.void", "invoice.delete", "price.update"]
        {
            assert!(report.by_action.get(action).copied().unwrap_or(0) > 0, "{action}: {:?}", report.by_action);
        }
        let events = sim.events();
        assert!(events.len() > 1_000, "{} events", events.len());
        let newest = events.iter().filter_map(|e| e["created"].as_i64()).max().unwrap();
        assert!(newest <= real_now(), "every event is in the past");
        assert!(report.last_second - report.first_second < 1_000 / 4, "many events share a second");
        let items = sim.snapshot_children(Kind::SubscriptionItem, &report.big_subscription);
        assert_eq!(items.len(), 15);
        for action in [
            "coupon.custom",
            "promotion_code.create",
            "tax_rate.update",
            "invoice_item.delete",
            "credit_note.create",
            "subscription_schedule.create",
            "payment_intent.succeed",
            "refund.create",
            "payment_method.detach",
            "setup_intent.create",
            "checkout.complete",
            "checkout.expire",
        ] {
            assert!(report.by_action.get(action).copied().unwrap_or(0) > 0, "{action}: {:?}", report.by_action);
        }
        let payment_side: usize =
            report.by_action.iter().filter(|(a, _)| payments::is_payment_side(a)).map(|(_, n)| n).sum();
        assert!((200..=400).contains(&payment_side), "{payment_side} of 1,000 on the payment-side kinds");
        for kind in Kind::ALL {
            if kind != Kind::Event {
                assert!(sim.count(kind).0 > 0, "no live {kind:?}");
            }
        }
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn the_same_seed_plays_the_same_operations() {
        let spec = HistorySpec {
            mutations: 400,
            big_subscription_items: 3,
            big_invoice_lines: 3,
            pace: Duration::ZERO,
            ..HistorySpec::default()
        };
        let mut reports = Vec::new();
        for _ in 0..2 {
            let sim = Sim::start(SimConfig::default()).await.unwrap();
            reports.push(sim.play_history(&spec).await.unwrap());
            sim.shutdown().await;
        }
        assert_eq!(reports[0].by_action, reports[1].by_action);
        assert_eq!(reports[0].refused, reports[1].refused);
    }
}
