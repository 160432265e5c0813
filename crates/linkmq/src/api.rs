//! Starts the management REST API (`crates/http-api`) on `dashboard.listeners.http.bind`, with the
//! node's access control and (when given) its Cluster Linking manager plugged in.

use std::net::SocketAddr;
use std::sync::Arc;

use linkmq_http_api::routes::cluster_links::LinkApi;
use linkmq_http_api::{ApiServer, ApiState};
use tracing::{error, info};

use crate::Node;

/// Binds and serves the API for `node`; `None` when the listener is disabled (`enable = false` or
/// port 0, as in EMQX) or cannot bind (logged; the broker keeps running without its API, as
/// EMQX does when a dashboard listener fails).
pub(crate) async fn start(
    node: &Node,
    config: &linkmq_config::Config,
    links: Option<Arc<dyn LinkApi>>,
) -> anyhow::Result<Option<SocketAddr>> {
    let http = &config.dashboard.http;
    if !http.enable || http.bind.port() == 0 {
        return Ok(None);
    }
    let mut state = ApiState::new(node.broker.clone(), config.clone())?;
    if let Some(a) = &node.security.authn {
        state = state.with_authn(a.clone());
    }
    if let Some(z) = &node.security.authz {
        state = state.with_authz(z.clone());
    }
    if let Some(l) = links {
        state = state.with_links(l);
    }
    if let Some(c) = &node.cluster {
        state = state.with_cluster(Arc::new(crate::cluster_api::ClusterApi(c.clone())));
    }
    let server = match ApiServer::bind(http.bind, state).await {
        Ok(s) => s,
        Err(e) => {
            error!(bind = %http.bind, error = %e, "dashboard.listeners.http: cannot bind, HTTP API not started");
            return Ok(None);
        }
    };
    let addr = server.local_addr()?;
    info!(%addr, "HTTP API listening (/api/v5)");
    node.tracker.spawn(server.run(node.broker.shutdown.clone()));
    Ok(Some(addr))
}
