//! What makes a webhook endpoint right for the mirror — enabled, an account
//! endpoint, every event type it applies, the pinned `api_version` — and
//! what `endpoint create` does about the endpoints at a URL. Pure functions
//! of the account's endpoints; no I/O.

use std::collections::HashSet;

use crate::config::Config;
use crate::stripe::control::Endpoint;

/// What the mirror needs from the endpoint at one URL.
#[derive(Debug, Clone)]
pub struct Needs {
    pub url: String,
    /// `stripe.api_version`.
    pub api_version: String,
    /// [`crate::push::event::applied_event_types`].
    pub events: Vec<&'static str>,
}

impl Needs {
    pub fn new(url: &str, config: &Config) -> Needs {
        Needs {
            url: url.to_string(),
            api_version: config.stripe.api_version.clone(),
            events: crate::push::event::applied_event_types(),
        }
    }

    /// The needed event types `endpoint` does not send (none when it sends `*`).
    pub fn missing_events(&self, endpoint: &Endpoint) -> Vec<String> {
        if endpoint.enabled_events.iter().any(|e| e == "*") {
            return Vec::new();
        }
        let sent: HashSet<&str> = endpoint.enabled_events.iter().map(String::as_str).collect();
        self.events.iter().filter(|t| !sent.contains(**t)).map(|t| t.to_string()).collect()
    }

    /// Everything wrong with `endpoint` for the mirror; empty when it will do.
    pub fn problems_of(&self, endpoint: &Endpoint) -> Vec<Problem> {
        let id = endpoint.id.clone();
        let mut problems = Vec::new();
        if endpoint.connect {
            problems.push(Problem::Connect { id: id.clone() });
        }
        if !endpoint.is_enabled() {
            problems.push(Problem::Disabled { id: id.clone(), status: endpoint.status.clone() });
        }
        if endpoint.api_version.as_deref() != Some(self.api_version.as_str()) {
            problems.push(Problem::OtherApiVersion { id: id.clone(), found: endpoint.api_version.clone() });
        }
        let missing = self.missing_events(endpoint);
        if !missing.is_empty() {
            problems.push(Problem::MissingEvents { id, missing });
        }
        problems
    }

    fn at_url<'e>(&self, endpoints: &'e [Endpoint]) -> Vec<&'e Endpoint> {
        endpoints.iter().filter(|e| e.url == self.url).collect()
    }
}

/// One reason the endpoint at a URL does not serve the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No endpoint at all for the URL (in the key's mode).
    NoEndpoint,
    /// Stripe disables an endpoint whose deliveries keep failing; a person can too.
    Disabled { id: String, status: String },
    /// A Connect endpoint sends connected accounts' events, not this account's.
    Connect { id: String },
    /// Events rendered in another version (`None`: the account's default).
    OtherApiVersion { id: String, found: Option<String> },
    /// Needed event types the endpoint does not send.
    MissingEvents { id: String, missing: Vec<String> },
}

impl Problem {
    /// The problem and its fix, in one sentence an operator can act on.
    pub fn describe(&self, needs: &Needs) -> String {
        let create = format!("stripe-mirror endpoint create --url {}", needs.url);
        match self {
            Problem::NoEndpoint => format!("no webhook endpoint for {}; create one: {create}", needs.url),
            Problem::Disabled { id, status } => format!(
                "{id} is {status} (Stripe disables an endpoint whose deliveries keep failing): \
                 enable it in the Dashboard once the URL answers, or create a new one: {create}"
            ),
            Problem::Connect { id } => format!(
                "{id} is a Connect endpoint: it sends connected accounts' events, not this account's; \
                 create an account endpoint: {create}"
            ),
            Problem::OtherApiVersion { id, found } => {
                let found = match found {
                    Some(v) => format!("API version {v}"),
                    None => "the account's default API version of the moment (an endpoint made in the Dashboard)"
                        .to_string(),
                };
                format!(
                    "{id} sends events in {found}, not the pinned {pinned}; Stripe cannot change an \
                     endpoint's version: create a new endpoint ({create}), add its secret to \
                     STRIPE_WEBHOOK_SECRET beside the old one, restart serve, then delete {id}",
                    pinned = needs.api_version
                )
            }
            Problem::MissingEvents { id, missing } => format!(
                "{id} does not send {} event type(s) the mirror applies: {}; add them: {create} \
                 (updates this endpoint), or in the Dashboard",
                missing.len(),
                missing.join(", ")
            ),
        }
    }
}

/// The verdict on a URL: the endpoint that serves the mirror, if any.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub good: Option<Endpoint>,
    /// When `good` is `None`: every problem of every endpoint at the URL
    /// ([`Problem::NoEndpoint`] when there is none).
    pub problems: Vec<Problem>,
    /// When `good` is `Some`: the other enabled account endpoints at the
    /// URL, which send every event a second time (an old one left behind).
    pub duplicates: Vec<Endpoint>,
}

pub fn assess(endpoints: &[Endpoint], needs: &Needs) -> Assessment {
    let at_url = needs.at_url(endpoints);
    let good = at_url.iter().find(|e| needs.problems_of(e).is_empty()).map(|e| (*e).clone());
    match good {
        Some(g) => {
            let duplicates =
                at_url.iter().filter(|e| e.id != g.id && e.is_enabled() && !e.connect).map(|e| (*e).clone()).collect();
            Assessment { good: Some(g), problems: Vec::new(), duplicates }
        }
        None if at_url.is_empty() => {
            Assessment { good: None, problems: vec![Problem::NoEndpoint], duplicates: Vec::new() }
        }
        None => Assessment {
            good: None,
            problems: at_url.iter().flat_map(|e| needs.problems_of(e)).collect(),
            duplicates: Vec::new(),
        },
    }
}

/// What to do about `old`, an endpoint left at the URL beside `good`.
pub fn duplicate_note(old: &Endpoint, good: &str, needs: &Needs) -> String {
    let why: Vec<String> = needs.problems_of(old).iter().map(short).collect();
    let why = if why.is_empty() { "the same events and version".to_string() } else { why.join(", ") };
    format!(
        "{id} is also at {url} ({why}): keep its secret beside {good}'s in STRIPE_WEBHOOK_SECRET until serve \
         runs with both, then delete {id} (Dashboard → Webhooks); until then Stripe sends each event to both, \
         and the mirror applies it once",
        id = old.id,
        url = needs.url,
    )
}

/// What `endpoint create` does for a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An endpoint there already serves the mirror: nothing to do.
    Exists(Endpoint),
    /// An enabled account endpoint at the pinned version lacks some event
    /// types: add them to it (the update call can) rather than make a second
    /// endpoint with its own secret.
    AddEvents { endpoint: Endpoint, events: Vec<String>, missing: Vec<String> },
    /// Create one. `beside` are the endpoints already at the URL that cannot
    /// be fixed in place (other version, disabled, Connect).
    Create { beside: Vec<Endpoint> },
}

pub fn plan(endpoints: &[Endpoint], needs: &Needs) -> Plan {
    if let Some(good) = assess(endpoints, needs).good {
        return Plan::Exists(good);
    }
    let at_url = needs.at_url(endpoints);
    let fixable = at_url
        .iter()
        .find(|e| e.is_enabled() && !e.connect && e.api_version.as_deref() == Some(needs.api_version.as_str()));
    if let Some(e) = fixable {
        let missing = needs.missing_events(e);
        let mut events = e.enabled_events.clone();
        events.extend(missing.iter().cloned());
        return Plan::AddEvents { endpoint: (*e).clone(), events, missing };
    }
    Plan::Create { beside: at_url.into_iter().cloned().collect() }
}

fn short(p: &Problem) -> String {
    match p {
        Problem::NoEndpoint => "none".into(),
        Problem::Disabled { status, .. } => status.clone(),
        Problem::Connect { .. } => "Connect".into(),
        Problem::OtherApiVersion { found: Some(v), .. } => format!("API version {v}"),
        Problem::OtherApiVersion { found: None, .. } => "the account's default API version".into(),
        Problem::MissingEvents { missing, .. } => format!("{} event types missing", missing.len()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const URL: &str = "https://mirror.example.com/webhooks/stripe";

    fn needs() -> Needs {
        Needs {
            url: URL.into(),
            api_version: "2026-08-26.dahlia".into(),
            events: crate::push::event::applied_event_types(),
        }
    }

    /// An endpoint as `endpoint create` makes it.
    pub(crate) fn good(id: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            url: URL.into(),
            status: "enabled".into(),
            api_version: Some("2026-08-26.dahlia".into()),
            enabled_events: crate::push::event::applied_event_types().iter().map(|t| t.to_string()).collect(),
            description: None,
            managed: true,
            connect: false,
            livemode: false,
        }
    }

    #[test]
    fn an_endpoint_made_by_create_has_no_problem() {
        let v = assess(&[good("we_1")], &needs());
        assert_eq!(v.good.map(|e| e.id), Some("we_1".into()));
        assert!(v.problems.is_empty() && v.duplicates.is_empty());
    }

    #[test]
    fn star_covers_every_event_type() {
        let e = Endpoint { enabled_events: vec!["*".into()], ..good("we_1") };
        assert!(needs().problems_of(&e).is_empty());
    }

    #[test]
    fn each_problem_is_named() {
        let e = Endpoint {
            status: "disabled".into(),
            api_version: None,
            enabled_events: vec!["customer.created".into()],
            ..good("we_1")
        };
        let problems = needs().problems_of(&e);
        assert!(matches!(problems[0], Problem::Disabled { .. }), "{problems:?}");
        assert_eq!(problems[1], Problem::OtherApiVersion { id: "we_1".into(), found: None });
        match &problems[2] {
            Problem::MissingEvents { missing, .. } => {
                assert!(missing.contains(&"invoice.paid".to_string()));
                assert!(!missing.contains(&"customer.created".to_string()));
            }
            p => panic!("{p:?}"),
        }
        let text = problems[1].describe(&needs());
        assert!(text.contains("cannot change") && text.contains("endpoint create --url"), "{text}");
    }

    #[test]
    fn no_endpoint_at_the_url_is_a_problem_even_with_others_elsewhere() {
        let elsewhere = Endpoint { url: "https://other.example.com/hook".into(), ..good("we_1") };
        let v = assess(&[elsewhere], &needs());
        assert!(v.good.is_none());
        assert_eq!(v.problems, [Problem::NoEndpoint]);
    }

    #[test]
    fn a_second_enabled_endpoint_at_the_url_is_noted_beside_the_good_one() {
        let old = Endpoint { api_version: Some("2025-03-31.basil".into()), managed: false, ..good("we_old") };
        let v = assess(&[old, good("we_new")], &needs());
        assert_eq!(v.good.map(|e| e.id), Some("we_new".into()));
        assert!(v.problems.is_empty());
        assert_eq!(v.duplicates.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["we_old"]);
        let note = duplicate_note(&v.duplicates[0], "we_new", &needs());
        assert!(note.contains("API version 2025-03-31.basil") && note.contains("then delete we_old"), "{note}");
    }

    #[test]
    fn create_does_not_duplicate_a_good_endpoint() {
        assert!(matches!(plan(&[good("we_1")], &needs()), Plan::Exists(e) if e.id == "we_1"));
    }

    #[test]
    fn create_adds_missing_events_to_an_endpoint_at_the_pinned_version() {
        // `payout.paid`: an event type the mirror does not apply, kept.
        let e = Endpoint { enabled_events: vec!["customer.created".into(), "payout.paid".into()], ..good("we_1") };
        match plan(&[e], &needs()) {
            Plan::AddEvents { endpoint, events, missing } => {
                assert_eq!(endpoint.id, "we_1");
                assert!(events.starts_with(&["customer.created".to_string(), "payout.paid".to_string()]));
                assert_eq!(missing.len(), needs().events.len() - 1);
                assert_eq!(events.len(), needs().events.len() + 1);
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn create_makes_a_new_endpoint_beside_one_of_another_version_or_disabled() {
        let old = Endpoint { api_version: None, ..good("we_old") };
        let off = Endpoint { status: "disabled".into(), ..good("we_off") };
        match plan(&[old, off], &needs()) {
            Plan::Create { beside } => {
                assert_eq!(beside.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["we_old", "we_off"])
            }
            p => panic!("{p:?}"),
        }
        assert_eq!(plan(&[], &needs()), Plan::Create { beside: vec![] });
    }

    #[test]
    fn a_connect_endpoint_does_not_serve_the_mirror() {
        let c = Endpoint { connect: true, ..good("we_c") };
        assert_eq!(needs().problems_of(&c), [Problem::Connect { id: "we_c".into() }]);
        assert!(matches!(plan(&[c], &needs()), Plan::Create { .. }));
    }
}
