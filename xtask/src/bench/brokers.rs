//! The brokers under test: Mosquitto found or installed, each broker started from a minimal
//! configuration written into the work directory, waited for, and stopped.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{MAX_INFLIGHT, MAX_QUEUED};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Broker {
    Linkmq,
    Mosquitto,
}

impl Broker {
    pub fn name(self) -> &'static str {
        match self {
            Broker::Linkmq => "linkmq",
            Broker::Mosquitto => "mosquitto",
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

pub fn log_file(work: &Path, tag: &str) -> anyhow::Result<(fs::File, fs::File)> {
    let f = fs::File::create(work.join(format!("{tag}.log")))?;
    Ok((f.try_clone()?, f))
}

pub fn start_linkmq(bin: &Path, work: &Path, tag: &str, port: u16) -> anyhow::Result<Child> {
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

pub fn start_mosquitto(bin: &Path, work: &Path, tag: &str, port: u16) -> anyhow::Result<Child> {
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

pub fn stop(child: &mut Child) {
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
