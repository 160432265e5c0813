//! How a node takes part in a cluster, from its configuration: name, cookie, data directory,
//! where the cluster transport listens (`rpc.listen_address`, `rpc.tcp_server_port`), discovery
//! (`cluster.discovery_strategy`, `cluster.static.seeds`) and timers.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use linkmq_config::DiscoveryStrategy;

/// The default port of the cluster transport (EMQX's `rpc.tcp_server_port`).
pub const DEFAULT_PORT: u16 = 5369;

/// Environment variable with shorter timers for tests, e.g.
/// `heartbeat=100ms,election=600ms,reconnect=100ms,purge=2s,stats=300ms`.
pub const TIMERS_ENV: &str = "LINKMQ_CLUSTER_TIMERS";

/// Raft and transport timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTimers {
    /// Leader heartbeat.
    pub heartbeat: Duration,
    /// Election timeout (the maximum is twice this).
    pub election: Duration,
    /// Wait between reconnect attempts to a peer, and between join attempts to seeds.
    pub reconnect: Duration,
    /// A peer unreachable this long has its routes and client ids dropped (they come back with the
    /// full resync when it returns); removal from the membership drops them at once.
    pub purge: Duration,
    /// How often nodes exchange their load figures.
    pub stats: Duration,
}

impl Default for ClusterTimers {
    fn default() -> Self {
        ClusterTimers {
            heartbeat: Duration::from_millis(250),
            election: Duration::from_millis(1500),
            reconnect: Duration::from_millis(500),
            purge: Duration::from_secs(60),
            stats: Duration::from_secs(1),
        }
    }
}

impl ClusterTimers {
    /// Defaults overridden by [`TIMERS_ENV`].
    pub fn from_env() -> ClusterTimers {
        let mut t = ClusterTimers::default();
        if let Ok(spec) = std::env::var(TIMERS_ENV) {
            t.apply(&spec);
        }
        t
    }

    /// Applies `key=duration,...` (unknown keys and bad values are ignored).
    pub fn apply(&mut self, spec: &str) {
        for part in spec.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let Some(d) = parse_duration(v.trim()) else {
                continue;
            };
            match k.trim() {
                "heartbeat" => self.heartbeat = d,
                "election" => self.election = d,
                "reconnect" => self.reconnect = d,
                "purge" => self.purge = d,
                "stats" => self.stats = d,
                _ => {}
            }
        }
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(sec) = s.strip_suffix('s') {
        return sec.parse().ok().map(Duration::from_secs);
    }
    None
}

/// How this node finds the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// Joined by an operator (`linkmq ctl cluster join <node>`).
    Manual,
    /// Joins the seeds (`name@host` or `name@host:port`) at start.
    Static(Vec<String>),
}

/// Everything the cluster needs to know about this node.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `name@host`.
    pub node_name: String,
    pub cookie: String,
    /// Raft log and state go to `<data_dir>/cluster/`, the control socket to `<data_dir>/ctl.sock`.
    pub data_dir: PathBuf,
    /// Where the transport listens.
    pub listen: SocketAddr,
    /// True when the port was configured: failing to bind it is an error. Otherwise a taken
    /// default port falls back to an ephemeral one.
    pub port_configured: bool,
    pub discovery: Discovery,
    pub timers: ClusterTimers,
    /// `cluster.autoclean`: the leader removes a member that has been unreachable this long.
    pub autoclean: Option<Duration>,
    /// `rpc.driver = ssl`: mutual TLS between nodes with these files.
    pub tls: Option<crate::transport::tls::TlsFiles>,
}

impl ClusterOptions {
    /// Options from the loaded configuration (`rpc.*` is read from the raw tree, as EMQX names it).
    pub fn from_config(cfg: &linkmq_config::Config) -> ClusterOptions {
        let rpc = cfg.section("rpc");
        let port = rpc
            .and_then(|r| r.get("tcp_server_port"))
            .and_then(|v| v.as_u64())
            .and_then(|p| u16::try_from(p).ok());
        let ip = rpc
            .and_then(|r| r.get("listen_address"))
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<IpAddr>().ok())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let discovery = match cfg.cluster.discovery_strategy {
            DiscoveryStrategy::Static => {
                Discovery::Static(cfg.cluster.static_discovery.seeds.clone())
            }
            _ => Discovery::Manual,
        };
        let mut timers = ClusterTimers::from_env();
        // linkmq extension: `rpc.timers = "heartbeat=100ms,..."` (same syntax as TIMERS_ENV).
        if let Some(spec) = rpc.and_then(|r| r.get("timers")).and_then(|v| v.as_str()) {
            timers.apply(spec);
        }
        ClusterOptions {
            node_name: cfg.node.name.clone(),
            cookie: cfg.node.cookie.expose().to_string(),
            data_dir: cfg.node.data_dir.clone(),
            listen: SocketAddr::new(ip, port.unwrap_or(DEFAULT_PORT)),
            port_configured: port.is_some(),
            discovery,
            timers,
            autoclean: cfg.cluster.autoclean,
            tls: tls_files(rpc),
        }
    }

    /// The host part of the node name (where other nodes reach this one).
    pub fn host(&self) -> &str {
        host_of(&self.node_name)
    }
}

/// `rpc.driver = ssl` with `rpc.certfile`, `rpc.keyfile`, `rpc.cacertfile`.
fn tls_files(rpc: Option<&serde_json::Value>) -> Option<crate::transport::tls::TlsFiles> {
    let rpc = rpc?;
    if rpc.get("driver").and_then(|v| v.as_str()) != Some("ssl") {
        return None;
    }
    let path = |k: &str| PathBuf::from(rpc.get(k).and_then(|v| v.as_str()).unwrap_or_default());
    Some(crate::transport::tls::TlsFiles {
        certfile: path("certfile"),
        keyfile: path("keyfile"),
        cacertfile: path("cacertfile"),
    })
}

/// (`host`, `port`) of `name@host[:port]`.
fn split_host_port(node: &str) -> (&str, Option<u16>) {
    let h = node.split_once('@').map(|(_, h)| h).unwrap_or(node);
    match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse::<u16>() {
            Ok(p) => (host, Some(p)),
            Err(_) => (h, None),
        },
        _ => (h, None),
    }
}

/// `host` of `name@host[:port]`.
pub fn host_of(node: &str) -> &str {
    split_host_port(node).0
}

/// The node name without a `:port` suffix (`n1@127.0.0.1:5370` → `n1@127.0.0.1`).
pub fn bare_name(node: &str) -> String {
    match node.split_once('@') {
        Some((n, _)) => format!("{n}@{}", host_of(node)),
        None => node.to_string(),
    }
}

/// Where the transport of `node` (`name@host[:port]`) listens.
pub fn transport_addr(node: &str) -> String {
    let (host, port) = split_host_port(node);
    format!("{host}:{}", port.unwrap_or(DEFAULT_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_give_hosts_and_addresses() {
        assert_eq!(host_of("emqx@127.0.0.1"), "127.0.0.1");
        assert_eq!(host_of("n1@10.0.0.1:5370"), "10.0.0.1");
        assert_eq!(bare_name("n1@10.0.0.1:5370"), "n1@10.0.0.1");
        assert_eq!(bare_name("n1@node1.local"), "n1@node1.local");
        assert_eq!(transport_addr("n1@10.0.0.1:5370"), "10.0.0.1:5370");
        assert_eq!(transport_addr("emqx@node1.local"), "node1.local:5369");
    }

    #[test]
    fn timers_parse() {
        let mut t = ClusterTimers::default();
        t.apply("heartbeat=100ms,purge=2s,bogus=1s,election=x");
        assert_eq!(t.heartbeat, Duration::from_millis(100));
        assert_eq!(t.purge, Duration::from_secs(2));
        assert_eq!(t.election, ClusterTimers::default().election);
    }
}
