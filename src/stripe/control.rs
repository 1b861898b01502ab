//! The control plane: the account and the webhook endpoints, through
//! async-stripe, the Stripe crate this project was asked to use. Its typed
//! request builders fit these few calls; list pages and retrieves of the
//! mirrored objects stay on [`crate::stripe::client`], which keeps bodies
//! verbatim and reads the `Date` header.
//!
//! This module only moves requests and answers: what makes an endpoint right
//! for the mirror is decided in [`crate::ops::endpoints`].
//!
//! Each call is one attempt (async-stripe's `RequestStrategy::Once`): these
//! are calls a person or a start-up check makes, and a retried create would
//! make a second endpoint. [`ControlError::is_retryable`] tells a caller that
//! wants to retry which failures are worth it.
//!
//! Versions: async-stripe sends its own compiled-in `Stripe-Version`
//! (2026-09-30.endive for 1.0.0-rc.10) and its builder cannot change it. For
//! these calls that is harmless: the account's `id` and the endpoint object
//! have one shape in every version, and the version of the events an
//! endpoint sends is set explicitly at creation (`api_version`, from
//! `stripe.api_version`).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use stripe::{StripeError, StripeRequest};
use stripe_connect::account::RetrieveForMyAccountAccount;
use stripe_misc::webhook_endpoint::{
    CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents, ListWebhookEndpoint, UpdateWebhookEndpoint,
    UpdateWebhookEndpointEnabledEvents,
};
use stripe_misc::WebhookEndpoint;

use crate::config::StripeConfig;

/// `metadata[managed_by]` on the endpoints `endpoint create` makes, so
/// `endpoint list` can tell them from endpoints made by hand.
pub const MANAGED_BY: &str = "stripe-mirror";

/// Why a control-plane call failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// 401: the key is wrong, revoked or of nothing Stripe knows.
    #[error("STRIPE_SECRET_KEY was rejected by Stripe")]
    Unauthorized,
    /// 403: a restricted key without this permission (e.g. one that may not
    /// read the account, or write webhook endpoints).
    #[error("STRIPE_SECRET_KEY may not {action} (Stripe answered 403: {message})")]
    PermissionDenied { action: &'static str, message: String },
    /// Any other error status; `message` is Stripe's.
    #[error("Stripe answered {status} to {action}: {message}")]
    Status { action: &'static str, status: u16, message: String },
    /// No answer: connection refused, TLS, timeout.
    #[error("cannot {action}: {message}")]
    Transport { action: &'static str, message: String },
    /// An answer that is not what the API documents (also: an error status
    /// whose body async-stripe could not parse, so the status is unknown).
    #[error("unexpected answer from Stripe to {action}: {message}")]
    Decode { action: &'static str, message: String },
    /// The client could not be built (e.g. `stripe.api_base` is no URL).
    #[error("cannot set up the Stripe client: {0}")]
    Client(String),
}

impl ControlError {
    /// Worth another try later: no answer, 429 or 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            ControlError::Transport { .. } => true,
            ControlError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    fn from_stripe(action: &'static str, e: StripeError) -> ControlError {
        match e {
            StripeError::Stripe(_, 401) => ControlError::Unauthorized,
            StripeError::Stripe(err, 403) => {
                ControlError::PermissionDenied { action, message: err.message.unwrap_or_default() }
            }
            StripeError::Stripe(err, status) => {
                ControlError::Status { action, status, message: err.message.unwrap_or_default() }
            }
            StripeError::JSONDeserialize(message) => ControlError::Decode { action, message },
            StripeError::ClientError(message) => ControlError::Transport { action, message },
            StripeError::Timeout => ControlError::Transport { action, message: "timed out".into() },
            StripeError::ConfigError(message) => ControlError::Client(message),
        }
    }
}

/// The account the key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// `acct_…`
    pub id: String,
}

/// A webhook endpoint as the mirror sees it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `we_…`
    pub id: String,
    pub url: String,
    /// `enabled` or `disabled` (Stripe disables an endpoint that keeps failing).
    pub status: String,
    /// The version its events are rendered in; `None`: the account's default
    /// at the time of each event (an endpoint made in the Dashboard).
    pub api_version: Option<String>,
    /// Explicit names, or `["*"]`.
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    /// `metadata[managed_by] = stripe-mirror`: made by `endpoint create`.
    pub managed: bool,
    /// A Connect endpoint (events of connected accounts, not of this one).
    pub connect: bool,
    pub livemode: bool,
}

impl Endpoint {
    pub fn is_enabled(&self) -> bool {
        self.status == "enabled"
    }

    fn from_stripe(e: WebhookEndpoint) -> Endpoint {
        Endpoint {
            id: e.id.as_str().to_string(),
            url: e.url,
            status: e.status,
            api_version: e.api_version,
            enabled_events: e.enabled_events,
            description: e.description,
            managed: e.metadata.get("managed_by").is_some_and(|v| v == MANAGED_BY),
            connect: e.application.is_some(),
            livemode: e.livemode,
        }
    }
}

/// A new endpoint and its signing secret, which Stripe returns only in the
/// answer to the create call.
#[derive(Debug)]
pub struct CreatedEndpoint {
    pub endpoint: Endpoint,
    /// `whsec_…`; `Debug` prints `[REDACTED]`.
    pub secret: SecretString,
}

/// What to create: the URL and the events; the version and the marker come
/// from the client.
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub enabled_events: &'a [&'a str],
    pub description: &'a str,
}

/// A client for the control-plane calls.
#[derive(Debug, Clone)]
pub struct Control {
    client: stripe::Client,
    api_version: String,
}

impl Control {
    /// A client for `config.api_base` with `key`; `config.api_version` is
    /// the version new endpoints render their events in.
    pub fn new(config: &StripeConfig, key: &SecretString) -> Result<Control, ControlError> {
        // async-stripe appends `v1/…` to the base as given: make it end in `/`.
        let mut base = config.api_base.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = stripe::ClientBuilder::new(key.expose_secret())
            .url(base)
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .app_info("stripe-mirror", Some(env!("CARGO_PKG_VERSION").to_string()), None)
            .build()
            .map_err(|e| ControlError::from_stripe("build the client", e))?;
        Ok(Control { client, api_version: config.api_version.clone() })
    }

    /// The account the key belongs to (`GET /v1/account`).
    ///
    /// `Unauthorized` (401) means the key is wrong; `PermissionDenied` (403)
    /// is a restricted key that may not read the account: fall back to
    /// `stripe.account_id` from the configuration. One attempt, no retries.
    pub async fn account(&self) -> Result<AccountInfo, ControlError> {
        const ACTION: &str = "read the account";
        // Read as a plain JSON value, not as async-stripe's `Account`: only
        // `id` matters, and a typed parse fails whole on one unexpected
        // nested field, which must not break the identity check.
        let value: miniserde::json::Value = RetrieveForMyAccountAccount::new()
            .build()
            .customize()
            .send(&self.client)
            .await
            .map_err(|e| ControlError::from_stripe(ACTION, e))?;
        let id = match &value {
            miniserde::json::Value::Object(o) => match o.get("id") {
                Some(miniserde::json::Value::String(id)) if id.starts_with("acct_") => Some(id.clone()),
                _ => None,
            },
            _ => None,
        };
        id.map(|id| AccountInfo { id })
            .ok_or_else(|| ControlError::Decode { action: ACTION, message: "no `acct_…` id in the answer".into() })
    }

    /// Every webhook endpoint of the account in the key's mode, paged to the
    /// end (Stripe allows 16, so this is one page).
    pub async fn list_endpoints(&self) -> Result<Vec<Endpoint>, ControlError> {
        const ACTION: &str = "list webhook endpoints";
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut request = ListWebhookEndpoint::new().limit(100);
            if let Some(a) = &after {
                request = request.starting_after(a.clone());
            }
            let page = request.send(&self.client).await.map_err(|e| ControlError::from_stripe(ACTION, e))?;
            let last = page.data.last().map(|e| e.id.as_str().to_string());
            out.extend(page.data.into_iter().map(Endpoint::from_stripe));
            match (page.has_more, last) {
                (true, Some(id)) => after = Some(id),
                _ => return Ok(out),
            }
        }
    }

    /// Creates an endpoint rendering events at the pinned version, marked
    /// `managed_by=stripe-mirror`. The secret is moved straight into a
    /// `SecretString`; nothing here logs it.
    pub async fn create_endpoint(&self, new: &NewEndpoint<'_>) -> Result<CreatedEndpoint, ControlError> {
        const ACTION: &str = "create a webhook endpoint";
        // Both parses are infallible: a name or version newer than the crate
        // becomes `Unknown(name)`, which is sent as the name itself.
        let events: Vec<CreateWebhookEndpointEnabledEvents> = new
            .enabled_events
            .iter()
            .map(|t| CreateWebhookEndpointEnabledEvents::from_str(t).unwrap_or_else(|never| match never {}))
            .collect();
        let version = stripe_shared::ApiVersion::from_str(&self.api_version).unwrap_or_else(|never| match never {});
        let metadata = HashMap::from([("managed_by".to_string(), MANAGED_BY.to_string())]);
        let mut created = CreateWebhookEndpoint::new(events, new.url)
            .api_version(version)
            .description(new.description)
            .metadata(metadata)
            .send(&self.client)
            .await
            .map_err(|e| ControlError::from_stripe(ACTION, e))?;
        let secret = created.secret.take().map(SecretString::from);
        let endpoint = Endpoint::from_stripe(created);
        let secret = secret.ok_or_else(|| ControlError::Decode {
            action: ACTION,
            message: format!("no signing secret in the answer for {}", endpoint.id),
        })?;
        Ok(CreatedEndpoint { endpoint, secret })
    }

    /// Replaces the endpoint's `enabled_events` with `events` (the update
    /// call can change the events, never the version).
    pub async fn set_endpoint_events(&self, id: &str, events: &[String]) -> Result<Endpoint, ControlError> {
        const ACTION: &str = "update a webhook endpoint";
        let events: Vec<UpdateWebhookEndpointEnabledEvents> = events
            .iter()
            .map(|t| UpdateWebhookEndpointEnabledEvents::from_str(t).unwrap_or_else(|never| match never {}))
            .collect();
        let updated = UpdateWebhookEndpoint::new(id)
            .enabled_events(events)
            .send(&self.client)
            .await
            .map_err(|e| ControlError::from_stripe(ACTION, e))?;
        Ok(Endpoint::from_stripe(updated))
    }
}

#[cfg(test)]
mod tests {
    //! Against a one-shot HTTP server with canned answers: what async-stripe
    //! sends and how its answers and errors map to ours. The simulator's
    //! endpoints API is exercised by the integration suite.

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answers one request with `status` and `body`; yields the request text.
    async fn one_answer(status: u16, body: &'static str) -> (Control, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length || n == 0 {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            percent_decode(&String::from_utf8_lossy(&request))
        });
        let config = StripeConfig { api_base: format!("http://{addr}"), ..StripeConfig::default() };
        let control = Control::new(&config, &SecretString::from("sk_test_unit".to_string())).unwrap();
        (control, server)
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    const ERROR_401: &str =
        r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****unit"}}"#;

    #[tokio::test]
    async fn account_reads_the_id_from_get_v1_account() {
        let (control, server) = one_answer(200, r#"{"id":"acct_1Abc","object":"account","surprise":{"x":[1]}}"#).await;
        assert_eq!(control.account().await.unwrap(), AccountInfo { id: "acct_1Abc".into() });
        let request = server.await.unwrap();
        assert!(request.starts_with("GET /v1/account"), "{request}");
        assert!(request.to_ascii_lowercase().contains("authorization: bearer sk_test_unit"), "{request}");
        // async-stripe's compiled-in version, not ours (its builder cannot
        // set one; see the module doc). Failing here after an upgrade means
        // that changed: send `stripe.api_version` if the builder now can.
        assert!(request.to_ascii_lowercase().contains("stripe-version: 2026-09-30.endive"), "{request}");
    }

    #[test]
    fn the_key_is_not_in_the_clients_debug_output() {
        let control =
            Control::new(&StripeConfig::default(), &SecretString::from("sk_test_hidden".to_string())).unwrap();
        assert!(!format!("{control:?}").contains("sk_test_hidden"));
    }

    #[tokio::test]
    async fn a_rejected_key_is_unauthorized_with_the_documented_message() {
        let (control, _server) = one_answer(401, ERROR_401).await;
        let e = control.account().await.unwrap_err();
        assert!(matches!(e, ControlError::Unauthorized), "{e:?}");
        assert_eq!(e.to_string(), "STRIPE_SECRET_KEY was rejected by Stripe");
    }

    #[tokio::test]
    async fn a_restricted_key_that_may_not_read_the_account_is_permission_denied() {
        let body = r#"{"error":{"type":"invalid_request_error","message":"The provided key does not have the required permissions"}}"#;
        let (control, _server) = one_answer(403, body).await;
        let e = control.account().await.unwrap_err();
        assert!(matches!(e, ControlError::PermissionDenied { action: "read the account", .. }), "{e:?}");
        assert!(!e.is_retryable());
    }

    #[tokio::test]
    async fn a_server_error_is_retryable_and_no_answer_too() {
        let body = r#"{"error":{"type":"api_error","message":"boom"}}"#;
        let (control, _server) = one_answer(500, body).await;
        let e = control.account().await.unwrap_err();
        assert!(matches!(e, ControlError::Status { status: 500, .. }) && e.is_retryable(), "{e:?}");
        let config = StripeConfig { api_base: "http://127.0.0.1:1".into(), ..StripeConfig::default() };
        let closed = Control::new(&config, &SecretString::from("sk_test_unit".to_string())).unwrap();
        let e = closed.account().await.unwrap_err();
        assert!(matches!(e, ControlError::Transport { .. }) && e.is_retryable(), "{e:?}");
    }

    #[tokio::test]
    async fn create_sends_events_version_and_marker_and_keeps_the_secret_secret() {
        let body = r#"{"id":"we_1","object":"webhook_endpoint","api_version":"2026-08-26.dahlia","application":null,
            "created":1,"description":"d","enabled_events":["customer.created","invoice.paid"],"livemode":false,
            "metadata":{"managed_by":"stripe-mirror"},"secret":"whsec_unit_secret","status":"enabled",
            "url":"https://m.example.com/webhooks/stripe"}"#;
        let (control, server) = one_answer(200, body).await;
        let new = NewEndpoint {
            url: "https://m.example.com/webhooks/stripe",
            enabled_events: &["customer.created", "invoice.paid"],
            description: "d",
        };
        let created = control.create_endpoint(&new).await.unwrap();
        assert_eq!(created.secret.expose_secret(), "whsec_unit_secret");
        assert!(created.endpoint.managed && created.endpoint.is_enabled());
        assert!(!format!("{created:?}").contains("whsec_unit_secret"), "the secret is in Debug output");
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /v1/webhook_endpoints"), "{request}");
        for field in [
            "url=https://m.example.com/webhooks/stripe",
            "enabled_events[0]=customer.created",
            "enabled_events[1]=invoice.paid",
            "api_version=2026-08-26.dahlia",
            "metadata[managed_by]=stripe-mirror",
        ] {
            assert!(request.contains(field), "{field} not sent: {request}");
        }
    }
}
