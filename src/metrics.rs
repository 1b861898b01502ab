//! Process metrics, rendered in the Prometheus text format by `GET /metrics`.
//!
//! A handful of labelled counters behind one std Mutex (updates are a map
//! lookup and an add, never held across an await); gauges that live in
//! Postgres (inbox depth, oldest pending event) are read at scrape time by the
//! HTTP layer. Hand-written because the few dozen lines below are all we need
//! from a registry.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Metrics {
    counters: Arc<Mutex<BTreeMap<(&'static str, String), u64>>>,
}

const HELP: &[(&str, &str)] = &[
    (
        "stripe_mirror_webhooks_received_total",
        "Webhook requests accepted into the inbox, by result (stored, duplicate).",
    ),
    ("stripe_mirror_webhooks_rejected_total", "Webhook requests refused, by reason."),
    ("stripe_mirror_events_total", "Events processed by the apply workers, by outcome and type."),
    ("stripe_mirror_api_requests_total", "Stripe API requests, by HTTP status (or error)."),
    ("stripe_mirror_reconcile_runs_total", "Reconcile and backfill runs, by kind and status."),
];

impl Metrics {
    fn add(&self, name: &'static str, labels: String, n: u64) {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((name, labels)).or_default() += n;
    }

    pub fn webhook_received(&self, result: &str) {
        self.add("stripe_mirror_webhooks_received_total", format!("result=\"{result}\""), 1);
    }

    pub fn webhook_rejected(&self, reason: &str) {
        self.add("stripe_mirror_webhooks_rejected_total", format!("reason=\"{reason}\""), 1);
    }

    pub fn event_processed(&self, outcome: &str, event_type: &str) {
        let t: String = event_type.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_').collect();
        self.add("stripe_mirror_events_total", format!("outcome=\"{outcome}\",type=\"{t}\""), 1);
    }

    pub fn api_request(&self, status: &str) {
        self.add("stripe_mirror_api_requests_total", format!("status=\"{status}\""), 1);
    }

    pub fn run_finished(&self, kind: &str, status: &str) {
        self.add("stripe_mirror_reconcile_runs_total", format!("kind=\"{kind}\",status=\"{status}\""), 1);
    }

    /// Renders every counter, then `extra` gauges (name, help, value).
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((n, labels), v) in map.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{n}{{{labels}}} {v}");
            }
        }
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        out
    }
}
