//! `cargo xtask ...`: project chores. `cargo xtask ci` runs the cargo steps of `.ci/run` (format
//! check, clippy, tests) without installing anything; `cargo xtask bench` compares linkmq with
//! Mosquitto on the standard load scenarios.

mod bench;

use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "linkmq project chores")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// `cargo fmt --all --check`, `cargo clippy --workspace --all-targets -- -D warnings`,
    /// `cargo test --workspace`.
    Ci,
    /// Standard load scenarios against linkmq and Mosquitto, interleaved, medians, ratio table.
    Bench(bench::BenchArgs),
}

/// The cargo invocations of `cargo xtask ci`, in order.
const CI_STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace"],
];

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Task::Ci => {
            for args in CI_STEPS {
                cargo(args)?;
            }
            Ok(())
        }
        Task::Bench(args) => bench::run(args),
    }
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("run {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed: {status}", args.join(" "));
    }
    Ok(())
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}
