//! openraft's network over the cluster transport: each RPC is a request on the link to the target
//! node, answered on the same connection. An unreachable node is reported as such, so openraft
//! backs off instead of failing.

use std::sync::Arc;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::types::{ClusterNode, NodeId, TypeConfig, node_id};
use crate::Cluster;
use crate::transport::peer::RequestError;
use crate::transport::{Request, Response};

/// Makes a [`RaftPeer`] per target node.
pub struct Network {
    pub(crate) cluster: Arc<Cluster>,
}

/// openraft's client for one target node.
pub struct RaftPeer {
    cluster: Arc<Cluster>,
    node: ClusterNode,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = RaftPeer;

    async fn new_client(&mut self, _target: NodeId, node: &ClusterNode) -> RaftPeer {
        RaftPeer {
            cluster: self.cluster.clone(),
            node: node.clone(),
        }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, ClusterNode, RaftError<NodeId, E>>;

fn other<E: std::error::Error>(e: String) -> RPCError<NodeId, ClusterNode, E> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(e)))
}

impl RaftPeer {
    async fn call<E: std::error::Error>(
        &self,
        req: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<NodeId, ClusterNode, E>> {
        // A link already made knows the address the node announced itself (it may have moved).
        let link = match self.cluster.peer(node_id(&self.node.name)) {
            Some(l) => l,
            None => self.cluster.ensure_peer(&self.node),
        };
        match link.request(req, option.hard_ttl()).await {
            Ok(Response::Error(e)) => Err(other(e)),
            Ok(r) => Ok(r),
            Err(e @ RequestError::NotConnected(_)) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for RaftPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        match self.call(Request::Append(rpc), &option).await? {
            Response::Append(r) => Ok(r),
            other_resp => Err(other(format!("unexpected answer {other_resp:?}"))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        match self.call(Request::InstallSnapshot(rpc), &option).await? {
            Response::InstallSnapshot(r) => Ok(r),
            other_resp => Err(other(format!("unexpected answer {other_resp:?}"))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        match self.call(Request::Vote(rpc), &option).await? {
            Response::Vote(r) => Ok(r),
            other_resp => Err(other(format!("unexpected answer {other_resp:?}"))),
        }
    }
}
