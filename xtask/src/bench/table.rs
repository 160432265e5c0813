//! The summaries of the runs turned into one table: medians per scenario and broker, the
//! linkmq / Mosquitto ratio, and the block of benches/RESULTS.md that `--save` rewrites.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::bail;
use serde_json::Value;

use super::brokers::Broker;
use super::cluster::Topology;
use crate::workspace_root;

fn get(v: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_f64()
}

pub fn brief(v: &Value) -> String {
    let mut s = String::new();
    if let Some(r) = get(v, "delivered_rate") {
        let _ = write!(s, "{r:.0} msg/s ");
    }
    if let Some(p) = get(v, "latency_us.p99").filter(|_| get(v, "latency_us.count") > Some(0.0)) {
        let _ = write!(s, "p99 {p}µs ");
    }
    if let Some(c) = get(v, "broker_cpu_us_per_msg") {
        let _ = write!(s, "cpu {c}µs/msg ");
    }
    if let Some(r) = get(v, "connections.rate") {
        let _ = write!(s, "{r:.0} conn/s ");
    }
    if let Some(b) = get(v, "connections.rss_per_conn_bytes") {
        let _ = write!(s, "{:.2} KiB/conn ", b / 1024.0);
    }
    if let Some(l) = get(v, "lost").filter(|l| *l > 0.0) {
        let _ = write!(s, "LOST {l} ");
    }
    s
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// A table row: label, the medians of linkmq, Mosquitto and the bare relay, decimals.
type Row = (String, Option<f64>, Option<f64>, Option<f64>, usize);

/// (label, JSON path, scale, decimals, higher is better)
type Figure = (&'static str, &'static str, f64, usize, bool);

const DELIVERED: Figure = ("delivered msg/s", "delivered_rate", 1.0, 0, true);
const P50: Figure = ("latency p50 µs", "latency_us.p50", 1.0, 0, false);
const P99: Figure = ("latency p99 µs", "latency_us.p99", 1.0, 0, false);
const CPU_PER_MSG: Figure = ("broker CPU µs/msg", "broker_cpu_us_per_msg", 1.0, 2, false);
const KERNEL_PER_MSG: Figure = (
    "of it in the kernel µs/msg",
    "broker_cpu_system_us_per_msg",
    1.0,
    2,
    false,
);
const PEAK_RSS: Figure = (
    "peak RSS MiB",
    "broker_peak_rss_kib",
    1.0 / 1024.0,
    1,
    false,
);

const THROUGHPUT: &[Figure] = &[DELIVERED, P50, P99, CPU_PER_MSG, KERNEL_PER_MSG, PEAK_RSS];
const LATENCY: &[Figure] = &[P50, P99, CPU_PER_MSG, KERNEL_PER_MSG, PEAK_RSS];
const IDLE: &[Figure] = &[
    ("connections/s", "connections.rate", 1.0, 0, true),
    (
        "RSS per idle conn KiB",
        "connections.rss_per_conn_bytes",
        1.0 / 1024.0,
        2,
        false,
    ),
    (
        "broker CPU µs/conn",
        "connections.broker_cpu_us_per_conn",
        1.0,
        1,
        false,
    ),
    (
        "handshake p50 µs",
        "connections.latency_us.p50",
        1.0,
        0,
        false,
    ),
    (
        "handshake p99 µs",
        "connections.latency_us.p99",
        1.0,
        0,
        false,
    ),
    (
        "generator CPU µs/conn",
        "connections.generator_cpu_us_per_conn",
        1.0,
        1,
        false,
    ),
    PEAK_RSS,
];

/// Two brokers (cluster nodes, linked clusters, bridged Mosquittos): CPU and memory of both together.
const PAIR: &[Figure] = &[
    DELIVERED,
    P50,
    P99,
    ("CPU of both brokers µs/msg", CPU_PER_MSG.1, 1.0, 2, false),
    KERNEL_PER_MSG,
    ("peak RSS of both MiB", PEAK_RSS.1, PEAK_RSS.2, 1, false),
];

fn figures(scenario: &str) -> &'static [Figure] {
    if Topology::of(scenario).is_pair() {
        PAIR
    } else if super::is_open_loop_latency(scenario) {
        LATENCY
    } else if scenario.starts_with("idle") {
        IDLE
    } else {
        THROUGHPUT
    }
}

pub fn render_table(
    scenarios: &[(String, String)],
    results: &BTreeMap<(String, Broker), Vec<Value>>,
    reps: usize,
    latency_reps: usize,
    with_mosquitto: bool,
) -> String {
    let mut t = String::new();
    let runs = |n: usize| format!("{n} run{}", if n == 1 { "" } else { "s" });
    let latency = if latency_reps != reps
        && scenarios
            .iter()
            .any(|(n, _)| super::is_open_loop_latency(n))
    {
        format!(
            " ({} for the open-loop `latency-*` scenarios)",
            runs(latency_reps)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "Medians of {} per broker{latency}; ratio = linkmq / Mosquitto (above 1 is better for \
         msg/s and connections/s, below 1 for the rest).\n",
        runs(reps)
    );
    let with_relay = results.keys().any(|(_, b)| *b == Broker::Relay);
    if with_relay {
        let _ = writeln!(
            t,
            "| scenario | figure | linkmq | mosquitto | ratio | bare relay |\n|---|---|---:|---:|---:|---:|"
        );
    } else {
        let _ = writeln!(t, "| scenario | figure | linkmq | mosquitto | ratio |");
        let _ = writeln!(t, "|---|---|---:|---:|---:|");
    }
    let empty = Vec::new();
    for (name, desc) in scenarios {
        let l = results
            .get(&(name.clone(), Broker::Linkmq))
            .unwrap_or(&empty);
        let m = results
            .get(&(name.clone(), Broker::Mosquitto))
            .unwrap_or(&empty);
        let r = results
            .get(&(name.clone(), Broker::Relay))
            .unwrap_or(&empty);
        let mut first = true;
        let mut rows: Vec<Row> = figures(name)
            .iter()
            .map(|(label, path, scale, dec, _)| {
                let med = |runs: &[Value]| {
                    median(runs.iter().filter_map(|r| get(r, path)).collect()).map(|v| v * scale)
                };
                (label.to_string(), med(l), med(m), med(r), *dec)
            })
            .collect();
        let lost = |runs: &[Value]| {
            runs.iter()
                .filter_map(|r| get(r, "lost"))
                .fold(None, |acc: Option<f64>, x| Some(acc.unwrap_or(0.0).max(x)))
        };
        if lost(l).is_some() || lost(m).is_some() {
            rows.push(("lost (max of runs)".into(), lost(l), lost(m), lost(r), 0));
        }
        for (label, lv, mv, rv, dec) in rows {
            let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| group(v, dec));
            let ratio = match (lv, mv) {
                (Some(a), Some(b)) if b != 0.0 && with_mosquitto && !label.starts_with("lost") => {
                    format!("{:.2}", a / b)
                }
                _ => "–".into(),
            };
            let scen = if first {
                format!("**{name}** ({desc})")
            } else {
                String::new()
            };
            first = false;
            let relay = if with_relay {
                format!(" {} |", cell(rv))
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "| {scen} | {label} | {} | {} | {ratio} |{relay}",
                cell(lv),
                cell(mv)
            );
        }
    }
    // The generator's CPU share, per kind of scenario: closed-loop throughput runs batch their
    // writes; open-loop runs pay one wake-up and one system call per message on each side.
    let mut lead = "\n";
    for (kind, open_loop) in [
        ("closed-loop throughput", false),
        ("open-loop latency", true),
    ] {
        let shares: Vec<f64> = results
            .iter()
            // Of the brokers: the bare relay costs so little that any generator is many times it.
            .filter(|((name, b), _)| {
                name.starts_with("latency") == open_loop && *b != Broker::Relay
            })
            .flat_map(|(_, runs)| runs)
            .filter_map(|r| get(r, "generator_cpu_share"))
            .collect();
        if let Some(max) = shares.iter().copied().reduce(f64::max) {
            let _ = writeln!(
                t,
                "{}- generator CPU / broker CPU over the measured phases, {kind} scenarios: \
                 median {:.2}, max {max:.2}",
                std::mem::take(&mut lead),
                median(shares.clone()).unwrap_or(0.0)
            );
        }
    }
    t
}

/// `1234567.8` → `1,234,568` (with `dec` decimals).
fn group(v: f64, dec: usize) -> String {
    let s = format!("{v:.dec$}");
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// Replaces the part of benches/RESULTS.md between the bench markers with a header and the table.
pub fn save_results(root: &Path, table: &str, quick: bool, reps: usize) -> anyhow::Result<()> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let path = root.join("benches/RESULTS.md");
    let old = fs::read_to_string(&path)
        .unwrap_or_else(|_| format!("# Benchmark results\n\n{BEGIN}\n{END}\n"));
    let (Some(b), Some(e)) = (old.find(BEGIN), old.find(END)) else {
        bail!("{} lacks the {BEGIN} / {END} markers", path.display());
    };
    let mut block = String::new();
    let _ = writeln!(block, "{BEGIN}");
    let _ = writeln!(block, "- date: {}", shell("date -u '+%Y-%m-%d %H:%M UTC'"));
    let _ = writeln!(block, "- commit: {}", shell("git rev-parse --short HEAD"));
    let _ = writeln!(
        block,
        "- machine: {}, {} cores, {}, kernel {}",
        shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'"),
        shell("nproc"),
        shell("free -g | awk '/Mem:/ {print $2 \" GiB RAM\"}'"),
        shell("uname -r"),
    );
    let _ = writeln!(
        block,
        "- brokers: linkmq (release build), {}",
        shell("/usr/sbin/mosquitto -h 2>/dev/null | head -1")
    );
    let _ = writeln!(
        block,
        "- command: `cargo xtask bench{}` ({reps} repetition{})\n",
        if quick { " --quick" } else { "" },
        if reps == 1 { "" } else { "s" }
    );
    block.push_str(table);
    block.push_str(END);
    let new = format!("{}{}{}", &old[..b], block, &old[e + END.len()..]);
    fs::write(&path, new)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn shell(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .current_dir(workspace_root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(1234567.8, 0), "1,234,568");
        assert_eq!(group(999.0, 0), "999");
        assert_eq!(group(1000.25, 2), "1,000.25");
        assert_eq!(group(-12345.0, 0), "-12,345");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
