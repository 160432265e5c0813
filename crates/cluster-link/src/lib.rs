//! Cluster Linking: independent clusters exchange exactly the messages their subscribers need over
//! plain MQTT with EMQX's `$LINK` protocol (design doc `cluster-link-protocol.md`).
//!
//! Per enabled link, this node runs a route-replication actor ([`actor`]: replicates the
//! intersections of local subscriptions with the link's `topics` into the remote cluster) and a
//! forwarding pool ([`pool`]: sends local publishes that match the remote's replicated routes). The
//! receiving side ([`receiver`]) consumes the remote's `$LINK/cluster/route|msg/<C>` publishes, keeps
//! the remote's routes in the external route table ([`extrouter`], behind the [`ExtRouter`] trait so
//! that a multi-node cluster can share it) and delivers forwarded messages locally, tagged with their
//! origin so they are never forwarded again. [`LinkManager`] ties it together, applies configuration
//! changes hot, persists runtime changes ([`persist`]) and reports status and metrics.
//!
//! This crate plugs into `core` only through its hooks (interceptor, forwarder, route listener); it
//! knows nothing about listeners, the REST API or other nodes.

pub mod actor;
mod convert;
pub mod extrouter;
mod forwarder;
mod manager;
pub mod persist;
pub mod pool;
pub mod receiver;
mod runtime;
mod stash;
pub mod status;
mod table;
mod timers;

pub use convert::{encode_forwarded, from_forwarded};
pub use extrouter::{
    ActorHandle, ActorInitOutcome, ExtRoute, ExtRouter, ExtRouterError, MemExtRouter,
};
pub use manager::{LinkManager, LinkManagerOptions, LinkOpError};
pub use runtime::h8;
pub use status::{ActorState, LinkMetrics, NodeLinkStatus};
pub use timers::{LinkTimers, TIMERS_ENV};

use std::sync::Arc;

/// Starts the node's [`LinkManager`] from its configuration: `cluster.name`, `node.name`, and the
/// links of `<node.data_dir>/configs/cluster.hocon` when runtime changes were persisted there, else
/// `cluster.links`. Timers may be shortened for tests through [`TIMERS_ENV`].
pub async fn start_for_node(
    broker: &Arc<linkmq_core::Broker>,
    config: &linkmq_config::Config,
    tracker: &tokio_util::task::TaskTracker,
) -> Result<Arc<LinkManager>, String> {
    let ttl = LinkTimers::from_env().actor_ttl;
    let extrouter: Arc<dyn ExtRouter> = Arc::new(MemExtRouter::new(ttl));
    start_for_node_with(broker, config, tracker, extrouter).await
}

/// Like [`start_for_node`] with a given external route table (one shared by the nodes of a
/// multi-node cluster).
pub async fn start_for_node_with(
    broker: &Arc<linkmq_core::Broker>,
    config: &linkmq_config::Config,
    tracker: &tokio_util::task::TaskTracker,
    extrouter: Arc<dyn ExtRouter>,
) -> Result<Arc<LinkManager>, String> {
    let data_dir = config.node.data_dir.clone();
    let links = match persist::load_links(&data_dir)? {
        Some(links) => {
            tracing::info!(
                file = %persist::runtime_config_path(&data_dir).display(),
                links = links.len(),
                "cluster links loaded from the runtime configuration"
            );
            links
        }
        None => config.cluster.links.clone(),
    };
    let opts = LinkManagerOptions {
        cluster_name: config.cluster.name.clone(),
        node_name: config.node.name.clone(),
        links,
        data_dir: Some(data_dir),
        timers: LinkTimers::from_env(),
    };
    Ok(LinkManager::start_with(broker, opts, tracker, extrouter).await)
}
