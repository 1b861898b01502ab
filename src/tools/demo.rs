//! `stripe-mirror demo`: the whole job on a machine with no Stripe account.
//! A private Postgres (unless DATABASE_URL is set), the built-in Stripe
//! simulator seeded with a small account, migrate + backfill with progress,
//! `serve`, a scripted stretch of Dashboard activity delivered with drops,
//! duplicates and reordering, one reconcile, and a comparison of every
//! table. Exit 0 only if the mirror equals the simulator.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stripe_sim::{
    CustomerParams, DeliveryFaults, InvoiceParams, Kind, PriceParams, ProductParams, SeedSpec, Sim, SimConfig,
    SubscriptionParams,
};

use crate::config::Config;

pub async fn run(mut config: Config) -> anyhow::Result<bool> {
    let _pg;
    let private = config.database.url.is_none();
    let database_url = match &config.database.url {
        Some(url) => url.clone(),
        None => {
            println!("• starting a private Postgres (set DATABASE_URL to use yours)");
            let pg = crate::tools::pglocal::start(false).await?;
            let url = pg.url.clone();
            _pg = pg;
            url.into()
        }
    };
    let sim = Sim::start(SimConfig::default()).await?;
    let spec = SeedSpec {
        products: 8,
        prices_per_product: 2,
        customers: 120,
        subscriptions: 90,
        invoices: 90,
        ..SeedSpec::small()
    };
    let seeded = sim.seed(&spec);
    println!("• Stripe simulator at {} with {} objects", sim.base_url(), seeded.objects);

    let secret = format!("whsec_demo{}", fastrand::u64(..));
    config.database.url = Some(database_url);
    config.stripe.api_base = sim.base_url();
    config.stripe.secret_key = Some(sim.api_key().to_string().into());
    config.stripe.requests_per_second = 100;
    config.webhook.listen = "127.0.0.1:0".into();
    config.webhook.secrets = vec![secret.clone().into()];
    config.reconcile.events_schedule = "0 0 1 1 *".into();
    config.reconcile.full_schedule = "0 0 1 1 *".into();
    // The types the simulator serves: the others would only be skipped.
    config.mirror.objects =
        Some(crate::tools::compare::simulated_types().tables().iter().map(|t| t.to_string()).collect());

    println!("• migrate + backfill");
    let ctx = crate::app::Context::connect(&config).await?;
    crate::storage::db::migrate(&ctx.pool, &config.database.schema).await?;
    let puller = crate::pull::sync::Puller::new(ctx.pool.clone(), ctx.mirror.clone(), &config)
        .ok_or_else(|| anyhow::anyhow!("no Stripe client"))?;
    let puller = Arc::new(puller);
    let summary =
        crate::pull::jobs::backfill(&puller, true, crate::cli::progress_reporter(puller.mirror.types)).await?;
    summary.print();

    let running = crate::app::start(&config).await?;
    let url = format!("http://{}{}", running.addr, config.webhook.path);
    sim.add_webhook_endpoint(url.clone(), vec![secret]);
    sim.update_faults(|f| {
        f.delivery = DeliveryFaults {
            drop_fraction: 0.15,
            duplicate_fraction: 0.15,
            reorder_window: 8,
            concurrency: 4,
            ..f.delivery.clone()
        }
    });
    println!("• serving webhooks at {url}; playing Dashboard activity (15% dropped, 15% duplicated, reordered)");
    let actions = dashboard_activity(&sim).await?;
    sim.wait_idle(Duration::from_secs(60)).await?;
    let stats = sim.delivery_stats();
    println!(
        "  {actions} actions, {} deliveries: {} delivered, {} dropped, {} duplicated",
        stats.attempted, stats.delivered, stats.dropped, stats.duplicated
    );
    wait_drained(&ctx.pool).await;

    println!("• reconcile (events catch-up + full sweep)");
    let summary = crate::pull::jobs::reconcile(&puller, true, config.reconcile.overlap_secs).await?;
    wait_drained(&ctx.pool).await;
    summary.print();
    running.stop().await;

    println!("• comparison, Stripe (simulator) vs mirror");
    let diffs = crate::tools::compare::compare(&ctx.pool, &config.database.schema, &sim).await?;
    let equal = crate::tools::compare::print(&diffs);
    println!();
    if equal {
        println!("The mirror equals Stripe.");
    } else {
        println!("The mirror differs from Stripe (see above).");
    }
    if private {
        println!("The private Postgres goes away when demo exits. To keep and look at the tables:");
        println!("  DATABASE_URL=postgres://USER:PASS@localhost/DB stripe-mirror demo");
    }
    println!("  psql \"$DATABASE_URL\" -c 'SELECT id, email, deleted FROM stripe.customers LIMIT 10'");
    sim.shutdown().await;
    Ok(equal)
}

/// A minute of what people do in the Dashboard, compressed.
async fn dashboard_activity(sim: &Sim) -> anyhow::Result<usize> {
    let mut n = 0;
    let product = sim.create_product(ProductParams::named("Pro plan"))?;
    let pid = product["id"].as_str().unwrap_or_default().to_string();
    let price = sim.create_price(PriceParams::monthly(&pid, 2900))?;
    let price_id = price["id"].as_str().unwrap_or_default().to_string();
    n += 2;
    for round in 0..12 {
        let cus = sim.create_customer(CustomerParams::email(format!("new{round}@example.com")))?;
        let cid = cus["id"].as_str().unwrap_or_default().to_string();
        let sub = sim.create_subscription(SubscriptionParams::new(&cid, &[(&price_id, 1)]))?;
        let inv = sim.create_invoice(InvoiceParams::new(&cid, &[&price_id]))?;
        let iid = inv["id"].as_str().unwrap_or_default().to_string();
        sim.finalize_invoice(&iid)?;
        if round % 3 == 0 {
            sim.void_invoice(&iid)?;
        } else {
            sim.pay_invoice(&iid)?;
        }
        sim.update(Kind::Customer, &cid, json!({"name": format!("Customer {round}")}))?;
        n += 6;
        if round % 4 == 1 {
            sim.cancel_subscription(sub["id"].as_str().unwrap_or_default())?;
            n += 1;
        }
        if round % 5 == 2 {
            sim.delete(Kind::Customer, &cid)?;
            n += 1;
        }
        if round == 6 {
            sim.update(Kind::Price, &price_id, json!({"nickname": "Pro (2026)"}))?;
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Ok(n)
}

async fn wait_drained(pool: &sqlx::PgPool) {
    for _ in 0..600 {
        match crate::storage::inbox::depth(pool).await {
            Ok((0, _)) => return,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
