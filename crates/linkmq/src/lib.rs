//! The linkmq node: turns a loaded configuration into a running broker (core + listeners + `$SYS`),
//! and stops it gracefully. Used by the `linkmq` binary and by in-process integration tests.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use linkmq_core::{Broker, MqttSettings};
use linkmq_net::{Listener, ListenerOptions, TcpListenerConfig};
use tokio_util::task::TaskTracker;
use tracing::info;

mod api;
mod cluster_api;
mod ext_router;
pub mod link_api;
mod security;
mod settings;
mod transport;

pub use security::{Security, build_security};
pub use settings::mqtt_settings;
pub use transport::listener_specs;

/// A running node.
#[derive(Debug)]
pub struct Node {
    pub broker: Arc<Broker>,
    /// (listener name, bound address) of every MQTT listener.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The Cluster Linking manager (started by [`Node::start`]; `None` for [`Node::start_with`]).
    pub links: Option<Arc<linkmq_cluster_link::LinkManager>>,
    /// Authentication (users) and authorization (rules), for the REST API; empty for
    /// [`Node::start_with`] (allow-all).
    pub security: Security,
    /// Where the REST API (`/api/v5`) listens; `None` when disabled or for [`Node::start_with`].
    pub api: Option<SocketAddr>,
    /// This node's part in the cluster (started by [`Node::start`]; `None` for [`Node::start_with`]).
    pub cluster: Option<Arc<linkmq_cluster::Cluster>>,
    tracker: TaskTracker,
}

impl Node {
    /// Starts a node from a loaded configuration.
    pub async fn start(config: &linkmq_config::Config) -> anyhow::Result<Node> {
        let settings = mqtt_settings(config);
        let listeners = listener_specs(config)?;
        let security = build_security(config).await?;
        let broker = Broker::new(settings);
        security.install(&broker);
        let mut node = Node::start_on(broker, listeners).await?;
        node.security = security;
        let cluster_opts = linkmq_cluster::ClusterOptions::from_config(config);
        let cluster = linkmq_cluster::Cluster::start(&node.broker, cluster_opts, &node.tracker)
            .await
            .map_err(|e| anyhow::anyhow!("cluster: {e}"))?;
        node.cluster = Some(cluster);
        // The external route table is shared by the cluster's nodes through Raft.
        let links = match &node.cluster {
            Some(c) => {
                let ttl = linkmq_cluster_link::LinkTimers::from_env().actor_ttl;
                let ext = ext_router::ClusterExtRouter::new(c, ttl);
                linkmq_cluster_link::start_for_node_with(&node.broker, config, &node.tracker, ext)
                    .await
            }
            None => linkmq_cluster_link::start_for_node(&node.broker, config, &node.tracker).await,
        }
        .map_err(|e| anyhow::anyhow!("cluster links: {e}"))?;
        if let Some(c) = &node.cluster {
            let m = links.clone();
            c.set_stats_extra(
                ext_router::STATS_KEY,
                Arc::new(move || ext_router::report(&m)),
            );
            ext_router::follow_links(c, &links);
        }
        node.links = Some(links);
        let link_api = node
            .links
            .as_ref()
            .map(|m| link_api::adapter_in(m, node.cluster.clone()));
        node.api = api::start(&node, config, link_api).await?;
        Ok(node)
    }

    /// Starts a node from core settings and listener list directly (tests).
    pub async fn start_with(
        settings: MqttSettings,
        tcp: Vec<TcpListenerConfig>,
    ) -> anyhow::Result<Node> {
        let plain = tcp.into_iter().map(|c| (c, ListenerOptions::default()));
        Node::start_with_listeners(settings, plain.collect()).await
    }

    /// Starts a node from core settings and listeners of any transport (TCP, TLS, WS, WSS) with
    /// their limits (tests; [`Node::start`] builds them with [`listener_specs`]).
    pub async fn start_with_listeners(
        settings: MqttSettings,
        specs: Vec<(TcpListenerConfig, ListenerOptions)>,
    ) -> anyhow::Result<Node> {
        Node::start_on(Broker::new(settings), specs).await
    }

    /// Starts the listeners of an existing broker (access hooks already installed).
    async fn start_on(
        broker: Arc<Broker>,
        specs: Vec<(TcpListenerConfig, ListenerOptions)>,
    ) -> anyhow::Result<Node> {
        let tracker = TaskTracker::new();
        let mut listeners = Vec::new();
        for (cfg, options) in specs {
            let name = cfg.name.clone();
            let bind = cfg.bind;
            let l = Listener::bind_with(cfg, options)
                .await
                .with_context(|| format!("listener {name}: cannot bind {bind}"))?;
            let addr = l.local_addr()?;
            info!(listener = %name, %addr, "MQTT listener bound");
            listeners.push((name, addr));
            tracker.spawn(l.run(broker.clone(), tracker.clone()));
        }
        tracker.spawn(linkmq_core::sys::run(broker.clone()));
        Ok(Node {
            broker,
            listeners,
            links: None,
            security: Security::default(),
            api: None,
            cluster: None,
            tracker,
        })
    }

    /// The address of the first MQTT listener.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.listeners
            .first()
            .map(|(_, a)| *a)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Applies a reloaded configuration's `cluster.links` (SIGHUP): links are added, changed,
    /// disabled or removed hot, exactly as through the REST API, and persisted like API changes.
    pub async fn reload(&self, config: &linkmq_config::Config) -> anyhow::Result<()> {
        if let Some(links) = &self.links {
            links
                .replace_all(config.cluster.links.clone())
                .await
                .map_err(|e| anyhow::anyhow!("cluster.links: {e}"))?;
        }
        Ok(())
    }

    /// Stops accepting, tells every client (v5: DISCONNECT 0x8B) and waits for all tasks.
    pub async fn shutdown(self) {
        self.broker.shutdown.cancel();
        if let Some(c) = &self.cluster {
            c.shutdown().await;
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}
