//! The Raft type configuration: node ids, node records, commands (what goes through the log) and
//! their results.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::wire::WireMessage;

/// A node's Raft id: a stable hash of its name (`name@host`), so the name alone identifies it.
pub type NodeId = u64;

/// FNV-1a of the node name.
pub fn node_id(name: &str) -> NodeId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A member as the membership records it: its name and where its cluster transport listens.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterNode {
    pub name: String,
    pub addr: String,
}

impl fmt::Display for ClusterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name, self.addr)
    }
}

/// A change to the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets the retained message of its topic.
    SetRetained(Box<WireMessage>),
    /// Clears the retained message of a topic.
    ClearRetained { topic: String },
    /// Replicated state of a layer above the cluster (e.g. Cluster Linking's external route
    /// table): handed to the handler registered for `kind` on every node but `origin`.
    App {
        origin: NodeId,
        kind: String,
        data: Vec<u8>,
    },
}

/// What applying a command answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {}

openraft::declare_raft_types!(
    /// linkmq's Raft types.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = NodeId,
        Node = ClusterNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, ClusterNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, ClusterNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
