//! Nothing a misconfiguration can destroy: the pull path checks the key's
//! account and mode against the tables before it writes, a sweep refuses to
//! tombstone a large share of a table, and tombstones yield to a new
//! incarnation listed by the API.

use stripe_sim::{CustomerParams, Kind, ProductParams, SeedSpec};

use crate::cli::run;
use crate::helpers::*;

async fn live_customers(s: &SimApp) -> i64 {
    s.app.scalar("SELECT count(*) FROM stripe.customers WHERE NOT deleted").await
}

/// Runs `args` as the CLI against the app's database and the simulator (on
/// a blocking thread: the simulator answers from this test's runtime).
async fn cli(s: &SimApp, key: &str, args: &[&str]) -> (i32, String) {
    let (base, db, key) = (s.sim.base_url(), s.app.database_url.clone(), key.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &[("DATABASE_URL", &db), ("STRIPE_SECRET_KEY", &key), ("STRIPE_API_BASE", &base)])
    })
    .await
    .expect("the CLI runs")
}

#[tokio::test]
async fn a_key_of_another_account_or_mode_exits_2_naming_both_and_changes_nothing() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    s.sim.seed(&SeedSpec { customers: 20, ..SeedSpec::small() });
    s.backfill().await;
    let before = live_customers(&s).await;
    assert!(before >= 20);
    let ours = s.sim.account_id().to_string();
    s.sim.add_other_account_key("sk_test_other", "acct_1OtherAccount0000");
    s.sim.add_other_account_key("sk_live_same", &ours);
    for (key, names) in [("sk_test_other", "acct_1OtherAccount0000 (test mode)"), ("sk_live_same", "(live mode)")] {
        for args in [&["reconcile", "--full"][..], &["backfill"], &["reconcile"]] {
            let (code, text) = cli(&s, key, args).await;
            assert_eq!(code, 2, "{args:?} with {key}: {text}");
            assert!(text.contains("STRIPE_SECRET_KEY belongs to") && text.contains(names), "{text}");
            assert!(text.contains(&format!("these tables mirror {ours} (test mode)")), "{text}");
        }
    }
    assert_eq!(live_customers(&s).await, before, "nothing was tombstoned");
    let runs: i64 = s.app.scalar("SELECT count(*) FROM stripe_mirror.runs WHERE kind LIKE 'reconcile%'").await;
    assert_eq!(runs, 0, "nothing was written, not even a run record");
    // The right key still works.
    let (code, text) = cli(&s, s.sim.api_key(), &["reconcile", "--full"]).await;
    assert_eq!(code, 0, "{text}");
}

#[tokio::test]
async fn a_rejected_key_stops_with_the_rejected_message() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let (code, text) = cli(&s, "sk_test_unknown", &["backfill"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("STRIPE_SECRET_KEY was rejected by Stripe"), "{text}");
}

#[tokio::test]
async fn a_restricted_key_is_checked_by_the_configured_account_only() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    s.sim.seed(&SeedSpec { customers: 5, ..SeedSpec::small() });
    s.sim.add_restricted_key("rk_test_restricted");
    let (code, text) = cli(&s, "rk_test_restricted", &["backfill"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("stripe.account_id"), "{text}");
    let scratch = Scratch::new("restricted");
    let config = scratch.dir.join("config.toml");
    std::fs::write(&config, format!("[stripe]\naccount_id = \"{}\"\n", s.sim.account_id())).unwrap();
    let path = config.to_str().unwrap();
    let (code, text) = cli(&s, "rk_test_restricted", &["--config", path, "backfill"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(live_customers(&s).await >= 5);
    std::fs::write(&config, "[stripe]\naccount_id = \"acct_1SomeoneElse000000\"\n").unwrap();
    let (code, text) = cli(&s, "rk_test_restricted", &["--config", path, "reconcile", "--full"]).await;
    assert_eq!(code, 2, "{text}");
}

/// Moves the Events API cursor to `at`: catch-up then lists nothing before it.
async fn skip_events_until(s: &SimApp, at: i64) {
    sqlx::query("UPDATE stripe_mirror.cursors SET value = $1 WHERE name = 'events_api'")
        .bind(at.to_string())
        .execute(&s.app.pool)
        .await
        .expect("move the cursor");
}

#[tokio::test]
async fn a_sweep_that_would_tombstone_a_large_share_of_a_table_tombstones_none() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let ids: Vec<String> = (0..100)
        .map(|i| {
            let c = s.sim.create_customer(CustomerParams::email(format!("c{i}@example.com"))).unwrap();
            c["id"].as_str().unwrap().to_string()
        })
        .collect();
    s.backfill().await;
    for id in &ids[..30] {
        s.sim.delete(Kind::Customer, id).unwrap();
    }
    // Deletions the events cannot tell (older than the cursor): only the
    // sweep finds them.
    skip_events_until(&s, s.sim.now() + 1_000).await;
    let err =
        stripe_mirror::pull::jobs::reconcile(&s.puller(), true, 300).await.expect_err("the guard stops the sweep");
    let text = err.to_string();
    assert!(text.contains("would tombstone 30 of the 100 live rows of customers"), "{text}");
    assert!(text.contains("--allow-mass-delete"), "{text}");
    assert_eq!(live_customers(&s).await, 100, "none tombstoned");
    skip_events_until(&s, s.sim.now() + 1_000).await;
    let (code, text) = cli(&s, s.sim.api_key(), &["reconcile", "--full"]).await;
    assert_eq!(code, 1, "{text}");
    assert_eq!(live_customers(&s).await, 100, "none tombstoned");
    skip_events_until(&s, s.sim.now() + 1_000).await;
    let (code, text) = cli(&s, s.sim.api_key(), &["reconcile", "--full", "--allow-mass-delete"]).await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(live_customers(&s).await, 70);
    // Deletions the events announce are no mass delete: they are applied.
    for id in &ids[35..60] {
        s.sim.delete(Kind::Customer, id).unwrap();
    }
    s.reconcile(true).await;
    assert_eq!(live_customers(&s).await, 45);
    // Within the threshold, a sweep tombstones as always.
    for id in &ids[30..35] {
        s.sim.delete(Kind::Customer, id).unwrap();
    }
    skip_events_until(&s, s.sim.now() + 1_000).await;
    s.reconcile(true).await;
    assert_eq!(live_customers(&s).await, 40);
}

#[tokio::test]
async fn a_custom_id_created_again_is_revived_by_the_sweep() {
    let s = SimApp::spawn_with(|_| {}, false).await;
    let params = || ProductParams { id: Some("gold".into()), ..ProductParams::named("Gold") };
    s.sim.create_product(params()).unwrap();
    s.backfill().await;
    s.sim.delete(Kind::Product, "gold").unwrap();
    s.reconcile(true).await;
    let (_, deleted) = s.app.row("products", "gold").await.unwrap();
    assert!(deleted);
    s.sim.advance(10);
    s.sim.create_product(ProductParams { name: "Gold again".into(), ..params() }).unwrap();
    s.reconcile(true).await;
    let (data, deleted) = s.app.row("products", "gold").await.unwrap();
    assert!(!deleted, "the new incarnation replaces the tombstone");
    assert_eq!(data["name"], "Gold again");
    s.assert_mirror_exact().await;
}
