//! The giving side of a cross-node session takeover: the local connection of the client id is
//! closed (v5: DISCONNECT 0x8E, by the connection task itself), its session is exported — routes
//! removed here, subscriptions, inflight and queued messages serialized — and the client id is
//! released on this node.

use std::sync::Arc;

use linkmq_core::registry::Control;
use tokio::sync::oneshot;
use tracing::info;

use std::time::Duration;

use crate::Cluster;
use crate::registry::TAKEOVER_TIMEOUT;
use crate::transport::Request;
use crate::wire::WireSession;

/// Waits until every connected peer has delivered here what it queued for this node so far.
async fn barrier(cluster: &Arc<Cluster>) {
    let waits = cluster
        .all_peers()
        .into_iter()
        .filter(|p| p.is_connected())
        .map(|p| async move {
            let _ = p.request(Request::Flush, Duration::from_secs(2)).await;
        });
    futures_util::future::join_all(waits).await;
}

/// Closes `client_id` here; returns its session when `want_session` and there was one to resume
/// (not a v3.1.1 clean session).
pub(crate) async fn give_up(
    cluster: &Arc<Cluster>,
    client_id: &str,
    want_session: bool,
) -> Option<WireSession> {
    let broker = cluster.broker()?;
    let entry = broker.registry.get(client_id)?;
    // Messages other nodes acknowledged to their publishers before now reach this session first.
    barrier(cluster).await;
    // Never a v3.1.1 clean session, not even for a connection on another node [MQTT-3.1.2-6].
    let resume = want_session && entry.info.session_resumable();
    let (tx, rx) = oneshot::channel();
    let sent = entry
        .ctl
        .try_send(Control::Takeover { resume, reply: tx })
        .is_ok();
    let state = if sent {
        tokio::time::timeout(TAKEOVER_TIMEOUT, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    } else {
        None
    };
    broker.registry.unregister(client_id, entry.conn_id);
    let state = state?;
    let snap = state.export(&broker);
    info!(client_id, "session handed over to another node");
    Some(WireSession::from_snapshot(&snap))
}
