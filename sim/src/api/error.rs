//! Error answers in Stripe's shape:
//! `{"error":{"code":…,"doc_url":…,"message":…,"param":…,"type":…}}`.

use serde_json::{json, Map, Value};

use crate::SimError;

/// An HTTP answer: status, JSON body and the retry hints Stripe sends.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<u64>,
    pub should_retry: Option<bool>,
    /// The simulated second the answer reflects (read under the state
    /// lock), for the `Date` header; `None` means "now".
    pub at: Option<i64>,
    /// `Stripe-Rate-Limited-Reason` of a limiter's 429.
    pub limited_reason: Option<&'static str>,
    /// The API version the answer is rendered in (`Stripe-Version`);
    /// `None`: the account default.
    pub version: Option<&'static str>,
}

impl Answer {
    pub fn ok(body: String) -> Answer {
        Answer {
            status: 200,
            body,
            retry_after: None,
            should_retry: None,
            at: None,
            limited_reason: None,
            version: None,
        }
    }

    /// A Stripe error object.
    pub fn error(status: u16, kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Answer {
        let mut e = Map::new();
        if let Some(code) = code {
            e.insert("code".into(), json!(code));
            e.insert(
                "doc_url".into(),
                json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-"))),
            );
        }
        e.insert("message".into(), json!(message));
        if let Some(param) = param {
            e.insert("param".into(), json!(param));
        }
        e.insert("type".into(), json!(kind));
        Answer {
            status,
            body: json!({ "error": Value::Object(e) }).to_string(),
            retry_after: None,
            // Stripe says "don't retry" on client errors and "retry" on its own.
            should_retry: Some(status >= 500 || status == 429 || status == 409),
            at: None,
            limited_reason: None,
            version: None,
        }
    }

    /// A 200 whose `Date` is the second the data was read.
    pub fn ok_at(body: String, at: i64) -> Answer {
        Answer { at: Some(at), ..Answer::ok(body) }
    }

    pub fn invalid(message: &str, param: Option<&str>) -> Answer {
        Answer::error(400, "invalid_request_error", None, message, param)
    }

    pub fn missing(object: &str, id: &str, param: &str) -> Answer {
        Answer::error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {object}: '{id}'"),
            Some(param),
        )
    }

    /// A limiter's 429, naming the limiter in `Stripe-Rate-Limited-Reason`
    /// (`global-rate`, `endpoint-rate`, `global-concurrency`, …).
    pub fn rate_limited(retry_after: u64, reason: &'static str) -> Answer {
        let mut a = Answer::error(
            429,
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            None,
        );
        a.retry_after = Some(retry_after);
        a.limited_reason = Some(reason);
        a
    }

    /// A 429 that is not rate limiting: the object is locked by another
    /// request (error code `lock_timeout`, docs.stripe.com/error-codes).
    /// No `Stripe-Rate-Limited-Reason`; safe to retry.
    pub fn lock_timeout() -> Answer {
        Answer::error(
            429,
            "invalid_request_error",
            Some("lock_timeout"),
            "This object cannot be accessed right now because another API request or Stripe process is \
             currently accessing it. If you see this error intermittently, retry the request. If you see this \
             error frequently and are making multiple concurrent requests to a single object, make your \
             requests serially or at a lower rate.",
            None,
        )
    }

    /// 403 for a key without the permission an endpoint needs (Stripe's
    /// wording for restricted keys, stripe-node#2246).
    pub fn permission_denied(key: &str, account: &str, permission: &str) -> Answer {
        Answer::error(
            403,
            "invalid_request_error",
            None,
            &format!(
                "The provided key '{}' does not have the required permissions for this endpoint on account \
                 '{account}'. Having the '{permission}' permission would allow this request to continue.",
                mask_keeping(key, 6)
            ),
            None,
        )
    }

    /// 400 for a `Stripe-Version` Stripe does not have.
    pub fn unknown_version(version: &str) -> Answer {
        Answer::invalid(&format!("Invalid Stripe API version: {version}"), None)
    }

    pub fn server_error() -> Answer {
        Answer::error(
            500,
            "api_error",
            None,
            "An unknown error occurred while processing your request (simulated).",
            None,
        )
    }

    pub fn unrecognized(method: &str, path: &str) -> Answer {
        Answer::error(
            404,
            "invalid_request_error",
            None,
            &format!(
                "Unrecognized request URL ({method}: {path}). The simulator's /v1 API serves reads and \
                 webhook endpoints: change other state through /_sim (see stripe_sim::mutate)."
            ),
            None,
        )
    }

    /// 401 for a missing or wrong key; the key is masked as Stripe does.
    pub fn unauthorized(given: Option<&str>) -> Answer {
        let message = match given {
            None | Some("") => "You did not provide an API key. You need to provide your API key in the \
                 Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .to_owned(),
            Some(key) => format!("Invalid API Key provided: {}", mask(key)),
        };
        Answer::error(401, "invalid_request_error", None, &message, None)
    }
}

impl From<SimError> for Answer {
    fn from(e: SimError) -> Answer {
        match &e {
            SimError::NotFound { kind, id } => Answer::missing(kind, id, "id"),
            SimError::InvalidRequest { message, param } => Answer::invalid(message, param.as_deref()),
            SimError::UnknownApiVersion(_) => Answer::invalid(&e.to_string(), None),
            _ => Answer::error(500, "api_error", None, &e.to_string(), None),
        }
    }
}

/// `sk_test_abc…wxyz` → `sk_test_****wxyz`: prefix and last four kept.
fn mask(key: &str) -> String {
    mask_keeping(key, 4)
}

/// The key with all but its prefix and last `keep` characters starred
/// (Stripe shows four in 401s, six in permission errors).
fn mask_keeping(key: &str, keep: usize) -> String {
    let prefix_len = key.match_indices('_').nth(1).map_or(0, |(i, _)| i + 1);
    let chars: Vec<char> = key.chars().collect();
    let tail: String = chars.iter().skip(chars.len().saturating_sub(keep)).collect();
    let prefix: String = key.chars().take(prefix_len.min(chars.len())).collect();
    if chars.len() <= prefix_len + keep {
        return format!("{prefix}****");
    }
    format!("{prefix}{}{tail}", "*".repeat(chars.len() - prefix_len - keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked_like_stripe() {
        assert_eq!(mask("sk_test_abcdefgh1234"), "sk_test_********1234");
        assert_eq!(mask("sk_test_"), "sk_test_****");
        assert_eq!(mask("nonsense"), "****ense");
    }
}
