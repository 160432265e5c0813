//! The brokers under test: Mosquitto found or installed, each broker process started from a
//! minimal configuration written into the work directory, waited for, and stopped. A
//! [`Deployment`] is the set of processes of one run (one broker, or two joined ones).

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{MAX_INFLIGHT, MAX_QUEUED};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Broker {
    Linkmq,
    Mosquitto,
    /// `linkmq-bench relay`: not a broker, the floor both are read against.
    Relay,
}

impl Broker {
    pub fn name(self) -> &'static str {
        match self {
            Broker::Linkmq => "linkmq",
            Broker::Mosquitto => "mosquitto",
            Broker::Relay => "relay",
        }
    }
}

/// The Mosquitto broker binary, installed from the Debian package if missing.
pub fn ensure_mosquitto() -> anyhow::Result<PathBuf> {
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

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A free loopback port below the ephemeral range (32768–60999 by default), so that no outgoing
/// connection of a broker already started (a cluster peer, a bridge) can take it before its own
/// broker binds it. Distinct within this process.
pub fn quiet_port() -> anyhow::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 20_000 + (std::process::id() % 1_000) * 12;
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (20_000 + (base - 20_000 + n) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in 20000-31999")
}

pub fn log_file(work: &Path, tag: &str) -> anyhow::Result<(fs::File, fs::File)> {
    let f = fs::File::create(work.join(format!("{tag}.log")))?;
    Ok((f.try_clone()?, f))
}

/// One `linkmq` process of a run.
pub struct LinkmqNode<'a> {
    /// File names in the work directory: `<tag>.conf`, `<tag>.log`, `<tag>.data/`.
    pub tag: &'a str,
    /// `name@host`.
    pub name: &'a str,
    pub port: u16,
    /// More HOCON after the common settings (cluster, rpc, links).
    pub extra: &'a str,
    /// Environment variables for the process.
    pub env: &'a [(&'a str, &'a str)],
}

pub fn start_linkmq(bin: &Path, work: &Path, node: &LinkmqNode) -> anyhow::Result<Child> {
    let LinkmqNode {
        tag,
        name,
        port,
        extra,
        env,
    } = *node;
    let data = work.join(format!("{tag}.data"));
    let _ = fs::remove_dir_all(&data);
    let conf = work.join(format!("{tag}.conf"));
    fs::write(
        &conf,
        format!(
            r#"node {{ name = "{name}", data_dir = "{data}" }}
listeners.tcp.default {{ bind = "127.0.0.1:{port}", max_connections = infinity }}
listeners.ssl.default {{ enable = false }}
listeners.ws.default {{ enable = false }}
listeners.wss.default {{ enable = false }}
dashboard.listeners.http.bind = 0
log.console.level = warning
mqtt {{ max_inflight = {MAX_INFLIGHT}, max_mqueue_len = {MAX_QUEUED} }}
{extra}"#,
            data = data.display()
        ),
    )?;
    let (out, err) = log_file(work, tag)?;
    let mut cmd = Command::new(bin);
    cmd.arg("start")
        .arg("-c")
        .arg(&conf)
        .env_remove("RUST_LOG")
        .env_remove("LINKMQ_CONFIG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .with_context(|| format!("start {}", bin.display()))
}

/// Starts Mosquitto on `port` with the common settings, then `extra` (e.g. a bridge section).
pub fn start_mosquitto(
    bin: &Path,
    work: &Path,
    tag: &str,
    port: u16,
    extra: &str,
) -> anyhow::Result<Child> {
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
             connection_messages false\n\
             {extra}"
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

/// Starts the bare relay (`linkmq-bench relay`) on `port`.
pub fn start_relay(bin: &Path, work: &Path, tag: &str, port: u16) -> anyhow::Result<Child> {
    let (out, err) = log_file(work, tag)?;
    Command::new(bin)
        .args(["relay", "-p"])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("start {} relay", bin.display()))
}

pub fn wait_listening(port: u16, child: &mut Child) -> anyhow::Result<()> {
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

/// The broker processes of one run, and where the generator's clients connect.
pub struct Deployment {
    procs: Vec<Child>,
    /// Where the publishers connect.
    pub pub_port: u16,
    /// Where the subscribers connect (`pub_port` when there is one broker).
    pub sub_port: u16,
}

impl Deployment {
    /// No process yet; [`Deployment::add`] them (a failure part way stops those already started).
    pub fn new(pub_port: u16, sub_port: u16) -> Deployment {
        Deployment {
            procs: Vec::new(),
            pub_port,
            sub_port,
        }
    }

    /// Takes `child` in and waits until it accepts MQTT connections on `port`.
    pub fn add(&mut self, child: Child, port: u16) -> anyhow::Result<()> {
        self.procs.push(child);
        let child = self.procs.last_mut().expect("just pushed");
        wait_listening(port, child)
    }

    /// Process ids of every broker of the run.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Child::id).collect()
    }

    /// Sends SIGTERM to every broker and waits up to 5 s for each to exit (then SIGKILL).
    pub fn stop(&mut self) {
        for child in &self.procs {
            // SAFETY: signalling our own child by its pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for mut child in self.procs.drain(..) {
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.stop();
    }
}
