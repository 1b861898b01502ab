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
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
}

/// Errors a command can end with; the variant decides the exit code.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
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
    init_logging(&config);
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
            let pool = crate::db::connect(config.database_url()?, 2).await.map_err(anyhow::Error::from)?;
            crate::db::migrate(&pool, &config.database.schema).await.map_err(anyhow::Error::from)?;
            println!("migrations are current");
            Ok(())
        }
        Command::Serve => {
            let running = crate::app::start(&config).await.map_err(|e| match e {
                crate::app::StartError::Config(c) => Failure::Config(c),
                e => Failure::Runtime(e.into()),
            })?;
            let shutdown = running.shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                shutdown.cancel();
            });
            running.join().await;
            Ok(())
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

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
