//! `stripe-mirror demo` end to end: the real binary, the built-in simulator
//! with dropped, duplicated and reordered deliveries, reconcile, comparison.

use std::process::Command;

use crate::helpers::fresh_database;

#[tokio::test]
async fn demo_ends_with_the_mirror_equal_to_the_simulator() {
    let db = fresh_database().await;
    let out = Command::new(env!("CARGO_BIN_EXE_stripe-mirror"))
        .arg("demo")
        .env("DATABASE_URL", &db)
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_API_BASE")
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("The mirror equals Stripe."), "{stdout}");
    assert!(stdout.contains("dropped"), "{stdout}");
}
