//! Stripe webhook signature verification: a pure function of
//! (header, body, secrets, now, tolerance).
//!
//! `Stripe-Signature: t=1700000000,v1=<hex>,v1=<hex>,v0=<hex>` — `t` is when
//! Stripe signed, each `v1` is HMAC-SHA256(secret, "{t}.{body}") for one of
//! the endpoint's active secrets (there are two while a secret is rolled).
//! We accept when any `v1` matches any configured secret, ignore `v0` and
//! unknown keys, and compare in constant time (`Mac::verify_slice`).
//! <https://docs.stripe.com/webhooks#verify-manually>

use std::time::Duration;

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Why a signature was refused. Each maps to 400 and to a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Stripe-Signature header is missing")]
    Missing,
    #[error("Stripe-Signature header is malformed")]
    Malformed,
    #[error("Stripe-Signature has no t= timestamp")]
    NoTimestamp,
    #[error("Stripe-Signature has no v1= signature")]
    NoV1,
    #[error("Stripe-Signature timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("no v1 signature matches any configured secret")]
    Mismatch,
}

impl SignatureError {
    /// Short label for metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::NoTimestamp => "signature_no_timestamp",
            SignatureError::NoV1 => "signature_no_v1",
            SignatureError::OutsideTolerance => "timestamp_outside_tolerance",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

/// The parts of the header we use.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    pub v1: Vec<Vec<u8>>,
}

/// Parses the header. Unknown keys and `v0` are skipped; a `v1` that is not
/// hex makes the header malformed rather than silently dropping it.
pub fn parse_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                let t = value.parse::<i64>().map_err(|_| SignatureError::Malformed)?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed);
                }
            }
            "v1" => v1.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    Ok(SignatureHeader { timestamp, v1 })
}

/// Verifies `header` for `body`. `now` is Unix seconds; a timestamp further
/// than `tolerance` from it in either direction is refused (replay guard, and
/// a clock far ahead is as suspect as one far behind).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header.ok_or(SignatureError::Missing)?)?;
    if now.abs_diff(parsed.timestamp) > tolerance.as_secs() {
        return Err(SignatureError::OutsideTolerance);
    }
    let prefix = format!("{}.", parsed.timestamp);
    for secret in secrets {
        let Ok(mac) = HmacSha256::new_from_slice(secret.expose_secret().as_bytes()) else {
            continue;
        };
        let mut mac = mac;
        mac.update(prefix.as_bytes());
        mac.update(body);
        for candidate in &parsed.v1 {
            if mac.clone().verify_slice(candidate).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// Computes a `v1` signature: what Stripe does. Used by the simulator-facing
/// tests and the benchmark to produce valid requests.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    const NOW: i64 = 1_700_000_000;
    const TOL: Duration = Duration::from_secs(300);

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(s.to_string())).collect()
    }

    fn check(header: &str, list: &[&str]) -> Result<(), SignatureError> {
        verify(Some(header), BODY, &secrets(list), NOW, TOL)
    }

    #[test]
    fn valid_signature_is_accepted() {
        let h = format!("t={NOW},v1={}", sign("whsec_a", NOW, BODY));
        assert_eq!(check(&h, &["whsec_a"]), Ok(()));
    }

    #[test]
    fn any_v1_matching_any_secret_is_accepted() {
        let h = format!("t={NOW},v1={},v1={},v0=abcd", sign("whsec_old", NOW, BODY), sign("whsec_new", NOW, BODY));
        assert_eq!(check(&h, &["whsec_other", "whsec_new"]), Ok(()));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let h = format!("t={NOW},v1={}", sign("whsec_a", NOW, BODY));
        assert_eq!(check(&h, &["whsec_b"]), Err(SignatureError::Mismatch));
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let h = format!("t={NOW},v1={}", sign("whsec_a", NOW, BODY));
        let r = verify(Some(&h), br#"{"id":"evt_2"}"#, &secrets(&["whsec_a"]), NOW, TOL);
        assert_eq!(r, Err(SignatureError::Mismatch));
    }

    #[test]
    fn old_and_future_timestamps_are_refused() {
        for t in [NOW - 301, NOW + 301] {
            let h = format!("t={t},v1={}", sign("whsec_a", t, BODY));
            assert_eq!(check(&h, &["whsec_a"]), Err(SignatureError::OutsideTolerance));
        }
        let t = NOW - 300;
        let h = format!("t={t},v1={}", sign("whsec_a", t, BODY));
        assert_eq!(check(&h, &["whsec_a"]), Ok(()));
    }

    #[test]
    fn missing_parts_are_named() {
        assert_eq!(verify(None, BODY, &secrets(&["s"]), NOW, TOL), Err(SignatureError::Missing));
        assert_eq!(check("v1=abcd", &["s"]), Err(SignatureError::NoTimestamp));
        assert_eq!(check(&format!("t={NOW},v0=abcd"), &["s"]), Err(SignatureError::NoV1));
        assert_eq!(check(&format!("t={NOW}"), &["s"]), Err(SignatureError::NoV1));
    }

    #[test]
    fn header_garbage_is_malformed() {
        for h in ["", "garbage", "t=abc,v1=00", "t=1,v1=zz", "t=1,t=2,v1=00", "\u{0}\u{1}"] {
            assert_eq!(check(h, &["s"]), Err(SignatureError::Malformed), "{h:?}");
        }
    }
}
