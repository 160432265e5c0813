//! Test harness: start real linkmq nodes on ephemeral loopback ports, in process or as the real
//! binary, and connect clients to them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use linkmq::Node;
use linkmq_client::{Client, ConnectOptions};
use linkmq_core::MqttSettings;
use linkmq_net::{
    ListenerOptions, TcpListenerConfig, TlsServer, TlsServerOptions, Transport, WsOptions,
};

pub mod blocking;
pub mod pki;
pub mod script;
pub mod test_dir;

pub use test_dir::TestDir;

/// An in-process broker on 127.0.0.1:<ephemeral>.
pub struct TestBroker {
    pub node: Node,
    pub addr: SocketAddr,
}

impl TestBroker {
    /// Default settings, `$SYS` quiet.
    pub async fn start() -> TestBroker {
        TestBroker::start_with(|_| {}).await
    }

    /// Settings adjusted by `f`.
    pub async fn start_with(f: impl FnOnce(&mut MqttSettings)) -> TestBroker {
        TestBroker::start_full(f, usize::MAX).await
    }

    /// Settings adjusted by `f`, and a listener connection limit.
    pub async fn start_full(
        f: impl FnOnce(&mut MqttSettings),
        max_connections: usize,
    ) -> TestBroker {
        init_tracing();
        let mut s = MqttSettings {
            sys_heartbeat_interval: None,
            sys_msg_interval: None,
            ..MqttSettings::default()
        };
        f(&mut s);
        let l = TcpListenerConfig {
            name: "tcp:default".into(),
            bind: "127.0.0.1:0".parse().expect("addr"),
            max_connections,
        };
        let node = Node::start_with(s, vec![l]).await.expect("broker starts");
        let addr = node.mqtt_addr();
        TestBroker { node, addr }
    }

    /// Settings adjusted by `f`, and these listeners (any transport, with limits); `addr` is the
    /// first one's. Listener configs binding port 0 get an ephemeral port each.
    pub async fn start_listeners(
        f: impl FnOnce(&mut MqttSettings),
        listeners: Vec<(TcpListenerConfig, ListenerOptions)>,
    ) -> TestBroker {
        init_tracing();
        let mut s = MqttSettings {
            sys_heartbeat_interval: None,
            sys_msg_interval: None,
            ..MqttSettings::default()
        };
        f(&mut s);
        let node = Node::start_with_listeners(s, listeners)
            .await
            .expect("broker starts");
        let addr = node.mqtt_addr();
        TestBroker { node, addr }
    }

    /// A broker with one TLS listener `ssl:default` (TLS from `tls`) on an ephemeral port.
    pub async fn start_tls(tls: &TlsServerOptions) -> TestBroker {
        let server = TlsServer::from_options(tls).expect("TLS setup");
        TestBroker::start_listeners(
            |_| {},
            vec![listener(
                "ssl:default",
                ListenerOptions {
                    transport: Transport::Tls(server),
                    ..Default::default()
                },
            )],
        )
        .await
    }

    /// A broker with the four default listeners `tcp:default`, `ssl:default`, `ws:default` and
    /// `wss:default` (TLS from `tls`), each on an ephemeral port.
    pub async fn start_all_transports(tls: &TlsServerOptions) -> TestBroker {
        let server = TlsServer::from_options(tls).expect("TLS setup");
        let with = |transport| ListenerOptions {
            transport,
            ..Default::default()
        };
        TestBroker::start_listeners(
            |_| {},
            vec![
                listener("tcp:default", ListenerOptions::default()),
                listener("ssl:default", with(Transport::Tls(server.clone()))),
                listener("ws:default", with(Transport::Ws(WsOptions::default()))),
                listener(
                    "wss:default",
                    with(Transport::Wss(server, WsOptions::default())),
                ),
            ],
        )
        .await
    }

    /// "127.0.0.1:port" of the listener named `name` (e.g. `ssl:default`).
    pub fn listener_addr(&self, name: &str) -> String {
        listener_addr(&self.node, name)
    }

    /// "127.0.0.1:port".
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Client options for this broker (v5, clean start).
    pub fn opts(&self, client_id: &str) -> ConnectOptions {
        ConnectOptions::new(self.addr(), client_id)
    }

    /// Connects a v5 client with default options.
    pub async fn client(&self, client_id: &str) -> Client {
        let (c, _) = Client::connect(self.opts(client_id))
            .await
            .expect("client connects");
        c
    }
}

/// "127.0.0.1:port" of `node`'s listener named `name` (e.g. `ssl:default`, `tcp:open`).
pub fn listener_addr(node: &Node, name: &str) -> String {
    node.listeners
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, a)| a.to_string())
        .unwrap_or_else(|| panic!("no listener {name}"))
}

/// A listener on 127.0.0.1:<ephemeral> named `name` with these options.
pub fn listener(name: &str, options: ListenerOptions) -> (TcpListenerConfig, ListenerOptions) {
    (
        TcpListenerConfig {
            name: name.into(),
            bind: "127.0.0.1:0".parse().expect("addr"),
            max_connections: usize::MAX,
        },
        options,
    )
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
}

/// The `linkmq` binary, built first (once per test process) with `cargo build -p linkmq` into this
/// test run's target directory and profile: cargo builds a package's binaries only for that
/// package's own integration tests, and these tests live in another package. A no-op when up to date.
pub fn built_linkmq_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let bin = linkmq_bin();
            // <target>/<profile dir>/linkmq
            let profile_dir = bin.parent().expect("profile dir");
            let target_dir = profile_dir.parent().expect("target dir");
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "dev".to_string(),
                Some(other) => other.to_string(),
            };
            let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("workspace root");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "linkmq", "--bin", "linkmq"])
                .args(["--profile", &profile])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(workspace)
                .stdin(Stdio::null())
                .status()
                .expect("run cargo build -p linkmq");
            assert!(status.success(), "cargo build -p linkmq failed: {status}");
            assert!(bin.exists(), "{} missing after cargo build", bin.display());
            bin
        })
        .clone()
}

/// Path of the `linkmq` binary built by cargo for this test run.
pub fn linkmq_bin() -> PathBuf {
    let mut p = std::env::current_exe().expect("test exe path");
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join(format!("linkmq{}", std::env::consts::EXE_SUFFIX))
}

/// A free TCP port on loopback for a process the test starts (which binds it itself).
///
/// Ports come from 20000..32000, below the kernel's ephemeral range (32768..60999 by default), so
/// no outgoing connection and no `bind(0)` elsewhere can take one between this call and the
/// child's bind. Each test process walks the range from its own offset (from its pid) and never
/// hands out a port twice, and a port is only handed out when it can be bound right now.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(211) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free TCP port on 127.0.0.1 in {LOW}..{}", LOW + SPAN)
}

/// Waits until something accepts connections on loopback `port`.
pub fn wait_listening(port: u16, within: Duration) {
    let until = std::time::Instant::now() + within;
    while std::time::Instant::now() < until {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("linkmq did not listen on {port} within {within:?}");
}

/// A `linkmq start` child process; killed on drop, then its directory is removed.
pub struct BrokerProcess {
    pub child: Child,
    pub port: u16,
    pub dir: TestDir,
}

impl BrokerProcess {
    /// Writes `extra` HOCON after a minimal config with the MQTT port set (and the HTTP API off:
    /// `extra` may set `dashboard.listeners.http.bind`), and starts the binary.
    pub fn start(extra: &str) -> BrokerProcess {
        let port = free_port();
        let dir = TestDir::new("linkmq-test");
        let conf = dir.join("emqx.conf");
        let text = format!(
            "node.name = \"linkmq-{port}@127.0.0.1\"\nnode.data_dir = \"{}\"\nlisteners.tcp.default.bind = \"127.0.0.1:{port}\"\ndashboard.listeners.http.bind = 0\n{extra}\n",
            dir.join("data").display()
        );
        std::fs::write(&conf, &text).expect("write config");
        let child = Command::new(built_linkmq_bin())
            .args(["start", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn linkmq");
        let p = BrokerProcess { child, port, dir };
        // Every listener `extra` binds on loopback too (an SSL or WS listener may start after the
        // TCP one).
        let ports = text
            .split("bind = \"127.0.0.1:")
            .skip(1)
            .filter_map(|rest| rest.split('"').next().and_then(|p| p.parse::<u16>().ok()));
        for port in ports {
            wait_listening(port, Duration::from_secs(20));
        }
        p
    }

    /// "127.0.0.1:port".
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // The kill command rather than unsafe libc.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait linkmq")
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long the `expect_*` helpers wait for something that should come.
pub const WAIT: std::time::Duration = Duration::from_secs(5);
/// How long `expect_quiet` listens for something that should not come.
pub const QUIET: std::time::Duration = Duration::from_millis(300);

/// The next event must be a PUBLISH (within [`WAIT`]).
pub async fn expect_publish(c: &Client) -> linkmq_codec::Publish {
    match c.recv_timeout(WAIT).await {
        Some(linkmq_client::Event::Publish(p)) => p,
        other => panic!("expected a publish, got {other:?}"),
    }
}

/// Nothing may arrive within [`QUIET`].
pub async fn expect_quiet(c: &Client) {
    if let Some(ev) = c.recv_timeout(QUIET).await {
        panic!("expected nothing, got {ev:?}");
    }
}

/// The next event must be a DISCONNECT with `reason` (within [`WAIT`]).
pub async fn expect_disconnect(c: &Client, reason: linkmq_codec::ReasonCode) {
    match c.recv_timeout(WAIT).await {
        Some(linkmq_client::Event::Disconnect(d)) => assert_eq!(d.reason, reason),
        other => panic!("expected DISCONNECT {reason:?}, got {other:?}"),
    }
}

/// A payload as UTF-8 text.
pub fn payload_text(p: &linkmq_codec::Publish) -> String {
    String::from_utf8_lossy(&p.payload).into_owned()
}
