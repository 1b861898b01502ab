//! The webhook endpoints API (docs.stripe.com/api/webhook_endpoints):
//! create, list, retrieve, update, delete, with Stripe's parameters and
//! error answers. Endpoints made here get deliveries like any other (see
//! `webhooks`): the events they enabled, in their own `api_version`, signed
//! with the secret that only the create answer shows.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::error::Answer;
use super::form::{Form, FormError};
use super::query::ListQuery;
use super::Caller;
use crate::objects::random_id;
use crate::versions::is_known_api_version;
use crate::webhooks::{deleted_json, is_known_event_type, WebhookEndpoint, MAX_ENDPOINTS_PER_ACCOUNT};
use crate::Shared;

/// What create accepts (`expand` is accepted and ignored everywhere).
const CREATE_PARAMS: &[&str] =
    &["api_version", "connect", "description", "enabled_events", "expand", "metadata", "url"];
/// What update accepts: not `api_version`, not `connect` (facts.md: "the
/// update call has no such field").
const UPDATE_PARAMS: &[&str] = &["description", "disabled", "enabled_events", "expand", "metadata", "url"];

/// `POST /v1/webhook_endpoints`.
pub(crate) fn create(shared: &Shared, caller: &Caller, body: &[u8]) -> Answer {
    match try_create(shared, caller, body) {
        Ok(v) | Err(v) => v,
    }
}

fn try_create(shared: &Shared, caller: &Caller, body: &[u8]) -> Result<Answer, Answer> {
    let form = parse(body, CREATE_PARAMS)?;
    let url = form.scalar("url").map_err(bad_form)?.filter(|u| !u.is_empty()).ok_or_else(|| missing("url"))?;
    check_url(url)?;
    let events = form.list("enabled_events").map_err(bad_form)?.filter(|e| !e.is_empty());
    let events = events.ok_or_else(|| missing("enabled_events"))?;
    check_events(&events)?;
    let api_version = match form.scalar("api_version").map_err(bad_form)? {
        None | Some("") => None,
        Some(v) if is_known_api_version(v) => Some(v.to_owned()),
        Some(v) => return Err(Answer::invalid(&format!("Invalid Stripe API version: {v}"), Some("api_version"))),
    };
    let connect = match form.scalar("connect").map_err(bad_form)? {
        None => false,
        Some(v) => boolean(v, "connect")?,
    };
    let mut metadata = BTreeMap::new();
    apply_metadata(&mut metadata, &form)?;
    let secret = random_id(&mut fastrand::Rng::new(), "whsec_", 32);
    let ep = WebhookEndpoint {
        url: url.to_owned(),
        secrets: vec![secret],
        api_version,
        enabled_events: events,
        status: "enabled".to_owned(),
        description: form.scalar("description").map_err(bad_form)?.filter(|d| !d.is_empty()).map(str::to_owned),
        metadata,
        connect,
        account: caller.account.clone(),
        livemode: caller.livemode,
        created: shared.clock.now(),
        ..WebhookEndpoint::default()
    };
    let Some(ep) = shared.hub.add_endpoint(ep, Some(MAX_ENDPOINTS_PER_ACCOUNT)) else {
        return Err(Answer::invalid(
            &format!("You have reached the maximum of {MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints on this account."),
            None,
        ));
    };
    tracing::info!(endpoint = %ep.id, url = %ep.url, api_version = ?ep.api_version, "webhook endpoint created");
    Ok(Answer::ok(ep.to_json(true).to_string()))
}

/// `GET /v1/webhook_endpoints`: newest first, Stripe's cursors.
pub(crate) fn list(shared: &Shared, caller: &Caller, pairs: &[(String, String)]) -> Answer {
    let q = match ListQuery::parse(pairs) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let mut mine: Vec<(usize, WebhookEndpoint)> =
        shared.hub.endpoints().into_iter().filter(|e| e.account == caller.account).enumerate().collect();
    mine.sort_by(|(ia, a), (ib, b)| (b.created, ib).cmp(&(a.created, ia)));
    let eps: Vec<WebhookEndpoint> = mine.into_iter().map(|(_, e)| e).collect();
    let position = |param: &str, id: &str| eps.iter().position(|e| e.id == id).ok_or_else(|| no_such_cursor(id, param));
    let (page, has_more) = match (q.starting_after, q.ending_before) {
        (Some(id), _) => match position("starting_after", id) {
            Ok(at) => window(&eps[at + 1..], q.limit, false),
            Err(e) => return e,
        },
        (None, Some(id)) => match position("ending_before", id) {
            Ok(at) => window(&eps[..at], q.limit, true),
            Err(e) => return e,
        },
        (None, None) => window(&eps, q.limit, false),
    };
    let data: Vec<Value> = page.iter().map(|e| e.to_json(false)).collect();
    let body = json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/webhook_endpoints"});
    Answer::ok(body.to_string())
}

/// `limit` items from the start of `items` (or from its end, `from_end`,
/// for `ending_before`), and whether more lie beyond them.
fn window(items: &[WebhookEndpoint], limit: usize, from_end: bool) -> (&[WebhookEndpoint], bool) {
    let n = items.len().min(limit);
    match from_end {
        false => (&items[..n], items.len() > n),
        true => (&items[items.len() - n..], items.len() > n),
    }
}

/// `GET /v1/webhook_endpoints/{id}`.
pub(crate) fn retrieve(shared: &Shared, caller: &Caller, id: &str) -> Answer {
    match own(shared, caller, id) {
        Ok(ep) => Answer::ok(ep.to_json(false).to_string()),
        Err(e) => e,
    }
}

/// `POST /v1/webhook_endpoints/{id}`.
pub(crate) fn update(shared: &Shared, caller: &Caller, id: &str, body: &[u8]) -> Answer {
    match try_update(shared, caller, id, body) {
        Ok(v) | Err(v) => v,
    }
}

fn try_update(shared: &Shared, caller: &Caller, id: &str, body: &[u8]) -> Result<Answer, Answer> {
    let mut ep = own(shared, caller, id)?;
    let form = parse(body, UPDATE_PARAMS)?;
    if let Some(url) = form.scalar("url").map_err(bad_form)? {
        check_url(url)?;
        ep.url = url.to_owned();
    }
    if let Some(events) = form.list("enabled_events").map_err(bad_form)? {
        if events.is_empty() {
            return Err(Answer::invalid("Invalid array: enabled_events must not be empty.", Some("enabled_events")));
        }
        check_events(&events)?;
        ep.enabled_events = events;
    }
    if let Some(v) = form.scalar("disabled").map_err(bad_form)? {
        ep.status = if boolean(v, "disabled")? { "disabled" } else { "enabled" }.to_owned();
    }
    if let Some(d) = form.scalar("description").map_err(bad_form)? {
        ep.description = (!d.is_empty()).then(|| d.to_owned());
    }
    apply_metadata(&mut ep.metadata, &form)?;
    let changed = shared.hub.update_endpoint(id, |e| {
        // Secrets may have been rolled meanwhile; keep them.
        *e = WebhookEndpoint { secrets: std::mem::take(&mut e.secrets), ..ep };
    });
    match changed {
        Some(ep) => {
            tracing::info!(endpoint = %ep.id, status = %ep.status, "webhook endpoint updated");
            Ok(Answer::ok(ep.to_json(false).to_string()))
        }
        None => Err(no_such(id)),
    }
}

/// `DELETE /v1/webhook_endpoints/{id}`.
pub(crate) fn delete(shared: &Shared, caller: &Caller, id: &str) -> Answer {
    if let Err(e) = own(shared, caller, id) {
        return e;
    }
    match shared.hub.remove_endpoint(id) {
        true => {
            tracing::info!(endpoint = %id, "webhook endpoint deleted");
            Answer::ok(deleted_json(id).to_string())
        }
        false => no_such(id),
    }
}

/// The endpoint if it is this caller's account's.
fn own(shared: &Shared, caller: &Caller, id: &str) -> Result<WebhookEndpoint, Answer> {
    shared.hub.endpoint(id).filter(|e| e.account == caller.account).ok_or_else(|| no_such(id))
}

fn parse(body: &[u8], allowed: &[&str]) -> Result<Form, Answer> {
    let form = Form::parse(body).map_err(bad_form)?;
    if let Some(unknown) = form.names().find(|n| !allowed.contains(n)) {
        return Err(Answer::error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            &format!("Received unknown parameter: {unknown}"),
            Some(unknown),
        ));
    }
    Ok(form)
}

fn bad_form(e: FormError) -> Answer {
    Answer::invalid(&e.to_string(), e.param())
}

fn missing(param: &str) -> Answer {
    Answer::error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        &format!("Missing required param: {param}."),
        Some(param),
    )
}

fn check_url(url: &str) -> Result<(), Answer> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
        _ => Err(Answer::error(
            400,
            "invalid_request_error",
            Some("url_invalid"),
            &format!("Invalid URL: {url}"),
            Some("url"),
        )),
    }
}

fn check_events(events: &[String]) -> Result<(), Answer> {
    match events.iter().enumerate().find(|(_, t)| !is_known_event_type(t)) {
        None => Ok(()),
        Some((i, t)) => Err(Answer::invalid(
            &format!(
                "Invalid enabled_events[{i}]: '{t}' is not an event type. Use event type names \
                 (https://docs.stripe.com/api/events/types) or '*'; groups such as 'customer.*' are not accepted."
            ),
            Some(&format!("enabled_events[{i}]")),
        )),
    }
}

/// `metadata[k]=v` sets, `metadata[k]=` unsets one key, `metadata=` unsets
/// all (docs.stripe.com/metadata).
fn apply_metadata(target: &mut BTreeMap<String, String>, form: &Form) -> Result<(), Answer> {
    match form.hash("metadata").map_err(bad_form)? {
        None => {}
        Some(None) => target.clear(),
        Some(Some(map)) => {
            for (k, v) in map {
                if v.is_empty() {
                    target.remove(k);
                } else {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(())
}

fn boolean(v: &str, param: &str) -> Result<bool, Answer> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Answer::invalid(&format!("Invalid boolean: {v}"), Some(param))),
    }
}

fn no_such(id: &str) -> Answer {
    Answer::missing("webhook endpoint", id, "id")
}

/// A list cursor naming no endpoint of this account: Stripe's 400.
fn no_such_cursor(id: &str, param: &str) -> Answer {
    Answer::error(
        400,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such webhook endpoint: '{id}'"),
        Some(param),
    )
}
