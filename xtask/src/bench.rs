//! `cargo xtask bench`: the standard `linkmq-bench` scenarios against linkmq and Mosquitto, interleaved
//! in one run, each broker started fresh for every run, medians over the repetitions, one table of
//! linkmq / Mosquitto ratios. Loopback only; every run is bounded in count and in time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{cargo, workspace_root};

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Each scenario once per broker, a tenth of the counts (about 2 minutes).
    #[arg(long)]
    quick: bool,
    /// Repetitions per scenario and broker (default 3, or 1 with --quick).
    #[arg(long)]
    reps: Option<usize>,
    /// Only these scenarios (comma separated; `linkmq-bench scenario --list` names them).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only linkmq (no Mosquitto, no ratios).
    #[arg(long)]
    linkmq_only: bool,
    /// Write the table into benches/RESULTS.md (between its bench markers).
    #[arg(long)]
    save: bool,
    /// Skip `cargo build --release` (use the binaries already built).
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Broker {
    Linkmq,
    Mosquitto,
}

impl Broker {
    fn name(self) -> &'static str {
        match self {
            Broker::Linkmq => "linkmq",
            Broker::Mosquitto => "mosquitto",
        }
    }
}

/// The settings both brokers get alike: outbound window 32, session queue 1000.
const MAX_INFLIGHT: u32 = 32;
const MAX_QUEUED: u32 = 1000;
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
    let nofile = raise_nofile_limit();
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
        .filter(|(n, _)| args.only.is_empty() || args.only.contains(n))
        .collect();
    if scenarios.is_empty() {
        bail!("no scenario selected (known: see `linkmq-bench scenario --list`)");
    }
    let mut brokers = vec![Broker::Linkmq];
    if mosquitto.is_some() {
        brokers.push(Broker::Mosquitto);
    }

    let started = Instant::now();
    let mut results: BTreeMap<(String, Broker), Vec<Value>> = BTreeMap::new();
    for (name, _) in &scenarios {
        for rep in 0..reps {
            // Alternate which broker goes first, so a drift of the machine hits both alike.
            let mut order = brokers.clone();
            if rep % 2 == 1 {
                order.reverse();
            }
            for broker in order {
                let port = free_port()?;
                let tag = format!("{name}-{}-{rep}", broker.name());
                let mut child = match broker {
                    Broker::Linkmq => start_linkmq(&linkmq, &work, &tag, port)?,
                    Broker::Mosquitto => {
                        start_mosquitto(mosquitto.as_deref().expect("checked"), &work, &tag, port)?
                    }
                };
                let outcome = wait_listening(port, &mut child).and_then(|()| {
                    run_generator(&gen_bin, name, args.quick, port, child.id(), &work, &tag)
                });
                stop(&mut child);
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
    let table = render_table(&scenarios, &results, reps, mosquitto.is_some());
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

/// The Mosquitto broker binary, installed from the Debian package if missing.
fn ensure_mosquitto() -> anyhow::Result<PathBuf> {
    let find = || {
        [
            "/usr/sbin/mosquitto",
            "/usr/bin/mosquitto",
            "/usr/local/sbin/mosquitto",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    eprintln!("==> mosquitto not found: apt-get install mosquitto");
    let ok = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "-qq", "mosquitto"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    match find() {
        Some(p) if ok => Ok(p),
        _ => bail!(
            "mosquitto is not installed and `apt-get install mosquitto` failed; install it, or pass --linkmq-only"
        ),
    }
}

/// Raises the soft open-files limit to the hard one (and the hard one to 65,536 when allowed);
/// brokers and the generator inherit it. Returns the soft limit now in force.
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_max < 65_536 {
            let want = libc::rlimit {
                rlim_cur: 65_536,
                rlim_max: 65_536,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return 65_536;
            }
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn log_file(work: &Path, tag: &str) -> anyhow::Result<(fs::File, fs::File)> {
    let f = fs::File::create(work.join(format!("{tag}.log")))?;
    Ok((f.try_clone()?, f))
}

fn start_linkmq(bin: &Path, work: &Path, tag: &str, port: u16) -> anyhow::Result<Child> {
    let data = work.join(format!("{tag}.data"));
    let _ = fs::remove_dir_all(&data);
    let conf = work.join(format!("{tag}.conf"));
    fs::write(
        &conf,
        format!(
            r#"node {{ name = "bench@127.0.0.1", data_dir = "{data}" }}
listeners.tcp.default {{ bind = "127.0.0.1:{port}", max_connections = infinity }}
listeners.ssl.default {{ enable = false }}
listeners.ws.default {{ enable = false }}
listeners.wss.default {{ enable = false }}
dashboard.listeners.http.bind = 0
log.console.level = warning
mqtt {{ max_inflight = {MAX_INFLIGHT}, max_mqueue_len = {MAX_QUEUED} }}
"#,
            data = data.display()
        ),
    )?;
    let (out, err) = log_file(work, tag)?;
    Command::new(bin)
        .arg("start")
        .arg("-c")
        .arg(&conf)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("start {}", bin.display()))
}

fn start_mosquitto(bin: &Path, work: &Path, tag: &str, port: u16) -> anyhow::Result<Child> {
    let conf = work.join(format!("{tag}.conf"));
    fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence false\n\
             max_inflight_messages {MAX_INFLIGHT}\n\
             max_queued_messages {MAX_QUEUED}\n\
             set_tcp_nodelay true\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             connection_messages false\n"
        ),
    )?;
    let (out, err) = log_file(work, tag)?;
    Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("start {}", bin.display()))
}

fn wait_listening(port: u16, child: &mut Child) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("broker exited at start: {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            // Let the probe's connection go before measuring memory.
            std::thread::sleep(Duration::from_millis(200));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("broker not listening on {addr} after 10 s")
}

fn stop(child: &mut Child) {
    // SAFETY: signalling our own child by its pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn run_generator(
    bin: &Path,
    scenario: &str,
    quick: bool,
    port: u16,
    pid: u32,
    work: &Path,
    tag: &str,
) -> anyhow::Result<Value> {
    let json = work.join(format!("{tag}.json"));
    let _ = fs::remove_file(&json);
    let mut cmd = Command::new(bin);
    cmd.args(["scenario", scenario, "-p"])
        .arg(port.to_string())
        .arg("--broker-pid")
        .arg(pid.to_string())
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null());
    if quick {
        cmd.arg("--quick");
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

fn get(v: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn brief(v: &Value) -> String {
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

/// (label, JSON path, scale, decimals, higher is better)
type Figure = (&'static str, &'static str, f64, usize, bool);

const THROUGHPUT: &[Figure] = &[
    ("delivered msg/s", "delivered_rate", 1.0, 0, true),
    ("latency p50 µs", "latency_us.p50", 1.0, 0, false),
    ("latency p99 µs", "latency_us.p99", 1.0, 0, false),
    ("broker CPU µs/msg", "broker_cpu_us_per_msg", 1.0, 2, false),
    (
        "peak RSS MiB",
        "broker_peak_rss_kib",
        1.0 / 1024.0,
        1,
        false,
    ),
];
const LATENCY: &[Figure] = &[
    ("latency p50 µs", "latency_us.p50", 1.0, 0, false),
    ("latency p99 µs", "latency_us.p99", 1.0, 0, false),
    ("broker CPU µs/msg", "broker_cpu_us_per_msg", 1.0, 2, false),
    (
        "peak RSS MiB",
        "broker_peak_rss_kib",
        1.0 / 1024.0,
        1,
        false,
    ),
];
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
        "peak RSS MiB",
        "broker_peak_rss_kib",
        1.0 / 1024.0,
        1,
        false,
    ),
];

fn figures(scenario: &str) -> &'static [Figure] {
    if scenario.starts_with("latency") {
        LATENCY
    } else if scenario.starts_with("idle") {
        IDLE
    } else {
        THROUGHPUT
    }
}

fn render_table(
    scenarios: &[(String, String)],
    results: &BTreeMap<(String, Broker), Vec<Value>>,
    reps: usize,
    with_mosquitto: bool,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Medians of {reps} run{} per broker; ratio = linkmq / Mosquitto (above 1 is better for \
         msg/s and connections/s, below 1 for the rest).\n",
        if reps == 1 { "" } else { "s" }
    );
    let _ = writeln!(t, "| scenario | figure | linkmq | mosquitto | ratio |");
    let _ = writeln!(t, "|---|---|---:|---:|---:|");
    let empty = Vec::new();
    for (name, desc) in scenarios {
        let l = results
            .get(&(name.clone(), Broker::Linkmq))
            .unwrap_or(&empty);
        let m = results
            .get(&(name.clone(), Broker::Mosquitto))
            .unwrap_or(&empty);
        let mut first = true;
        let mut rows: Vec<(String, Option<f64>, Option<f64>, usize)> = figures(name)
            .iter()
            .map(|(label, path, scale, dec, _)| {
                let med = |runs: &[Value]| {
                    median(runs.iter().filter_map(|r| get(r, path)).collect()).map(|v| v * scale)
                };
                (label.to_string(), med(l), med(m), *dec)
            })
            .collect();
        let lost = |runs: &[Value]| {
            runs.iter()
                .filter_map(|r| get(r, "lost"))
                .fold(None, |acc: Option<f64>, x| Some(acc.unwrap_or(0.0).max(x)))
        };
        if lost(l).is_some() || lost(m).is_some() {
            rows.push(("lost (max of runs)".into(), lost(l), lost(m), 0));
        }
        for (label, lv, mv, dec) in rows {
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
            let _ = writeln!(
                t,
                "| {scen} | {label} | {} | {} | {ratio} |",
                cell(lv),
                cell(mv)
            );
        }
    }
    let gen_share: Vec<f64> = results
        .values()
        .flatten()
        .filter_map(|r| get(r, "generator_cpu_share"))
        .collect();
    if let Some(max) = gen_share.iter().copied().reduce(f64::max) {
        let _ = writeln!(
            t,
            "\nGenerator CPU / broker CPU over the measured phases: median {:.2}, max {max:.2}.",
            median(gen_share.clone()).unwrap_or(0.0)
        );
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
fn save_results(root: &Path, table: &str, quick: bool, reps: usize) -> anyhow::Result<()> {
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
