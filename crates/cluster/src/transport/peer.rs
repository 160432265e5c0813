//! The outgoing connection to one peer: reconnects with a pause, authenticates, sends this node's
//! routes and client ids in full, resends forwards not yet acknowledged, then streams requests,
//! deltas and forwards in order. Forwards wait in a bounded queue while the peer is away (oldest
//! dropped and counted when full), so a short outage loses nothing acknowledged to a publisher.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::tls::{BoxRead, BoxWrite};
use super::{Frame, FrameReader, FrameWriter, Push, Request, Response, auth, feed, recv, send};
use crate::Cluster;
use crate::raft::types::{ClusterNode, NodeId, node_id};
use crate::wire::WireMessage;

/// Forwards kept for a peer that is away; beyond this the oldest are dropped.
pub const MAX_QUEUED_FORWARDS: usize = 200_000;

/// One forward waiting for the peer's acknowledgement.
#[derive(Debug, Clone)]
struct QueuedForward {
    seq: u64,
    direct: bool,
    groups: Vec<(String, String)>,
    msg: Arc<WireMessage>,
}

/// Forward sequence numbers grow across all links of this process, so a link made again (after
/// a leave and a join) never reuses numbers its peer already saw from this process.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Default)]
struct Outbox {
    /// The last sequence given to a forward on this link.
    last_seq: u64,
    /// Sent or not, not acknowledged yet, in order.
    unacked: VecDeque<QueuedForward>,
    /// Highest sequence written on the current connection.
    sent_upto: u64,
}

type Pending = HashMap<u64, oneshot::Sender<Response>>;
/// A request and where its answer goes.
type RequestTx = mpsc::Sender<(Request, oneshot::Sender<Response>)>;
type RequestRx = mpsc::Receiver<(Request, oneshot::Sender<Response>)>;

/// This node's link to one peer.
pub struct PeerLink {
    pub node: ClusterNode,
    pub id: NodeId,
    addr: Mutex<String>,
    outbox: Mutex<Outbox>,
    notify: Notify,
    requests: RequestTx,
    requests_rx: Mutex<Option<RequestRx>>,
    connected: AtomicBool,
    /// When the link last went down (None while up or never up).
    down_since: Mutex<Option<Instant>>,
    pub dropped: AtomicU64,
    pub cancel: CancellationToken,
}

impl std::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLink")
            .field("node", &self.node)
            .finish()
    }
}

/// Why a request to a peer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("node {0} is not connected")]
    NotConnected(String),
    #[error("no answer from node {0} in time")]
    Timeout(String),
    #[error("connection to node {0} lost")]
    Lost(String),
}

impl PeerLink {
    pub(crate) fn new(node: ClusterNode, cancel: CancellationToken) -> Arc<PeerLink> {
        let (tx, rx) = mpsc::channel(1024);
        Arc::new(PeerLink {
            id: node_id(&node.name),
            addr: Mutex::new(node.addr.clone()),
            node,
            outbox: Mutex::new(Outbox::default()),
            notify: Notify::new(),
            requests: tx,
            requests_rx: Mutex::new(Some(rx)),
            connected: AtomicBool::new(false),
            down_since: Mutex::new(Some(Instant::now())),
            dropped: AtomicU64::new(0),
            cancel,
        })
    }

    pub fn addr(&self) -> String {
        self.addr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_addr(&self, a: &str) {
        *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = a.to_string();
    }

    /// True while the connection is up and authenticated.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// How long the link has been down (zero while up).
    pub fn down_for(&self) -> Duration {
        self.down_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// Wakes the link to send stashed deltas.
    pub(crate) fn wake(&self) {
        self.notify.notify_one();
    }

    /// Queues a forward (never blocks; the oldest is dropped when the queue is full).
    pub(crate) fn forward(
        &self,
        direct: bool,
        groups: Vec<(String, String)>,
        msg: Arc<WireMessage>,
    ) {
        {
            let mut o = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
            let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
            o.last_seq = seq;
            if o.unacked.len() >= MAX_QUEUED_FORWARDS {
                o.unacked.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            o.unacked.push_back(QueuedForward {
                seq,
                direct,
                groups,
                msg,
            });
        }
        self.notify.notify_one();
    }

    /// Forwards queued and not yet acknowledged.
    pub fn queued(&self) -> usize {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unacked
            .len()
    }

    /// Waits (up to `within`) until the peer acknowledged every forward queued so far; returns at
    /// once while it is not connected.
    pub async fn drained(&self, within: Duration) {
        let upto = self
            .outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_seq;
        let until = tokio::time::Instant::now() + within;
        while self.is_connected() && tokio::time::Instant::now() < until {
            let done = self
                .outbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unacked
                .front()
                .is_none_or(|f| f.seq > upto);
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends a request and waits for its answer (fails at once when the peer is not connected).
    pub async fn request(&self, req: Request, timeout: Duration) -> Result<Response, RequestError> {
        if !self.is_connected() {
            return Err(RequestError::NotConnected(self.node.name.clone()));
        }
        let (tx, rx) = oneshot::channel();
        if self.requests.try_send((req, tx)).is_err() {
            return Err(RequestError::Lost(self.node.name.clone()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(RequestError::Lost(self.node.name.clone())),
            Err(_) => Err(RequestError::Timeout(self.node.name.clone())),
        }
    }

    fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
        *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) =
            if up { None } else { Some(Instant::now()) };
    }
}

/// Connects to `addr` and authenticates as `cluster.me`; returns the framed halves and the peer's name.
pub(crate) async fn dial(
    cluster: &Cluster,
    addr: &str,
) -> std::io::Result<(FrameReader<BoxRead>, FrameWriter<BoxWrite>, String)> {
    let sock = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = sock.set_nodelay(true);
    let (r, w): (BoxRead, BoxWrite) = match &cluster.tls {
        Some(tls) => {
            let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            tokio::time::timeout(Duration::from_secs(5), tls.connect(host, sock))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??
        }
        None => {
            let (r, w) = sock.into_split();
            (Box::new(r), Box::new(w))
        }
    };
    let (mut r, mut w) = super::framed(r, w);
    let my_nonce = auth::nonce();
    send(
        &mut w,
        &Frame::Hello {
            protocol: super::PROTOCOL,
            node: cluster.me.name.clone(),
            addr: cluster.me.addr.clone(),
            nonce: my_nonce,
        },
    )
    .await?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::PermissionDenied, m.to_string());
    let step = Duration::from_secs(5);
    let Ok(Ok(Some(Frame::Challenge { node, nonce, proof }))) =
        tokio::time::timeout(step, recv(&mut r)).await
    else {
        return Err(bad(
            "no challenge from the peer (wrong cookie or protocol?)",
        ));
    };
    let cookie = &cluster.opts.cookie;
    let expected = auth::server_proof(cookie, &my_nonce, &nonce, &cluster.me.name, &node);
    if !auth::verify(&expected, &proof) {
        return Err(bad("the peer does not know our cookie"));
    }
    let mine = auth::client_proof(cookie, &my_nonce, &nonce, &cluster.me.name, &node);
    send(
        &mut w,
        &Frame::Proof {
            proof: mine,
            epoch: cluster.epoch,
        },
    )
    .await?;
    match tokio::time::timeout(step, recv(&mut r)).await {
        Ok(Ok(Some(Frame::Welcome))) => Ok((r, w, node)),
        _ => Err(bad("the peer refused our cookie")),
    }
}

/// The link's life: connect, sync, stream; again after a pause when the connection goes.
pub(crate) async fn run(cluster: Arc<Cluster>, link: Arc<PeerLink>) {
    let Some(mut requests) = link
        .requests_rx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    else {
        return;
    };
    let mut logged_down = false;
    loop {
        if link.cancel.is_cancelled() {
            return;
        }
        let addr = link.addr();
        let conn = tokio::select! {
            _ = link.cancel.cancelled() => return,
            c = dial(&cluster, &addr) => c,
        };
        match conn {
            Ok((r, w, name)) if name == link.node.name => {
                info!(peer = %link.node.name, %addr, "connected to cluster peer");
                logged_down = false;
                link.set_connected(true);
                let why = session(&cluster, &link, &mut requests, r, w).await;
                link.set_connected(false);
                info!(peer = %link.node.name, reason = %why, "cluster peer connection lost");
            }
            Ok((_, _, name)) => {
                warn!(peer = %link.node.name, %addr, found = %name, "a different node answers at this address");
            }
            Err(e) => {
                if !logged_down {
                    debug!(peer = %link.node.name, %addr, error = %e, "cannot reach cluster peer; retrying");
                    logged_down = true;
                }
            }
        }
        // Fail what waits for an answer on the lost connection.
        while let Ok((_, tx)) = requests.try_recv() {
            drop(tx);
        }
        tokio::select! {
            _ = link.cancel.cancelled() => return,
            _ = tokio::time::sleep(cluster.opts.timers.reconnect) => {}
        }
    }
}

/// One connection's worth of traffic; returns why it ended.
async fn session(
    cluster: &Arc<Cluster>,
    link: &Arc<PeerLink>,
    requests: &mut RequestRx,
    mut r: FrameReader<BoxRead>,
    mut w: FrameWriter<BoxWrite>,
) -> String {
    let mut pending: Pending = HashMap::new();
    let (routes, clients) = cluster
        .local
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .full_for(link.id);
    let full = [
        Frame::Push(Push::Routes {
            full: true,
            add: routes,
            del: Vec::new(),
        }),
        Frame::Push(Push::Clients {
            full: true,
            up: clients,
            down: Vec::new(),
        }),
    ];
    for f in &full {
        if let Err(e) = feed(&mut w, f).await {
            return e.to_string();
        }
    }
    {
        // Everything not acknowledged goes again; the peer skips what it already handled.
        let mut o = link.outbox.lock().unwrap_or_else(|e| e.into_inner());
        o.sent_upto = o.unacked.front().map(|f| f.seq - 1).unwrap_or(o.last_seq);
    }
    if let Some(s) = cluster.local_stats() {
        let _ = feed(&mut w, &Frame::Push(Push::Stats(s))).await;
    }
    let mut next_id: u64 = 1;
    let mut stats_tick = tokio::time::interval(cluster.opts.timers.stats);
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let silence = cluster.opts.timers.stats * super::SILENCE_LIMIT;
    let mut last_heard = tokio::time::Instant::now();
    link.notify.notify_one();
    loop {
        tokio::select! {
            _ = link.cancel.cancelled() => return "link stopped".into(),
            req = requests.recv() => {
                let Some((req, tx)) = req else { return "link closed".into() };
                let id = next_id;
                next_id += 1;
                pending.insert(id, tx);
                if let Err(e) = send(&mut w, &Frame::Request { id, req }).await {
                    return e.to_string();
                }
            }
            _ = link.notify.notified() => {
                if let Err(e) = flush_outgoing(cluster, link, &mut w).await {
                    return e.to_string();
                }
            }
            _ = stats_tick.tick() => {
                if last_heard.elapsed() > silence {
                    return format!("nothing heard for {silence:?}");
                }
                if let Some(s) = cluster.local_stats()
                    && let Err(e) = send(&mut w, &Frame::Push(Push::Stats(s))).await
                {
                    return e.to_string();
                }
            }
            f = recv(&mut r) => match f {
                Ok(Some(Frame::Push(Push::Ping))) => last_heard = tokio::time::Instant::now(),
                Ok(Some(Frame::Response { id, resp })) => {
                    last_heard = tokio::time::Instant::now();
                    if let Some(tx) = pending.remove(&id) {
                        let _ = tx.send(resp);
                    }
                }
                Ok(Some(Frame::Push(Push::Ack { seq }))) => {
                    last_heard = tokio::time::Instant::now();
                    let mut o = link.outbox.lock().unwrap_or_else(|e| e.into_inner());
                    while o.unacked.front().is_some_and(|f| f.seq <= seq) {
                        o.unacked.pop_front();
                    }
                }
                Ok(Some(other)) => debug!(peer = %link.node.name, frame = ?std::mem::discriminant(&other), "unexpected frame on an outgoing link"),
                Ok(None) => return "closed by peer".into(),
                Err(e) => return e.to_string(),
            }
        }
    }
}

/// Sends stashed route and client deltas, then forwards not yet written, in one flush.
async fn flush_outgoing(
    cluster: &Cluster,
    link: &PeerLink,
    w: &mut FrameWriter<BoxWrite>,
) -> std::io::Result<()> {
    let stash = cluster
        .local
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take_stash(link.id);
    if !stash.routes.is_empty() {
        let (mut add, mut del) = (Vec::new(), Vec::new());
        for (r, added) in stash.routes {
            if added { add.push(r) } else { del.push(r) }
        }
        feed(
            w,
            &Frame::Push(Push::Routes {
                full: false,
                add,
                del,
            }),
        )
        .await?;
    }
    if !stash.clients.is_empty() {
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for (c, ts) in stash.clients {
            match ts {
                Some(ts) => up.push((c, ts)),
                None => down.push(c),
            }
        }
        feed(
            w,
            &Frame::Push(Push::Clients {
                full: false,
                up,
                down,
            }),
        )
        .await?;
    }
    loop {
        let batch: Vec<QueuedForward> = {
            let mut o = link.outbox.lock().unwrap_or_else(|e| e.into_inner());
            let from = o.sent_upto;
            let batch: Vec<QueuedForward> = o
                .unacked
                .iter()
                .skip_while(|f| f.seq <= from)
                .take(256)
                .cloned()
                .collect();
            if let Some(last) = batch.last() {
                o.sent_upto = last.seq;
            }
            batch
        };
        if batch.is_empty() {
            break;
        }
        for f in batch {
            let frame = Frame::Push(Push::Forward {
                seq: f.seq,
                direct: f.direct,
                groups: f.groups,
                msg: Box::new((*f.msg).clone()),
            });
            feed(w, &frame).await?;
        }
    }
    super::flush(w).await
}
