//! Process metrics for `GET /metrics`, in the Prometheus/OpenMetrics text
//! format (`prometheus-client` encodes; counters get their `_total` suffix
//! there). Every metric the daemon exports is declared in `Inner`, so this
//! file is the list operators alert on. Gauges that live in Postgres (inbox
//! depth, oldest pending event, the notification queue) are set by the HTTP
//! layer at scrape time.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    outcome: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunObjectLabels {
    kind: String,
    count: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

struct Inner {
    registry: Registry,
    webhooks_received: Family<ResultLabel, Counter>,
    webhooks_rejected: Family<ReasonLabel, Counter>,
    events: Family<EventLabels, Counter>,
    apply_seconds: Histogram,
    api_requests: Family<StatusLabel, Counter>,
    rate_limit_waits: Counter,
    rate_limit_wait_seconds: Counter<f64, AtomicU64>,
    runs: Family<RunLabels, Counter>,
    run_objects: Family<RunObjectLabels, Counter>,
    last_reconcile_success: FloatGauge,
    inbox_depth: Gauge,
    inbox_oldest_pending: FloatGauge,
    write_retries: Family<WriterLabel, Counter>,
    events_isolated: Family<ReasonLabel, Counter>,
    events_other_version: Family<VersionLabel, Counter>,
    api_rate_limited: Family<ReasonLabel, Counter>,
    notify_queue_usage: FloatGauge,
    notifications_skipped: Gauge,
    body_bytes_in_flight: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriterLabel {
    writer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    api_version: String,
}

/// Cheap to clone; every clone updates the same metrics.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("stripe_mirror");
        let inner = Inner {
            webhooks_received: Family::default(),
            webhooks_rejected: Family::default(),
            events: Family::default(),
            apply_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            api_requests: Family::default(),
            rate_limit_waits: Counter::default(),
            rate_limit_wait_seconds: Counter::default(),
            runs: Family::default(),
            run_objects: Family::default(),
            last_reconcile_success: FloatGauge::default(),
            inbox_depth: Gauge::default(),
            inbox_oldest_pending: FloatGauge::default(),
            write_retries: Family::default(),
            events_isolated: Family::default(),
            events_other_version: Family::default(),
            api_rate_limited: Family::default(),
            notify_queue_usage: FloatGauge::default(),
            notifications_skipped: Gauge::default(),
            body_bytes_in_flight: Gauge::default(),
            registry: Registry::default(),
        };
        let m = &inner;
        registry.register(
            "webhooks_received",
            "Webhook requests accepted into the inbox, by result (stored, duplicate)",
            m.webhooks_received.clone(),
        );
        registry.register("webhooks_rejected", "Webhook requests refused, by reason", m.webhooks_rejected.clone());
        registry.register(
            "events",
            "Events by outcome (applied, stale, ignored, retry, failed by the apply workers; duplicate: a redelivered webhook; not_storable: skipped by events catch-up, \\u0000 in it) and type",
            m.events.clone(),
        );
        registry.register(
            "apply_batch_seconds",
            "Duration of one apply transaction (claim to commit)",
            m.apply_seconds.clone(),
        );
        registry.register("api_requests", "Stripe API requests, by HTTP status (or error)", m.api_requests.clone());
        registry.register(
            "rate_limit_waits",
            "Stripe API requests that waited for our own rate limit",
            m.rate_limit_waits.clone(),
        );
        registry.register(
            "rate_limit_wait_seconds",
            "Time spent waiting for our own rate limit",
            m.rate_limit_wait_seconds.clone(),
        );
        registry.register(
            "runs",
            "Backfill and reconcile runs, by kind and status (succeeded, failed, skipped)",
            m.runs.clone(),
        );
        registry.register(
            "run_objects",
            "Objects handled by backfill and reconcile runs, by kind and count (fetched, inserted, updated, unchanged, tombstoned, events_new)",
            m.run_objects.clone(),
        );
        registry.register(
            "last_reconcile_success_timestamp_seconds",
            "Unix time the last reconcile run succeeded (any replica, as of this process's start; 0: never)",
            m.last_reconcile_success.clone(),
        );
        registry.register(
            "inbox_depth",
            "Events stored and not yet applied (-1: database unreachable)",
            m.inbox_depth.clone(),
        );
        registry.register(
            "inbox_oldest_pending_seconds",
            "Age of the oldest unapplied event",
            m.inbox_oldest_pending.clone(),
        );
        registry.register(
            "write_retries",
            "Transactions redone after a deadlock or serialization failure, by writer (apply, page, resolve)",
            m.write_retries.clone(),
        );
        registry.register(
            "events_isolated",
            "Events acknowledged and ignored because they belong to another mode or account, by reason (other_mode, other_account): a misconfigured endpoint",
            m.events_isolated.clone(),
        );
        registry.register(
            "events_other_version",
            "Events rendered in another API version than stripe.api_version, by version; each is a pointer (its object is retrieved). Fix: `stripe-mirror endpoint create`",
            m.events_other_version.clone(),
        );
        registry.register(
            "api_rate_limited",
            "Stripe 429 answers, by Stripe-Rate-Limited-Reason (none: a 429 without it, e.g. lock_timeout)",
            m.api_rate_limited.clone(),
        );
        registry.register(
            "notify_queue_usage",
            "Fraction of Postgres' notification queue in use, cluster-wide (-1: database unreachable); \
             past stripe_mirror.notify_queue_limit changes are not notified",
            m.notify_queue_usage.clone(),
        );
        // A gauge: the count lives in the database, shared by every replica.
        registry.register(
            "notifications_skipped",
            "Change notifications skipped because the notification queue was over its limit (this database, since install)",
            m.notifications_skipped.clone(),
        );
        registry.register(
            "webhook_body_bytes_in_flight",
            "Bytes of webhook bodies admitted and not yet answered (capped by webhook.max_bytes_in_flight)",
            m.body_bytes_in_flight.clone(),
        );
        Metrics(Arc::new(Inner { registry, ..inner }))
    }
}

impl Metrics {
    pub fn webhook_received(&self, result: &str) {
        self.0.webhooks_received.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    pub fn webhook_rejected(&self, reason: &str) {
        self.0.webhooks_rejected.get_or_create(&ReasonLabel { reason: reason.into() }).inc();
    }

    pub fn event_processed(&self, outcome: &str, event_type: &str) {
        let labels = EventLabels { outcome: outcome.into(), r#type: event_type.into() };
        self.0.events.get_or_create(&labels).inc();
    }

    pub fn write_retried(&self, writer: &str) {
        self.0.write_retries.get_or_create(&WriterLabel { writer: writer.to_string() }).inc();
    }

    pub fn event_isolated(&self, reason: &str) {
        self.0.events_isolated.get_or_create(&ReasonLabel { reason: reason.to_string() }).inc();
    }

    pub fn event_other_version(&self, api_version: &str) {
        self.0.events_other_version.get_or_create(&VersionLabel { api_version: api_version.to_string() }).inc();
    }

    pub fn api_rate_limited(&self, reason: &str) {
        self.0.api_rate_limited.get_or_create(&ReasonLabel { reason: reason.to_string() }).inc();
    }

    pub fn apply_batch(&self, seconds: f64) {
        self.0.apply_seconds.observe(seconds);
    }

    pub fn api_request(&self, status: &str) {
        self.0.api_requests.get_or_create(&StatusLabel { status: status.into() }).inc();
    }

    pub fn rate_limit_waited(&self, seconds: f64) {
        self.0.rate_limit_waits.inc();
        self.0.rate_limit_wait_seconds.inc_by(seconds);
    }

    /// A run ended; `counts` are its totals (name, value).
    pub fn run_finished(&self, kind: &str, status: &str, counts: &[(&str, u64)]) {
        self.0.runs.get_or_create(&RunLabels { kind: kind.into(), status: status.into() }).inc();
        for (name, n) in counts {
            self.0.run_objects.get_or_create(&RunObjectLabels { kind: kind.into(), count: (*name).into() }).inc_by(*n);
        }
        if status == "succeeded" && kind.starts_with("reconcile") {
            self.0.last_reconcile_success.set(chrono::Utc::now().timestamp() as f64);
        }
    }

    /// Seeds the last-success gauge from the runs table at start, so a
    /// restart does not look like a reconcile that never ran.
    pub fn set_last_reconcile_success(&self, unix_secs: f64) {
        self.0.last_reconcile_success.set(unix_secs);
    }

    /// A webhook body of `bytes` was admitted (`+`) or answered (`-`).
    pub fn body_in_flight(&self, bytes: i64) {
        self.0.body_bytes_in_flight.inc_by(bytes);
    }

    /// Sets the notification-queue gauges read at scrape time.
    pub fn set_notify_queue(&self, usage: f64, skipped: i64) {
        self.0.notify_queue_usage.set(usage);
        self.0.notifications_skipped.set(skipped);
    }

    /// Renders every metric, after setting the inbox gauges read at scrape time.
    pub fn render(&self, inbox_depth: i64, oldest_pending_secs: f64) -> String {
        self.0.inbox_depth.set(inbox_depth);
        self.0.inbox_oldest_pending.set(oldest_pending_secs);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.0.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_labels() {
        let m = Metrics::default();
        m.webhook_rejected("signature_mismatch");
        m.event_processed("applied", "customer.updated");
        m.apply_batch(0.003);
        m.run_finished("reconcile_events", "succeeded", &[("events_new", 3)]);
        m.set_notify_queue(0.25, 3);
        let text = m.render(7, 1.5);
        assert!(text.contains("stripe_mirror_webhooks_rejected_total{reason=\"signature_mismatch\"} 1"), "{text}");
        assert!(text.contains("stripe_mirror_events_total{outcome=\"applied\",type=\"customer.updated\"} 1"));
        assert!(text.contains("stripe_mirror_apply_batch_seconds_count 1"));
        assert!(text.contains("stripe_mirror_run_objects_total{kind=\"reconcile_events\",count=\"events_new\"} 3"));
        assert!(text.contains("stripe_mirror_inbox_depth 7"));
        assert!(text.contains("stripe_mirror_notify_queue_usage 0.25"), "{text}");
        assert!(text.contains("stripe_mirror_notifications_skipped 3"), "{text}");
        assert!(!text.contains("stripe_mirror_last_reconcile_success_timestamp_seconds 0.0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
