//! The `Sim` handle's account, key and API-version methods, and reads of
//! objects and events in a chosen version.

use serde_json::Value;

use crate::events::EventSpec;
use crate::store::Kind;
use crate::versions::ApiVersion;
use crate::{Sim, SimError};

impl Sim {
    /// The main account's id (`SimConfig::account_id`).
    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    /// Whether the main account is in live mode (its key is `sk_live_…` or
    /// `rk_live_…`): objects and events then say `livemode: true`.
    pub fn livemode(&self) -> bool {
        self.shared.livemode
    }

    /// Accept `key` as a key of another account, `account_id`, which has no
    /// objects: its lists are empty, retrieves answer 404 `resource_missing`,
    /// `GET /v1/account` answers that account. Its mode follows its prefix.
    pub fn add_other_account_key(&self, key: impl Into<String>, account_id: impl Into<String>) {
        let (key, account) = (key.into(), account_id.into());
        self.shared.accounts.add_other_account_key(&key, &account, self.now());
        tracing::info!(account = %account, "simulator accepts a key of another account");
    }

    /// Accept `key` (`rk_test_…`) as a restricted key of the main account:
    /// it reads every object, but `GET /v1/account` answers 403 like a
    /// restricted key without the accounts permission.
    pub fn add_restricted_key(&self, key: impl Into<String>) {
        self.shared.accounts.add_restricted_key(&key.into());
    }

    /// Take endpoints away from a key: `restrict_key("rk_test_x",
    /// &["/v1/invoices"])` makes `/v1/invoices`, `/v1/invoices/{id}` and
    /// `/v1/invoices/{id}/lines` answer 403 to it.
    pub fn restrict_key(&self, key: &str, denied: &[&str]) -> Result<(), SimError> {
        match self.shared.accounts.restrict(key, denied) {
            true => Ok(()),
            false => Err(SimError::invalid(format!("No such API key: {key}"), Some("key"))),
        }
    }

    /// The account's default API version now.
    pub fn default_api_version(&self) -> &'static str {
        self.shared.default_version().as_str()
    }

    /// Change the account's default API version (as upgrading it in the
    /// Dashboard does): later requests without `Stripe-Version`, later
    /// events, and deliveries to endpoints without an `api_version` use it.
    /// Events already recorded keep the version they were rendered in.
    pub fn set_default_api_version(&self, version: &str) -> Result<(), SimError> {
        let v = ApiVersion::parse(version).ok_or_else(|| SimError::UnknownApiVersion(version.to_owned()))?;
        self.shared.set_default_version(v);
        tracing::info!(version, "account default API version changed");
        Ok(())
    }

    /// What `GET /v1/{kind}/{id}` answers at the pinned `2026-08-26.dahlia`
    /// (stub for deleted customers/products/prices), or `None` for a 404.
    pub fn retrieve(&self, kind: Kind, id: &str) -> Option<Value> {
        let text = self.shared.read().render_retrieve_at(kind, id, ApiVersion::pinned())?;
        serde_json::from_str(&text).ok()
    }

    /// [`Sim::retrieve`] in another API version.
    pub fn retrieve_at(&self, kind: Kind, id: &str, version: &str) -> Result<Option<Value>, SimError> {
        let v = ApiVersion::parse(version).ok_or_else(|| SimError::UnknownApiVersion(version.to_owned()))?;
        let text = self.shared.read().render_retrieve_at(kind, id, v);
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Records an event of any type in the log behind `/v1/events` without
    /// delivering it: the events of an account that are not about mirrored
    /// objects (`charge.succeeded`, `payment_intent.created`, …), rendered in
    /// the account's default version. Returns its id.
    pub fn record_event(&self, event_type: &str, object: &Value) -> String {
        let object = object.to_string();
        let created = self.now();
        let version = self.shared.default_version();
        let mut st = self.shared.write();
        let spec = EventSpec {
            event_type,
            object: &object,
            previous: None,
            created,
            request_id: "req_sim_recorded",
            pending_webhooks: 0,
        };
        st.record_event(&spec, version).id.to_string()
    }

    /// Every event, newest first (regardless of retention), as rendered when
    /// it happened.
    pub fn events(&self) -> Vec<Value> {
        let st = self.shared.read();
        let t = st.table(Kind::Event);
        t.live.values().filter_map(|id| t.get(id)).filter_map(|r| serde_json::from_str(&r.doc.text).ok()).collect()
    }
}
