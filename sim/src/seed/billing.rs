//! Seeding subscriptions (with items) and invoices (with lines) on top of
//! the seeded catalog and customers.

use std::sync::Arc;

use super::{CustomerRef, PriceRef, SeedSpec, Seeder};
use crate::objects::{self, add_interval, random_id};
use crate::store::Kind;

pub(super) struct SubRef {
    id: Arc<str>,
    customer: usize,
    created: i64,
    items: Vec<ItemRef>,
}

/// A seeded subscription item, as invoices bill it.
struct ItemRef {
    id: Arc<str>,
    /// Index into the seeded recurring prices.
    price: usize,
    quantity: u64,
    period: (i64, i64),
}

/// Live statuses a seeded subscription may have, weighted towards active.
const LIVE_STATUSES: [&str; 8] = ["active", "active", "active", "active", "active", "trialing", "past_due", "unpaid"];

/// Invoice statuses, weighted like a healthy account.
const INVOICE_STATUSES: [&str; 10] =
    ["paid", "paid", "paid", "paid", "paid", "paid", "open", "draft", "void", "uncollectible"];

impl Seeder<'_> {
    pub(super) fn subscriptions(
        &mut self,
        spec: &SeedSpec,
        customers: &[CustomerRef],
        prices: &[PriceRef],
    ) -> Vec<SubRef> {
        if customers.is_empty() || prices.is_empty() {
            return Vec::new();
        }
        let mut subs = Vec::with_capacity(spec.subscriptions);
        for _ in 0..spec.subscriptions {
            let customer = self.rng.usize(..customers.len());
            let created = self.after(customers[customer].created);
            let canceled = self.rng.f64() < spec.canceled_fraction;
            let status = if canceled { "canceled" } else { LIVE_STATUSES[self.rng.usize(..LIVE_STATUSES.len())] };
            let canceled_at = canceled.then(|| self.after(created));
            let id = self.id(Kind::Subscription);
            let built = objects::subscription(&objects::SubscriptionSpec {
                id: &id,
                created,
                customer: &customers[customer].id,
                status,
                canceled_at,
                currency: "usd",
                metadata: "{}",
            });
            let sub = self.put(Kind::Subscription, &id, created, built);
            let items = self.items(spec, &sub, created, prices);
            subs.push(SubRef { id: sub, customer, created, items });
        }
        subs
    }

    fn items(&mut self, spec: &SeedSpec, sub: &Arc<str>, created: i64, prices: &[PriceRef]) -> Vec<ItemRef> {
        // Distinct prices where the catalog allows, as Stripe requires.
        let first = self.rng.usize(..prices.len());
        let mut items = Vec::with_capacity(spec.items_per_subscription.max(1));
        for n in 0..spec.items_per_subscription.max(1) {
            let p = (first + n) % prices.len();
            let period = self.current_period(created, prices[p].interval);
            let quantity = self.rng.u64(1..=3);
            let id = self.id(Kind::SubscriptionItem);
            let built = objects::item(&objects::ItemSpec {
                id: &id,
                created,
                subscription: sub,
                price: &prices[p].id,
                quantity,
                period,
                metadata: "{}",
            });
            let id = self.put(Kind::SubscriptionItem, &id, created, built);
            items.push(ItemRef { id, price: p, quantity, period });
        }
        items
    }

    /// The billing period containing now, for a subscription started at
    /// `anchor`.
    fn current_period(&self, anchor: i64, interval: &str) -> (i64, i64) {
        let mut start = anchor;
        for _ in 0..1000 {
            let end = add_interval(start, interval, 1);
            if end > self.now || end <= start {
                return (start, end);
            }
            start = end;
        }
        (start, add_interval(start, interval, 1))
    }

    pub(super) fn invoices(
        &mut self,
        spec: &SeedSpec,
        customers: &[CustomerRef],
        prices: &[PriceRef],
        subs: &[SubRef],
    ) {
        if customers.is_empty() || prices.is_empty() {
            return;
        }
        for _ in 0..spec.invoices {
            // Most invoices bill a subscription; the rest are one-off.
            let sub = (!subs.is_empty() && self.rng.f64() < 0.8).then(|| &subs[self.rng.usize(..subs.len())]);
            let customer = sub.map_or_else(|| self.rng.usize(..customers.len()), |s| s.customer);
            let floor = sub.map_or(customers[customer].created, |s| s.created);
            let created = self.after(floor);
            let status = INVOICE_STATUSES[self.rng.usize(..INVOICE_STATUSES.len())];
            let lines = self.line_plan(spec, prices, sub);
            let total = lines.iter().map(|(p, q, _)| prices[*p].amount * *q as i64).sum();
            let finalized_at = (status != "draft").then(|| self.after(created));
            let settled_at = finalized_at.filter(|_| status != "open").map(|f| self.after(f));
            self.st.invoice_number += 1;
            let number = finalized_at.map(|_| format!("{}-{:04}", customers[customer].prefix, self.st.invoice_number));
            let id = self.id(Kind::Invoice);
            let n = customers[customer].n;
            let built = objects::invoice(&objects::InvoiceSpec {
                id: &id,
                created,
                customer: &customers[customer].id,
                customer_email: Some(&format!("customer{n}@example.com")),
                customer_name: Some(&format!("Customer {n}")),
                currency: "usd",
                status,
                number: number.as_deref(),
                total,
                subscription: sub.map(|s| &*s.id),
                period: (created, created),
                metadata: "{}",
                finalized_at,
                settled_at,
            });
            let invoice = self.put(Kind::Invoice, &id, created, built);
            for (p, quantity, item) in lines {
                self.line(&invoice, &prices[p], quantity, item, sub.map(|s| &*s.id), created);
            }
        }
    }

    /// (price index, quantity, billed item) per line: a subscription's
    /// items in turn, or random prices for one-off invoices.
    fn line_plan<'s>(
        &mut self,
        spec: &SeedSpec,
        prices: &[PriceRef],
        sub: Option<&'s SubRef>,
    ) -> Vec<(usize, u64, Option<&'s ItemRef>)> {
        (0..spec.lines_per_invoice.max(1))
            .map(|n| match sub {
                Some(s) => {
                    let item = &s.items[n % s.items.len()];
                    (item.price, item.quantity, Some(item))
                }
                None => (self.rng.usize(..prices.len()), 1, None),
            })
            .collect()
    }

    fn line(
        &mut self,
        invoice: &Arc<str>,
        price: &PriceRef,
        quantity: u64,
        item: Option<&ItemRef>,
        sub: Option<&str>,
        created: i64,
    ) {
        let id = self.id(Kind::InvoiceLineItem);
        let ii = random_id(&mut self.rng, "ii_1", 23);
        let built = objects::line(&objects::LineSpec {
            id: &id,
            invoice,
            unit_amount: price.amount,
            quantity,
            currency: "usd",
            description: None,
            period: item.map_or((created, created), |i| i.period),
            price: Some(&price.id),
            product: Some(&price.product),
            subscription: item.and(sub),
            subscription_item: item.map(|i| &*i.id),
            invoice_item: &ii,
        });
        // Lines have no `created`; they sort by insertion within the invoice.
        self.put(Kind::InvoiceLineItem, &id, created, built);
    }
}
