//! The state every handler shares.

use std::sync::Arc;

use linkmq_core::Broker;

use crate::alarms::Alarms;
use crate::auth::{AuthSettings, AuthStore};
use crate::routes::cluster_links::LinkApi;
use crate::stats::StatsMax;

/// Shared by every request handler; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// The broker core of this node.
    pub broker: Arc<Broker>,
    /// The node's loaded configuration.
    pub config: Arc<linkmq_config::Config>,
    /// Dashboard users, tokens, API keys.
    pub auth: Arc<AuthStore>,
    /// Active and past alarms (`/api/v5/alarms`).
    pub alarms: Arc<Alarms>,
    /// Highest values seen of the `/stats` gauges (`*.max`).
    pub stats_max: Arc<StatsMax>,
    /// The Cluster Linking manager, when the node runs one (see [`crate::routes::cluster_links`]).
    pub links: Option<Arc<dyn LinkApi>>,
    /// The cluster view, when this node is part of a cluster (see [`crate::routes::nodes`]).
    pub cluster: Option<Arc<dyn crate::routes::nodes::ClusterView>>,
    /// The authentication chain, for `/authentication/{id}/users` (404 when `None`).
    pub authn: Option<Arc<linkmq_acl::Authn>>,
    /// The `acl.conf` engine, for `/authorization/sources/file` (404 when `None`).
    pub authz: Option<linkmq_acl::AclEngine>,
    /// Largest request body accepted (413 above).
    pub max_body: usize,
    /// `prometheus.enable_basic_auth = false`: the scrape endpoint needs no credentials.
    pub open_prometheus: bool,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("broker", &self.broker)
            .field("links", &self.links.is_some())
            .field("authn", &self.authn.is_some())
            .field("authz", &self.authz.is_some())
            .finish()
    }
}

impl ApiState {
    /// State for `broker` configured by `config`: loads users and API keys from
    /// `<node.data_dir>/dashboard` and `api_key.bootstrap_file`.
    pub fn new(broker: Arc<Broker>, config: linkmq_config::Config) -> anyhow::Result<ApiState> {
        let auth = AuthStore::open(AuthSettings::from_config(&config))?;
        Ok(ApiState::with_auth(broker, config, auth))
    }

    /// State with an already opened [`AuthStore`] (tests tune its settings).
    pub fn with_auth(
        broker: Arc<Broker>,
        config: linkmq_config::Config,
        auth: AuthStore,
    ) -> ApiState {
        // A publish body carries up to max_packet_size of payload, base64 grows it by 4/3.
        let max_body = (broker.settings.max_packet_size as usize)
            .saturating_mul(2)
            .saturating_add(64 * 1024)
            .max(1024 * 1024);
        ApiState {
            broker,
            auth: Arc::new(auth),
            alarms: Arc::new(Alarms::default()),
            stats_max: Arc::new(StatsMax::default()),
            links: None,
            cluster: None,
            authn: None,
            authz: None,
            max_body,
            open_prometheus: crate::routes::prometheus::open_scrape(&config),
            config: Arc::new(config),
        }
    }

    /// Plugs in the Cluster Linking manager.
    pub fn with_links(mut self, links: Arc<dyn LinkApi>) -> ApiState {
        self.links = Some(links);
        self
    }

    /// Plugs in the cluster view (`/nodes` lists every member).
    pub fn with_cluster(mut self, cluster: Arc<dyn crate::routes::nodes::ClusterView>) -> ApiState {
        self.cluster = Some(cluster);
        self
    }

    /// Plugs in the authentication chain (built-in database users CRUD).
    pub fn with_authn(mut self, authn: Arc<linkmq_acl::Authn>) -> ApiState {
        self.authn = Some(authn);
        self
    }

    /// Plugs in the authorization engine (file rules GET/PUT).
    pub fn with_authz(mut self, authz: linkmq_acl::AclEngine) -> ApiState {
        self.authz = Some(authz);
        self
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        &self.broker.settings.node_name
    }
}
