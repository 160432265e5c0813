//! Membership: who is in the cluster (the Raft membership), how nodes get in and out (join,
//! leave, force-leave, static seeds), and what each member looks like now (status).
//!
//! A fresh node with `manual` discovery starts as a one-node cluster of its own; `join` discards
//! that state (as EMQX does) and asks the seed's leader to add it. With `static` discovery the
//! first seed by name starts the cluster and every other node joins a seed until it is in. A
//! restarted node comes back with its stored log and membership and needs nothing. Losing quorum
//! stops only cluster-wide writes: they wait, and local clients go on being served.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::options::{Discovery, bare_name, transport_addr};
use crate::raft::types::{ClusterNode, Command, NodeId, node_id};
use crate::transport::peer::dial;
use crate::transport::{Frame, NodeStats, Request, Response, recv, send};
use crate::{Cluster, ClusterError};

/// How long an operator's membership change may wait for the cluster.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// One member as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub node: String,
    pub addr: String,
    /// `running` (this node, or connected) or `stopped` (unreachable).
    pub status: String,
    pub voter: bool,
    pub leader: bool,
    /// The member's load figures as last reported (this node's own for itself).
    pub stats: Option<NodeStats>,
}

/// The cluster as this node sees it (`linkmq ctl cluster status`, `/api/v5/nodes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node: String,
    pub leader: Option<String>,
    pub members: Vec<MemberStatus>,
    pub running_nodes: Vec<String>,
    pub stopped_nodes: Vec<String>,
}

type WriteErr = RaftError<NodeId, ClientWriteError<NodeId, ClusterNode>>;

fn leader_of(e: &WriteErr) -> Option<(NodeId, ClusterNode)> {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            Some((f.leader_id?, f.leader_node.clone()?))
        }
        _ => None,
    }
}

impl Cluster {
    /// The current members (id → node) per the Raft membership.
    pub fn members(&self) -> BTreeMap<NodeId, ClusterNode> {
        match self.raft() {
            Some(r) => node_map(&r.metrics().borrow().membership_config),
            None => BTreeMap::new(),
        }
    }

    pub(crate) fn is_member(&self, id: NodeId) -> bool {
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&id)
    }

    pub(crate) fn is_removed(&self, id: NodeId) -> bool {
        self.removed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }

    pub(crate) fn member_name(&self, id: NodeId) -> Option<String> {
        if let Some(n) = self
            .members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Some(n.name.clone());
        }
        self.peer(id).map(|p| p.node.name.clone())
    }

    /// Applies a replicated write: on the leader, or forwarded to it. Fails without quorum.
    pub async fn write(&self, cmd: Command) -> Result<(), ClusterError> {
        let raft = self
            .raft()
            .ok_or_else(|| ClusterError::Raft("raft not running".into()))?;
        let r = tokio::time::timeout(OP_TIMEOUT, raft.client_write(cmd.clone())).await;
        match r {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => match leader_of(&e) {
                Some((id, _)) if id == self.id => Err(ClusterError::Raft(e.to_string())),
                Some((id, node)) => {
                    let link = self.peer(id).unwrap_or_else(|| {
                        // Not linked yet: the membership watcher links it soon.
                        crate::transport::peer::PeerLink::new(node, self.cancel.child_token())
                    });
                    match link.request(Request::Write(cmd), OP_TIMEOUT).await {
                        Ok(Response::Done) => Ok(()),
                        Ok(Response::Error(e)) => Err(ClusterError::Raft(e)),
                        Ok(other) => {
                            Err(ClusterError::Raft(format!("unexpected answer {other:?}")))
                        }
                        Err(e) => Err(ClusterError::Raft(e.to_string())),
                    }
                }
                None => Err(ClusterError::Raft(e.to_string())),
            },
            Err(_) => Err(ClusterError::Raft("no quorum: write timed out".into())),
        }
    }

    /// Waits (a while) until some node is known to lead; a fresh cluster is still electing.
    async fn wait_leader(&self) {
        self.wait_for(Duration::from_secs(5), |c| {
            c.raft()
                .is_some_and(|r| r.metrics().borrow().current_leader.is_some())
        })
        .await;
    }

    /// Adds `node` to the cluster (as a voter), on the leader or forwarded to it.
    pub(crate) async fn admit(self: &Arc<Self>, node: ClusterNode) -> Result<(), ClusterError> {
        let raft = self
            .raft()
            .ok_or_else(|| ClusterError::Op("raft not running".into()))?;
        if !raft.is_initialized().await.unwrap_or(false) {
            return Err(ClusterError::Op(format!(
                "{} is not in a cluster yet",
                self.me.name
            )));
        }
        self.wait_leader().await;
        // One membership change at a time on this node.
        let _admitting = self.admit_op.lock().await;
        let id = node_id(&node.name);
        self.removed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let known = self.members().get(&id).cloned();
        let first = match known {
            Some(n) if n == node => Ok(()),
            Some(_) => raft
                .change_membership(
                    ChangeMembers::SetNodes(BTreeMap::from([(id, node.clone())])),
                    true,
                )
                .await
                .map(|_| ()),
            None => raft.add_learner(id, node.clone(), true).await.map(|_| ()),
        };
        if let Err(e) = first {
            return self.forward_or_fail(e, Request::Join(node)).await;
        }
        let voter = raft
            .metrics()
            .borrow()
            .membership_config
            .voter_ids()
            .any(|v| v == id);
        if voter {
            return Ok(());
        }
        match raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
        {
            Ok(_) => {
                info!(node = %node.name, "node joined the cluster");
                Ok(())
            }
            Err(e) => self.forward_or_fail(e, Request::Join(node)).await,
        }
    }

    /// Removes the named node from the cluster, on the leader or forwarded to it.
    pub(crate) async fn remove_member(self: &Arc<Self>, name: &str) -> Result<(), ClusterError> {
        self.wait_leader().await;
        let raft = self
            .raft()
            .ok_or_else(|| ClusterError::Op("raft not running".into()))?;
        let name = bare_name(name);
        let id = node_id(&name);
        if !self.members().contains_key(&id) {
            return Err(ClusterError::Op(format!("node {name} is not a member")));
        }
        match raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
            .await
        {
            Ok(_) => {
                info!(node = %name, "node removed from the cluster");
                Ok(())
            }
            Err(e) => {
                self.forward_or_fail(e, Request::Remove { node: name })
                    .await
            }
        }
    }

    async fn forward_or_fail(
        self: &Arc<Self>,
        e: WriteErr,
        req: Request,
    ) -> Result<(), ClusterError> {
        match leader_of(&e) {
            Some((id, node)) if id != self.id => {
                let link = self.ensure_peer(&node);
                let _ = self
                    .wait_for(Duration::from_secs(3), |_| link.is_connected())
                    .await;
                match link.request(req, OP_TIMEOUT).await {
                    Ok(Response::Done) => Ok(()),
                    Ok(Response::Error(e)) => Err(ClusterError::Op(e)),
                    Ok(other) => Err(ClusterError::Op(format!("unexpected answer {other:?}"))),
                    Err(e) => Err(ClusterError::Op(e.to_string())),
                }
            }
            _ => Err(ClusterError::Op(format!(
                "no leader to change the membership: {e}"
            ))),
        }
    }

    /// Discards this node's cluster state and starts a fresh Raft (a one-node cluster when `alone`).
    async fn reset(self: &Arc<Self>, alone: bool) -> Result<(), ClusterError> {
        self.stop_raft().await;
        // Writes proposed to the discarded log may never be applied: none may hold others back.
        self.own_retained.clear();
        crate::raft::wipe(&*self.db()?).map_err(|e| ClusterError::Storage {
            path: self.opts.data_dir.display().to_string(),
            message: e.to_string(),
        })?;
        for p in self.all_peers() {
            self.drop_peer(p.id);
        }
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let broker = self
            .broker()
            .ok_or_else(|| ClusterError::Op("shutting down".into()))?;
        let raft = crate::raft::start(self, &broker).await?;
        if alone {
            raft.initialize(BTreeMap::from([(self.id, self.me.clone())]))
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        }
        *self.raft.write().unwrap_or_else(|e| e.into_inner()) = Some(raft);
        Ok(())
    }

    /// Sends one request to the node listening at `addr` over a connection of its own.
    async fn call_addr(&self, addr: &str, req: Request) -> Result<Response, ClusterError> {
        let (mut r, mut w, _) = dial(self, addr)
            .await
            .map_err(|e| ClusterError::Op(format!("cannot reach {addr}: {e}")))?;
        send(&mut w, &Frame::Request { id: 1, req })
            .await
            .map_err(|e| ClusterError::Op(e.to_string()))?;
        loop {
            match tokio::time::timeout(OP_TIMEOUT + Duration::from_secs(5), recv(&mut r)).await {
                Ok(Ok(Some(Frame::Response { resp, .. }))) => return Ok(resp),
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => {
                    return Err(ClusterError::Op(format!("{addr} closed the connection")));
                }
                Err(_) => return Err(ClusterError::Op(format!("no answer from {addr}"))),
            }
        }
    }

    /// Joins the cluster of `seed` (`name@host[:port]`), discarding this node's cluster state.
    pub async fn join(self: &Arc<Self>, seed: &str) -> Result<(), ClusterError> {
        let _op = self.membership_op.lock().await;
        let addr = transport_addr(seed);
        if bare_name(seed) == self.me.name || addr == self.me.addr {
            return Err(ClusterError::Op("cannot join itself".into()));
        }
        self.reset(false).await?;
        let r = self.call_addr(&addr, Request::Join(self.me.clone())).await;
        let r = match r {
            Ok(Response::Done) => Ok(()),
            Ok(Response::Error(e)) => Err(ClusterError::Op(e)),
            Ok(other) => Err(ClusterError::Op(format!("unexpected answer {other:?}"))),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            // Not joined: back to a cluster of its own.
            warn!(seed, error = %e, "join failed");
            self.reset(true).await?;
            return Err(e);
        }
        let me = self.id;
        self.wait_for(OP_TIMEOUT, |c| c.members().contains_key(&me))
            .await;
        info!(seed, "joined the cluster");
        Ok(())
    }

    /// Leaves the cluster; this node goes on as a cluster of its own.
    pub async fn leave(self: &Arc<Self>) -> Result<(), ClusterError> {
        let _op = self.membership_op.lock().await;
        let others = self.members().len() > 1;
        if others {
            self.remove_member(&self.me.name.clone()).await?;
        }
        self.reset(true).await?;
        info!("left the cluster");
        Ok(())
    }

    /// Removes another node from the cluster (it may be down).
    pub async fn force_leave(self: &Arc<Self>, node: &str) -> Result<(), ClusterError> {
        let _op = self.membership_op.lock().await;
        if bare_name(node) == self.me.name {
            return Err(ClusterError::Op(
                "a node cannot force-leave itself; use leave".into(),
            ));
        }
        self.remove_member(node).await
    }

    /// The cluster as this node sees it.
    pub fn status(&self) -> ClusterStatus {
        let (leader, voters) = match self.raft() {
            Some(r) => {
                let m = r.metrics().borrow().clone();
                let voters: BTreeSet<NodeId> = m.membership_config.voter_ids().collect();
                (m.current_leader, voters)
            }
            None => (None, BTreeSet::new()),
        };
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut members: Vec<MemberStatus> = self
            .members()
            .into_iter()
            .map(|(id, n)| {
                let running = id == self.id || self.peer(id).is_some_and(|p| p.is_connected());
                MemberStatus {
                    node: n.name.clone(),
                    addr: n.addr.clone(),
                    status: if running { "running" } else { "stopped" }.into(),
                    voter: voters.contains(&id),
                    leader: leader == Some(id),
                    stats: if id == self.id {
                        self.local_stats()
                    } else if running {
                        stats.get(&id).cloned()
                    } else {
                        None
                    },
                }
            })
            .collect();
        if members.is_empty() {
            members.push(MemberStatus {
                node: self.me.name.clone(),
                addr: self.me.addr.clone(),
                status: "running".into(),
                voter: false,
                leader: false,
                stats: self.local_stats(),
            });
        }
        members.sort_by(|a, b| a.node.cmp(&b.node));
        let running_nodes = members
            .iter()
            .filter(|m| m.status == "running")
            .map(|m| m.node.clone())
            .collect();
        let stopped_nodes = members
            .iter()
            .filter(|m| m.status != "running")
            .map(|m| m.node.clone())
            .collect();
        ClusterStatus {
            node: self.me.name.clone(),
            leader: leader.and_then(|l| self.member_name(l)),
            members,
            running_nodes,
            stopped_nodes,
        }
    }
}

/// How often [`watch`] looks at the peer links while the node has company.
const WATCH_TICK: Duration = Duration::from_millis(100);

/// Keeps the peer links in line with the membership: links new members, drops removed ones with
/// their routes and client ids, and drops the routes of members unreachable for too long.
///
/// While the node has peers (or no Raft yet) it looks every [`WATCH_TICK`], since a link's down
/// time only grows with the clock. A node alone in its cluster has no link to watch: it waits for
/// Raft to report a change of membership or leader, or for a link to be added, so an idle lone
/// broker is not woken ten times a second for nothing (each such wake-up that meets a client's
/// packet delays that packet).
pub(crate) async fn watch(cluster: Arc<Cluster>) {
    let mut purged: BTreeSet<NodeId> = BTreeSet::new();
    let mut cleaning: BTreeSet<NodeId> = BTreeSet::new();
    let mut tick = tokio::time::interval(WATCH_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut server = None;
    // Look once at the start, and at once whenever a new Raft is found (what it reported before
    // it was subscribed to is not reported again).
    let mut look_now = true;
    loop {
        if server.is_none() {
            // A Raft whose core has stopped (its reports closed) counts as none: polled, not
            // waited on, so a closed report cannot spin this loop.
            server = cluster.raft().and_then(|r| open(r.server_metrics()));
            look_now |= server.is_some();
        }
        if cluster.cancel.is_cancelled() {
            return;
        }
        let alone = server
            .as_ref()
            .is_some_and(|rx| is_alone(&cluster, &members_in(rx)));
        if !std::mem::take(&mut look_now) {
            tokio::select! {
                _ = cluster.cancel.cancelled() => return,
                _ = tick.tick(), if !alone => {}
                _ = cluster.peer_added.notified(), if alone => {}
                changed = changed(&mut server), if alone => {
                    if !changed {
                        // This Raft stopped (the node joins or leaves a cluster): find the next.
                        server = None;
                    }
                }
            }
        }
        // The membership of the report just waited on: openraft sends its server report before
        // its full metrics, so `cluster.members()` (the full metrics) can still be the old one
        // here, and this report would never be looked at again.
        let now = server.as_mut().map(|rx| {
            rx.borrow_and_update();
            members_in(rx)
        });
        let now = now.unwrap_or_else(|| cluster.members());
        if now.is_empty() {
            continue;
        }
        let before: HashMap<NodeId, ClusterNode> = std::mem::replace(
            &mut *cluster.members.lock().unwrap_or_else(|e| e.into_inner()),
            now.iter().map(|(k, v)| (*k, v.clone())).collect(),
        );
        for (id, node) in &now {
            if *id == cluster.id {
                continue;
            }
            cluster
                .removed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
            if cluster.peer(*id).is_none() {
                cluster.ensure_peer(node);
            }
        }
        for (id, node) in before {
            if !now.contains_key(&id) && id != cluster.id {
                info!(node = %node.name, "node left the cluster: dropping its routes and client ids");
                cluster
                    .removed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id);
                cluster.drop_peer(id);
            }
        }
        for p in cluster.all_peers() {
            if p.is_connected() {
                purged.remove(&p.id);
            } else if p.down_for() >= cluster.opts.timers.purge && purged.insert(p.id) {
                warn!(node = %p.node.name, "node unreachable too long: dropping its routes until it returns");
                cluster.forget_node_state(p.id);
            }
            // cluster.autoclean: the leader removes a member down for that long.
            let leader = cluster
                .raft()
                .is_some_and(|r| r.metrics().borrow().current_leader == Some(cluster.id));
            if let Some(after) = cluster.opts.autoclean
                && leader
                && !p.is_connected()
                && p.down_for() >= after
                && cluster.is_member(p.id)
                && cleaning.insert(p.id)
            {
                warn!(node = %p.node.name, "node down longer than cluster.autoclean: removing it");
                let c = cluster.clone();
                let name = p.node.name.clone();
                cluster.tracker.spawn(async move {
                    if let Err(e) = c.remove_member(&name).await {
                        warn!(node = %name, error = %e, "autoclean failed");
                    }
                });
            }
            if p.is_connected() {
                cleaning.remove(&p.id);
            }
        }
    }
}

/// No member but this node, and no link to any other.
fn is_alone(cluster: &Cluster, members: &BTreeMap<NodeId, ClusterNode>) -> bool {
    members.keys().all(|id| *id == cluster.id) && cluster.all_peers().is_empty()
}

/// The members (id → node) in Raft's latest server report.
fn members_in(rx: &ServerReport) -> BTreeMap<NodeId, ClusterNode> {
    node_map(&rx.borrow().membership_config)
}

/// The members (id → node) of a Raft membership.
fn node_map(m: &openraft::StoredMembership<NodeId, ClusterNode>) -> BTreeMap<NodeId, ClusterNode> {
    m.nodes().map(|(id, n)| (*id, n.clone())).collect()
}

type ServerReport =
    tokio::sync::watch::Receiver<openraft::metrics::RaftServerMetrics<NodeId, ClusterNode>>;

/// `rx`, unless its sender is gone.
fn open<T>(rx: tokio::sync::watch::Receiver<T>) -> Option<tokio::sync::watch::Receiver<T>> {
    rx.has_changed().is_ok().then_some(rx)
}

/// Waits for the next report of `rx`; false once its sender is gone.
async fn changed<T>(rx: &mut Option<tokio::sync::watch::Receiver<T>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// At start: a fresh node founds or joins a cluster per `cluster.discovery_strategy`.
pub(crate) async fn discover(cluster: Arc<Cluster>) {
    let Some(raft) = cluster.raft() else { return };
    if raft.is_initialized().await.unwrap_or(true) {
        info!(
            members = cluster.members().len(),
            "cluster state restored from disk"
        );
        // Restarted on another transport address: record the new one in the membership.
        loop {
            let recorded = cluster.members().get(&cluster.id).map(|n| n.addr.clone());
            if recorded.is_none() || recorded.as_deref() == Some(cluster.me.addr.as_str()) {
                return;
            }
            if cluster.admit(cluster.me.clone()).await.is_ok() {
                info!(addr = %cluster.me.addr, "transport address updated in the membership");
                return;
            }
            tokio::select! {
                _ = cluster.cancel.cancelled() => return,
                _ = tokio::time::sleep(cluster.opts.timers.reconnect.max(Duration::from_millis(300))) => {}
            }
        }
    }
    let seeds: Vec<String> = match &cluster.opts.discovery {
        Discovery::Manual => Vec::new(),
        Discovery::Static(s) => s.clone(),
    };
    let others: Vec<&String> = seeds
        .iter()
        .filter(|s| bare_name(s) != cluster.me.name)
        .collect();
    // The first seed by name founds the cluster; a node that is no seed always joins one.
    let is_seed = seeds.iter().any(|s| bare_name(s) == cluster.me.name);
    let founder = is_seed && others.iter().all(|s| bare_name(s) > cluster.me.name);
    if others.is_empty() || founder {
        if let Err(e) = raft
            .initialize(BTreeMap::from([(cluster.id, cluster.me.clone())]))
            .await
        {
            warn!(error = %e, "cannot start a one-node cluster");
        }
        return;
    }
    loop {
        for seed in &others {
            if cluster.cancel.is_cancelled() {
                return;
            }
            let addr = transport_addr(seed);
            match cluster
                .call_addr(&addr, Request::Join(cluster.me.clone()))
                .await
            {
                Ok(Response::Done) => {
                    info!(seed = %seed, "joined the cluster through a seed");
                    return;
                }
                Ok(resp) => info!(seed = %seed, answer = ?resp, "seed did not admit us yet"),
                Err(e) => info!(seed = %seed, error = %e, "seed not reachable yet"),
            }
        }
        tokio::select! {
            _ = cluster.cancel.cancelled() => return,
            _ = tokio::time::sleep(cluster.opts.timers.reconnect.max(Duration::from_millis(300))) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_watch_waits_only_on_reports_that_can_still_come() {
        let (tx, rx) = tokio::sync::watch::channel(0u8);
        let mut open_rx = open(rx.clone());
        assert!(open_rx.is_some(), "a live sender's reports are waited on");
        tx.send(1).unwrap();
        assert!(changed(&mut open_rx).await, "a report wakes the watch");
        drop(tx);
        // Once the sender is gone: the wait ends with false (the watch drops it) ...
        assert!(!changed(&mut open_rx).await);
        // ... and the same closed reports are not taken again, so the loop cannot spin on them.
        assert!(open(rx).is_none());
        // No receiver: the wait never ends by itself.
        let mut none: Option<tokio::sync::watch::Receiver<u8>> = None;
        let waited = tokio::time::timeout(Duration::from_millis(20), changed(&mut none)).await;
        assert!(waited.is_err());
    }
}
