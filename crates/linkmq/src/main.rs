//! `linkmq`: the broker binary. `linkmq start [-c etc/emqx.conf]`, `linkmq check-config [-c ...]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "linkmq",
    version,
    about = "A clustered MQTT broker with native Cluster Linking"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the broker in the foreground.
    Start {
        /// Configuration file (HOCON). Without it, the embedded default etc/emqx.conf is used.
        #[arg(short = 'c', long = "config", env = "LINKMQ_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load and validate the configuration, print warnings and exit.
    CheckConfig {
        #[arg(short = 'c', long = "config", env = "LINKMQ_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => {
            let cfg = load(config.as_deref())?;
            for w in &cfg.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "config ok: {}",
                cfg.source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or("(embedded default)".into())
            );
            Ok(())
        }
        Command::Start { config } => {
            let cfg = load(config.as_deref())?;
            init_logging(&cfg);
            for w in &cfg.warnings {
                tracing::warn!("{w}");
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            rt.block_on(run(cfg))
        }
    }
}

fn load(path: Option<&std::path::Path>) -> anyhow::Result<linkmq_config::Config> {
    linkmq_config::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn init_logging(cfg: &linkmq_config::Config) {
    let level = cfg.log.console.level.as_str();
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(tracing_level(level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log.console.formatter.as_str() == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// EMQX log levels onto tracing's.
fn tracing_level(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "info" | "notice" => "info",
        "warning" => "warn",
        "error" | "critical" | "alert" | "emergency" => "error",
        "all" => "trace",
        _ => "warn",
    }
}

async fn run(cfg: linkmq_config::Config) -> anyhow::Result<()> {
    let node = linkmq::Node::start(&cfg).await?;
    for (name, addr) in &node.listeners {
        tracing::warn!(listener = %name, %addr, node = %cfg.node.name, "linkmq listening");
        eprintln!(
            "linkmq {} listening on {addr} ({name})",
            env!("CARGO_PKG_VERSION")
        );
    }
    shutdown_signal().await;
    tracing::warn!("shutting down");
    node.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
