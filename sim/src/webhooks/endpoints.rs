//! Webhook endpoints as Stripe keeps them: URL, secret(s), the events they
//! want, their API version, status, and the `webhook_endpoint` object the
//! API shows (docs.stripe.com/api/webhook_endpoints/object).
//!
//! Endpoints registered from tests (`Sim::add_webhook_endpoint`,
//! `SimConfig::webhooks`) are what the Dashboard makes: every event (`*`),
//! `api_version: null`. Endpoints created through `POST /v1/webhook_endpoints`
//! carry what the caller asked for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Stripe's limit on endpoints per account
/// (docs.stripe.com/development/dashboard/webhooks).
pub const MAX_ENDPOINTS_PER_ACCOUNT: usize = 16;

/// A webhook endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct WebhookEndpoint {
    /// `we_…`.
    pub id: String,
    pub url: String,
    /// Every secret that signs deliveries (each adds a `v1=`).
    pub secrets: Vec<String>,
    /// The version its events are rendered in; `None` (Dashboard-made and
    /// test-registered endpoints): the account's default version at the
    /// moment each event happened.
    pub api_version: Option<String>,
    /// Event types it receives, or `["*"]` for all.
    pub enabled_events: Vec<String>,
    /// `enabled` or `disabled` (a disabled endpoint is sent nothing).
    pub status: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Created with `connect=true`: it receives connected accounts' events
    /// only, and the simulator has no connected accounts.
    pub connect: bool,
    /// The account it belongs to (`acct_…`).
    pub account: String,
    pub livemode: bool,
    /// Simulated Unix seconds.
    pub created: i64,
}

impl WebhookEndpoint {
    /// A Dashboard-style endpoint: every event, the account's version.
    pub(crate) fn dashboard(url: String, secrets: Vec<String>) -> WebhookEndpoint {
        WebhookEndpoint {
            url,
            secrets,
            enabled_events: vec!["*".to_owned()],
            status: "enabled".to_owned(),
            ..WebhookEndpoint::default()
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.status == "enabled"
    }

    /// Whether an event of this account and type is sent here: enabled, not
    /// a Connect endpoint, and subscribed to the type or to `*`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.is_enabled() && !self.connect && self.enabled_events.iter().any(|e| e == "*" || e == event_type)
    }

    /// The API object; `secret` only in the create answer ("Only returned
    /// at creation", WebhookEndpoint.secret).
    pub(crate) fn to_json(&self, with_secret: bool) -> Value {
        let mut v = json!({
            "api_version": self.api_version,
            // The ID of the Connect application of a `connect=true`
            // endpoint; the simulator's platform has one fixed id.
            "application": self.connect.then_some(SIM_APPLICATION),
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "id": self.id,
            "livemode": self.livemode,
            "metadata": self.metadata,
            "object": "webhook_endpoint",
            "status": self.status,
            "url": self.url,
        });
        if with_secret {
            v["secret"] = json!(self.secrets.first());
        }
        v
    }
}

/// The Connect application id shown on `connect=true` endpoints.
const SIM_APPLICATION: &str = "ca_SimPlatform0000000000000000";

/// `{"deleted":true,"id":…,"object":"webhook_endpoint"}`.
pub(crate) fn deleted_json(id: &str) -> Value {
    json!({"deleted": true, "id": id, "object": "webhook_endpoint"})
}

/// Whether `t` may be in `enabled_events`: `*` or a type Stripe has. There
/// are no `customer.*`-style groups (the spec's enum has none).
pub(crate) fn is_known_event_type(t: &str) -> bool {
    t == "*" || known_event_types().contains(&t)
}

fn known_event_types() -> &'static [&'static str] {
    static KNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        include_str!("../../data/event-types.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_want_their_types_or_everything() {
        let mut ep = WebhookEndpoint::dashboard("http://x".into(), vec![]);
        assert!(ep.wants("customer.created"));
        ep.enabled_events = vec!["invoice.paid".into()];
        assert!(ep.wants("invoice.paid") && !ep.wants("invoice.created"));
        ep.status = "disabled".into();
        assert!(!ep.wants("invoice.paid"));
        assert!(is_known_event_type("customer.subscription.updated"));
        assert!(is_known_event_type("charge.succeeded"));
        assert!(!is_known_event_type("customer.*"));
        assert!(!is_known_event_type("customer.made_up"));
    }

    #[test]
    fn the_secret_shows_only_when_asked() {
        let ep = WebhookEndpoint { secrets: vec!["whsec_1".into()], ..WebhookEndpoint::default() };
        assert_eq!(ep.to_json(true)["secret"], "whsec_1");
        assert!(ep.to_json(false).get("secret").is_none());
        assert_eq!(ep.to_json(false)["application"], Value::Null);
    }
}
