//! Fuzz target: the event envelope parser must never panic on any bytes, and
//! what it accepts must be an event (`evt_` id, non-empty type).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/push/event.rs"]
mod event;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = event::Envelope::parse(data) {
        assert!(envelope.id.starts_with("evt_"));
        assert!(!envelope.event_type.is_empty());
        let _ = event::classify(&envelope.event_type);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = event::classify(text);
    }
});
