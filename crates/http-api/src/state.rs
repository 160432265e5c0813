//! The state every handler shares.

use std::sync::Arc;

use linkmq_core::Broker;

use crate::routes::cluster_links::LinkApi;

/// Shared by every request handler; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// The broker core of this node.
    pub broker: Arc<Broker>,
    /// The node's loaded configuration.
    pub config: Arc<linkmq_config::Config>,
    /// The Cluster Linking manager, when the node runs one (see [`crate::routes::cluster_links`]).
    pub links: Option<Arc<dyn LinkApi>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("broker", &self.broker)
            .field("links", &self.links.is_some())
            .finish()
    }
}

impl ApiState {
    /// State for `broker` configured by `config`, without optional extensions.
    pub fn new(broker: Arc<Broker>, config: linkmq_config::Config) -> ApiState {
        ApiState {
            broker,
            config: Arc::new(config),
            links: None,
        }
    }

    /// Plugs in the Cluster Linking manager.
    pub fn with_links(mut self, links: Arc<dyn LinkApi>) -> ApiState {
        self.links = Some(links);
        self
    }
}
