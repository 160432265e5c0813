//! `cargo xtask bench`: the standard `linkmq-bench` scenarios against linkmq and Mosquitto, interleaved
//! in one run, each broker started fresh for every run, medians over the repetitions, one table of
//! linkmq / Mosquitto ratios. Loopback only; every run is bounded in count and in time.

mod brokers;
mod cluster;
mod table;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{cargo, workspace_root};
use brokers::{Broker, Deployment, ensure_mosquitto};
use cluster::{Bins, Topology, deploy};
use table::{brief, render_table, save_results};

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Each scenario once per broker, a tenth of the counts (about 2 minutes).
    #[arg(long)]
    quick: bool,
    /// Repetitions per scenario and broker (default 3, or 1 with --quick); the open-loop
    /// latency scenarios run twice as many (see [`LATENCY_REPS_FACTOR`]).
    #[arg(long)]
    reps: Option<usize>,
    /// Only these scenarios (comma separated; `linkmq-bench scenario --list` names them). A name
    /// also selects the scenarios it is the prefix of: `cluster-2node` runs `cluster-2node-qos0`
    /// and `cluster-2node-qos1`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only linkmq (no Mosquitto, no ratios, no relay).
    #[arg(long)]
    linkmq_only: bool,
    /// Leave out the bare relay (`linkmq-bench relay`, the floor column).
    #[arg(long)]
    no_relay: bool,
    /// Write the table into benches/RESULTS.md (between its bench markers).
    #[arg(long)]
    save: bool,
    /// Skip `cargo build --release` (use the binaries already built).
    #[arg(long)]
    no_build: bool,
}

/// The settings both brokers get alike: outbound window 32, session queue 1000.
const MAX_INFLIGHT: u32 = 32;
const MAX_QUEUED: u32 = 1000;
/// The open-loop `latency-*` scenarios run this many times the repetitions (except with `--quick`).
/// Their p99 rests on the slowest 1 % of one run's 10,000 (at 1,000 msg/s) messages, about 100
/// samples, and moves by ±30 % between runs for both brokers; a median over 3 such runs
/// flipped the 1,000 msg/s ratio either side of 1 from one table to the next. Each run is 5-10 s.
pub const LATENCY_REPS_FACTOR: usize = 2;
/// How long one generator run may take before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let root = workspace_root();
    let reps = args.reps.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let mosquitto = if args.linkmq_only {
        None
    } else {
        Some(ensure_mosquitto()?)
    };
    if !args.no_build {
        cargo(&["build", "--release", "-p", "linkmq", "-p", "linkmq-bench"])?;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let linkmq = target.join("release/linkmq");
    let gen_bin = target.join("release/linkmq-bench");
    // Brokers and the generator inherit the limit (the hard one raised to 65,536 when allowed).
    let nofile = linkmq_fdlimit::raise_nofile_limit(Some(65_536)).now;
    if nofile < 10_500 {
        eprintln!(
            "warning: open-files limit is {nofile}; the 10,000-connection scenario needs about 10,500 \
             per process (raise it with `ulimit -n 65536` as root)"
        );
    }
    let work = target.join("bench");
    fs::create_dir_all(&work)?;

    let listed = Command::new(&gen_bin)
        .args(["scenario", "--list"])
        .output()
        .context("linkmq-bench scenario --list")?;
    let scenarios: Vec<(String, String)> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .filter(|(n, _)| args.only.is_empty() || args.only.iter().any(|o| selects(o, n)))
        .collect();
    if scenarios.is_empty() {
        bail!("no scenario selected (known: see `linkmq-bench scenario --list`)");
    }
    let mut brokers = vec![Broker::Linkmq];
    if mosquitto.is_some() {
        brokers.push(Broker::Mosquitto);
    }

    let with_relay = !args.linkmq_only && !args.no_relay;
    let bins = Bins {
        linkmq: &linkmq,
        mosquitto: mosquitto.as_deref(),
        relay: &gen_bin,
    };
    let started = Instant::now();
    let mut results: BTreeMap<(String, Broker), Vec<Value>> = BTreeMap::new();
    for (name, _) in &scenarios {
        for rep in 0..runs_of(name, reps, args.quick) {
            // Alternate which broker goes first, so a drift of the machine hits both alike.
            let mut order = brokers.clone();
            if with_relay && relay_serves(name) {
                order.push(Broker::Relay);
            }
            if rep % 2 == 1 {
                order.reverse();
            }
            for broker in order {
                let tag = format!("{name}-{}-{rep}", broker.name());
                let outcome = deploy(broker, Topology::of(name), &bins, &work, &tag).and_then(
                    |mut brokers| {
                        let r = run_generator(&gen_bin, name, args.quick, &brokers, &work, &tag);
                        brokers.stop();
                        r
                    },
                );
                let summary =
                    outcome.with_context(|| format!("{tag} (logs in {})", work.display()))?;
                eprintln!(
                    "  {:<18} {:<9} rep {} {}",
                    name,
                    broker.name(),
                    rep + 1,
                    brief(&summary)
                );
                results
                    .entry((name.clone(), broker))
                    .or_default()
                    .push(summary);
            }
        }
    }
    let elapsed = started.elapsed();
    let latency_reps = latency_runs(reps, args.quick);
    let table = render_table(
        &scenarios,
        &results,
        reps,
        latency_reps,
        mosquitto.is_some(),
    );
    println!("\n{table}");
    eprintln!("bench finished in {:.0}s", elapsed.as_secs_f64());
    let raw: Vec<Value> = results
        .iter()
        .flat_map(|((n, b), runs)| {
            runs.iter().map(move |r| {
                let mut r = r.clone();
                r["scenario"] = n.as_str().into();
                r["broker"] = b.name().into();
                r
            })
        })
        .collect();
    fs::write(
        work.join("results.json"),
        serde_json::to_string_pretty(&raw)?,
    )?;
    fs::write(work.join("results.md"), &table)?;
    if args.save {
        save_results(&root, &table, args.quick, reps)?;
    }
    Ok(())
}

/// How many runs per broker scenario `name` gets when the others get `reps`.
fn runs_of(name: &str, reps: usize, quick: bool) -> usize {
    if is_open_loop_latency(name) {
        latency_runs(reps, quick)
    } else {
        reps
    }
}

/// How many runs per broker the open-loop latency scenarios get when the others get `reps`.
fn latency_runs(reps: usize, quick: bool) -> usize {
    if quick {
        reps
    } else {
        reps * LATENCY_REPS_FACTOR
    }
}

/// The scenarios the bare relay can stand in for a broker: every PUBLISH to every subscriber is
/// what they ask (not `$share`, not two brokers, not 10,000 idle connections).
pub fn relay_serves(name: &str) -> bool {
    ["qos0", "qos1", "fanout", "fanin", "latency", "payload"]
        .iter()
        .any(|f| selects(f, name))
}

/// The open-loop latency scenarios (`latency-qos0-1k` ...).
pub fn is_open_loop_latency(name: &str) -> bool {
    selects("latency", name)
}

/// `--only` name `only` selects scenario `name`: the same, or a prefix of it up to a `-`.
fn selects(only: &str, name: &str) -> bool {
    name.strip_prefix(only)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

fn run_generator(
    bin: &Path,
    scenario: &str,
    quick: bool,
    brokers: &Deployment,
    work: &Path,
    tag: &str,
) -> anyhow::Result<Value> {
    let json = work.join(format!("{tag}.json"));
    let _ = fs::remove_file(&json);
    let mut cmd = Command::new(bin);
    let pids: Vec<String> = brokers.pids().iter().map(u32::to_string).collect();
    cmd.args(["scenario", scenario, "-p"])
        .arg(brokers.pub_port.to_string())
        .arg("--broker-pid")
        .arg(pids.join(","))
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null());
    if quick {
        cmd.arg("--quick");
    }
    if brokers.sub_port != brokers.pub_port {
        cmd.arg("--sub-port").arg(brokers.sub_port.to_string());
    }
    let mut child = cmd.spawn().context("start linkmq-bench")?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("linkmq-bench {scenario} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !status.success() {
        bail!("linkmq-bench {scenario} failed: {status}");
    }
    let text = fs::read_to_string(&json).with_context(|| format!("read {}", json.display()))?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::{relay_serves, runs_of, selects};

    #[test]
    fn only_selects_a_name_or_its_family() {
        assert!(selects("qos0", "qos0"));
        assert!(selects("cluster-2node", "cluster-2node-qos1"));
        assert!(selects("latency", "latency-qos0-1k"));
        assert!(!selects("qos", "qos0"));
        assert!(!selects("cluster-2node-qos1", "cluster-2node"));
    }

    #[test]
    fn the_relay_stands_in_only_where_every_publish_goes_to_every_subscriber() {
        for n in [
            "qos0",
            "qos1",
            "fanout",
            "fanin",
            "latency-qos1-1k",
            "payload-64k",
        ] {
            assert!(relay_serves(n), "{n}");
        }
        for n in [
            "shared",
            "idle10k",
            "cluster-2node-qos0",
            "linked-clusters-qos1",
        ] {
            assert!(!relay_serves(n), "{n}");
        }
    }

    #[test]
    fn open_loop_latency_scenarios_run_twice_as_often() {
        assert_eq!(runs_of("latency-qos1-1k", 3, false), 6);
        assert_eq!(runs_of("latency-qos1-1k", 1, true), 1);
        assert_eq!(runs_of("qos1", 3, false), 3);
        assert_eq!(runs_of("latencyish", 3, false), 3);
    }
}
