//! `stripe-sim`: run the Stripe simulator as a process (for scripts and
//! manual testing); change its state through `/_sim` (see `stripe_sim::mutate`).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use stripe_sim::{Faults, SeedSpec, Sim, SimConfig};

/// A stateful Stripe API simulator with signed webhooks and fault injection.
#[derive(Parser, Debug)]
#[command(name = "stripe-sim", version)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:12111")]
    listen: SocketAddr,
    /// The main account's secret key (`sk_live_…` makes the account live).
    #[arg(long, default_value = "sk_test_sim")]
    api_key: String,
    /// The main account's id (`GET /v1/account`).
    #[arg(long, default_value = "acct_1SimMain00000000")]
    account_id: String,
    /// The account's default API version (requests without
    /// `Stripe-Version`, events, endpoints without `api_version`).
    #[arg(long, default_value = stripe_sim::API_VERSION)]
    default_api_version: String,
    /// Webhook endpoint URL (repeatable); every secret signs every endpoint.
    #[arg(long = "webhook-url")]
    webhook_urls: Vec<String>,
    /// Webhook signing secret (repeatable: several `v1=` while rotating).
    #[arg(long = "webhook-secret")]
    webhook_secrets: Vec<String>,
    /// Seed preset: small, demo (~5k objects) or bench (~1M objects).
    #[arg(long)]
    seed: Option<String>,
    #[arg(long)]
    seed_products: Option<usize>,
    #[arg(long)]
    seed_prices_per_product: Option<usize>,
    #[arg(long)]
    seed_customers: Option<usize>,
    #[arg(long)]
    seed_subscriptions: Option<usize>,
    #[arg(long)]
    seed_items_per_subscription: Option<usize>,
    #[arg(long)]
    seed_invoices: Option<usize>,
    #[arg(long)]
    seed_lines_per_invoice: Option<usize>,
    /// Fraction of `/v1` requests answered 429.
    #[arg(long, default_value_t = 0.0)]
    fail_429: f64,
    /// Fraction of `/v1` requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    fail_500: f64,
    /// `/v1` requests per second allowed; the excess gets 429 (global-rate).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Requests per second allowed per API operation (0: off; Stripe: 25);
    /// the excess gets 429 (endpoint-rate).
    #[arg(long, default_value_t = 0)]
    per_operation_rate_limit: u32,
    /// Fraction of `/v1` requests answered 429 `lock_timeout`.
    #[arg(long, default_value_t = 0.0)]
    lock_timeout: f64,
    /// `Retry-After` seconds on 429 answers.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    /// Fraction of `/v1` requests answered only after `--slow-ms`.
    #[arg(long, default_value_t = 0.0)]
    slow: f64,
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// Fraction of webhook deliveries dropped.
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Fraction of webhook deliveries sent twice.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Shuffle webhook deliveries within windows of this many events.
    #[arg(long, default_value_t = 0)]
    reorder: usize,
    /// Delay every webhook delivery by a random time up to this many ms.
    #[arg(long, default_value_t = 0)]
    delay_max_ms: u64,
    /// Webhook deliveries in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

impl Args {
    fn seed_spec(&self) -> Result<Option<SeedSpec>, String> {
        let overrides = [
            self.seed_products,
            self.seed_prices_per_product,
            self.seed_customers,
            self.seed_subscriptions,
            self.seed_items_per_subscription,
            self.seed_invoices,
            self.seed_lines_per_invoice,
        ];
        let mut spec = match &self.seed {
            Some(name) => SeedSpec::named(name).ok_or_else(|| format!("--seed: unknown preset {name:?}"))?,
            None if overrides.iter().any(Option::is_some) => SeedSpec::small(),
            None => return Ok(None),
        };
        let fields = [
            &mut spec.products,
            &mut spec.prices_per_product,
            &mut spec.customers,
            &mut spec.subscriptions,
            &mut spec.items_per_subscription,
            &mut spec.invoices,
            &mut spec.lines_per_invoice,
        ];
        for (field, value) in fields.into_iter().zip(overrides) {
            if let Some(v) = value {
                *field = v;
            }
        }
        Ok(Some(spec))
    }

    fn faults(&self) -> Faults {
        let mut f = Faults::default();
        f.api.rate_limit_fraction = self.fail_429;
        f.api.server_error_fraction = self.fail_500;
        f.api.max_requests_per_sec = self.rate_limit;
        f.api.per_operation_requests_per_sec = self.per_operation_rate_limit;
        f.api.lock_timeout_fraction = self.lock_timeout;
        f.api.retry_after_secs = self.retry_after;
        f.api.slow_fraction = self.slow;
        f.api.slow_ms = self.slow_ms;
        f.delivery.delay_max_ms = self.delay_max_ms;
        f.delivery.concurrency = self.concurrency;
        f.delivery.drop_fraction = self.drop;
        f.delivery.duplicate_fraction = self.duplicate;
        f.delivery.reorder_window = self.reorder;
        f
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let seed = match args.seed_spec() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stripe-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let config = SimConfig {
        listen: args.listen,
        api_key: args.api_key.clone(),
        account_id: args.account_id.clone(),
        default_api_version: args.default_api_version.clone(),
        webhooks: args.webhook_urls.iter().map(|u| (u.clone(), args.webhook_secrets.clone())).collect(),
        faults: args.faults(),
        ..SimConfig::default()
    };
    let sim = match Sim::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("stripe-sim: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(spec) = seed {
        let report = sim.seed(&spec);
        eprintln!("seeded {} objects in {} ms", report.objects, report.elapsed_ms);
    }
    println!("{}", sim.base_url());
    eprintln!("stripe-sim listening on {} (api key {}); Ctrl-C stops", sim.base_url(), sim.api_key());
    stopped().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
