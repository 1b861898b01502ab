//! `stripe-mirror verify [--repair]` against the simulator: equal after a
//! backfill; each kind of drift found, per table and by id, changes in
//! flight tolerated; `--repair` fixes exactly the drifted rows; a key of
//! another account exits 2.

use std::collections::BTreeSet;

use serde_json::json;
use stripe_sim::{CustomerParams, InvoiceParams, Kind, PriceParams, ProductParams, SeedSpec, SubscriptionParams};

use crate::helpers::*;

/// A seeded account with a subscription of 15 items and an invoice of 15
/// lines (Stripe embeds 10: the rest must be paged), backfilled; then the
/// simulator's clock moves on, so later pages are dated after every row.
async fn backfilled() -> (SimApp, String, String) {
    let s = SimApp::spawn_with(|_| {}, false).await;
    s.sim.seed(&SeedSpec::small());
    let product = s.sim.create_product(ProductParams::named("Long")).expect("product");
    let product = product["id"].as_str().expect("id").to_string();
    let prices: Vec<String> = (0..15)
        .map(|i| {
            s.sim.create_price(PriceParams::monthly(&product, 100 + i)).expect("price")["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    let cus = s.sim.create_customer(CustomerParams::email("long@example.com")).expect("customer");
    let cus = cus["id"].as_str().expect("id");
    let items: Vec<(&str, u64)> = prices.iter().map(|p| (p.as_str(), 1)).collect();
    let sub = s.sim.create_subscription(SubscriptionParams::new(cus, &items)).expect("subscription");
    let refs: Vec<&str> = prices.iter().map(String::as_str).collect();
    let invoice = s.sim.create_invoice(InvoiceParams::new(cus, &refs)).expect("invoice");
    s.backfill().await;
    s.sim.advance(60);
    (s, sub["id"].as_str().expect("id").to_string(), invoice["id"].as_str().expect("id").to_string())
}

/// Runs the CLI against the app's database and simulator, off the test's
/// runtime thread: the simulator answering it runs on that thread.
async fn cli(s: &SimApp, args: &[&str]) -> (i32, String) {
    let scratch = Scratch::new("verify");
    let config = scratch.dir.join("config.toml");
    std::fs::write(
        &config,
        "[stripe]\nrequests_per_second = 10000\nrequests_per_second_per_operation = 0\nmax_retries = 1\n",
    )
    .expect("config");
    let mut all = vec!["--config".to_string(), config.to_str().expect("path").to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    let env = [
        ("DATABASE_URL", s.app.database_url.clone()),
        ("STRIPE_SECRET_KEY", s.sim.api_key().to_string()),
        ("STRIPE_API_BASE", s.sim.base_url()),
    ];
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = crate::cli::run(&args, &env);
        drop(scratch);
        out
    })
    .await
    .expect("the CLI ran")
}

async fn report(s: &SimApp) -> stripe_mirror::ops::verify::Report {
    let api = s.app.running.context.mirror.api.clone().expect("client");
    stripe_mirror::ops::verify::verify(&s.app.pool, &api, "stripe").await.expect("verify")
}

fn ids(d: &stripe_mirror::ops::verify::Drift) -> BTreeSet<&str> {
    d.ids.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn verify_exits_0_when_the_mirror_equals_what_the_api_lists() {
    let (s, _, _) = backfilled().await;
    let r = report(&s).await;
    assert!(r.equal(), "{}", r.render());
    let tables: Vec<&str> = r.tables.iter().map(|t| t.table).collect();
    assert_eq!(tables.len(), stripe_mirror::storage::store::Table::ALL.len(), "{tables:?}");
    let items = r.tables.iter().find(|t| t.table == "subscription_items").expect("items");
    assert!(items.listed >= 15 && items.listed == items.mirror_live, "{}", r.render());
    let (code, text) = cli(&s, &["verify"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("equal"), "{text}");
}

#[tokio::test]
async fn verify_finds_each_kind_of_drift_by_table_and_repair_fixes_exactly_those_rows() {
    let (s, sub, invoice) = backfilled().await;
    let pool = &s.app.pool;
    // Customers without subscriptions: deleting one in Stripe cancels its
    // subscriptions, a drift this test does not count on.
    let customers: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM stripe.customers c WHERE NOT deleted
         AND NOT EXISTS (SELECT 1 FROM stripe.subscriptions s WHERE s.customer = c.id) ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("ids");
    // Missed webhooks (the simulator sends none here): a new customer, an
    // update, a deletion.
    let created = s.sim.create_customer(CustomerParams::email("new@example.com")).expect("create");
    let created = created["id"].as_str().expect("id").to_string();
    s.sim.update(Kind::Customer, &customers[0], json!({"name": "Renamed in the Dashboard"})).expect("update");
    s.sim.delete(Kind::Customer, &customers[1]).expect("delete");
    // Damage no webhook explains: a price marked deleted, a lost item, a
    // changed line.
    let price: String = sqlx::query_scalar("SELECT id FROM stripe.prices WHERE NOT deleted ORDER BY id LIMIT 1")
        .fetch_one(pool)
        .await
        .expect("price");
    sqlx::query("UPDATE stripe.prices SET deleted = true WHERE id = $1")
        .bind(&price)
        .execute(pool)
        .await
        .expect("tamper");
    let item: String = sqlx::query_scalar("DELETE FROM stripe.subscription_items WHERE id = (SELECT id FROM stripe.subscription_items WHERE subscription = $1 ORDER BY id LIMIT 1) RETURNING id")
        .bind(&sub)
        .fetch_one(pool)
        .await
        .expect("tamper");
    let line: String = sqlx::query_scalar("UPDATE stripe.invoice_line_items SET data = data || '{\"description\": \"tampered\"}' WHERE id = (SELECT id FROM stripe.invoice_line_items WHERE invoice = $1 ORDER BY id DESC LIMIT 1) RETURNING id")
        .bind(&invoice)
        .fetch_one(pool)
        .await
        .expect("tamper");
    // In flight, not drift: a row written after the page it is compared with.
    let newer = &customers[2];
    sqlx::query("UPDATE stripe.customers SET data = data || '{\"name\": \"From a newer event\"}', version = version + 1000000 WHERE id = $1")
        .bind(newer)
        .execute(pool)
        .await
        .expect("newer");

    let r = report(&s).await;
    let table = |name: &str| r.tables.iter().find(|t| t.table == name).expect(name);
    let c = table("customers");
    assert_eq!(ids(&c.missing), BTreeSet::from([created.as_str()]), "{}", r.render());
    assert_eq!(ids(&c.different), BTreeSet::from([customers[0].as_str()]));
    assert_eq!(ids(&c.extra), BTreeSet::from([customers[1].as_str()]));
    assert!(c.wrongly_deleted.ids.is_empty() && c.in_flight == 1, "{}", r.render());
    assert_eq!(ids(&table("prices").wrongly_deleted), BTreeSet::from([price.as_str()]));
    assert_eq!(ids(&table("subscription_items").missing), BTreeSet::from([item.as_str()]));
    assert_eq!(ids(&table("invoice_line_items").different), BTreeSet::from([line.as_str()]));
    for t in ["products", "subscriptions", "invoices"] {
        assert_eq!(table(t).drift(), 0, "{t}: {}", r.render());
    }
    let (code, text) = cli(&s, &["verify"]).await;
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(&format!("customers: missing 1: {created}")), "{text}");
    assert!(text.contains("DRIFT in 4 table(s)"), "{text}");

    // Repair writes exactly the drifted objects (children through their
    // parent): the change feed names nothing else.
    let position: i64 = sqlx::query_scalar("SELECT stripe_mirror.changes_head()").fetch_one(pool).await.expect("head");
    let (code, text) = cli(&s, &["verify", "--repair"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("repaired 6 object(s)"), "{text}");
    let changed: BTreeSet<String> = loop {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT table_name, id FROM stripe_mirror.changes_after($1, 1000)")
                .bind(position)
                .fetch_all(pool)
                .await
                .expect("feed");
        if rows.len() >= 6 {
            break rows.into_iter().map(|(t, id)| format!("{t}/{id}")).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let want: BTreeSet<String> = [
        format!("customers/{created}"),
        format!("customers/{}", customers[0]),
        format!("customers/{}", customers[1]),
        format!("prices/{price}"),
        format!("subscription_items/{item}"),
        format!("invoice_line_items/{line}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(changed, want);
    let (name, deleted): (serde_json::Value, bool) =
        sqlx::query_as("SELECT data -> 'name', deleted FROM stripe.customers WHERE id = $1")
            .bind(newer)
            .fetch_one(pool)
            .await
            .expect("row");
    assert_eq!((name, deleted), (json!("From a newer event"), false), "a change in flight is left alone");
    assert!(report(&s).await.equal());
}

#[tokio::test]
async fn verify_with_a_key_of_another_account_exits_2_naming_both() {
    let (s, _, _) = backfilled().await;
    sqlx::query("UPDATE stripe_mirror.identity SET account_id = 'acct_someone_else'")
        .execute(&s.app.pool)
        .await
        .expect("identity");
    let (code, text) = cli(&s, &["verify", "--repair"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("acct_someone_else"), "{text}");
}
