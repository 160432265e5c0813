//! Extension points for the layers above core (cluster, Cluster Linking). Implementations must not
//! block: they are called on the publish and subscribe paths.

use std::sync::Arc;

use linkmq_codec::ReasonCode;

use crate::message::Message;

/// A route this node holds: a filter, and for a shared subscription its group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub filter: Arc<str>,
    pub group: Option<Arc<str>>,
}

impl RouteKey {
    /// The route id as Cluster Linking sends it: the filter, or `$s/<group>/<filter>` for shared ones.
    pub fn route_id(&self) -> String {
        match &self.group {
            Some(g) => format!("$s/{g}/{}", self.filter),
            None => self.filter.to_string(),
        }
    }
}

/// Hears when this node gains its first subscriber of a route, or loses its last one. Called in order,
/// under the router's write lock: push to a channel, never block.
pub trait RouteListener: Send + Sync {
    fn route_added(&self, route: &RouteKey);
    fn route_removed(&self, route: &RouteKey);
}

/// What an interceptor decided about a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intercept {
    /// Route the message normally.
    Continue,
    /// The interceptor consumed it; answer the publisher's PUBACK/PUBREC with this reason.
    Consumed(ReasonCode),
}

/// Sees every client publish after authorization and before routing (e.g. `$LINK/cluster/...`).
pub trait PublishInterceptor: Send + Sync {
    fn intercept(&self, msg: &Arc<Message>) -> Intercept;
}

/// Gets every routed message, to send copies to other nodes or clusters. Returns how many remote
/// destinations accepted it (so a remote-only match still acknowledges with 0x00, not 0x10).
pub trait Forwarder: Send + Sync {
    fn forward(&self, msg: &Arc<Message>) -> usize;
}

/// A boxed future for hooks that must wait (e.g. on another node).
pub type HookFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// Cluster-wide client-id ownership (the cluster installs it on the [`crate::registry::Registry`]).
pub trait SessionDirectory: Send + Sync {
    /// Called on CONNECT once the client id is registered on this node as connection `conn_id`:
    /// closes any connection of this client id on other nodes (0x8E) and, when `want_session`,
    /// brings the session over from the node that held it.
    fn claim(
        &self,
        info: Arc<crate::registry::ClientInfo>,
        conn_id: u64,
        want_session: bool,
    ) -> HookFuture<Option<crate::session::snapshot::SessionSnapshot>>;

    /// The client id's session ended on this node (connection `conn_id`).
    fn released(&self, client_id: &str, conn_id: u64);
}
