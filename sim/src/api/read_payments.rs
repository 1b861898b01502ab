//! The read endpoints of the payment-side kinds that do not follow the
//! `/v1/{plural}[/{id}]` pattern — `/v1/checkout/sessions` (+ a session's
//! `line_items`), `/v1/credit_notes/{id}/lines`, and payment methods,
//! which Stripe lists per customer only — and the list filters of every
//! payment-side kind, as the API reference names them.

use std::sync::Arc;

use crate::store::{page, Kind, Record};
use crate::Shared;

use super::error::Answer;
use super::query::ListQuery;
use super::read::{answer_page, nested_page, retrieve, view};
use super::Caller;

/// Routes of this module; `None` for every other path.
pub(crate) fn get(shared: &Shared, caller: &Caller, segments: &[&str], pairs: &[(String, String)]) -> Option<Answer> {
    let parse = || ListQuery::parse(pairs);
    let answer = match segments {
        ["checkout", "sessions"] => match parse() {
            Ok(q) => list_top(shared, caller, Kind::CheckoutSession, &q, "/v1/checkout/sessions"),
            Err(e) => e,
        },
        ["checkout", "sessions", id] if !id.is_empty() => retrieve(shared, caller, Kind::CheckoutSession, id),
        ["checkout", "sessions", id, "line_items"] => match parse() {
            Ok(q) => children(shared, caller, Kind::CheckoutSession, id, &q, "line_items"),
            Err(e) => e,
        },
        ["credit_notes", id, "lines"] => match parse() {
            Ok(q) => children(shared, caller, Kind::CreditNote, id, &q, "lines"),
            Err(e) => e,
        },
        ["payment_methods"] => match parse() {
            Ok(q) => payment_methods(shared, caller, q.customer, &q, "/v1/payment_methods"),
            Err(e) => e,
        },
        ["customers", id, "payment_methods"] => match parse() {
            Ok(q) => payment_methods(shared, caller, Some(id), &q, &format!("/v1/customers/{id}/payment_methods")),
            Err(e) => e,
        },
        _ => return None,
    };
    Some(answer)
}

const CHECKOUT_STATUSES: &[&str] = &["complete", "expired", "open"];

/// A top-level list of a payment-side kind at its own URL.
fn list_top(shared: &Shared, caller: &Caller, kind: Kind, q: &ListQuery<'_>, url: &str) -> Answer {
    if kind == Kind::CheckoutSession {
        if let Err(e) = q.status_in(CHECKOUT_STATUSES) {
            return e;
        }
    }
    let st = view(shared, caller);
    let table = st.table(kind);
    let result = page(table, &table.live, true, &q.page_req(), |r| matches(kind, q, r));
    answer_page(shared, caller, &st, kind, result, url)
}

/// A session's line items or a credit note's lines, oldest first; 404 for
/// a parent that does not exist.
fn children(shared: &Shared, caller: &Caller, parent: Kind, id: &str, q: &ListQuery<'_>, tail: &str) -> Answer {
    let st = view(shared, caller);
    if st.table(parent).live_get(id).is_none() {
        return Answer::missing(parent.object(), id, "id");
    }
    let (child, base) = match parent {
        Kind::CheckoutSession => (Kind::CheckoutLineItem, "/v1/checkout/sessions"),
        _ => (Kind::CreditNoteLineItem, "/v1/credit_notes"),
    };
    nested_page(shared, caller, &st, child, id, q, &format!("{base}/{id}/{tail}"))
}

/// A customer's payment methods. Stripe lists payment methods per customer
/// ("List a Customer's PaymentMethods"); without `customer` its list is
/// for Treasury flows, which the simulator has none of: an empty list.
/// Detached methods have no customer, so no list shows them.
fn payment_methods(shared: &Shared, caller: &Caller, customer: Option<&str>, q: &ListQuery<'_>, url: &str) -> Answer {
    let st = view(shared, caller);
    let Some(customer) = customer else {
        return answer_page(shared, caller, &st, Kind::PaymentMethod, Ok((Vec::new(), false)), url);
    };
    if st.table(Kind::Customer).live_get(customer).is_none() {
        return Answer::missing("customer", customer, "customer");
    }
    let table = st.table(Kind::PaymentMethod);
    let pred = |r: &Record| r.fields.customer.as_deref() == Some(customer) && matches(Kind::PaymentMethod, q, r);
    let result = page(table, &table.live, true, &q.page_req(), pred);
    answer_page(shared, caller, &st, Kind::PaymentMethod, result, url)
}

/// The filters of the payment-side lists (docs.stripe.com/api, each
/// kind's "List all" parameters). Nothing is hidden by default: Stripe's
/// lists of these kinds show every status (expired sessions, void credit
/// notes, canceled intents) unless a filter says otherwise.
pub(crate) fn matches(kind: Kind, q: &ListQuery<'_>, r: &Record) -> bool {
    let f = &r.fields;
    let is = |want: Option<&str>, have: &Option<Arc<str>>| want.is_none_or(|w| have.as_deref() == Some(w));
    let active = q.active.is_none_or(|a| f.active == a);
    match kind {
        Kind::PromotionCode => {
            active && is(q.coupon, &f.parent) && is(q.customer, &f.customer) && is(q.code, &f.related)
        }
        Kind::TaxRate => active && q.inclusive.is_none_or(|i| f.recurring == i),
        Kind::PaymentIntent => is(q.customer, &f.customer),
        Kind::Charge => is(q.customer, &f.customer) && is(q.payment_intent, &f.related),
        Kind::Refund | Kind::Dispute => is(q.charge, &f.parent) && is(q.payment_intent, &f.related),
        Kind::PaymentMethod => q.type_.is_none_or(|t| f.tag.as_deref() == Some(t)),
        Kind::SetupIntent => is(q.customer, &f.customer) && is(q.payment_method, &f.related),
        Kind::CheckoutSession => {
            is(q.customer, &f.customer)
                && is(q.subscription, &f.parent)
                && is(q.payment_intent, &f.related)
                && q.status.is_none_or(|s| f.tag.as_deref() == Some(s))
        }
        Kind::CreditNote => is(q.customer, &f.customer) && is(q.invoice, &f.parent),
        Kind::InvoiceItem => {
            is(q.customer, &f.customer) && is(q.invoice, &f.parent) && q.pending.is_none_or(|p| f.recurring == p)
        }
        // `scheduled=true`: schedules that have not started yet.
        Kind::SubscriptionSchedule => {
            is(q.customer, &f.customer) && q.scheduled.is_none_or(|s| (f.tag.as_deref() == Some("not_started")) == s)
        }
        _ => true,
    }
}
