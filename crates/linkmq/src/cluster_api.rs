//! The cluster as the REST API shows it: [`linkmq_http_api::routes::nodes::ClusterView`] over
//! [`linkmq_cluster::Cluster::status`].

use std::sync::Arc;

use linkmq_cluster::Cluster;
use linkmq_http_api::routes::nodes::{ClusterView, MemberView};

/// The adapter plugged into the API state.
pub(crate) struct ClusterApi(pub Arc<Cluster>);

impl ClusterView for ClusterApi {
    fn others(&self) -> Vec<MemberView> {
        let s = self.0.status();
        s.members
            .into_iter()
            .filter(|m| m.node != s.node)
            .map(|m| {
                let st = m.stats.unwrap_or_default();
                MemberView {
                    node: m.node,
                    status: m.status,
                    uptime_ms: st.uptime_ms,
                    connections: st.connections,
                    live_connections: st.live_connections,
                    version: st.version,
                }
            })
            .collect()
    }
}
