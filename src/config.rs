//! Configuration: `config.toml` (every key documented there and on the field
//! here), then the environment variables named in docs/design.md, then checks.
//!
//! Secrets are `SecretString`s: their `Debug` prints `[REDACTED]`, so no log
//! line or error message can carry one. A secret can also come from a file
//! (`*_file` keys), which is how systemd's `LoadCredential=` hands them over.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A configuration problem. `key` names the setting, so the operator knows
/// what to fix; the command exits 2.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { key: key.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub stripe: StripeConfig,
    pub webhook: WebhookConfig,
    pub apply: ApplyConfig,
    pub reconcile: ReconcileConfig,
    pub mirror: MirrorConfig,
    pub service: ServiceConfig,
    pub log: LogConfig,
    pub retention: RetentionConfig,
    pub privacy: PrivacyConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Postgres URL. Env: `DATABASE_URL`. Contains a password: treated as a secret.
    pub url: Option<SecretString>,
    /// Most connections the daemon opens.
    pub max_connections: u32,
    /// Schema holding the mirrored tables (bookkeeping is always `stripe_mirror`).
    pub schema: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeConfig {
    /// Secret or restricted key (read access to the mirrored types). Env: `STRIPE_SECRET_KEY`.
    pub secret_key: Option<SecretString>,
    /// File holding the key instead (e.g. a systemd credential).
    pub secret_key_file: Option<PathBuf>,
    /// API base URL. Env: `STRIPE_API_BASE`.
    pub api_base: String,
    /// `Stripe-Version` sent with every request, so object shapes don't change under us.
    pub api_version: String,
    /// Our own rate limit in requests/s; 0 picks 20 for test keys, 80 for live keys.
    pub requests_per_second: u32,
    /// Our limit per API operation (each list path, each retrieve path), in
    /// requests/s; 0 = none. Unset: Stripe's default per-endpoint limit,
    /// 25/s — or, when `requests_per_second` is raised above Stripe's default
    /// account limit of 100/s, a quarter of it, the documented proportion
    /// (Stripe raises an account's limits together; a local simulator has
    /// none). See [`StripeConfig::per_operation_rate`].
    pub requests_per_second_per_operation: Option<u32>,
    /// The account the tables mirror (`acct_…`), for a restricted key that may
    /// not read `GET /v1/account`; otherwise learned from it (and checked
    /// against this when set).
    pub account_id: Option<String>,
    /// Timeout of one API request, in seconds.
    pub timeout_secs: u64,
    /// Retries of one API request on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// Backfill and full sweep split each list with more than one page into
    /// this many `created` windows, paged concurrently (Stripe answers a page
    /// in ~0.3–0.5 s, so one cursor per list cannot use the rate limit).
    pub list_windows: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Listen address. Env: `STRIPE_MIRROR_LISTEN`.
    pub listen: String,
    /// Path of the webhook endpoint.
    pub path: String,
    /// Signing secrets (`whsec_…`); any one matching is accepted, for rotation
    /// and several endpoints. Env: `STRIPE_WEBHOOK_SECRET` (comma-separated).
    pub secrets: Vec<SecretString>,
    /// File with one secret per line or comma-separated, instead.
    pub secrets_file: Option<PathBuf>,
    /// Largest accepted difference between the signature's `t=` and now, seconds.
    pub tolerance_secs: u64,
    /// Largest accepted body, bytes; larger bodies get 413.
    pub max_body_bytes: u64,
    /// The URL Stripe delivers to, as registered on the endpoint (the proxy's
    /// public https address, path included). `endpoint check` checks it
    /// when no `--url` is given.
    pub public_url: Option<String>,
    /// Bytes of webhook bodies held in memory at once (a body is read whole
    /// before its signature can be checked); past it a request gets 503 with
    /// `Retry-After`. At least `max_body_bytes`, at most 4 GiB.
    pub max_bytes_in_flight: u64,
    /// Open connections served at once on the webhook listener; more wait in
    /// the kernel's accept backlog. Each costs buffers before any request on
    /// it is admitted.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplyConfig {
    /// Apply workers per daemon.
    pub workers: usize,
    /// Events one worker claims and commits together (each in its own savepoint).
    pub batch_size: i64,
    /// Attempts before an event is parked as `failed`.
    pub max_attempts: i32,
    /// First retry delay in milliseconds; doubles per attempt, capped at 5 minutes.
    pub retry_base_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Cron expression (5 fields, or 6 with seconds first) for the Events API catch-up.
    pub events_schedule: String,
    /// Cron expression for the full sweep of every list.
    pub full_schedule: String,
    /// Events re-read before the stored cursor, seconds (Stripe's events are not
    /// visible in strict `created` order).
    pub overlap_secs: i64,
    /// A full sweep that would tombstone more than this percentage of a
    /// table's live rows (and more than `mass_delete_min_rows`) tombstones
    /// none and fails; `reconcile --full --allow-mass-delete` overrides.
    pub mass_delete_percent: f64,
    /// Below this many rows a sweep's tombstones are never a mass delete.
    pub mass_delete_min_rows: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MirrorConfig {
    /// The types mirrored, by table name (`["products", "prices", …]`);
    /// absent: every type of the registry. Child tables come with their
    /// parent (`subscriptions` brings `subscription_items`); `payment_methods`
    /// needs `customers` (they are listed per customer). Events of other
    /// types are acknowledged and recorded `ignored`.
    pub objects: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// On SIGTERM/SIGINT: seconds to finish requests in flight, apply
    /// transactions and the scheduler's current page before exiting anyway.
    pub shutdown_timeout_secs: u64,
    /// Serve `/metrics` (and `/healthz`, `/readyz`) on this address instead of
    /// the webhook listener; empty: on the webhook listener.
    pub metrics_listen: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `pretty` for a terminal, `json` for journald/Loki.
    pub format: String,
    /// Default level filter; `RUST_LOG` overrides.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Inbox events `applied`, `ignored` or `stale` whose Stripe `created` is
    /// older than this many days are deleted (by `serve` daily and by
    /// `stripe-mirror prune`), and the change feed is pruned by the same age;
    /// `pending` and `failed` events are kept. At least 1.
    pub events_days: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// A deleted customer's row keeps only Stripe's deleted stub
    /// (`{"id", "object": "customer", "deleted": true}`), and at prune time
    /// the payloads of its finished events are reduced to the same stub.
    pub redact_deleted_customers: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { events_days: 30 }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, max_connections: 10, schema: "stripe".into() }
    }
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            secret_key: None,
            secret_key_file: None,
            api_base: "https://api.stripe.com".into(),
            api_version: "2026-08-26.dahlia".into(),
            requests_per_second: 0,
            requests_per_second_per_operation: None,
            account_id: None,
            timeout_secs: 30,
            max_retries: 6,
            list_windows: 4,
        }
    }
}

/// Stripe's default account-wide limit in live mode, requests/s.
const STRIPE_ACCOUNT_LIMIT: u32 = 100;
/// Stripe's default per-endpoint limit, requests/s.
const STRIPE_ENDPOINT_LIMIT: u32 = 25;

impl StripeConfig {
    /// Our account-wide rate: `requests_per_second`, or when 0 a margin
    /// under Stripe's limits (20/s for a sandbox key, 80/s for a live one).
    pub fn account_rate(&self, live_key: bool) -> u32 {
        match self.requests_per_second {
            0 if live_key => 80,
            0 => 20,
            n => n,
        }
    }

    /// Our rate per API operation given the account-wide `account_rate`:
    /// `requests_per_second_per_operation` when set (0 = none), else
    /// Stripe's 25/s — or a quarter of an account rate raised above
    /// Stripe's 100/s, the proportion of Stripe's own defaults, since an
    /// operator who raised one raised both (or points at a local simulator).
    pub fn per_operation_rate(&self, account_rate: u32) -> u32 {
        match self.requests_per_second_per_operation {
            Some(n) => n,
            None if account_rate > STRIPE_ACCOUNT_LIMIT => account_rate / 4,
            None => STRIPE_ENDPOINT_LIMIT,
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            listen: "127.0.0.1:8080".into(),
            path: "/webhooks/stripe".into(),
            secrets: Vec::new(),
            secrets_file: None,
            tolerance_secs: 300,
            max_body_bytes: 1024 * 1024,
            public_url: None,
            max_bytes_in_flight: 64 * 1024 * 1024,
            max_connections: 512,
        }
    }
}

impl Default for ApplyConfig {
    fn default() -> Self {
        ApplyConfig { workers: 2, batch_size: 100, max_attempts: 8, retry_base_ms: 1000 }
    }
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            events_schedule: "*/5 * * * *".into(),
            full_schedule: "17 3 * * *".into(),
            overlap_secs: 300,
            mass_delete_percent: 10.0,
            mass_delete_min_rows: 20,
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig { shutdown_timeout_secs: 10, metrics_listen: String::new() }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: "pretty".into(), level: "info".into() }
    }
}

/// Where the configuration came from, for `check-config` and error messages.
pub const DEFAULT_PATHS: [&str; 2] = ["./config.toml", "/etc/stripe-mirror/config.toml"];

impl Config {
    /// Reads `path` (or the first default path that exists; none is fine),
    /// applies environment overrides and validates what every command needs.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => DEFAULT_PATHS.iter().map(PathBuf::from).find(|p| p.exists()),
        };
        let mut config = match &file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::new("--config", format!("cannot read {}: {e}", p.display())))?;
                Config::parse(&text)?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.read_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text; an unknown or mistyped key is an error naming it.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let key = e.span().and_then(|span| key_at(text, span.start)).unwrap_or_else(|| "config.toml".into());
            ConfigError::new(key, e.message().to_string())
        })
    }

    /// Environment overrides; `env` is a parameter so tests need not touch the
    /// process environment.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database.url = Some(v.into());
        }
        if let Some(v) = env("STRIPE_SECRET_KEY").filter(|v| !v.is_empty()) {
            self.stripe.secret_key = Some(v.into());
        }
        if let Some(v) = env("STRIPE_WEBHOOK_SECRET").filter(|v| !v.is_empty()) {
            self.webhook.secrets = split_secrets(&v);
        }
        if let Some(v) = env("STRIPE_API_BASE").filter(|v| !v.is_empty()) {
            self.stripe.api_base = v;
        }
        if let Some(v) = env("STRIPE_MIRROR_LISTEN").filter(|v| !v.is_empty()) {
            self.webhook.listen = v;
        }
        Ok(())
    }

    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        if self.stripe.secret_key.is_none() {
            if let Some(p) = &self.stripe.secret_key_file {
                let text = read_secret_file(p, "stripe.secret_key_file")?;
                self.stripe.secret_key = Some(text.trim().to_string().into());
            }
        }
        if self.webhook.secrets.is_empty() {
            if let Some(p) = &self.webhook.secrets_file {
                let text = read_secret_file(p, "webhook.secrets_file")?;
                self.webhook.secrets = split_secrets(&text);
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let schema = &self.database.schema;
        let valid_ident = !schema.is_empty()
            && schema.len() <= 63
            && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !schema.starts_with(|c: char| c.is_ascii_digit());
        if !valid_ident || schema == "stripe_mirror" {
            return Err(ConfigError::new(
                "database.schema",
                "must be a lowercase identifier ([a-z_][a-z0-9_]*) other than stripe_mirror",
            ));
        }
        self.listen_addr()?;
        self.metrics_addr()?;
        if !self.webhook.path.starts_with('/') {
            return Err(ConfigError::new("webhook.path", "must start with '/'"));
        }
        if let Some(url) = &self.webhook.public_url {
            if !is_http_url(url) {
                return Err(ConfigError::new("webhook.public_url", "must be an http:// or https:// URL"));
            }
        }
        if self.webhook.max_body_bytes == 0 {
            return Err(ConfigError::new("webhook.max_body_bytes", "must be positive"));
        }
        if self.webhook.max_connections == 0 {
            return Err(ConfigError::new("webhook.max_connections", "must be positive"));
        }
        let in_flight = self.webhook.max_bytes_in_flight;
        if in_flight < self.webhook.max_body_bytes || in_flight > u64::from(u32::MAX) {
            return Err(ConfigError::new(
                "webhook.max_bytes_in_flight",
                "must be at least webhook.max_body_bytes and at most 4294967295",
            ));
        }
        if self.apply.workers == 0 || self.apply.batch_size <= 0 || self.apply.max_attempts <= 0 {
            return Err(ConfigError::new("apply", "workers, batch_size and max_attempts must be positive"));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(ConfigError::new("log.format", "must be \"pretty\" or \"json\""));
        }
        crate::ops::schedule::Schedule::parse(&self.reconcile.events_schedule)
            .map_err(|e| ConfigError::new("reconcile.events_schedule", e.to_string()))?;
        crate::ops::schedule::Schedule::parse(&self.reconcile.full_schedule)
            .map_err(|e| ConfigError::new("reconcile.full_schedule", e.to_string()))?;
        if let Some(a) = &self.stripe.account_id {
            if !a.starts_with("acct_") {
                return Err(ConfigError::new("stripe.account_id", "must be an account id (acct_…)"));
            }
        }
        if !(0.0..=100.0).contains(&self.reconcile.mass_delete_percent) {
            return Err(ConfigError::new("reconcile.mass_delete_percent", "must be between 0 and 100"));
        }
        if self.retention.events_days == 0 {
            return Err(ConfigError::new("retention.events_days", "must be at least 1"));
        }
        self.types()?;
        if !is_http_url(&self.stripe.api_base) {
            return Err(ConfigError::new("stripe.api_base (STRIPE_API_BASE)", "must be an http:// or https:// URL"));
        }
        Ok(())
    }

    /// The mirrored types (`[mirror] objects`; every type when absent).
    pub fn types(&self) -> Result<crate::registry::TypeSet, ConfigError> {
        match &self.mirror.objects {
            None => Ok(crate::registry::TypeSet::ALL),
            Some(names) => match crate::registry::TypeSet::from_tables(names) {
                Ok(set) if set.is_empty() => {
                    Err(ConfigError::new("mirror.objects", "names no type; leave it out to mirror every type"))
                }
                Ok(set) => Ok(set),
                Err(e) => Err(ConfigError::new("mirror.objects", e.to_string())),
            },
        }
    }

    /// The database URL, or an error naming the key; every command but `demo` needs it.
    pub fn database_url(&self) -> Result<&SecretString, ConfigError> {
        self.database.url.as_ref().ok_or_else(|| ConfigError::new("database.url (DATABASE_URL)", "is not set"))
    }

    /// The Stripe key, or an error naming the key.
    pub fn secret_key(&self) -> Result<&SecretString, ConfigError> {
        match &self.stripe.secret_key {
            Some(k) if !k.expose_secret().trim().is_empty() => Ok(k),
            _ => Err(ConfigError::new("stripe.secret_key (STRIPE_SECRET_KEY)", "is not set")),
        }
    }

    /// The webhook signing secrets, or an error naming the key (`serve` needs them).
    pub fn webhook_secrets(&self) -> Result<&[SecretString], ConfigError> {
        if self.webhook.secrets.is_empty() {
            return Err(ConfigError::new("webhook.secrets (STRIPE_WEBHOOK_SECRET)", "is not set"));
        }
        Ok(&self.webhook.secrets)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.webhook.listen.parse().map_err(|_| {
            ConfigError::new(
                "webhook.listen (STRIPE_MIRROR_LISTEN)",
                format!("`{}` is not an address like 127.0.0.1:8080", self.webhook.listen),
            )
        })
    }

    /// The separate metrics listener, if configured.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.service.metrics_listen.is_empty() {
            return Ok(None);
        }
        self.service.metrics_listen.parse().map(Some).map_err(|_| {
            ConfigError::new(
                "service.metrics_listen",
                format!("`{}` is not an address like 127.0.0.1:9090", self.service.metrics_listen),
            )
        })
    }

    pub fn tolerance(&self) -> Duration {
        Duration::from_secs(self.webhook.tolerance_secs)
    }
}

/// An absolute http(s) URL with something after the scheme.
pub fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}

/// The dotted key (`section.name`) on the line holding byte `pos`.
fn key_at(text: &str, pos: usize) -> Option<String> {
    let before = text.get(..pos)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let name = line.split('=').next()?.trim().trim_matches('"');
    let section = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').to_string());
    Some(match section {
        Some(s) if !name.starts_with('[') => format!("{s}.{name}"),
        _ => name.to_string(),
    })
}

fn split_secrets(text: &str) -> Vec<SecretString> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_string()))
        .collect()
}

/// `${CREDENTIALS_DIRECTORY}` in the path is replaced, so config.toml can name
/// a systemd credential without knowing where systemd mounts it.
fn read_secret_file(path: &Path, key: &str) -> Result<String, ConfigError> {
    let raw = path.to_string_lossy();
    let resolved = match std::env::var("CREDENTIALS_DIRECTORY") {
        Ok(dir) => raw.replace("${CREDENTIALS_DIRECTORY}", &dir),
        Err(_) => raw.into_owned(),
    };
    std::fs::read_to_string(&resolved).map_err(|e| ConfigError::new(key, format!("cannot read {resolved}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_loads_and_validates() {
        let c = Config::parse(include_str!("../config.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.webhook.tolerance_secs, 300);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[webhook]\nlisten_addr = \"x\"\n").unwrap_err();
        assert_eq!(err.key, "webhook.listen_addr");
        let err = Config::parse("[database]\nschema = \"s\"\n[webhook]\ntolerance_secs = \"five\"\n").unwrap_err();
        assert_eq!(err.key, "webhook.tolerance_secs");
    }

    #[test]
    fn webhook_secrets_env_is_a_comma_separated_list() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "STRIPE_WEBHOOK_SECRET").then(|| "whsec_a, whsec_b".to_string())).unwrap();
        let got: Vec<_> = c.webhook.secrets.iter().map(|s| s.expose_secret().to_string()).collect();
        assert_eq!(got, ["whsec_a", "whsec_b"]);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut c = Config::default();
        c.stripe.secret_key = Some("sk_test_123".to_string().into());
        assert!(!format!("{c:?}").contains("sk_test_123"));
    }

    #[test]
    fn mirror_objects_are_checked_and_named_in_errors() {
        let c = Config::parse("[mirror]\nobjects = [\"customers\", \"payment_methods\"]\n").unwrap();
        assert_eq!(c.types().unwrap().tables(), ["customers", "payment_methods"]);
        let c = Config::parse("[mirror]\nobjects = [\"payment_methods\"]\n").unwrap();
        let err = c.validate().unwrap_err();
        assert!(err.key == "mirror.objects" && err.message.contains("customers"), "{err}");
        let c = Config::parse("[mirror]\nobjects = [\"charge\"]\n").unwrap();
        assert!(c.validate().unwrap_err().message.contains("unknown type \"charge\""));
        assert_eq!(Config::default().types().unwrap(), crate::registry::TypeSet::ALL);
    }

    #[test]
    fn the_per_operation_rate_is_stripes_unless_the_account_rate_was_raised() {
        let parse = |toml: &str| Config::parse(toml).unwrap().stripe;
        let c = parse("");
        assert_eq!((c.account_rate(false), c.account_rate(true)), (20, 80));
        assert_eq!(c.per_operation_rate(c.account_rate(true)), 25);
        let c = parse("[stripe]\nrequests_per_second = 100\n");
        assert_eq!(c.per_operation_rate(c.account_rate(false)), 25);
        // Raised (by Stripe on request, or a local simulator): a quarter.
        let c = parse("[stripe]\nrequests_per_second = 400\n");
        assert_eq!(c.per_operation_rate(c.account_rate(false)), 100);
        let c = parse("[stripe]\nrequests_per_second = 400\nrequests_per_second_per_operation = 30\n");
        assert_eq!(c.per_operation_rate(c.account_rate(false)), 30);
        let c = parse("[stripe]\nrequests_per_second_per_operation = 0\n");
        assert_eq!(c.per_operation_rate(c.account_rate(false)), 0, "0 = none");
    }

    #[test]
    fn public_url_must_be_an_http_url() {
        let mut c = Config::default();
        c.webhook.public_url = Some("mirror.example.com/webhooks/stripe".into());
        assert_eq!(c.validate().unwrap_err().key, "webhook.public_url");
        c.webhook.public_url = Some("https://mirror.example.com/webhooks/stripe".into());
        c.validate().unwrap();
    }

    #[test]
    fn the_in_flight_budget_must_hold_one_largest_body() {
        let mut c = Config::default();
        c.webhook.max_bytes_in_flight = c.webhook.max_body_bytes - 1;
        assert_eq!(c.validate().unwrap_err().key, "webhook.max_bytes_in_flight");
    }

    #[test]
    fn retention_and_privacy_keys_are_checked() {
        let c = Config::parse("[retention]\nevents_days = 7\n[privacy]\nredact_deleted_customers = true\n").unwrap();
        assert_eq!((c.retention.events_days, c.privacy.redact_deleted_customers), (7, true));
        assert_eq!(Config::default().retention.events_days, 30);
        assert!(!Config::default().privacy.redact_deleted_customers);
        let c = Config::parse("[retention]\nevents_days = 0\n").unwrap();
        assert_eq!(c.validate().unwrap_err().key, "retention.events_days");
        assert_eq!(Config::parse("[retention]\nevent_days = 3\n").unwrap_err().key, "retention.event_days");
    }

    #[test]
    fn bad_schema_name_is_rejected() {
        let mut c = Config::default();
        c.database.schema = "Robert'); drop".into();
        assert_eq!(c.validate().unwrap_err().key, "database.schema");
    }
}
