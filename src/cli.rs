//! The command line: parse, load config, run one command, map the result to
//! an exit code (0 success, 2 usage or configuration, 1 runtime failure).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};

#[derive(Parser)]
#[command(name = "stripe-mirror", version, about = "Keeps Postgres tables equal to a Stripe account.")]
struct Cli {
    /// Configuration file (default ./config.toml, then /etc/stripe-mirror/config.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply database migrations (idempotent) and exit.
    Migrate,
    /// Run the daemon: webhook listener, apply workers, health and metrics.
    Serve,
    /// First install: page every object of every type into the tables (resumable).
    Backfill {
        /// Forget checkpoints and start over.
        #[arg(long)]
        restart: bool,
    },
    /// One reconciliation pass now: events catch-up, and with --full a sweep of every list.
    Reconcile {
        #[arg(long)]
        full: bool,
        /// Let the full sweep tombstone more than `reconcile.mass_delete_percent` of a table.
        #[arg(long, requires = "full")]
        allow_mass_delete: bool,
    },
    /// The whole job with no Stripe account: simulator, private Postgres, backfill, live webhooks, comparison.
    Demo,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Row counts, inbox, failed events, last runs, Events API cursor; exit 1 if something needs attention.
    Status {
        /// Print JSON for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Inspect and re-queue events in the inbox.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// The Stripe webhook endpoint that feeds this mirror: create, check, list.
    Endpoint {
        #[command(subcommand)]
        command: EndpointCommand,
    },
    /// Let ROLE read the mirrored tables: creates `stripe_mirror_reader` (USAGE + SELECT on the
    /// mirrored schema only, including future tables) and grants it to ROLE. Refuses a schema that
    /// holds anything but the mirror's tables, and `public`.
    GrantReader {
        /// An existing role, usually the application's login role.
        role: String,
    },
    /// Retention now: delete finished inbox events and feed entries older than
    /// `retention.events_days`, redact deleted customers if `[privacy]` says so.
    Prune,
    /// Print the change feed as JSON lines: {"position","table","id","op","changed_at"}.
    Changes {
        /// Start after this position (default: the oldest change kept).
        #[arg(long, allow_negative_numbers = true)]
        after: Option<i64>,
        /// Keep printing new changes as they commit (woken by NOTIFY, polling as a fallback).
        #[arg(long)]
        follow: bool,
    },
    /// Compare every mirrored table with what the Stripe API lists (read-only): exit 0 equal,
    /// 3 drift (per table, with ids), 1 error.
    Verify {
        /// Retrieve and rewrite exactly the drifted objects, then verify again (exit 0 when equal).
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Put failed (parked) events back in the queue; a running `serve` applies them.
    Retry {
        /// One event.
        #[arg(long, conflicts_with = "all_failed", required_unless_present = "all_failed")]
        id: Option<String>,
        /// Every failed event.
        #[arg(long)]
        all_failed: bool,
    },
}

#[derive(Subcommand)]
enum EndpointCommand {
    /// Create the webhook endpoint: every event type the mirror applies, at the
    /// pinned `stripe.api_version`, marked `managed_by=stripe-mirror`. Nothing is
    /// duplicated: a good endpoint at URL is reported, one lacking event types gets them.
    Create {
        /// The public URL Stripe will deliver to (the TLS proxy's address, path included).
        #[arg(long)]
        url: String,
        /// Write the signing secret to this new file (mode 0600) instead of printing it once.
        /// An existing file is not overwritten.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Exit 0 when an enabled endpoint for URL sends every needed event type at the
    /// pinned version; 1 naming each problem and its fix.
    Check {
        /// Default: `webhook.public_url`.
        #[arg(long)]
        url: Option<String>,
    },
    /// The account's webhook endpoints: URL, status, API version, events, whether stripe-mirror manages it.
    List,
}

/// Errors a command can end with; the variant decides the exit code.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
    /// Exit 1; the command has already said why.
    #[error("needs attention")]
    Attention,
    /// Exit 2: the command cannot run as configured (the message says why).
    #[error("{0}")]
    Usage(String),
    /// Exit 3: `verify` found drift (and has printed it).
    #[error("the mirror differs from the API")]
    Drift,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stripe-mirror: {e}");
            return ExitCode::from(2);
        }
    };
    // demo talks to a person: keep the log to warnings unless asked. The
    // in-process simulator's HTTP server logs a client connection cut by its
    // own shutdown as an error (warp, per connection); it is not one here.
    if matches!(cli.command, Command::Demo) && std::env::var_os("RUST_LOG").is_none() {
        let mut quiet = config.clone();
        quiet.log.level = "warn,sqlx=error,warp::server=off".into();
        init_logging(&quiet);
    } else {
        init_logging(&config);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stripe-mirror: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("stripe-mirror: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Attention) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("stripe-mirror: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Drift) => ExitCode::from(3),
        Err(Failure::Runtime(e)) => {
            tracing::error!(error = format!("{e:#}"), "stopped");
            eprintln!("stripe-mirror: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Migrate => {
            connect_migrated(&config).await?;
            println!("migrations are current");
            Ok(())
        }
        Command::Serve => {
            let running = crate::app::start(&config).await.map_err(|e| match e {
                crate::app::StartError::Config(c) => Failure::Config(c),
                crate::app::StartError::Migrate(crate::storage::db::SchemaError::Refused(c)) => Failure::Config(c),
                crate::app::StartError::Identity(i) if i.is_misconfiguration() => Failure::Usage(i.to_string()),
                e => Failure::Runtime(e.into()),
            })?;
            crate::ops::service::ready(&format!("listening on {}", running.addr));
            let shutdown = running.shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                crate::ops::service::stopping();
                shutdown.cancel();
            });
            running.join().await;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Backfill { restart } => {
            let (ctx, puller) = puller(&config, false).await?;
            let progress = progress_reporter(puller.mirror.types);
            let summary = crate::pull::jobs::backfill(&puller, restart, progress).await.map_err(pull_failure)?;
            drain_inbox(&ctx, &config, &puller).await?;
            summary.print();
            Ok(())
        }
        Command::Reconcile { full, allow_mass_delete } => {
            let (ctx, puller) = puller(&config, allow_mass_delete).await?;
            let summary = crate::pull::jobs::reconcile(&puller, full, config.reconcile.overlap_secs)
                .await
                .map_err(pull_failure)?;
            if !summary.ran {
                println!("another replica is reconciling; nothing done");
                return Ok(());
            }
            drain_inbox(&ctx, &config, &puller).await?;
            summary.print();
            Ok(())
        }
        Command::Demo => {
            if crate::tools::demo::run(config).await.map_err(runtime)? {
                Ok(())
            } else {
                Err(runtime(anyhow::anyhow!("the mirror is not equal to the simulator")))
            }
        }
        Command::Status { json } => {
            let pool = connect_migrated(&config).await?;
            let status = crate::ops::status::Status::read(&pool, &config.database.schema, &config.stripe.api_version)
                .await
                .map_err(runtime)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status).map_err(runtime)?);
            } else {
                print!("{}", status.render());
            }
            if status.needs_attention() {
                return Err(Failure::Attention);
            }
            Ok(())
        }
        Command::Events { command: EventsCommand::Retry { id, all_failed: _ } } => {
            let pool = connect_migrated(&config).await?;
            let n = crate::storage::inbox::retry_failed(&pool, id.as_deref()).await.map_err(runtime)?;
            match (&id, n) {
                (Some(id), 0) => {
                    eprintln!("stripe-mirror: {id} is not a failed event; nothing re-queued");
                    return Err(Failure::Attention);
                }
                _ => println!("re-queued {n} event(s); a running `serve` applies them"),
            }
            Ok(())
        }
        Command::Endpoint { command } => {
            let done = match command {
                EndpointCommand::Create { url, secret_file } => {
                    crate::ops::endpoints::create(&config, &url, secret_file.as_deref()).await
                }
                EndpointCommand::Check { url } => crate::ops::endpoints::check(&config, url.as_deref()).await,
                EndpointCommand::List => crate::ops::endpoints::list(&config).await,
            };
            done.map_err(|e| match e {
                crate::ops::endpoints::EndpointError::Config(c) => Failure::Config(c),
                crate::ops::endpoints::EndpointError::Problems => Failure::Attention,
                e => runtime(e),
            })
        }
        Command::GrantReader { role } => {
            // Not migrated here: a schema refused below must not get the mirror's tables first.
            let pool = crate::storage::db::connect(config.database_url()?, 2).await.map_err(runtime)?;
            crate::storage::db::grant_reader(&pool, &config.database.schema, &role).await.map_err(schema_failure)?;
            println!("{role} can now read schema {} (via stripe_mirror_reader)", config.database.schema);
            Ok(())
        }
        Command::Prune => {
            let pool = connect_migrated(&config).await?;
            let store = crate::storage::store::Store::new(&config.database.schema);
            let p = crate::ops::retention::prune(&pool, &store, &config.retention, &config.privacy)
                .await
                .map_err(runtime)?;
            if !p.ran {
                println!("another replica is pruning; nothing done");
                return Ok(());
            }
            println!(
                "deleted {} inbox event(s) and {} change(s) older than {} days; redacted {} customer(s), {} event(s)",
                p.events_deleted,
                p.changes_deleted,
                config.retention.events_days,
                p.customers_redacted,
                p.events_redacted
            );
            Ok(())
        }
        Command::Changes { after, follow } => {
            // Read-only: no migrations, so a reader's own login can run it too.
            let pool = crate::storage::db::connect(config.database_url()?, 2).await.map_err(runtime)?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            crate::storage::feed::print_changes(&pool, after, follow, &mut out).await.map_err(runtime)
        }
        Command::Verify { repair } => {
            let (ctx, puller) = puller(&config, false).await?;
            puller.check_identity().await.map_err(pull_failure)?;
            let schema = &config.database.schema;
            let report = crate::ops::verify::verify_types(&ctx.pool, &puller.api, schema, puller.mirror.types)
                .await
                .map_err(runtime)?;
            print!("{}", report.render());
            if report.equal() {
                return Ok(());
            }
            if !repair {
                return Err(Failure::Drift);
            }
            let n = crate::ops::verify::repair(&ctx.pool, &ctx.mirror, &report).await.map_err(runtime)?;
            println!("\nrepaired {n} object(s); verifying again\n");
            let again = crate::ops::verify::verify_types(&ctx.pool, &puller.api, schema, puller.mirror.types)
                .await
                .map_err(runtime)?;
            print!("{}", again.render());
            if again.equal() {
                Ok(())
            } else {
                Err(Failure::Drift)
            }
        }
        Command::CheckConfig => {
            config.database_url()?;
            config.webhook_secrets()?;
            config.secret_key()?;
            println!("{config:#?}");
            Ok(())
        }
    }
}

/// A pool on a migrated database (commands that only read or fix bookkeeping).
async fn connect_migrated(config: &Config) -> Result<sqlx::PgPool, Failure> {
    let pool = crate::storage::db::connect(config.database_url()?, 2).await.map_err(runtime)?;
    crate::storage::db::migrate(&pool, &config.database.schema).await.map_err(schema_failure)?;
    Ok(pool)
}

/// A refused schema is a configuration error (exit 2, naming `database.schema`).
fn schema_failure(e: crate::storage::db::SchemaError) -> Failure {
    match e {
        crate::storage::db::SchemaError::Refused(c) => Failure::Config(c),
        e => runtime(e),
    }
}

fn runtime(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Runtime(e.into())
}

/// A pull-path failure: a key of another account or mode (or a restricted
/// key without `stripe.account_id`) is a configuration error, exit 2.
fn pull_failure(e: crate::pull::sync::SyncError) -> Failure {
    match e {
        crate::pull::sync::SyncError::Identity(i) if i.is_misconfiguration() => Failure::Usage(i.to_string()),
        e => runtime(e),
    }
}

/// Connects, migrates, and builds the pull path; the API key is required.
async fn puller(
    config: &Config,
    allow_mass_delete: bool,
) -> Result<(crate::app::Context, std::sync::Arc<crate::pull::sync::Puller>), Failure> {
    config.secret_key()?;
    let ctx = crate::app::Context::connect(config).await.map_err(runtime)?;
    crate::storage::db::migrate(&ctx.pool, &config.database.schema).await.map_err(schema_failure)?;
    let mut puller = crate::pull::sync::Puller::new(ctx.pool.clone(), ctx.mirror.clone(), config)
        .ok_or_else(|| runtime(anyhow::anyhow!("no Stripe client")))?;
    puller.allow_mass_delete = allow_mass_delete;
    Ok((ctx, std::sync::Arc::new(puller)))
}

/// Applies what a command put in the inbox (events catch-up), so a
/// one-off `reconcile` leaves the tables current without a running `serve`.
async fn drain_inbox(
    ctx: &crate::app::Context,
    config: &Config,
    puller: &crate::pull::sync::Puller,
) -> Result<(), Failure> {
    // The identity was checked by the run: it is the tables'.
    let tables = crate::storage::identity::stored(&ctx.pool).await.map_err(runtime)?;
    let scope = crate::storage::identity::SharedScope::new(crate::storage::identity::Scope {
        livemode: tables.as_ref().map(|t| t.livemode),
        account: tables.map(|t| t.account_id),
        api_version: puller.api_version.clone(),
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let resolver = crate::push::resolver::Resolver::spawn(
        ctx.pool.clone(),
        ctx.mirror.clone(),
        config.apply.clone(),
        ctx.metrics.clone(),
        &mut tasks,
        shutdown.clone(),
    );
    let worker = crate::push::worker::Worker {
        pool: ctx.pool.clone(),
        mirror: ctx.mirror.clone(),
        config: config.apply.clone(),
        metrics: ctx.metrics.clone(),
        wake: Default::default(),
        heartbeat: Default::default(),
        scope: scope.clone(),
        resolver: resolver.clone(),
    };
    loop {
        if worker.pass().await.map_err(runtime)? > 0 {
            continue;
        }
        if resolver.busy() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Progress per mirrored type: bars on a terminal, a log line per 10,000
/// objects otherwise (systemd, CI).
pub(crate) fn progress_reporter(
    types: crate::registry::TypeSet,
) -> std::sync::Arc<dyn Fn(crate::push::event::Kind, u64) + Send + Sync> {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{prefix:>21} {spinner} {pos} objects {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let bars: std::collections::HashMap<_, _> = types
            .iter()
            .map(|k| {
                let bar = multi.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()));
                bar.set_prefix(k.object_name());
                (k, bar)
            })
            .collect();
        std::sync::Arc::new(move |kind, n| {
            if let Some(b) = bars.get(&kind) {
                b.set_position(n);
            }
        })
    } else {
        // One line per type each time it passes another 10,000 objects (a
        // type listed per parent reports after every 100 parents, most with
        // no children: its count alone tells when it moved on).
        let logged = std::sync::Mutex::new(std::collections::HashMap::new());
        std::sync::Arc::new(move |kind, n| {
            let step = n / 10_000;
            let mut logged = logged.lock().unwrap_or_else(|e| e.into_inner());
            if step > 0 && logged.insert(kind, step) != Some(step) {
                tracing::info!(r#type = kind.object_name(), objects = n, "backfill progress");
            }
        })
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// sqlx logs every NOTICE Postgres sends at info: each command printed
/// "schema … already exists, skipping" for the migrations' `IF NOT EXISTS`.
/// Postgres' warnings and errors still come through; naming the target in
/// the filter (`RUST_LOG`, `log.level`) overrides this.
const QUIET_NOTICES: &str = "sqlx::postgres::notice=warn";

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let spec = std::env::var("RUST_LOG").ok().filter(|s| EnvFilter::try_new(s).is_ok());
    let mut spec = spec.unwrap_or_else(|| config.log.level.clone());
    if !spec.contains("sqlx::postgres::notice") {
        spec = format!("{spec},{QUIET_NOTICES}");
    }
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
