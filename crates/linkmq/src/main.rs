//! `linkmq`: the broker binary. `linkmq start [-c etc/emqx.conf]`, `linkmq check-config [-c ...]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use linkmq_cluster::ctl::CtlRequest;
use tracing_subscriber::EnvFilter;

mod process;

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
    /// Operate a running node through its control socket (`<node.data_dir>/ctl.sock`).
    Ctl {
        /// The node's configuration (for `node.data_dir`).
        #[arg(short = 'c', long = "config", env = "LINKMQ_CONFIG")]
        config: Option<PathBuf>,
        /// The node's data directory (instead of reading it from the configuration).
        #[arg(long = "data-dir")]
        data_dir: Option<PathBuf>,
        #[command(subcommand)]
        command: CtlCommand,
    },
}

#[derive(Subcommand, Debug)]
enum CtlCommand {
    /// Cluster membership: join, leave, force-leave, status.
    Cluster {
        #[command(subcommand)]
        op: ClusterOp,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterOp {
    /// Join the cluster of NODE (`name@host` or `name@host:port`); this node's cluster state is discarded.
    Join { node: String },
    /// Leave the cluster; this node goes on alone.
    Leave,
    /// Remove NODE (possibly down) from the cluster.
    ForceLeave { node: String },
    /// Show the members and whether they run.
    Status {
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
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
        Command::Ctl {
            config,
            data_dir,
            command: CtlCommand::Cluster { op },
        } => {
            let data_dir = match data_dir {
                Some(d) => d,
                None => load(config.as_deref())?.node.data_dir,
            };
            let (req, json) = match op {
                ClusterOp::Join { node } => (CtlRequest::Join { node }, false),
                ClusterOp::Leave => (CtlRequest::Leave, false),
                ClusterOp::ForceLeave { node } => (CtlRequest::ForceLeave { node }, false),
                ClusterOp::Status { json } => (CtlRequest::Status, json),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            let answer = rt
                .block_on(linkmq_cluster::ctl::call(&data_dir, &req))
                .map_err(|e| anyhow::anyhow!(e))?;
            if json {
                println!("{answer}");
            } else {
                if !matches!(req, CtlRequest::Status) {
                    println!("{}", answer["message"].as_str().unwrap_or(""));
                }
                print!("{}", linkmq_cluster::ctl::render_status(&answer));
            }
            if answer["ok"].as_bool() == Some(true) {
                Ok(())
            } else {
                anyhow::bail!("{}", answer["message"].as_str().unwrap_or("failed"))
            }
        }
        Command::Start { config } => {
            process::tune_malloc();
            // Before the runtime's threads exist (see `process::FdTable`).
            let fds = process::FdTable::prepare();
            let cfg = load(config.as_deref())?;
            init_logging(&cfg);
            fds.log();
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
    wait_for_stop(&node, cfg.source.as_deref()).await;
    tracing::warn!("shutting down");
    node.shutdown().await;
    Ok(())
}

/// Runs until SIGINT/SIGTERM; on SIGHUP re-reads the configuration file (and `EMQX_*` variables)
/// and applies what can change hot (`cluster.links`). A bad file is logged and changes nothing.
async fn wait_for_stop(node: &linkmq::Node, path: Option<&std::path::Path>) {
    #[cfg(unix)]
    {
        let stop = shutdown_signal();
        tokio::pin!(stop);
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(_) => return stop.await,
        };
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = hup.recv() => match linkmq_config::load(path) {
                    Ok(cfg) => match node.reload(&cfg).await {
                        Ok(()) => tracing::warn!("configuration reloaded"),
                        Err(e) => tracing::error!(error = %e, "configuration reload refused"),
                    },
                    Err(e) => tracing::error!(error = %e, "configuration reload failed; nothing changed"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (node, path);
        shutdown_signal().await
    }
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
