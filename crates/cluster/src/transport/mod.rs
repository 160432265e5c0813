//! The framed TCP transport between nodes: length-delimited frames carrying postcard-encoded
//! [`Frame`]s, after a mutual HMAC challenge over `node.cookie` ([`auth`]; the cookie itself never
//! crosses the wire).
//!
//! Each node keeps one outgoing connection per peer ([`peer::PeerLink`]): everything it sends to
//! that peer (Raft RPCs, route and client-id deltas, forwarded messages, takeover requests) goes
//! over it in order, and the answers (responses, forward acknowledgements) come back on it. The
//! accepting side ([`server`]) handles what arrives.

pub mod auth;
pub mod peer;
pub mod server;
pub mod tls;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::raft::types::{ClusterNode, Command, NodeId, TypeConfig};
use crate::wire::{WireMessage, WireSession};

/// A connection with nothing received for this many stats intervals is considered dead (a
/// partition does not close TCP connections by itself).
pub const SILENCE_LIMIT: u32 = 5;

/// Largest frame accepted (a Raft snapshot chunk or a big message).
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

/// Version of this protocol; nodes of different versions refuse each other.
pub const PROTOCOL: u32 = 1;

/// A route a node holds: (filter, shared-subscription group).
pub type WireRoute = (String, Option<String>);

/// Everything that crosses a node-to-node connection.
#[derive(Debug, Serialize, Deserialize)]
pub enum Frame {
    /// Connecting side: who it is, where its transport listens, and a fresh nonce.
    Hello {
        protocol: u32,
        node: String,
        addr: String,
        nonce: [u8; 32],
    },
    /// Accepting side: who it is, its nonce, and its proof of the cookie.
    Challenge {
        node: String,
        nonce: [u8; 32],
        proof: [u8; 32],
    },
    /// Connecting side: its proof of the cookie, and the incarnation of its process.
    Proof {
        proof: [u8; 32],
        epoch: u64,
    },
    /// Accepting side: authenticated.
    Welcome,
    Request {
        id: u64,
        req: Request,
    },
    Response {
        id: u64,
        resp: Response,
    },
    Push(Push),
}

/// A request that gets exactly one [`Response`].
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Vote(VoteRequest<NodeId>),
    Append(AppendEntriesRequest<TypeConfig>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Add this node to the cluster (handled by the leader; others forward it).
    Join(ClusterNode),
    /// Remove the named node from the cluster (leave, force-leave).
    Remove {
        node: String,
    },
    /// A replicated write, forwarded to the leader.
    Write(Command),
    /// Answer once every forward queued for the asking node so far has been acknowledged by it
    /// (a barrier before a session leaves that node: nothing acknowledged to a publisher is
    /// still on its way to the old session).
    Flush,
    /// Close this client id here (0x8E) and hand its session over when `want_session`.
    Takeover {
        client_id: String,
        want_session: bool,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Vote(VoteResponse<NodeId>),
    Append(AppendEntriesResponse<NodeId>),
    InstallSnapshot(InstallSnapshotResponse<NodeId>),
    Done,
    Session(Option<WireSession>),
    Error(String),
}

/// What a node's load and liveness look like to the others (for `/api/v5/nodes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    pub uptime_ms: u64,
    pub connections: u64,
    pub live_connections: u64,
    pub subscriptions: u64,
    pub topics: u64,
    pub retained: u64,
    pub version: String,
    /// Figures of layers above the cluster, by key (e.g. Cluster Linking status), as JSON text.
    pub extra: Vec<(String, String)>,
}

/// One-way, ordered traffic.
#[derive(Debug, Serialize, Deserialize)]
pub enum Push {
    /// The sender's routes: the whole set (`full`, replacing what the receiver had) or a delta.
    Routes {
        full: bool,
        add: Vec<WireRoute>,
        del: Vec<WireRoute>,
    },
    /// The sender's client ids with their connect time (ms), whole set or delta.
    Clients {
        full: bool,
        up: Vec<(String, u64)>,
        down: Vec<String>,
    },
    /// A message for the receiver's local subscribers: direct ones when `direct`, and one member of
    /// each (filter, group) listed.
    Forward {
        seq: u64,
        direct: bool,
        groups: Vec<(String, String)>,
        msg: Box<WireMessage>,
    },
    /// Every forward up to `seq` was handled (receiver → sender, on the same connection).
    Ack {
        seq: u64,
    },
    Stats(NodeStats),
    /// Liveness from the accepting side (the connecting side's stats serve the other way).
    Ping,
}

/// Reading half: frames in.
pub type FrameReader<R> = FramedRead<R, LengthDelimitedCodec>;
/// Writing half: frames out.
pub type FrameWriter<W> = FramedWrite<W, LengthDelimitedCodec>;

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// Frames a split socket.
pub fn framed<R: AsyncRead, W: AsyncWrite>(r: R, w: W) -> (FrameReader<R>, FrameWriter<W>) {
    (FramedRead::new(r, codec()), FramedWrite::new(w, codec()))
}

/// Encodes a frame.
pub fn encode(f: &Frame) -> std::io::Result<Bytes> {
    postcard::to_allocvec(f)
        .map(Bytes::from)
        .map_err(std::io::Error::other)
}

/// Sends one frame (buffered; call `flush` after a batch, or use [`send`]).
pub async fn feed<W: AsyncWrite + Unpin>(w: &mut FrameWriter<W>, f: &Frame) -> std::io::Result<()> {
    w.feed(encode(f)?).await
}

/// Writes out what [`feed`] buffered.
pub async fn flush<W: AsyncWrite + Unpin>(w: &mut FrameWriter<W>) -> std::io::Result<()> {
    SinkExt::<Bytes>::flush(w).await
}

/// Sends one frame and flushes.
pub async fn send<W: AsyncWrite + Unpin>(w: &mut FrameWriter<W>, f: &Frame) -> std::io::Result<()> {
    w.send(encode(f)?).await
}

/// Reads one frame; `Ok(None)` at end of stream.
pub async fn recv<R: AsyncRead + Unpin>(r: &mut FrameReader<R>) -> std::io::Result<Option<Frame>> {
    match r.next().await {
        None => Ok(None),
        Some(Err(e)) => Err(e),
        Some(Ok(b)) => postcard::from_bytes(&b)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
    }
}
