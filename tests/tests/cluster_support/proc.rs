//! Cluster nodes as real `linkmq` processes: started from a written `emqx.conf`, killed, restarted
//! on the same ports and data; optionally inside a network namespace (`ip netns exec`), for fault
//! tests that build a multi-host network with namespaces and veth pairs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `linkmq` binary, built once per test process.
pub fn bin() -> PathBuf {
    linkmq_tests::built_linkmq_bin()
}

/// One `linkmq` process of a test cluster.
pub struct ProcNode {
    /// `name@host`.
    pub name: String,
    pub host: String,
    pub mqtt_port: u16,
    pub rpc_port: u16,
    /// HTTP API port (0: off).
    pub api_port: u16,
    pub dir: PathBuf,
    pub cookie: String,
    /// Network namespace to run in (None: this one).
    pub netns: Option<String>,
    pub extra: String,
    pub timers: String,
    child: Option<Child>,
}

impl ProcNode {
    /// A node `short@host` with its files under `root/short`; not started yet.
    pub fn new(short: &str, host: &str, root: &Path, cookie: &str) -> ProcNode {
        let local = host == "127.0.0.1";
        let port = |default: u16| {
            if local {
                linkmq_tests::free_port()
            } else {
                default
            }
        };
        ProcNode {
            name: format!("{short}@{host}"),
            host: host.to_string(),
            mqtt_port: port(1883),
            rpc_port: port(linkmq_cluster::DEFAULT_PORT),
            api_port: 0,
            dir: root.join(short),
            cookie: cookie.to_string(),
            netns: None,
            extra: String::new(),
            timers: super::TIMERS.to_string(),
            child: None,
        }
    }

    /// `name@host:port` (what `cluster join` takes when the port is not the default).
    pub fn seed(&self) -> String {
        format!("{}:{}", self.name, self.rpc_port)
    }

    pub fn mqtt(&self) -> String {
        format!("{}:{}", self.host, self.mqtt_port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("linkmq.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn command(&self, program: &Path) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Writes the configuration and starts the process; returns once MQTT accepts connections.
    pub fn start(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("node dir");
        let conf = self.dir.join("emqx.conf");
        let api = if self.api_port == 0 {
            "0".to_string()
        } else {
            format!("\"{}:{}\"", self.host, self.api_port)
        };
        let text = format!(
            "node {{ name = \"{name}\", cookie = \"{cookie}\", data_dir = \"{data}\" }}\n\
             listeners.tcp.default.bind = \"{host}:{mqtt}\"\n\
             dashboard.listeners.http.bind = {api}\n\
             rpc {{ listen_address = \"{host}\", tcp_server_port = {rpc} }}\n\
             sys_topics {{ sys_msg_interval = disabled, sys_heartbeat_interval = disabled }}\n\
             log.console.level = info\n{extra}\n",
            name = self.name,
            cookie = self.cookie,
            data = self.data_dir().display(),
            host = self.host,
            mqtt = self.mqtt_port,
            rpc = self.rpc_port,
            extra = self.extra,
        );
        std::fs::write(&conf, text).expect("write config");
        let _ = std::fs::remove_file(linkmq_cluster::ctl::socket_path(&self.data_dir()));
        let log_start = self.log().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = self
            .command(&bin())
            .args(["start", "-c"])
            .arg(&conf)
            .env(linkmq_cluster::TIMERS_ENV, &self.timers)
            .env(linkmq_cluster_link::TIMERS_ENV, super::LINK_TIMERS)
            .env("RUST_LOG", "info")
            .env_remove("LINKMQ_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn linkmq");
        self.child = Some(child);
        self.wait_ready(log_start);
    }

    fn wait_ready(&mut self, log_start: usize) {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if self
                .log()
                .get(log_start..)
                .unwrap_or("")
                .contains("linkmq listening")
            {
                // The control socket follows the listeners within a moment.
                let sock = linkmq_cluster::ctl::socket_path(&self.data_dir());
                if sock.exists() {
                    return;
                }
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not start:\n{}", self.name, self.log());
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Killed and started again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// `linkmq ctl cluster <args>` against this node (in its namespace); (success, stdout).
    pub fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = self
            .command(&bin())
            .args(["ctl", "--data-dir"])
            .arg(self.data_dir())
            .arg("cluster")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run linkmq ctl");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// `linkmq ctl cluster status --json`.
    pub fn status(&self) -> serde_json::Value {
        let (ok, out) = self.ctl(&["status", "--json"]);
        assert!(ok, "status on {}: {out}", self.name);
        serde_json::from_str(out.lines().next().unwrap_or("")).expect("status JSON")
    }

    /// `ctl cluster status` and the last lines of the log, for a failure message.
    pub fn describe(&self) -> String {
        const TAIL: usize = 60;
        let (_, status) = if self.is_running() {
            self.ctl(&["status"])
        } else {
            (false, "(not running)\n".to_string())
        };
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL)..].join("\n");
        format!(
            "==== {} status:\n{status}==== {} log (last {TAIL} lines):\n{tail}\n",
            self.name, self.name
        )
    }

    /// Running members as `linkmq ctl cluster status` reports them.
    pub fn running(&self) -> Vec<String> {
        let v = self.status();
        v["status"]["running_nodes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for ProcNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` (blocking) until it holds; panics with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, f: impl FnMut() -> bool) {
    wait_until_or_show(what, within, f, String::new)
}

/// [`wait_until`] over processes: on timeout the panic shows every node's
/// `ctl cluster status` and the end of its log, so a failure in CI can be read.
pub fn wait_nodes(nodes: &[ProcNode], what: &str, within: Duration, f: impl FnMut() -> bool) {
    wait_until_or_show(what, within, f, || {
        nodes.iter().map(ProcNode::describe).collect()
    })
}

fn wait_until_or_show(
    what: &str,
    within: Duration,
    mut f: impl FnMut() -> bool,
    show: impl FnOnce() -> String,
) {
    let start = Instant::now();
    let until = start + within;
    while !f() {
        if Instant::now() >= until {
            panic!("not within {within:?}: {what}\n{}", show());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if start.elapsed() > Duration::from_secs(3) {
        eprintln!("waited {:?} until {what}", start.elapsed());
    }
}
