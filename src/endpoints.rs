//! The `endpoint` commands — `create`, `check`, `list` — and the rules they
//! share: which webhook endpoint the mirror needs (enabled, an account
//! endpoint, every event type it applies, the pinned `api_version`), pure
//! functions of the account's endpoints. The calls are [`crate::control`]'s.
//!
//! Why the commands exist: an endpoint made by hand in the Dashboard is where
//! forgotten event types and version mismatches come from (such an endpoint
//! has `api_version: null` and sends events in the account's default version
//! of the moment). Stripe cannot change an endpoint's version afterwards, so
//! the fix for a wrong one is a new endpoint, then deleting the old one.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, ConfigError};
use crate::control::{Control, ControlError, CreatedEndpoint, Endpoint, NewEndpoint};

/// What the mirror needs from the endpoint at one URL.
#[derive(Debug, Clone)]
pub struct Needs {
    pub url: String,
    /// `stripe.api_version`.
    pub api_version: String,
    /// [`crate::event::applied_event_types`].
    pub events: Vec<&'static str>,
}

impl Needs {
    pub fn new(url: &str, config: &Config) -> Needs {
        Needs {
            url: url.to_string(),
            api_version: config.stripe.api_version.clone(),
            events: crate::event::applied_event_types(),
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

/// The verdict on a URL: the endpoint that serves the mirror, if any, and
/// what is wrong with each of the others at that URL.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub good: Option<Endpoint>,
    /// When `good` is `None`: every problem of every endpoint at the URL
    /// ([`Problem::NoEndpoint`] when there is none). Otherwise the problems
    /// of the other *enabled* endpoints there, which send every event a
    /// second time.
    pub problems: Vec<Problem>,
}

pub fn assess(endpoints: &[Endpoint], needs: &Needs) -> Assessment {
    let at_url = needs.at_url(endpoints);
    let good = at_url.iter().find(|e| needs.problems_of(e).is_empty()).map(|e| (*e).clone());
    let problems = match &good {
        Some(g) => at_url
            .iter()
            .filter(|e| e.id != g.id && e.is_enabled() && !e.connect)
            .flat_map(|e| needs.problems_of(e))
            .collect(),
        None if at_url.is_empty() => vec![Problem::NoEndpoint],
        None => at_url.iter().flat_map(|e| needs.problems_of(e)).collect(),
    };
    Assessment { good, problems }
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

/// Why an `endpoint` command failed; the CLI maps it to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Exit 2.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Exit 1.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// Exit 1.
    #[error("cannot write the signing secret to {path}: {source}")]
    SecretFile { path: PathBuf, source: std::io::Error },
    /// Exit 1; the problems have been printed.
    #[error("the webhook endpoint needs attention")]
    Problems,
}

fn control(config: &Config) -> Result<Control, EndpointError> {
    let key = config.secret_key()?;
    Ok(Control::new(&config.stripe, key)?)
}

fn mode(config: &Config) -> &'static str {
    match config.stripe.secret_key.as_ref() {
        Some(k) if k.expose_secret().contains("_live_") => "live mode",
        _ => "test mode",
    }
}

fn checked_url(url: &str, key: &str) -> Result<(), ConfigError> {
    if crate::config::is_http_url(url) {
        Ok(())
    } else {
        Err(ConfigError { key: key.into(), message: format!("`{url}` is not an http:// or https:// URL") })
    }
}

/// `endpoint create --url URL [--secret-file PATH]`.
pub async fn create(config: &Config, url: &str, secret_file: Option<&Path>) -> Result<(), EndpointError> {
    checked_url(url, "--url")?;
    let control = control(config)?;
    let needs = Needs::new(url, config);
    let endpoints = control.list_endpoints().await?;
    match plan(&endpoints, &needs) {
        Plan::Exists(e) => {
            println!(
                "{} at {url} already sends the {} event types the mirror applies at API version {}; nothing created",
                e.id,
                needs.events.len(),
                needs.api_version
            );
            if let Some(path) = secret_file {
                println!(
                    "nothing written to {}: Stripe returns a signing secret only when it creates the endpoint \
                     (the Dashboard shows {}'s)",
                    path.display(),
                    e.id
                );
            }
            report_duplicates(&endpoints, &needs);
            Ok(())
        }
        Plan::AddEvents { endpoint, events, missing } => {
            let updated = control.set_endpoint_events(&endpoint.id, &events).await?;
            tracing::info!(endpoint = %updated.id, url, added = missing.len(), "added event types to the webhook endpoint");
            println!("added {} event type(s) to {} at {url}: {}", missing.len(), updated.id, missing.join(", "));
            if let Some(path) = secret_file {
                println!("nothing written to {}: the endpoint and its secret are unchanged", path.display());
            }
            Ok(())
        }
        Plan::Create { beside } => {
            // The file is opened before the endpoint exists: Stripe shows the
            // secret once, so a path we could not write would lose it.
            let file = secret_file.map(|p| open_secret_file(p).map(|f| (p, f))).transpose()?;
            let new = NewEndpoint {
                url,
                enabled_events: &needs.events,
                description: "stripe-mirror: the event types the mirror applies, at its pinned API version",
            };
            let created = match control.create_endpoint(&new).await {
                Ok(c) => c,
                Err(e) => {
                    if let Some((path, f)) = file {
                        drop(f);
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(e.into());
                }
            };
            tracing::info!(
                endpoint = %created.endpoint.id,
                url,
                api_version = %needs.api_version,
                events = needs.events.len(),
                "created webhook endpoint"
            );
            println!(
                "created {} for {url} ({}): {} event types, API version {}, metadata managed_by=stripe-mirror",
                created.endpoint.id,
                mode(config),
                needs.events.len(),
                needs.api_version
            );
            hand_over_secret(&created, file)?;
            for old in &beside {
                let why: Vec<String> = needs.problems_of(old).iter().map(short).collect();
                println!(
                    "{} is also at {url} ({}): keep its secret beside the new one in STRIPE_WEBHOOK_SECRET \
                     until serve runs with both, then delete {} (Dashboard → Webhooks); until then \
                     Stripe sends each event to both, and the mirror applies it once",
                    old.id,
                    why.join(", "),
                    old.id
                );
            }
            Ok(())
        }
    }
}

/// Opens PATH for the secret: created new, mode 0600. An existing file is
/// refused, not overwritten: it may hold the secret serve verifies with now.
fn open_secret_file(path: &Path) -> Result<std::fs::File, EndpointError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            EndpointError::Config(ConfigError {
                key: "--secret-file".into(),
                message: format!(
                    "{} exists; not overwritten (it may hold a secret in use): give a new path",
                    path.display()
                ),
            })
        } else {
            EndpointError::SecretFile { path: path.to_path_buf(), source }
        }
    })
}

/// The secret goes to the file, or once to stdout; never to the log.
fn hand_over_secret(created: &CreatedEndpoint, file: Option<(&Path, std::fs::File)>) -> Result<(), EndpointError> {
    match file {
        Some((path, mut f)) => {
            write_secret(&mut f, &created.secret)
                .map_err(|source| EndpointError::SecretFile { path: path.to_path_buf(), source })?;
            println!(
                "signing secret written to {} (mode 0600): point webhook.secrets_file at it \
                 (or a systemd LoadCredential=)",
                path.display()
            );
        }
        None => {
            println!(
                "signing secret (shown once: Stripe will not return it again; put it in \
                 STRIPE_WEBHOOK_SECRET or webhook.secrets_file):"
            );
            println!("{}", created.secret.expose_secret());
        }
    }
    Ok(())
}

fn write_secret(f: &mut std::fs::File, secret: &SecretString) -> std::io::Result<()> {
    f.write_all(secret.expose_secret().as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
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

/// Other enabled endpoints at the URL send every event a second time.
fn report_duplicates(endpoints: &[Endpoint], needs: &Needs) {
    for p in assess(endpoints, needs).problems {
        println!("note: another endpoint at this URL: {}", p.describe(needs));
    }
}

/// `endpoint check [--url URL]`.
pub async fn check(config: &Config, url: Option<&str>) -> Result<(), EndpointError> {
    let url = match url {
        Some(u) => {
            checked_url(u, "--url")?;
            u.to_string()
        }
        None => config.webhook.public_url.clone().ok_or_else(|| ConfigError {
            key: "webhook.public_url".into(),
            message: "is not set, and no --url was given: which endpoint should be checked?".into(),
        })?,
    };
    let control = control(config)?;
    let needs = Needs::new(&url, config);
    let endpoints = control.list_endpoints().await?;
    let verdict = assess(&endpoints, &needs);
    match &verdict.good {
        Some(e) => {
            println!(
                "ok: {} at {url} ({}) is enabled and sends the {} event types the mirror applies at API version {}",
                e.id,
                mode(config),
                needs.events.len(),
                needs.api_version
            );
            for p in &verdict.problems {
                println!("note: another endpoint at this URL: {}", p.describe(&needs));
            }
            Ok(())
        }
        None => {
            println!("the webhook endpoint for {url} ({}) does not serve the mirror:", mode(config));
            for p in &verdict.problems {
                println!("problem: {}", p.describe(&needs));
            }
            Err(EndpointError::Problems)
        }
    }
}

/// `endpoint list`.
pub async fn list(config: &Config) -> Result<(), EndpointError> {
    let control = control(config)?;
    let endpoints = control.list_endpoints().await?;
    if endpoints.is_empty() {
        println!("no webhook endpoints ({})", mode(config));
        return Ok(());
    }
    print!("{}", render_list(&endpoints, mode(config)));
    Ok(())
}

/// The `endpoint list` table.
pub fn render_list(endpoints: &[Endpoint], mode: &str) -> String {
    let rows: Vec<[String; 6]> = endpoints
        .iter()
        .map(|e| {
            let status = if e.connect { format!("{} (Connect)", e.status) } else { e.status.clone() };
            let events = if e.enabled_events.iter().any(|t| t == "*") {
                "all (*)".to_string()
            } else {
                e.enabled_events.len().to_string()
            };
            [
                e.id.clone(),
                status,
                e.api_version.clone().unwrap_or_else(|| "account default".into()),
                events,
                if e.managed { "stripe-mirror" } else { "-" }.to_string(),
                e.url.clone(),
            ]
        })
        .collect();
    let header = ["ID", "STATUS", "API VERSION", "EVENTS", "MANAGED BY", "URL"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = format!("webhook endpoints ({mode}):\n");
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mirror.example.com/webhooks/stripe";

    fn needs() -> Needs {
        Needs { url: URL.into(), api_version: "2026-08-26.dahlia".into(), events: crate::event::applied_event_types() }
    }

    fn good(id: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            url: URL.into(),
            status: "enabled".into(),
            api_version: Some("2026-08-26.dahlia".into()),
            enabled_events: crate::event::applied_event_types().iter().map(|t| t.to_string()).collect(),
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
        assert!(v.problems.is_empty());
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
        assert!(matches!(&v.problems[..], [Problem::OtherApiVersion { id, .. }] if id == "we_old"));
    }

    #[test]
    fn create_does_not_duplicate_a_good_endpoint() {
        assert!(matches!(plan(&[good("we_1")], &needs()), Plan::Exists(e) if e.id == "we_1"));
    }

    #[test]
    fn create_adds_missing_events_to_an_endpoint_at_the_pinned_version() {
        let e = Endpoint { enabled_events: vec!["customer.created".into(), "charge.succeeded".into()], ..good("we_1") };
        match plan(&[e], &needs()) {
            Plan::AddEvents { endpoint, events, missing } => {
                assert_eq!(endpoint.id, "we_1");
                assert!(events.starts_with(&["customer.created".to_string(), "charge.succeeded".to_string()]));
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

    #[test]
    fn list_shows_version_events_and_who_manages_it() {
        let hand = Endpoint { api_version: None, enabled_events: vec!["*".into()], managed: false, ..good("we_2") };
        let text = render_list(&[good("we_1"), hand], "test mode");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("ID"), "{text}");
        assert!(
            lines[2].contains("we_1") && lines[2].contains("stripe-mirror") && lines[2].contains("2026-08-26.dahlia")
        );
        assert!(lines[3].contains("account default") && lines[3].contains("all (*)"), "{text}");
    }
}
