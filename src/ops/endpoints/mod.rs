//! The `endpoint` commands — `create`, `check`, `list`: what each prints,
//! where the signing secret goes, the exit codes. What makes an endpoint
//! right is in [`rules`]; the calls to Stripe are [`crate::stripe::control`]'s.
//!
//! Why the commands exist: an endpoint made by hand in the Dashboard is where
//! forgotten event types and version mismatches come from (such an endpoint
//! has `api_version: null` and sends events in the account's default version
//! of the moment). Stripe cannot change an endpoint's version afterwards, so
//! the fix for a wrong one is a new endpoint, then deleting the old one.

pub mod rules;

use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, ConfigError};
use crate::stripe::control::{Control, ControlError, CreatedEndpoint, Endpoint, NewEndpoint};
pub use rules::{assess, duplicate_note, plan, Assessment, Needs, Plan, Problem};

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
        Plan::Exists(good) => {
            report_existing(&good, &endpoints, &needs, secret_file);
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
            let created = create_new(&control, config, &needs, secret_file).await?;
            for old in beside.iter().filter(|e| e.is_enabled() && !e.connect) {
                println!("note: {}", duplicate_note(old, &created, &needs));
            }
            Ok(())
        }
    }
}

fn report_existing(good: &Endpoint, endpoints: &[Endpoint], needs: &Needs, secret_file: Option<&Path>) {
    println!(
        "{} at {} already sends the {} event types the mirror applies at API version {}; nothing created",
        good.id,
        needs.url,
        needs.events.len(),
        needs.api_version
    );
    if let Some(path) = secret_file {
        println!(
            "nothing written to {}: Stripe returns a signing secret only when it creates the endpoint \
             (the Dashboard shows {}'s)",
            path.display(),
            good.id
        );
    }
    for old in assess(endpoints, needs).duplicates {
        println!("note: {}", duplicate_note(&old, &good.id, needs));
    }
}

/// Creates the endpoint and hands its secret over; returns its id.
async fn create_new(
    control: &Control,
    config: &Config,
    needs: &Needs,
    secret_file: Option<&Path>,
) -> Result<String, EndpointError> {
    // The file is opened before the endpoint exists: Stripe shows the
    // secret once, so a path we could not write would lose it.
    let file = secret_file.map(|p| open_secret_file(p).map(|f| (p, f))).transpose()?;
    let new = NewEndpoint {
        url: &needs.url,
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
    let id = created.endpoint.id.clone();
    tracing::info!(endpoint = %id, url = %needs.url, api_version = %needs.api_version, events = needs.events.len(), "created webhook endpoint");
    println!(
        "created {id} for {} ({}): {} event types, API version {}, metadata managed_by=stripe-mirror",
        needs.url,
        mode(config),
        needs.events.len(),
        needs.api_version
    );
    hand_over_secret(&created, file)?;
    Ok(id)
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
            for old in &verdict.duplicates {
                println!("note: {}", duplicate_note(old, &e.id, &needs));
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
    use crate::ops::endpoints::rules::tests::good;

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
