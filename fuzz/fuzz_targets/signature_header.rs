//! Fuzz target: `Stripe-Signature` parsing and verification must never panic,
//! whatever the header, body, clock and tolerance; and a header we produce
//! with `sign` for the fuzzed body must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use std::time::Duration;

#[allow(dead_code)]
#[path = "../../src/push/signature.rs"]
mod signature;

fuzz_target!(|data: &[u8]| {
    // The first byte says where the header ends and the body starts.
    let (header, body) = match data.split_first() {
        Some((n, rest)) => rest.split_at((*n as usize).min(rest.len())),
        None => (&[][..], &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let _ = signature::parse_header(&header);
    let secrets = vec![SecretString::from("whsec_fuzz".to_string()), SecretString::from(String::new())];
    for (now, tolerance) in [(1_700_000_000, 300), (i64::MAX, u64::MAX), (i64::MIN, 0)] {
        let result = signature::verify(Some(&header), body, &secrets, now, Duration::from_secs(tolerance));
        if result.is_ok() {
            // Accepting a header we did not sign would be a forgery.
            let parsed = signature::parse_header(&header).expect("verified headers parse");
            let expected = hex::decode(signature::sign("whsec_fuzz", parsed.timestamp, body)).unwrap();
            let empty = hex::decode(signature::sign("", parsed.timestamp, body)).unwrap();
            assert!(parsed.v1.iter().any(|v| *v == expected || *v == empty), "accepted a forged signature");
        }
    }
    let t = 1_700_000_000;
    let good = format!("t={t},v1={}", signature::sign("whsec_fuzz", t, body));
    assert!(signature::verify(Some(&good), body, &secrets, t, Duration::from_secs(300)).is_ok());
});
