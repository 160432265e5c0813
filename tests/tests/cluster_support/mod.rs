//! Shared by the `cluster*` tests: real `linkmq::Node`s (full `Node::start`, as the binary runs
//! them) in this test process on loopback, with ephemeral MQTT and cluster ports, short cluster
//! timers, their own data directories and a cookie per cluster.

#![allow(dead_code)]

pub mod netns;
pub mod proc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use linkmq::Node;
use linkmq_client::{Client, ConnectOptions};
use linkmq_cluster::Cluster;
use linkmq_tests::TestDir;

/// Short cluster timers (see `linkmq_cluster::TIMERS_ENV`).
pub const TIMERS: &str = "heartbeat=100ms,election=600ms,reconnect=100ms,purge=2s,stats=200ms";

/// Short Cluster Linking timers (see `linkmq_cluster_link::TIMERS_ENV`).
pub const LINK_TIMERS: &str = "heartbeat=500ms,actor_ttl=3s,gc=500ms,reconnect=300ms,handshake=2s";

/// How long cluster convergence may take in a test.
pub const CONVERGE: Duration = Duration::from_secs(10);

/// The root directory of one test cluster (a subdirectory per node), removed with everything in
/// it on drop. Tests create it before their nodes, so it outlives them.
pub struct TempDir(pub TestDir);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(TestDir::new(&format!("linkmq-cluster-{tag}")))
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}

/// One in-process node of a test cluster.
pub struct TestNode {
    pub name: String,
    pub dir: PathBuf,
    pub cookie: String,
    /// Extra HOCON appended to the configuration.
    pub extra: String,
    /// The cluster port, fixed after the first start so a restart keeps it.
    pub rpc_port: u16,
    pub node: Option<Node>,
}

impl TestNode {
    /// Starts `name@127.0.0.1` with its data under `root/name`.
    pub async fn start(name: &str, root: &TempDir, cookie: &str, extra: &str) -> TestNode {
        linkmq_tests::init_tracing();
        let mut n = TestNode {
            name: format!("{name}@127.0.0.1"),
            dir: root.0.join(name),
            cookie: cookie.to_string(),
            extra: extra.to_string(),
            rpc_port: 0,
            node: None,
        };
        n.boot().await;
        n
    }

    fn config_text(&self) -> String {
        format!(
            r#"
node {{ name = "{name}", cookie = "{cookie}", data_dir = "{dir}" }}
listeners.tcp.default.bind = "127.0.0.1:0"
dashboard.listeners.http.bind = 0
sys_topics {{ sys_msg_interval = disabled, sys_heartbeat_interval = disabled }}
rpc {{ listen_address = "127.0.0.1", tcp_server_port = {port}, timers = "{TIMERS}" }}
{extra}
"#,
            name = self.name,
            cookie = self.cookie,
            dir = self.dir.join("data").display(),
            port = self.rpc_port,
            extra = self.extra,
        )
    }

    async fn boot(&mut self) {
        let cfg = linkmq_config::parse_str(&self.config_text(), "emqx.conf", &[])
            .unwrap_or_else(|e| panic!("config of {}: {e}", self.name));
        let node = Node::start(&cfg).await.expect("node starts");
        let addr = &node.cluster.as_ref().expect("cluster started").me.addr;
        self.rpc_port = addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("cluster port");
        self.node = Some(node);
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("node running")
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        self.node().cluster.as_ref().expect("cluster")
    }

    /// `name@127.0.0.1:<cluster port>`: what `cluster join` takes.
    pub fn seed(&self) -> String {
        format!("{}:{}", self.name, self.rpc_port)
    }

    /// The MQTT address.
    pub fn mqtt(&self) -> String {
        self.node().mqtt_addr().to_string()
    }

    pub fn opts(&self, client_id: &str) -> ConnectOptions {
        ConnectOptions::new(self.mqtt(), client_id).keep_alive(0)
    }

    pub async fn client(&self, client_id: &str) -> Client {
        Client::connect(self.opts(client_id))
            .await
            .unwrap_or_else(|e| panic!("{client_id} connects to {}: {e}", self.name))
            .0
    }

    /// Stops the node (graceful shutdown; its data stays).
    pub async fn stop(&mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown().await;
        }
    }

    /// Starts it again on the same data and cluster port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    /// Names of the running members this node sees.
    pub fn running(&self) -> Vec<String> {
        self.cluster().status().running_nodes
    }
}

/// Stops every node, one after another.
pub async fn shutdown(nodes: Vec<TestNode>) {
    for mut n in nodes {
        n.stop().await;
    }
}

/// Waits until `f` holds, polling; panics with `what` after [`CONVERGE`].
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + CONVERGE;
    while !f() {
        if tokio::time::Instant::now() >= until {
            panic!("not within {CONVERGE:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` nodes `n1..nN`, the others joined to `n1`; returns once every node sees all of them running.
pub async fn cluster_of(root: &TempDir, n: usize, extra: &str) -> Vec<TestNode> {
    let cookie = format!("cookie-{:x}", rand_u64());
    let mut nodes = Vec::new();
    for i in 1..=n {
        nodes.push(TestNode::start(&format!("n{i}"), root, &cookie, extra).await);
    }
    let seed = nodes[0].seed();
    for node in &nodes[1..] {
        node.cluster()
            .join(&seed)
            .await
            .unwrap_or_else(|e| panic!("{} joins {seed}: {e}", node.name));
    }
    wait_running(&nodes, n).await;
    nodes
}

/// Waits until every running node of `nodes` sees `n` running members.
pub async fn wait_running(nodes: &[TestNode], n: usize) {
    eventually(&format!("every node sees {n} running members"), || {
        nodes
            .iter()
            .filter(|x| x.node.is_some())
            .all(|x| x.running().len() == n)
    })
    .await;
}

/// Waits until node `at` has route `filter` (group) from `from`.
pub async fn wait_route(at: &TestNode, from: &TestNode, filter: &str, group: Option<&str>) {
    let want = (filter.to_string(), group.map(str::to_string));
    let from_id = from.cluster().id;
    eventually(
        &format!("{} sees route {filter} of {}", at.name, from.name),
        || at.cluster().routes_of(from_id).contains(&want),
    )
    .await;
}
