//! Accounts and API keys: which account a key reads, in which mode.
//!
//! The key's prefix tells the mode (docs.stripe.com/keys): `sk_test_` and
//! `rk_test_` are test mode, `sk_live_` and `rk_live_` live mode.

/// Whether a key is a live-mode key.
pub(crate) fn is_live_key(key: &str) -> bool {
    key.starts_with("sk_live_") || key.starts_with("rk_live_")
}
