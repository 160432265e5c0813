//! Shared by the `link_*` tests: single-node clusters as real `linkmq` processes on loopback, with
//! short Cluster Linking timers, logs kept in a file, and kill/restart on the same port and data dir.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linkmq_client::{Client, ConnectOptions, Event, QoS, ReasonCode};
use linkmq_tests::TestDir;

/// Short protocol timers for tests (see `linkmq_cluster_link::TIMERS_ENV`).
pub const TIMERS: &str = "heartbeat=500ms,actor_ttl=3s,gc=500ms,reconnect=300ms,handshake=2s";

/// The `linkmq` binary, built once per test process.
pub fn bin() -> PathBuf {
    linkmq_tests::built_linkmq_bin()
}

pub use linkmq_tests::free_port as port;

/// One link entry of `cluster.links`.
pub fn link(name: &str, port: u16, topics: &[&str]) -> String {
    link_with(name, port, topics, "")
}

/// A link entry with extra fields (HOCON, e.g. `enable = false`).
pub fn link_with(name: &str, port: u16, topics: &[&str], extra: &str) -> String {
    let topics: Vec<String> = topics.iter().map(|t| format!("{t:?}")).collect();
    format!(
        "{{ name = \"{name}\", server = \"127.0.0.1:{port}\", topics = [{}], pool_size = 2, {extra} }}",
        topics.join(", ")
    )
}

/// A single-node cluster: one `linkmq` process named `<name>@127.0.0.1`, `cluster.name = <name>`.
pub struct Cluster {
    pub name: String,
    pub port: u16,
    /// HTTP API port (0: no API).
    pub api_port: u16,
    /// Configuration, data and log; removed on drop (the log is printed first if the test panics).
    pub dir: TestDir,
    child: Option<Child>,
    links: String,
    extra: String,
    timers: String,
    token: std::sync::Mutex<Option<String>>,
}

impl Cluster {
    /// Reserves a port and a directory; call [`Cluster::launch`] with the links.
    pub fn new(name: &str) -> Cluster {
        let port = port();
        let dir = TestDir::new(&format!("linkmq-link-{name}"));
        Cluster {
            name: name.to_string(),
            port,
            api_port: 0,
            dir,
            child: None,
            links: String::new(),
            extra: String::new(),
            timers: TIMERS.to_string(),
            token: std::sync::Mutex::new(None),
        }
    }

    /// Serve the HTTP API on a free port.
    pub fn with_api(mut self) -> Cluster {
        self.api_port = port();
        self
    }

    /// Other protocol timers (see [`TIMERS`]).
    pub fn with_timers(mut self, timers: &str) -> Cluster {
        self.timers = timers.to_string();
        self
    }

    /// More HOCON appended to the configuration.
    pub fn with_extra(mut self, extra: &str) -> Cluster {
        self.extra = extra.to_string();
        self
    }

    /// Writes the configuration with these links and starts the process.
    pub fn launch(&mut self, links: &[String]) {
        self.links = links.join(",\n  ");
        self.spawn();
    }

    /// The node name.
    pub fn node(&self) -> String {
        format!("{}@127.0.0.1", self.name)
    }

    fn spawn(&mut self) {
        let conf = self.write_config();
        self.spawn_process(&conf);
    }

    fn write_config(&self) -> PathBuf {
        let conf = self.dir.join("emqx.conf");
        let text = format!(
            "node.name = \"{node}\"\nnode.data_dir = \"{data}\"\ncluster.name = \"{name}\"\n\
             listeners.tcp.default.bind = \"127.0.0.1:{port}\"\n\
             dashboard.listeners.http.bind = {api}\nlog.console.level = info\n\
             cluster.links = [\n  {links}\n]\n{extra}\n",
            node = self.node(),
            data = self.dir.join("data").display(),
            name = self.name,
            port = self.port,
            api = if self.api_port == 0 {
                "0".to_string()
            } else {
                format!("\"127.0.0.1:{}\"", self.api_port)
            },
            links = self.links,
            extra = self.extra,
        );
        std::fs::write(&conf, text).expect("write config");
        conf
    }

    fn spawn_process(&mut self, conf: &std::path::Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(bin())
            .args(["start", "-c"])
            .arg(conf)
            .env("LINKMQ_LINK_TIMERS", &self.timers)
            .env("RUST_LOG", "info")
            .env_remove("LINKMQ_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn linkmq");
        self.child = Some(child);
        *self.token.lock().unwrap() = None;
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && (self.api_port == 0
                    || std::net::TcpStream::connect(("127.0.0.1", self.api_port)).is_ok())
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not listen on {}:\n{}",
            self.name,
            self.port,
            self.log()
        );
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("linkmq.log")
    }

    /// Everything the process logged so far (without terminal colour codes).
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(self.log_path()).unwrap_or_default())
    }

    /// SIGKILL: no DISCONNECT, no cleanup.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Rewrites the configuration file with these links and sends SIGHUP (hot reload).
    pub fn reload_links(&mut self, links: &[String]) {
        let child = self.child.as_ref().expect("running");
        self.links = links.join(",\n  ");
        self.write_config();
        let status = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "kill -HUP failed");
    }

    /// Starts the process again on the same port, data dir and configuration.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A connected v5 client.
    pub async fn client(&self, id: &str) -> Client {
        let (c, _) = Client::connect(ConnectOptions::new(self.addr(), id))
            .await
            .unwrap_or_else(|e| panic!("{id} connects to {}: {e}", self.name));
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- {} log ({}) ---\n{}",
                self.name,
                self.log_path().display(),
                self.log()
            );
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Publishes QoS 1 `topic` on `publisher` until the PUBACK says a destination exists (0x00): the
/// remote's route for it has arrived. Panics after `within`.
pub async fn await_route(publisher: &Client, topic: &str, within: Duration) {
    let until = Instant::now() + within;
    loop {
        let rc = publisher
            .publish(topic, "probe", QoS::AtLeastOnce, false)
            .await
            .expect("probe publish");
        if rc == ReasonCode::Success {
            return;
        }
        assert!(
            Instant::now() < until,
            "no route for {topic} within {within:?} (last PUBACK {rc:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes QoS 1 `topic` until the PUBACK is 0x10 (no route any more). Panics after `within`.
pub async fn await_no_route(publisher: &Client, topic: &str, within: Duration) {
    let until = Instant::now() + within;
    loop {
        let rc = publisher
            .publish(topic, "probe", QoS::AtLeastOnce, false)
            .await
            .expect("probe publish");
        if rc == ReasonCode::NoMatchingSubscribers {
            return;
        }
        assert!(
            Instant::now() < until,
            "route for {topic} still there after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The publishes `c` receives within `wait` (stops early once `n` arrived).
pub async fn collect(c: &Client, n: usize, wait: Duration) -> Vec<linkmq_codec::Publish> {
    let until = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout_at(until, c.recv()).await {
            Ok(Some(Event::Publish(p))) => out.push(p),
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// Payloads as text, for assertions.
pub fn texts(ps: &[linkmq_codec::Publish]) -> Vec<String> {
    ps.iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect()
}

/// Receives until `pred` matches a publish (others are skipped); panics after `within`.
pub async fn recv_matching(
    c: &Client,
    within: Duration,
    pred: impl Fn(&linkmq_codec::Publish) -> bool,
) -> linkmq_codec::Publish {
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, c.recv()).await {
            Ok(Some(Event::Publish(p))) if pred(&p) => return p,
            Ok(Some(Event::Publish(_))) => {}
            other => panic!("no matching publish: {other:?}"),
        }
    }
}

/// Waits until `f()` is true, polling every 50 ms; panics with `what` after `within`.
pub async fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One HTTP/1.1 request to `127.0.0.1:port` (Connection: close); returns status and JSON body
/// (`Null` when empty, a string when not JSON).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("response head");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let json = if body.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body))
    };
    (status, json)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Cluster {
    /// A bearer token of the default dashboard user (cached until the process restarts).
    pub fn token(&self) -> String {
        if let Some(t) = self.token.lock().unwrap().clone() {
            return t;
        }
        let (status, body) = http(
            self.api_port,
            "POST",
            "/api/v5/login",
            None,
            Some(&serde_json::json!({"username": "admin", "password": "public"})),
        );
        assert_eq!(status, 200, "login: {body}");
        let t = body["token"].as_str().expect("token").to_string();
        *self.token.lock().unwrap() = Some(t.clone());
        t
    }

    /// An authenticated API call (`path` under `/api/v5`).
    pub fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let token = self.token();
        http(
            self.api_port,
            method,
            &format!("/api/v5{path}"),
            Some(&token),
            body,
        )
    }
}
