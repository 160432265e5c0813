//! The linkmq cluster: several nodes acting as one broker.
//!
//! What must agree goes through Raft ([`raft`], openraft with its log and state machine on disk
//! under `node.data_dir`): the membership and the retained messages. What each node owns is
//! replicated node-to-node over the authenticated [`transport`]: its routes ([`routes`]) and its
//! client ids ([`registry`]). Publishes are forwarded once per interested node, in order per
//! publisher ([`forward`]); a client reconnecting on another node gets its session moved
//! ([`takeover`]). Operators drive membership with [`membership`] (join, leave, force-leave,
//! status), reachable through the local control socket ([`ctl`]).
//!
//! `core` does not know this crate: it plugs in through core's hooks (route listener, forwarder,
//! session directory, shared-dispatch delegation). Entry point: [`Cluster::start`].

pub mod ctl;
pub mod forward;
pub mod membership;
pub mod options;
pub mod raft;
pub mod registry;
pub mod retained_order;
pub mod routes;
pub mod takeover;
pub mod transport;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use linkmq_core::Broker;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use membership::{ClusterStatus, MemberStatus};
pub use options::{ClusterOptions, ClusterTimers, DEFAULT_PORT, Discovery, TIMERS_ENV};
pub use raft::types::{ClusterNode, NodeId, node_id};
pub use transport::NodeStats;

use crate::raft::types::{Command, Raft};
use crate::routes::{LocalState, RouteTable};
use crate::transport::peer::PeerLink;

/// Why the cluster could not start or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster transport: cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cluster storage under {path}: {message}")]
    Storage { path: String, message: String },
    #[error("{0}")]
    Raft(String),
    #[error("{0}")]
    Op(String),
}

/// Waits until `db` has no holder but the caller (Raft's workers stop shortly after Raft).
async fn storage_released(db: &Arc<redb::Database>, ours: usize) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(db) > ours && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One node's part in the cluster. Shared by every task of the crate.
pub struct Cluster {
    /// This node.
    pub me: ClusterNode,
    pub id: NodeId,
    pub opts: ClusterOptions,
    /// Changes on every process start: peers use it to tell a restarted node from a reconnect.
    pub epoch: u64,
    broker: Weak<Broker>,
    pub(crate) raft: RwLock<Option<Raft>>,
    /// The Raft storage; taken on shutdown so the file is closed.
    pub(crate) db: Mutex<Option<Arc<redb::Database>>>,
    pub(crate) peers: RwLock<HashMap<NodeId, Arc<PeerLink>>>,
    /// Signalled when a link is added to `peers` (wakes the membership watch of a lone node).
    pub(crate) peer_added: tokio::sync::Notify,
    pub(crate) local: Mutex<LocalState>,
    pub(crate) routes: RouteTable,
    pub(crate) directory: registry::Directory,
    /// Last forward handled per sending node: (its epoch, sequence).
    pub(crate) inbound_seq: Mutex<HashMap<NodeId, (u64, u64)>>,
    pub(crate) stats: Mutex<HashMap<NodeId, NodeStats>>,
    /// Nodes removed from the membership: their pushes are ignored until they join again.
    pub(crate) removed: Mutex<HashSet<NodeId>>,
    /// Members as last seen in the Raft membership (to notice removals).
    pub(crate) members: Mutex<HashMap<NodeId, ClusterNode>>,
    pub(crate) proposals: mpsc::Sender<Command>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// Serializes join/leave on this node.
    pub(crate) membership_op: tokio::sync::Mutex<()>,
    /// Serializes membership changes this node carries out for others.
    pub(crate) admit_op: tokio::sync::Mutex<()>,
    /// Where Raft runs (see [`raft::thread`]).
    pub(crate) raft_thread: raft::thread::RaftThread,
    /// The clients' runtime: what Raft's calls spawn (peer links) runs here, not on Raft's thread.
    pub(crate) runtime: tokio::runtime::Handle,
    /// Handlers of replicated application commands.
    pub(crate) app: Arc<raft::state_machine::AppHandlers>,
    /// This node's retained writes on their way through Raft.
    pub(crate) own_retained: Arc<retained_order::OwnRetainedWrites>,
    /// Providers of the extra figures this node reports to the others.
    extras: RwLock<Vec<(String, StatsExtra)>>,
    /// Mutual TLS between nodes (`rpc.driver = ssl`).
    pub(crate) tls: Option<transport::tls::ClusterTls>,
}

/// Produces one extra figure (JSON text) for the load report; see [`Cluster::set_stats_extra`].
pub type StatsExtra = Arc<dyn Fn() -> String + Send + Sync>;

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("me", &self.me).finish()
    }
}

impl Cluster {
    /// Starts this node's part: opens the Raft storage, binds the transport, plugs into `broker`
    /// (route listener, forwarder, session directory, shared dispatch) and starts discovery.
    pub async fn start(
        broker: &Arc<Broker>,
        opts: ClusterOptions,
        tracker: &TaskTracker,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let dir = opts.data_dir.join("cluster");
        let storage_err = |m: String| ClusterError::Storage {
            path: dir.display().to_string(),
            message: m,
        };
        std::fs::create_dir_all(&dir).map_err(|e| storage_err(e.to_string()))?;
        let db = redb::Database::create(dir.join("raft.redb"))
            .map_err(|e| storage_err(e.to_string()))?;
        let tls = match &opts.tls {
            Some(f) => Some(transport::tls::ClusterTls::load(f).map_err(ClusterError::Op)?),
            None => None,
        };
        let listener = transport::server::bind(&opts).await?;
        let port = listener
            .local_addr()
            .map_err(|e| ClusterError::Bind {
                addr: opts.listen,
                source: e,
            })?
            .port();
        let name = options::bare_name(&opts.node_name);
        let me = ClusterNode {
            addr: format!("{}:{port}", options::host_of(&name)),
            name,
        };
        let (ptx, prx) = mpsc::channel(10_000);
        let raft_thread = raft::thread::RaftThread::start()
            .map_err(|e| ClusterError::Op(format!("cannot start the Raft thread: {e}")))?;
        let cluster = Arc::new(Cluster {
            id: node_id(&me.name),
            me,
            epoch: linkmq_core::message::next_message_id() as u64 ^ rand::random::<u64>(),
            broker: Arc::downgrade(broker),
            raft: RwLock::new(None),
            db: Mutex::new(Some(Arc::new(db))),
            peers: RwLock::new(HashMap::new()),
            peer_added: tokio::sync::Notify::new(),
            local: Mutex::new(LocalState::default()),
            routes: RouteTable::default(),
            directory: registry::Directory::default(),
            inbound_seq: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            removed: Mutex::new(HashSet::new()),
            members: Mutex::new(HashMap::new()),
            proposals: ptx,
            cancel: broker.shutdown.child_token(),
            tracker: tracker.clone(),
            membership_op: tokio::sync::Mutex::new(()),
            admit_op: tokio::sync::Mutex::new(()),
            raft_thread,
            runtime: tokio::runtime::Handle::current(),
            app: Arc::default(),
            own_retained: Arc::default(),
            extras: RwLock::new(Vec::new()),
            tls,
            opts,
        });
        info!(node = %cluster.me.name, addr = %cluster.me.addr, "cluster transport listening");
        let raft = raft::start(&cluster, broker).await?;
        *cluster.raft.write().unwrap_or_else(|e| e.into_inner()) = Some(raft);
        tracker.spawn(transport::server::run(cluster.clone(), listener));
        broker.router.delegate_shared();
        broker.add_route_listener(Arc::new(forward::ClusterRoutes(cluster.clone())));
        broker.add_forwarder(Arc::new(forward::ClusterForwarder(cluster.clone())));
        broker
            .registry
            .set_directory(Arc::new(registry::ClusterDirectory(cluster.clone())));
        tracker.spawn(forward::proposer(cluster.clone(), prx));
        tracker.spawn(membership::watch(cluster.clone()));
        tracker.spawn(membership::discover(cluster.clone()));
        tracker.spawn(ctl::serve(cluster.clone()));
        Ok(cluster)
    }

    /// Stops this node's part: links, Raft (its storage file is closed once Raft has stopped).
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let raft = self.raft.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(r) = raft {
            let _ = r.shutdown().await;
        }
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(db) = db {
            storage_released(&db, 1).await;
        }
        for p in self.all_peers() {
            p.cancel.cancel();
        }
        self.raft_thread.stop();
    }

    /// Stops Raft and waits until its workers let go of the storage (so it can be wiped or closed).
    pub(crate) async fn stop_raft(&self) {
        let raft = self.raft.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(r) = raft {
            let _ = r.shutdown().await;
        }
        if let Ok(db) = self.db() {
            storage_released(&db, 2).await;
        }
    }

    pub(crate) fn db(&self) -> Result<Arc<redb::Database>, ClusterError> {
        self.db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| ClusterError::Op("shutting down".into()))
    }

    /// The broker this node serves (gone only during shutdown).
    pub fn broker(&self) -> Option<Arc<Broker>> {
        self.broker.upgrade()
    }

    /// The current Raft instance (replaced when the node joins or leaves a cluster).
    pub fn raft(&self) -> Option<Raft> {
        self.raft.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn peer(&self, id: NodeId) -> Option<Arc<PeerLink>> {
        self.peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    pub(crate) fn all_peers(&self) -> Vec<Arc<PeerLink>> {
        self.peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The link to `node`, started if there is none (or its address changed).
    pub(crate) fn ensure_peer(self: &Arc<Self>, node: &ClusterNode) -> Arc<PeerLink> {
        let id = node_id(&node.name);
        if let Some(p) = self.peer(id)
            && p.addr() == node.addr
        {
            return p;
        }
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = peers.get(&id) {
            if p.addr() == node.addr {
                return p.clone();
            }
            p.set_addr(&node.addr);
            return p.clone();
        }
        let link = PeerLink::new(node.clone(), self.cancel.child_token());
        peers.insert(id, link.clone());
        self.local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stashes
            .entry(id)
            .or_default();
        self.tracker.spawn_on(
            transport::peer::run(self.clone(), link.clone()),
            &self.runtime,
        );
        self.peer_added.notify_one();
        link
    }

    /// Stops the link to `id` and forgets what it replicated here.
    pub(crate) fn drop_peer(&self, id: NodeId) {
        let link = self
            .peers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(l) = link {
            l.cancel.cancel();
        }
        self.local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stashes
            .remove(&id);
        self.forget_node_state(id);
    }

    /// Drops the routes and client ids `id` replicated here.
    pub(crate) fn forget_node_state(&self, id: NodeId) {
        let n = self.routes.drop_node(id);
        self.directory.drop_node(id);
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if n > 0 {
            info!(node = id, routes = n, "routes of a node dropped");
        }
    }

    /// Replicates `data` of `kind` through Raft to every other node's handler for `kind` (in log
    /// order; waits for quorum in the background). Never blocks.
    pub fn replicate(&self, kind: &str, data: Vec<u8>) -> bool {
        self.proposals
            .try_send(Command::App {
                origin: self.id,
                kind: kind.to_string(),
                data,
            })
            .is_ok()
    }

    /// Registers the handler of replicated commands of `kind` (called with the origin node). It
    /// runs on the Raft thread: it should return quickly, and start any task on a runtime handle
    /// it took when registered.
    pub fn on_replicated(&self, kind: &str, handler: raft::state_machine::AppHandler) {
        self.app.set(kind, handler);
    }

    /// Adds a figure (JSON text under `key`) to the load report this node sends the others.
    pub fn set_stats_extra(&self, key: &str, f: StatsExtra) {
        let mut e = self.extras.write().unwrap_or_else(|e| e.into_inner());
        e.retain(|(k, _)| k != key);
        e.push((key.to_string(), f));
    }

    pub(crate) fn stats_extras(&self) -> Vec<(String, String)> {
        self.extras
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, f)| (k.clone(), f()))
            .collect()
    }

    /// The routes node `node` holds as this node knows them, sorted: (filter, shared group).
    pub fn routes_of(&self, node: NodeId) -> Vec<(String, Option<String>)> {
        self.routes.routes_of(node)
    }

    /// The nodes other than this one that hold `client_id`, newest connect first.
    pub fn client_holders(&self, client_id: &str) -> Vec<(NodeId, u64)> {
        self.directory.holders(client_id)
    }

    /// Forwards queued for `node` and not yet acknowledged by it.
    pub fn queued_for(&self, node: NodeId) -> usize {
        self.peer(node).map(|p| p.queued()).unwrap_or(0)
    }

    /// Waits up to `within` for `f` to hold (tests and operations that wait for convergence).
    pub async fn wait_for(&self, within: Duration, mut f: impl FnMut(&Cluster) -> bool) -> bool {
        let until = tokio::time::Instant::now() + within;
        loop {
            if f(self) {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
