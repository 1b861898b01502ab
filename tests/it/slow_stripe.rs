//! A slow or hanging Stripe API must not stall the apply path: events that
//! need no API call are applied at normal lag while calls hang, and no
//! transaction stays open meanwhile.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{customer, event, fixture, with, SimApp};

/// An invoice whose embedded `lines` say there are more: applying it pages
/// the rest from the API.
fn truncated_invoice(id: &str) -> serde_json::Value {
    let mut invoice = with(fixture("invoice"), json!({"id": id}));
    invoice["lines"]["has_more"] = json!(true);
    invoice
}

#[tokio::test]
async fn events_that_need_no_api_call_are_applied_while_api_calls_hang() {
    let s = SimApp::spawn_with(|c| c.stripe.timeout_secs = 60, false).await;
    let app = &s.app;
    s.sim.update_faults(|f| f.api.hang_for(Duration::from_secs(30)));
    for n in 0..3 {
        let ev = event(&format!("evt_inv{n}"), "invoice.created", 100, truncated_invoice(&format!("in_slow{n}")));
        assert_eq!(app.post_event(&ev).await, 200);
    }
    // Let the workers claim the invoices (and hand them to the resolver).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for n in 0..300 {
        let ev = event(&format!("evt_cus{n}"), "customer.created", 200, customer(&format!("cus_s{n}"), "Quick"));
        assert_eq!(app.post_event(&ev).await, 200);
    }
    loop {
        let applied: i64 =
            app.scalar("SELECT count(*) FROM stripe.customers WHERE id LIKE 'cus_s%' AND NOT deleted").await;
        if applied == 300 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "only {applied} of 300 applied while Stripe hangs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing waits on Stripe inside a transaction (the calls have hung for
    // seconds by now; a transaction between two statements is not waiting).
    let open: i64 = app
        .scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
             AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()
             AND now() - state_change > interval '2 seconds'",
        )
        .await;
    assert_eq!(open, 0, "a transaction is held open while the API hangs");
    // The invoices wait for the API, pending, not failed.
    let pending: i64 =
        app.scalar("SELECT count(*) FROM stripe_mirror.events WHERE id LIKE 'evt_inv%' AND status = 'pending'").await;
    assert_eq!(pending, 3);
}
