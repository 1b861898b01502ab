//! The read endpoints: list and retrieve for each kind, the nested lists
//! (`/v1/subscription_items?subscription=`, `/v1/invoices/{id}/lines`) and
//! `/v1/events`, with each endpoint's filters, rendered in the caller's API
//! version (events excepted: they stay as rendered when they happened).
//! A key of another account reads an empty state.

use std::ops::Deref;
use std::sync::{Arc, RwLockReadGuard};

use crate::events::type_matches;
use crate::store::{page, Kind, PageError, Record, State};
use crate::Shared;

use super::error::Answer;
use super::query::ListQuery;
use super::Caller;

/// The state a caller reads: the main account's, or an empty one.
pub(crate) enum View<'a> {
    Main(RwLockReadGuard<'a, State>),
    Empty(&'a State),
}

impl Deref for View<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        match self {
            View::Main(guard) => guard,
            View::Empty(st) => st,
        }
    }
}

pub(super) fn view<'a>(shared: &'a Shared, caller: &Caller) -> View<'a> {
    match caller.main {
        true => View::Main(shared.read()),
        false => View::Empty(&shared.empty),
    }
}

/// `GET /v1/…` dispatch.
pub(crate) fn get(shared: &Shared, caller: &Caller, path: &str, query: &[(String, String)]) -> Answer {
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    if let Some(answer) = super::read_payments::get(shared, caller, &segments, query) {
        return answer;
    }
    match segments.as_slice() {
        [plural] => match endpoint_kind(plural) {
            Some(kind) => list(shared, caller, kind, query),
            None => Answer::unrecognized("GET", path),
        },
        [plural, id] if !id.is_empty() => match endpoint_kind(plural) {
            Some(kind) => retrieve(shared, caller, kind, id),
            None => Answer::unrecognized("GET", path),
        },
        ["invoices", id, "lines"] => list_lines(shared, caller, id, query),
        _ => Answer::unrecognized("GET", path),
    }
}

const SUBSCRIPTION_STATUSES: &[&str] = &[
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
];
const INVOICE_STATUSES: &[&str] = &["draft", "open", "paid", "uncollectible", "void"];

/// Kinds with a top-level list and retrieve endpoint at `/v1/{plural}`
/// (lines and line items live under their parent; checkout sessions under
/// `/v1/checkout/sessions`).
pub(crate) fn endpoint_kind(segment: &str) -> Option<Kind> {
    match segment {
        "invoice_line_items" | "checkout_sessions" | "checkout_session_line_items" | "credit_note_line_items" => None,
        s => Kind::parse(s).filter(|k| k.plural() == s),
    }
}

/// `GET /v1/{kind}/{id}`.
pub(super) fn retrieve(shared: &Shared, caller: &Caller, kind: Kind, id: &str) -> Answer {
    let st = view(shared, caller);
    if kind == Kind::Event && !event_retained(shared, &st, id) {
        return Answer::missing("event", id, "id");
    }
    match st.render_retrieve_at(kind, id, caller.version) {
        Some(body) => Answer::ok_at(body, shared.clock.now()),
        None => Answer::missing(kind.object(), id, "id"),
    }
}

fn event_retained(shared: &Shared, st: &State, id: &str) -> bool {
    let oldest = shared.clock.now() - shared.event_retention_secs;
    st.table(Kind::Event).get(id).is_some_and(|r| r.created >= oldest)
}

/// `GET /v1/{kind}` for top-level kinds.
fn list(shared: &Shared, caller: &Caller, kind: Kind, pairs: &[(String, String)]) -> Answer {
    let mut q = match ListQuery::parse(pairs) {
        Ok(q) => q,
        Err(e) => return e,
    };
    if kind == Kind::SubscriptionItem {
        return list_items(shared, caller, &q);
    }
    if kind == Kind::Event {
        if q.type_.is_some() && !q.types.is_empty() {
            return Answer::invalid("You may only specify one of these parameters: type, types.", Some("type"));
        }
        let oldest = shared.clock.now() - shared.event_retention_secs;
        q.created.gte = Some(q.created.gte.map_or(oldest, |g| g.max(oldest)));
    }
    let check = match kind {
        Kind::Subscription => q.status_in(SUBSCRIPTION_STATUSES),
        Kind::Invoice => q.status_in(INVOICE_STATUSES),
        _ => Ok(()),
    };
    if let Err(e) = check {
        return e;
    }
    let st = view(shared, caller);
    let table = st.table(kind);
    let pred = |r: &Record| matches_filters(kind, &q, r);
    let url = format!("/v1/{}", kind.plural());
    let result = page(table, &table.live, true, &q.page_req(), pred);
    answer_page(shared, caller, &st, kind, result, &url)
}

/// The filters each list endpoint supports.
fn matches_filters(kind: Kind, q: &ListQuery<'_>, r: &Record) -> bool {
    let f = &r.fields;
    let is = |want: Option<&str>, have: &Option<Arc<str>>| want.is_none_or(|w| have.as_deref() == Some(w));
    match kind {
        Kind::Product => q.active.is_none_or(|a| f.active == a),
        Kind::Plan => q.active.is_none_or(|a| f.active == a) && is(q.product, &f.parent),
        // "Returns a list of your active prices… For the list of inactive
        // prices, set active to false."
        Kind::Price => {
            f.active == q.active.unwrap_or(true)
                && q.type_.is_none_or(|t| (t == "recurring") == f.recurring)
                && is(q.product, &f.parent)
        }
        Kind::Subscription => {
            let status = f.tag.as_deref().unwrap_or("");
            let status_ok = match q.status {
                // "By default, returns a list of subscriptions that have not
                // been canceled."
                None => status != "canceled",
                Some("all") => true,
                Some("ended") => matches!(status, "canceled" | "incomplete_expired"),
                Some(s) => status == s,
            };
            status_ok && is(q.customer, &f.customer)
        }
        Kind::Invoice => {
            q.status.is_none_or(|s| f.tag.as_deref() == Some(s))
                && is(q.customer, &f.customer)
                && is(q.subscription, &f.parent)
        }
        Kind::Event => {
            let t = f.tag.as_deref().unwrap_or("");
            q.type_.is_none_or(|p| type_matches(p, t)) && (q.types.is_empty() || q.types.contains(&t))
        }
        _ => super::read_payments::matches(kind, q, r),
    }
}

/// `GET /v1/subscription_items?subscription=sub_…`. A canceled
/// subscription's items are gone from this list in Stripe (an empty one),
/// although the subscription still embeds them; with
/// `ApiFaults::canceled_subscription_items_empty` so here.
fn list_items(shared: &Shared, caller: &Caller, q: &ListQuery<'_>) -> Answer {
    let Some(sub) = q.subscription else {
        return Answer::invalid("Missing required param: subscription.", Some("subscription"));
    };
    let st = view(shared, caller);
    let Some(rec) = st.table(Kind::Subscription).get(sub) else {
        return Answer::missing("subscription", sub, "subscription");
    };
    let url = "/v1/subscription_items";
    let canceled = rec.fields.tag.as_deref() == Some("canceled");
    if canceled && shared.api_faults().canceled_subscription_items_empty {
        return Answer::ok_at(
            st.render_list_at(Kind::SubscriptionItem, &[], false, url, caller.version),
            shared.clock.now(),
        );
    }
    nested_page(shared, caller, &st, Kind::SubscriptionItem, sub, q, url)
}

/// `GET /v1/invoices/{id}/lines`; 404 once the invoice is deleted.
fn list_lines(shared: &Shared, caller: &Caller, invoice: &str, pairs: &[(String, String)]) -> Answer {
    let q = match ListQuery::parse(pairs) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let st = view(shared, caller);
    if st.table(Kind::Invoice).live_get(invoice).is_none() {
        return Answer::missing("invoice", invoice, "invoice");
    }
    let url = format!("/v1/invoices/{invoice}/lines");
    nested_page(shared, caller, &st, Kind::InvoiceLineItem, invoice, &q, &url)
}

/// A page of a parent's items or lines, oldest first like the embedded list.
pub(super) fn nested_page(
    shared: &Shared,
    caller: &Caller,
    st: &State,
    kind: Kind,
    parent: &str,
    q: &ListQuery<'_>,
    url: &str,
) -> Answer {
    let table = st.table(kind);
    let empty = Default::default();
    let index = table.children.get(parent).unwrap_or(&empty);
    let mut req = q.page_req();
    // Nested objects are not filtered by time.
    req.created = Default::default();
    answer_page(shared, caller, st, kind, page(table, index, false, &req, |_| true), url)
}

/// The page as a list body; `Date` is taken while the state lock is held,
/// so no change can fall between the data and its timestamp.
pub(super) fn answer_page(
    shared: &Shared,
    caller: &Caller,
    st: &State,
    kind: Kind,
    result: Result<(Vec<Arc<str>>, bool), PageError>,
    url: &str,
) -> Answer {
    match result {
        Ok((ids, has_more)) => {
            Answer::ok_at(st.render_list_at(kind, &ids, has_more, url, caller.version), shared.clock.now())
        }
        // A cursor naming an object that does not exist (or no longer does):
        // Stripe refuses it with 400 resource_missing (stripe-php#1264).
        Err(PageError::NoSuchCursor { param, id }) => Answer::error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {}: '{id}'", kind.object()),
            Some(param),
        ),
    }
}
