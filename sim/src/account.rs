//! Accounts and API keys: which account a key reads, in which mode, and
//! what it may not do.
//!
//! - The main key (`SimConfig::api_key`) reads the main account, the one all
//!   state belongs to. Its prefix sets the mode (docs.stripe.com/keys):
//!   `sk_test_`/`rk_test_` test mode, `sk_live_`/`rk_live_` live mode.
//! - A key of another account (`Sim::add_other_account_key`) reads an
//!   account with no objects: lists are empty, retrieves are 404, and
//!   `GET /v1/account` names that account.
//! - A restricted key (`Sim::add_restricted_key`) reads the main account,
//!   but `GET /v1/account` needs a permission restricted keys rarely have,
//!   so it is refused with Stripe's 403; `Sim::restrict_key` takes more
//!   endpoints away from a key.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{json, Value};

/// Whether a key is a live-mode key.
pub(crate) fn is_live_key(key: &str) -> bool {
    key.starts_with("sk_live_") || key.starts_with("rk_live_")
}

/// What one key may do.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// The account it belongs to.
    pub account: String,
    /// It reads the main account (its objects, events and endpoints).
    pub main: bool,
    /// A restricted key (`rk_…`): `GET /v1/account` is refused.
    pub restricted: bool,
    /// Path prefixes it may not use (`/v1/invoices` covers
    /// `/v1/invoices/{id}` and `/v1/invoices/{id}/lines`).
    pub denied: Vec<String>,
    pub livemode: bool,
}

impl Grant {
    /// The Stripe permission this request lacks, if it is refused.
    pub fn missing_permission(&self, method: &str, path: &str) -> Option<String> {
        if self.restricted && path == "/v1/account" {
            // The permission Stripe names for this refusal (stripe-node#2246,
            // woocommerce-gateway-stripe#634).
            return Some("rak_accounts_kyc_id_numbers_read".to_owned());
        }
        let denied = self
            .denied
            .iter()
            .any(|p| path.strip_prefix(p.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
        denied.then(|| permission_name(method, path))
    }
}

/// `rak_invoice_read`, `rak_webhook_write`, …: Stripe's names for the
/// permission a restricted key needs for a resource.
fn permission_name(method: &str, path: &str) -> String {
    let resource = path.trim_start_matches("/v1/").split('/').next().unwrap_or_default();
    let singular = match resource {
        "webhook_endpoints" => "webhook",
        "subscription_items" => "subscription",
        "invoice_line_items" => "invoice",
        r => r.strip_suffix('s').unwrap_or(r),
    };
    let access = if method == "GET" { "read" } else { "write" };
    format!("rak_{singular}_{access}")
}

/// Every key and account the simulator answers for.
#[derive(Debug)]
pub(crate) struct Accounts {
    pub main_id: String,
    /// `created` of each account (the main one included).
    created: RwLock<HashMap<String, i64>>,
    keys: RwLock<HashMap<String, Grant>>,
}

impl Accounts {
    pub fn new(main_key: &str, main_id: &str, now: i64) -> Accounts {
        let grant = Grant {
            account: main_id.to_owned(),
            main: true,
            restricted: main_key.starts_with("rk_"),
            denied: Vec::new(),
            livemode: is_live_key(main_key),
        };
        Accounts {
            main_id: main_id.to_owned(),
            created: RwLock::new(HashMap::from([(main_id.to_owned(), now)])),
            keys: RwLock::new(HashMap::from([(main_key.to_owned(), grant)])),
        }
    }

    // Poisoning would mean a panic mid-insert of a map entry; the map is
    // still usable, so recover the guard.
    fn keys(&self) -> RwLockReadGuard<'_, HashMap<String, Grant>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn keys_mut(&self) -> RwLockWriteGuard<'_, HashMap<String, Grant>> {
        self.keys.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn grant(&self, key: &str) -> Option<Grant> {
        self.keys().get(key).cloned()
    }

    /// A key of another account, which has no objects.
    pub fn add_other_account_key(&self, key: &str, account_id: &str, now: i64) {
        let grant = Grant {
            account: account_id.to_owned(),
            main: account_id == self.main_id,
            restricted: key.starts_with("rk_"),
            denied: Vec::new(),
            livemode: is_live_key(key),
        };
        self.created.write().unwrap_or_else(|e| e.into_inner()).entry(account_id.to_owned()).or_insert(now);
        self.keys_mut().insert(key.to_owned(), grant);
    }

    /// A restricted key of the main account.
    pub fn add_restricted_key(&self, key: &str) {
        let grant = Grant {
            account: self.main_id.clone(),
            main: true,
            restricted: true,
            denied: Vec::new(),
            livemode: is_live_key(key),
        };
        self.keys_mut().insert(key.to_owned(), grant);
    }

    /// Take these path prefixes away from a key; `false` if the key is unknown.
    pub fn restrict(&self, key: &str, prefixes: &[&str]) -> bool {
        match self.keys_mut().get_mut(key) {
            Some(g) => {
                g.denied.extend(prefixes.iter().map(|p| p.trim_end_matches('/').to_owned()));
                true
            }
            None => false,
        }
    }

    /// `GET /v1/account`: a minimal standard account
    /// (docs.stripe.com/api/accounts/object), with the settings async-stripe
    /// requires present.
    pub fn account_json(&self, account_id: &str) -> Value {
        let created = self.created.read().unwrap_or_else(|e| e.into_inner()).get(account_id).copied();
        let name = if account_id == self.main_id { "Stripe Simulator" } else { "Other Stripe Account" };
        json!({
            "business_profile": {
                "mcc": null, "name": name, "product_description": null, "support_address": null,
                "support_email": null, "support_phone": null, "support_url": null, "url": null
            },
            "charges_enabled": true,
            "country": "US",
            "created": created,
            "default_currency": "usd",
            "details_submitted": true,
            "email": format!("owner+{}@example.com", account_id.to_lowercase()),
            "id": account_id,
            "metadata": {},
            "object": "account",
            "payouts_enabled": true,
            "settings": {
                "branding": {"icon": null, "logo": null, "primary_color": null, "secondary_color": null},
                "card_payments": {
                    "decline_on": null, "statement_descriptor_prefix": null,
                    "statement_descriptor_prefix_kana": null, "statement_descriptor_prefix_kanji": null
                },
                "dashboard": {"display_name": name, "timezone": "Etc/UTC"},
                "payments": {
                    "statement_descriptor": "STRIPE SIM", "statement_descriptor_kana": null,
                    "statement_descriptor_kanji": null
                }
            },
            "type": "standard"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_keys_lack_the_account_and_denied_prefixes() {
        let accounts = Accounts::new("sk_test_main", "acct_main", 1);
        accounts.add_restricted_key("rk_test_r");
        assert!(accounts.restrict("rk_test_r", &["/v1/invoices"]));
        let g = accounts.grant("rk_test_r").expect("known");
        assert_eq!(g.missing_permission("GET", "/v1/account").as_deref(), Some("rak_accounts_kyc_id_numbers_read"));
        assert_eq!(g.missing_permission("GET", "/v1/invoices/in_1/lines").as_deref(), Some("rak_invoice_read"));
        assert_eq!(g.missing_permission("GET", "/v1/invoice_line_items"), None);
        assert_eq!(g.missing_permission("GET", "/v1/customers"), None);
        let main = accounts.grant("sk_test_main").expect("known");
        assert_eq!(main.missing_permission("GET", "/v1/account"), None);
        assert!(is_live_key("rk_live_x") && !is_live_key("sk_test_x"));
    }
}
