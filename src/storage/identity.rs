//! Which Stripe account and mode the tables mirror, and the checks that keep
//! every other account and mode out.
//!
//! * The identity is learned once — the account from `GET /v1/account`, the
//!   mode from the key's prefix (`sk_test_`/`rk_test_` vs `sk_live_`/
//!   `rk_live_`) — on the first backfill, reconcile or serve, and stored in
//!   `stripe_mirror.identity`. A restricted key that may not read the
//!   account falls back to `stripe.account_id`.
//! * The pull path ([`check`]) refuses a key of another account or mode
//!   before it writes anything: a sweep with such a key would see none of
//!   the rows and tombstone them all.
//! * The push path uses the [`Scope`]: events of another mode or account are
//!   acknowledged and recorded `ignored`, never applied.

use std::fmt;
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::stripe::control::{Control, ControlError};

/// What the push path checks events against.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The mode the tables mirror; `None`: not known (no key, nothing stored).
    pub livemode: Option<bool>,
    /// The account the tables mirror; `None`: not known yet. A platform's
    /// own events carry no `account`, so any event that does is refused.
    pub account: Option<String>,
    /// `stripe.api_version`: events rendered in another are pointers.
    pub api_version: String,
}

/// The scope shared by the apply workers; the identity learner fills it in.
#[derive(Debug, Clone, Default)]
pub struct SharedScope(Arc<RwLock<Scope>>);

impl SharedScope {
    pub fn new(scope: Scope) -> SharedScope {
        SharedScope(Arc::new(RwLock::new(scope)))
    }

    pub fn get(&self) -> Scope {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn learned(&self, identity: &Identity) {
        let mut s = self.0.write().unwrap_or_else(|e| e.into_inner());
        s.livemode = Some(identity.livemode);
        s.account = Some(identity.account_id.clone());
    }
}

/// An account in one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account_id: String,
    pub livemode: bool,
    /// How the account was known: `api` (`GET /v1/account`) or `config`
    /// (`stripe.account_id`, for a restricted key).
    pub source: &'static str,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} mode)", self.account_id, if self.livemode { "live" } else { "test" })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("STRIPE_SECRET_KEY belongs to {key}; these tables mirror {tables}. Use the key of {tables}, or point database.url at the database that mirrors {key}")]
    Mismatch { key: Identity, tables: Identity },
    #[error("stripe.account_id is {configured} but STRIPE_SECRET_KEY belongs to {key}")]
    ConfigMismatch { configured: String, key: Identity },
    #[error("STRIPE_SECRET_KEY may not read GET /v1/account (a restricted key): set stripe.account_id to the account (acct_…) these tables mirror")]
    NeedsAccountId,
    #[error(transparent)]
    Api(#[from] ControlError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl IdentityError {
    /// A key or configuration that does not fit these tables (exit 2), as
    /// opposed to Stripe or Postgres failing (exit 1).
    pub fn is_misconfiguration(&self) -> bool {
        matches!(
            self,
            IdentityError::Mismatch { .. } | IdentityError::ConfigMismatch { .. } | IdentityError::NeedsAccountId
        )
    }
}

/// The mode a key belongs to, from its prefix.
pub fn key_livemode(key: &SecretString) -> bool {
    let k = key.expose_secret();
    k.starts_with("sk_live_") || k.starts_with("rk_live_")
}

/// How often a failed `GET /v1/account` that may succeed later (no answer,
/// 429, 5xx) is tried before the check gives up: waits of 1, 2, 4, 4 and
/// 4 s between them, so a Stripe that stops answering for ~15 s (beside the
/// requests' own timeouts) delays a run instead of failing it.
const ACCOUNT_ATTEMPTS: u32 = 6;

/// The account and mode `control`'s key belongs to, from `GET /v1/account`
/// (the control plane, async-stripe); a key that may not read it falls back
/// to `configured`.
pub async fn of_key(
    control: &Control,
    key: &SecretString,
    configured: Option<&str>,
) -> Result<Identity, IdentityError> {
    let livemode = key_livemode(key);
    let mut attempt = 1;
    let answer = loop {
        match control.account().await {
            Err(e) if e.is_retryable() && attempt < ACCOUNT_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "GET /v1/account failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis((500 << attempt).min(4_000))).await;
                attempt += 1;
            }
            other => break other,
        }
    };
    match answer {
        Ok(account) => {
            let identity = Identity { account_id: account.id, livemode, source: "api" };
            match configured {
                Some(c) if c != identity.account_id => {
                    Err(IdentityError::ConfigMismatch { configured: c.to_string(), key: identity })
                }
                _ => Ok(identity),
            }
        }
        Err(ControlError::PermissionDenied { .. }) => match configured {
            Some(c) => Ok(Identity { account_id: c.to_string(), livemode, source: "config" }),
            None => Err(IdentityError::NeedsAccountId),
        },
        Err(e) => Err(e.into()),
    }
}

/// The identity stored with the tables, if any.
pub async fn stored(pool: &PgPool) -> Result<Option<Identity>, sqlx::Error> {
    let row: Option<(String, bool, String)> =
        sqlx::query_as("SELECT account_id, livemode, source FROM stripe_mirror.identity").fetch_optional(pool).await?;
    Ok(row.map(|(account_id, livemode, source)| Identity {
        account_id,
        livemode,
        source: if source == "config" { "config" } else { "api" },
    }))
}

/// Checks the key against the tables' identity, storing it when there is
/// none yet; the only write it makes. Every pull-path command calls it first.
pub async fn check(
    pool: &PgPool,
    control: &Control,
    key: &SecretString,
    configured: Option<&str>,
    api_version: &str,
) -> Result<Identity, IdentityError> {
    let key_identity = of_key(control, key, configured).await?;
    if key_identity.source == "config" {
        tracing::info!(account = %key_identity.account_id, "the key may not read the account: identity checked by configuration (stripe.account_id) only");
    }
    let tables = match stored(pool).await? {
        Some(tables) => tables,
        None => {
            sqlx::query(
                "INSERT INTO stripe_mirror.identity (account_id, livemode, source, api_version)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (singleton) DO NOTHING",
            )
            .bind(&key_identity.account_id)
            .bind(key_identity.livemode)
            .bind(key_identity.source)
            .bind(api_version)
            .execute(pool)
            .await?;
            // Another replica may have stored one first: compare with that.
            stored(pool).await?.unwrap_or_else(|| key_identity.clone())
        }
    };
    if tables.account_id != key_identity.account_id || tables.livemode != key_identity.livemode {
        return Err(IdentityError::Mismatch { key: key_identity, tables });
    }
    Ok(key_identity)
}

/// `serve`'s scope at start, without the API: the stored identity, else the
/// key's mode (the account is learned in the background, see [`learn`]). A
/// key whose mode differs from the stored one is refused at once.
pub async fn scope_at_start(
    pool: &PgPool,
    key: Option<&SecretString>,
    api_version: &str,
) -> Result<SharedScope, IdentityError> {
    let mut scope = Scope { api_version: api_version.to_string(), ..Scope::default() };
    let key_mode = key.map(key_livemode);
    match stored(pool).await? {
        Some(tables) => {
            if let Some(mode) = key_mode.filter(|m| *m != tables.livemode) {
                let key = Identity { account_id: "an account".into(), livemode: mode, source: "api" };
                return Err(IdentityError::Mismatch { key, tables });
            }
            scope.livemode = Some(tables.livemode);
            scope.account = Some(tables.account_id);
        }
        None => {
            scope.livemode = key_mode;
            if key_mode.is_none() {
                tracing::warn!("no STRIPE_SECRET_KEY and no stored identity: events of either mode are applied");
            }
        }
    }
    Ok(SharedScope::new(scope))
}

/// `serve`'s identity learner: checks the key against the tables (storing
/// the identity the first time) until it has an answer, without ever holding
/// up the webhooks. A mismatch is logged; scheduled reconciles refuse to run
/// with that key (they check again themselves).
pub async fn learn(
    pool: PgPool,
    control: Arc<Control>,
    key: SecretString,
    configured: Option<String>,
    api_version: String,
    scope: SharedScope,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        // A check retries for a while itself: stopping must not wait for it.
        let checked = tokio::select! {
            checked = check(&pool, &control, &key, configured.as_deref(), &api_version) => checked,
            _ = shutdown.cancelled() => return,
        };
        match checked {
            Ok(identity) => {
                // The tables' identity, which the check just proved equal.
                scope.learned(&identity);
                tracing::info!(account = %identity.account_id, livemode = identity.livemode, source = identity.source, "mirroring");
                return;
            }
            Err(e) if e.is_misconfiguration() => {
                tracing::error!(error = %e, "the Stripe key does not fit these tables: scheduled reconciles will refuse to run");
                return;
            }
            Err(e) => tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "cannot learn the Stripe account yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(300));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_prefix_tells_the_mode() {
        for (key, live) in [("sk_live_1", true), ("rk_live_1", true), ("sk_test_1", false), ("rk_test_1", false)] {
            assert_eq!(key_livemode(&SecretString::from(key)), live, "{key}");
        }
    }

    #[test]
    fn a_mismatch_names_both_identities() {
        let key = Identity { account_id: "acct_B".into(), livemode: true, source: "api" };
        let tables = Identity { account_id: "acct_A".into(), livemode: false, source: "api" };
        let text = IdentityError::Mismatch { key, tables }.to_string();
        assert!(
            text.starts_with("STRIPE_SECRET_KEY belongs to acct_B (live mode); these tables mirror acct_A (test mode)"),
            "{text}"
        );
    }
}
