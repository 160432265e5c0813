//! The publish path across nodes, and what arrives from peers.
//!
//! [`ClusterRoutes`] hears this node's route changes and stashes them for every peer.
//! [`ClusterForwarder`] sends each routed message once to every node with a matching route (direct
//! subscribers, plus the shared groups that node was picked for), picks one node per shared group
//! cluster-wide (this node included), and hands retained messages to Raft. [`Cluster::handle_push`]
//! applies what a peer pushed.

use std::collections::BTreeMap;
use std::sync::Arc;

use linkmq_core::hooks::{Forwarder, RouteKey, RouteListener};
use linkmq_core::metrics::Counter;
use linkmq_core::{Broker, Message};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::Cluster;
use crate::raft::types::{Command, NodeId};
use crate::transport::{NodeStats, Push, WireRoute};
use crate::wire::WireMessage;

fn wire_route(r: &RouteKey) -> WireRoute {
    (
        r.filter.to_string(),
        r.group.as_ref().map(|g| g.to_string()),
    )
}

/// This node's route changes → the route table and every peer's stash.
pub struct ClusterRoutes(pub Arc<Cluster>);

impl ClusterRoutes {
    fn changed(&self, route: &RouteKey, added: bool) {
        let c = &self.0;
        let r = wire_route(route);
        if added {
            c.routes.apply(c.id, std::slice::from_ref(&r), &[]);
        } else {
            c.routes.apply(c.id, &[], std::slice::from_ref(&r));
        }
        c.local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .route(r, added);
        for p in c.all_peers() {
            p.wake();
        }
    }
}

impl RouteListener for ClusterRoutes {
    fn route_added(&self, route: &RouteKey) {
        self.changed(route, true);
    }

    fn route_removed(&self, route: &RouteKey) {
        self.changed(route, false);
    }
}

/// Copies of routed messages for other nodes; cluster-wide shared dispatch; retained to Raft.
pub struct ClusterForwarder(pub Arc<Cluster>);

impl Forwarder for ClusterForwarder {
    fn forward(&self, msg: &Arc<Message>) -> usize {
        let c = &self.0;
        let Some(broker) = c.broker() else { return 0 };
        if msg.retain && msg.origin.is_none() && !msg.sys {
            // An empty payload clears the topic's retained message (applied as a clear).
            // Noted before it is sent: Raft may apply it before `try_send` returns.
            let cmd = Command::SetRetained(Box::new(WireMessage::from_message(msg)));
            c.own_retained.proposed(&msg.topic, msg.id);
            if c.proposals.try_send(cmd).is_err() {
                c.own_retained.withdraw(&msg.topic, msg.id);
                warn!(topic = %msg.topic, "retained message not replicated: proposal queue full");
            }
        }
        let Some(m) =
            c.routes
                .matches(c.id, &msg.topic, &msg.from, broker.settings.shared_strategy)
        else {
            return 0;
        };
        let mut per_node: BTreeMap<NodeId, (bool, Vec<(String, String)>)> = BTreeMap::new();
        let mut delivered = 0;
        for n in m.direct.iter().filter(|n| **n != c.id) {
            per_node.entry(*n).or_default().0 = true;
        }
        for (filter, group, candidates) in m.groups {
            for n in candidates {
                if n == c.id {
                    if broker
                        .router
                        .dispatch_shared(msg, &filter, &group, &broker.metrics)
                    {
                        delivered += 1;
                        break;
                    }
                } else if c.peer(n).is_some() {
                    let names = (filter.to_string(), group.to_string());
                    per_node.entry(n).or_default().1.push(names);
                    break;
                }
            }
        }
        if per_node.is_empty() {
            return delivered;
        }
        let wire = Arc::new(WireMessage::from_message(msg));
        for (n, (direct, groups)) in per_node {
            if let Some(p) = c.peer(n) {
                p.forward(direct, groups, wire.clone());
                delivered += 1;
            }
        }
        delivered
    }
}

/// Hands retained changes to Raft in order; waits (retrying) while there is no quorum.
pub(crate) async fn proposer(cluster: Arc<Cluster>, mut rx: mpsc::Receiver<Command>) {
    loop {
        let cmd = tokio::select! {
            _ = cluster.cancel.cancelled() => return,
            c = rx.recv() => match c { Some(c) => c, None => return },
        };
        let mut backoff = std::time::Duration::from_millis(100);
        loop {
            match cluster.write(cmd.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    debug!(error = %e, "replicated write waits");
                    tokio::select! {
                        _ = cluster.cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
                }
            }
        }
    }
}

impl Cluster {
    /// Applies a push from node `from` (process `epoch`); returns the sequence of a handled forward.
    pub(crate) fn handle_push(self: &Arc<Self>, from: NodeId, epoch: u64, p: Push) -> Option<u64> {
        match p {
            Push::Routes { full, add, del } => {
                if full {
                    self.routes.replace(from, &add);
                } else {
                    self.routes.apply(from, &add, &del);
                }
                None
            }
            Push::Clients { full, up, down } => {
                self.client_updates(from, full, up, down);
                None
            }
            Push::Forward {
                seq,
                direct,
                groups,
                msg,
            } => {
                {
                    let mut seen = self.inbound_seq.lock().unwrap_or_else(|e| e.into_inner());
                    let last = seen.entry(from).or_insert((epoch, 0));
                    if last.0 != epoch {
                        *last = (epoch, 0);
                    }
                    if seq <= last.1 {
                        debug!(from, seq, "duplicate forward skipped");
                        return Some(seq);
                    }
                    last.1 = seq;
                }
                if let Some(b) = self.broker() {
                    deliver(&b, Arc::new((*msg).into_message()), direct, &groups);
                }
                Some(seq)
            }
            Push::Ack { .. } | Push::Ping => None,
            Push::Stats(s) => {
                self.stats
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(from, s);
                None
            }
        }
    }

    /// This node's load figures, as sent to peers.
    pub(crate) fn local_stats(&self) -> Option<NodeStats> {
        let b = self.broker()?;
        Some(NodeStats {
            uptime_ms: b.started_at.elapsed().as_millis() as u64,
            connections: b.registry.len() as u64,
            live_connections: b.registry.connected_count() as u64,
            subscriptions: b.router.subscription_count() as u64,
            topics: b.router.topic_count() as u64,
            retained: b.retained.len() as u64,
            version: linkmq_core::sys::VERSION.to_string(),
            extra: self.stats_extras(),
        })
    }
}

/// A message forwarded by a peer: local direct subscribers, and one member of each group named.
fn deliver(b: &Broker, msg: Arc<Message>, direct: bool, groups: &[(String, String)]) {
    b.metrics.inc(Counter::MessagesReceived);
    if direct {
        let n = b.router.dispatch(&msg, &b.metrics);
        debug!(topic = %msg.topic, sessions = n, "forwarded message delivered");
    }
    for (filter, group) in groups {
        b.router.dispatch_shared(&msg, filter, group, &b.metrics);
    }
}
