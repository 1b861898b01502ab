//! Property tests (proptest) for the two parsers that see untrusted bytes
//! first: the `Stripe-Signature` header and the event envelope. No input
//! makes them panic; a signature we make verifies and any change to the body
//! or the timestamp breaks it; an envelope parses back to what was put in.
//! The fuzz targets in `fuzz/` cover the same parsers with coverage guidance.

use std::time::Duration;

use proptest::prelude::*;
use secrecy::SecretString;
use stripe_mirror::push::event::{classify, Envelope};
use stripe_mirror::push::signature::{parse_header, sign, verify, SignatureError};

fn secrets(list: &[&str]) -> Vec<SecretString> {
    list.iter().map(|s| SecretString::from(s.to_string())).collect()
}

/// Headers that look like Stripe's, with every part possibly broken.
fn header_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        any::<i64>().prop_map(|t| format!("t={t}")),
        "[0-9a-fA-F]{0,70}".prop_map(|h| format!("v1={h}")),
        "[0-9a-f]{64}".prop_map(|h| format!("v0={h}")),
        "[a-z0-9]{0,4}=[ -~]{0,20}",
        "[ -~]{0,12}",
    ];
    proptest::collection::vec(part, 0..6).prop_map(|parts| parts.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn header_parser_never_panics_on_any_string(s in any::<String>()) {
        let _ = parse_header(&s);
    }

    #[test]
    fn verify_never_panics_and_never_accepts_unsigned_headers(
        header in header_like(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
        tolerance in any::<u64>(),
    ) {
        let result = verify(Some(&header), &body, &secrets(&["whsec_prop"]), now, Duration::from_secs(tolerance));
        // A random header matching HMAC-SHA256 would be a forgery.
        prop_assert!(result != Ok(()), "accepted {header:?}");
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        t in 1_000_000_000i64..4_000_000_000,
        skew in -300i64..=300,
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        secret in "whsec_[a-zA-Z0-9]{1,40}",
    ) {
        let tol = Duration::from_secs(300);
        let list = secrets(&["whsec_other", &secret]);
        let header = format!("t={t},v1={}", sign(&secret, t, &body));
        prop_assert_eq!(verify(Some(&header), &body, &list, t + skew, tol), Ok(()));
        let mut tampered = body.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1 << bit;
        prop_assert_eq!(verify(Some(&header), &tampered, &list, t, tol), Err(SignatureError::Mismatch));
        let moved = format!("t={},v1={}", t + 1, sign(&secret, t, &body));
        prop_assert_eq!(verify(Some(&moved), &body, &list, t, tol), Err(SignatureError::Mismatch));
        prop_assert_eq!(
            verify(Some(&header), &body, &list, t + 301 + skew.abs(), tol),
            Err(SignatureError::OutsideTolerance)
        );
    }

    #[test]
    fn envelope_parser_never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::parse(&body);
    }

    #[test]
    fn envelope_parser_never_panics_on_json_shaped_input(
        id in prop_oneof![Just("evt_1".to_string()), "[ -~]{0,12}"],
        object in prop_oneof![Just("event".to_string()), "[a-z]{0,8}"],
        event_type in "[a-z_.]{0,30}",
        created in prop_oneof![any::<i64>().prop_map(|n| n.to_string()), Just("\"1\"".into()), Just("1.5".into()), Just("null".into())],
        data in prop_oneof![Just("{\"id\":\"x\"}"), Just("{}"), Just("[]"), Just("null"), Just("{\"id\":5}"), Just("\"s\"")],
    ) {
        let body = format!(
            "{{\"id\":{},\"object\":{},\"type\":{},\"created\":{created},\"data\":{{\"object\":{data}}}}}",
            serde_json::json!(id), serde_json::json!(object), serde_json::json!(event_type)
        );
        if let Ok(e) = Envelope::parse(body.as_bytes()) {
            prop_assert!(e.id.starts_with("evt_"));
            prop_assert_eq!(&e.event_type, &event_type);
            let _ = classify(&e.event_type);
        }
    }

    #[test]
    fn a_well_formed_event_parses_back_to_its_fields(
        id in "evt_[A-Za-z0-9]{1,30}",
        event_type in "[a-z]{1,12}(\\.[a-z_]{1,12}){1,2}",
        created in any::<i64>(),
        object_id in proptest::option::of("[a-z]{2,4}_[A-Za-z0-9]{1,24}"),
        extra in proptest::collection::btree_map("[a-z_]{1,10}", any::<i32>(), 0..5),
    ) {
        let mut object = serde_json::json!({"object": "thing", "extra": extra});
        if let Some(oid) = &object_id {
            object["id"] = serde_json::json!(oid);
        }
        let body = serde_json::json!({
            "id": id, "object": "event", "type": event_type, "created": created, "data": {"object": object},
            "livemode": false, "api_version": "2026-08-26.dahlia",
        });
        let e = Envelope::parse(body.to_string().as_bytes()).expect("a well-formed event parses");
        prop_assert_eq!(e.id, id);
        prop_assert_eq!(e.event_type, event_type);
        prop_assert_eq!(e.created, created);
        prop_assert_eq!(e.object_id, object_id);
    }
}
