//! Client-id registry: which connection task owns which client id on this node, and the control
//! channel used to take a session over or kick a client.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use linkmq_codec::{Protocol, ReasonCode};
use tokio::sync::oneshot;

use crate::message::ClientId;
use crate::session::SessionState;

/// A request to the task that owns a client id.
#[derive(Debug)]
pub enum Control {
    /// A new connection with the same client id arrived [MQTT-3.1.4-3]: close the current connection
    /// (v5: DISCONNECT 0x8E) and hand the session over when `resume`, or discard it otherwise.
    Takeover {
        resume: bool,
        reply: oneshot::Sender<Option<Box<SessionState>>>,
    },
    /// Close the connection with `reason` and end the session (administrative kick, shutdown).
    Kick { reason: ReasonCode },
    /// Report the session's live state (the REST API's client view); answered at once, the owner
    /// goes on. Queued only while half the mailbox is free ([`ControlSender::try_send`]).
    Info { reply: oneshot::Sender<SessionInfo> },
    /// The broker is shutting down ([`Registry::shut_down_all`]): close the connection (v5:
    /// DISCONNECT 0x8B) and keep the session as the shutdown leaves it. Never queued: a flag in the
    /// mailbox, so a full mailbox cannot hold it back, handed out after what is queued.
    Shutdown,
}

/// A session's live state, as `GET /api/v5/clients` shows it (EMQX's field names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// Outbound QoS 1/2 messages sent and not yet acknowledged (`inflight_cnt`).
    pub inflight_cnt: usize,
    /// Messages queued for the client (`mqueue_len`).
    pub mqueue_len: usize,
    /// Inbound QoS 2 messages waiting for their PUBREL (`awaiting_rel_cnt`).
    pub awaiting_rel_cnt: usize,
    /// Session Expiry Interval in force, seconds (`expiry_interval`).
    pub expiry_interval: u32,
    /// When the session was created (`created_at`), ms since the Unix epoch.
    pub created_at_ms: u64,
    /// When its connection went, for a session kept without one (`disconnected_at`).
    pub disconnected_at_ms: Option<u64>,
    /// Messages its queue dropped to stay within `max_mqueue_len` (`mqueue_dropped`).
    pub mqueue_dropped: u64,
    /// Its connection's traffic, while it has one.
    pub conn: Option<ConnStats>,
}

/// What a connection has received and sent since its CONNACK (EMQX's `recv_pkt`, `recv_msg`,
/// `recv_oct`, `send_pkt`, `send_msg`, `send_oct`, which also count the CONNECT and CONNACK).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// MQTT packets received.
    pub recv_pkt: u64,
    /// PUBLISH packets received.
    pub recv_msg: u64,
    /// Bytes of the packets received.
    pub recv_oct: u64,
    /// MQTT packets sent.
    pub send_pkt: u64,
    /// PUBLISH packets sent.
    pub send_msg: u64,
    /// Bytes of the packets sent.
    pub send_oct: u64,
}

/// Control requests a mailbox holds before its owner takes them; one more is refused (the sender
/// gets it back). In practice the first takeover or kick ends the owner, so more than one rarely
/// waits; [`Control::Info`] queries may take only half, so they never crowd those out.
pub const CONTROL_CAPACITY: usize = 8;

/// Why a control request was not delivered; the request comes back with the error.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The owner is gone (its receiving end was dropped).
    #[error("the client's owner is gone")]
    Closed(Control),
    /// [`CONTROL_CAPACITY`] requests are waiting already.
    #[error("the client's control mailbox is full")]
    Full(Control),
}

/// A connection's control mailbox: a bounded queue with a single waker. Much lighter than a tokio
/// mpsc channel, whose first block of slots is allocated up front: an idle connection holds one
/// small allocation for it.
#[derive(Debug)]
struct Mailbox {
    /// Oldest first; a Vec (8 bytes less than a VecDeque) as it never holds more than
    /// [`CONTROL_CAPACITY`].
    queue: Vec<Control>,
    waker: Option<Waker>,
    /// Live [`ControlSender`]s; with none left (and nothing queued) `recv` returns `None`.
    senders: u32,
    /// The receiver was dropped.
    closed: bool,
    /// [`Control::Shutdown`] is due (once).
    shutdown: bool,
}

/// The sending side of a connection's control mailbox (kept in its registry entry).
#[derive(Debug)]
pub struct ControlSender(Arc<Mutex<Mailbox>>);

/// The receiving side of a connection's control mailbox (owned by the connection's task).
#[derive(Debug)]
pub struct ControlReceiver(Arc<Mutex<Mailbox>>);

/// A new control mailbox.
pub fn control_mailbox() -> (ControlSender, ControlReceiver) {
    let inner = Arc::new(Mutex::new(Mailbox {
        queue: Vec::new(),
        waker: None,
        senders: 1,
        closed: false,
        shutdown: false,
    }));
    (ControlSender(inner.clone()), ControlReceiver(inner))
}

fn lock_mailbox(m: &Mutex<Mailbox>) -> MutexGuard<'_, Mailbox> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ControlSender {
    /// Queues `c` for the owner without waiting; refused when the owner is gone or the mailbox full
    /// (for a [`Control::Info`] query, half full).
    pub fn try_send(&self, c: Control) -> Result<(), ControlError> {
        self.change(|m| {
            if m.closed {
                return Err(ControlError::Closed(c));
            }
            let room = if matches!(c, Control::Info { .. }) {
                CONTROL_CAPACITY / 2
            } else {
                CONTROL_CAPACITY
            };
            if m.queue.len() >= room {
                return Err(ControlError::Full(c));
            }
            m.queue.push(c);
            Ok(())
        })
    }

    /// Hands the owner [`Control::Shutdown`]: room or not, once.
    pub fn shut_down(&self) {
        let _ = self.change(|m| {
            if m.closed {
                return Err(());
            }
            m.shutdown = true;
            Ok(())
        });
    }

    /// Applies `f` to the mailbox; when it succeeds, wakes the owner if it waits (outside the
    /// lock, so the woken owner does not contend for it).
    fn change<E>(&self, f: impl FnOnce(&mut Mailbox) -> Result<(), E>) -> Result<(), E> {
        let waker = {
            let mut m = lock_mailbox(&self.0);
            f(&mut m)?;
            m.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl Clone for ControlSender {
    fn clone(&self) -> Self {
        lock_mailbox(&self.0).senders += 1;
        ControlSender(self.0.clone())
    }
}

impl Drop for ControlSender {
    fn drop(&mut self) {
        // The last sender gone: the owner's next receive ends (None).
        let _ = self.change(|m| {
            m.senders -= 1;
            if m.senders > 0 { Err(()) } else { Ok(()) }
        });
    }
}

impl ControlReceiver {
    /// The next request, or `None` once every sender is gone and nothing is queued. Cancel safe.
    pub async fn recv(&mut self) -> Option<Control> {
        std::future::poll_fn(|cx| {
            let mut m = lock_mailbox(&self.0);
            if !m.queue.is_empty() {
                return Poll::Ready(Some(m.queue.remove(0)));
            }
            if std::mem::take(&mut m.shutdown) {
                return Poll::Ready(Some(Control::Shutdown));
            }
            if m.senders == 0 {
                return Poll::Ready(None);
            }
            if !m.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                m.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl Drop for ControlReceiver {
    fn drop(&mut self) {
        // Requests still queued are dropped here, not when the last sender goes: a takeover's reply
        // channel closes at once, so the new connection does not wait for an owner that is gone.
        let (queue, waker) = {
            let mut m = lock_mailbox(&self.0);
            m.closed = true;
            (std::mem::take(&mut m.queue), m.waker.take())
        };
        drop((queue, waker));
    }
}

/// What the registry knows of a connected (or detached) client.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub client_id: ClientId,
    pub username: Option<String>,
    pub peer: Option<SocketAddr>,
    pub protocol: Protocol,
    pub keep_alive: u16,
    pub clean_start: bool,
    pub connected_at_ms: u64,
    /// The listener the client came in on, e.g. `tcp:default`.
    pub listener: Arc<str>,
    /// The TLS client certificate's identity, when one was presented (boxed: most clients have
    /// none, and every connection holds a `ClientInfo`).
    pub peer_cert: Option<Box<PeerCert>>,
}

impl ClientInfo {
    /// Whether a connection taking this client id over may resume the session: not a v3.1.1
    /// clean session, which lasts as long as its connection and whose state is never reused, not
    /// even by a connection taking it over while it is still open [MQTT-3.1.2-6].
    pub fn session_resumable(&self) -> bool {
        self.protocol.is_v5() || !self.clean_start
    }
}

/// Identity taken from a verified TLS client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCert {
    /// Subject Common Name (`${cert_common_name}`, `peer_cert_as_username = cn`).
    pub common_name: Option<String>,
    /// Subject distinguished name (`peer_cert_as_username = dn`).
    pub subject_dn: Option<String>,
}

/// One registered owner of a client id.
#[derive(Debug, Clone)]
pub struct ClientEntry {
    /// Unique per connection, so a stale owner never unregisters its successor.
    pub conn_id: u64,
    pub ctl: ControlSender,
    pub info: Arc<ClientInfo>,
    pub connected: bool,
}

/// A registry entry keyed by its own client id (`info.client_id`): a set of these holds no second
/// copy of the key (32 bytes a slot instead of 48).
#[derive(Debug)]
struct Slot(ClientEntry);

impl Slot {
    fn key(&self) -> &str {
        &self.0.info.client_id
    }
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Slot {}

impl Hash for Slot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so lookups by `&str` (through `Borrow`) find it.
        self.key().hash(state);
    }
}

impl Borrow<str> for Slot {
    fn borrow(&self) -> &str {
        self.key()
    }
}

/// Client id → owning task. Touched on connect/disconnect only, never on the publish path.
#[derive(Default)]
pub struct Registry {
    map: Mutex<HashSet<Slot>>,
    /// Cluster-wide ownership, when this node is part of a cluster.
    directory: std::sync::RwLock<Option<Arc<dyn crate::hooks::SessionDirectory>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.len())
            .finish()
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashSet<Slot>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `entry` the owner of its client id; returns the previous owner, which the caller must take over.
    pub fn register(&self, entry: ClientEntry) -> Option<ClientEntry> {
        self.lock().replace(Slot(entry)).map(|s| s.0)
    }

    /// Removes the owner if it is still `conn_id`. Returns whether it was removed.
    pub fn unregister(&self, client_id: &str, conn_id: u64) -> bool {
        let removed = {
            let mut map = self.lock();
            if map.get(client_id).is_some_and(|e| e.0.conn_id == conn_id) {
                map.remove(client_id);
                true
            } else {
                false
            }
        };
        if removed && let Some(d) = self.directory() {
            d.released(client_id, conn_id);
        }
        removed
    }

    /// Tells every registered owner the broker is shutting down ([`Control::Shutdown`]). A
    /// connection checks the broker's shutdown token once after it registers, and listens for
    /// this in its mailbox from then on, instead of polling the token (a lock shared by every
    /// connection) on each turn.
    pub fn shut_down_all(&self) {
        for s in self.lock().iter() {
            s.0.ctl.shut_down();
        }
    }

    /// Installs the cluster-wide directory consulted on CONNECT and told of released client ids.
    pub fn set_directory(&self, d: Arc<dyn crate::hooks::SessionDirectory>) {
        *self.directory.write().unwrap_or_else(|e| e.into_inner()) = Some(d);
    }

    /// The cluster-wide directory, if installed.
    pub fn directory(&self) -> Option<Arc<dyn crate::hooks::SessionDirectory>> {
        self.directory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the owner `conn_id` connected or detached (its session outlives the socket).
    pub fn set_connected(&self, client_id: &str, conn_id: u64, connected: bool) {
        let mut map = self.lock();
        if map.get(client_id).is_some_and(|e| e.0.conn_id == conn_id)
            && let Some(Slot(mut e)) = map.take(client_id)
        {
            e.connected = connected;
            map.insert(Slot(e));
        }
    }

    /// The current owner of `client_id`.
    pub fn get(&self, client_id: &str) -> Option<ClientEntry> {
        self.lock().get(client_id).map(|s| s.0.clone())
    }

    /// Sessions held (connected or not).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Connected clients.
    pub fn connected_count(&self) -> usize {
        self.lock().iter().filter(|s| s.0.connected).count()
    }

    /// A snapshot of every entry (for the API and shutdown).
    pub fn entries(&self) -> Vec<ClientEntry> {
        self.lock().iter().map(|s| s.0.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kick() -> Control {
        Control::Kick {
            reason: ReasonCode::AdministrativeAction,
        }
    }

    #[test]
    fn info_queries_leave_half_the_mailbox_to_takeovers_and_kicks() {
        let (tx, _rx) = control_mailbox();
        let mut replies = Vec::new();
        for _ in 0..CONTROL_CAPACITY / 2 {
            let (reply, rx) = oneshot::channel();
            tx.try_send(Control::Info { reply }).unwrap();
            replies.push(rx);
        }
        let (reply, _rx) = oneshot::channel();
        assert!(matches!(
            tx.try_send(Control::Info { reply }),
            Err(ControlError::Full(Control::Info { .. }))
        ));
        for _ in 0..CONTROL_CAPACITY / 2 {
            tx.try_send(kick()).unwrap();
        }
        assert!(matches!(tx.try_send(kick()), Err(ControlError::Full(_))));
    }

    #[tokio::test]
    async fn mailbox_delivers_in_order_and_wakes_the_owner() {
        let (tx, mut rx) = control_mailbox();
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second, rx)
        });
        tokio::task::yield_now().await;
        let (reply, _reply_rx) = oneshot::channel();
        tx.try_send(Control::Takeover {
            resume: true,
            reply,
        })
        .unwrap();
        tx.try_send(kick()).unwrap();
        let (first, second, _rx) = waiting.await.unwrap();
        assert!(matches!(
            first,
            Some(Control::Takeover { resume: true, .. })
        ));
        assert!(matches!(second, Some(Control::Kick { .. })));
    }

    #[tokio::test]
    async fn shutdown_reaches_every_owner_after_what_is_queued_even_a_full_mailbox() {
        let reg = Registry::default();
        let mut e = entry("a", 1);
        let (ctl, mut rx_a) = control_mailbox();
        e.ctl = ctl;
        reg.register(e);
        let mut e = entry("b", 2);
        let (ctl, mut rx_b) = control_mailbox();
        e.ctl = ctl;
        for _ in 0..CONTROL_CAPACITY {
            e.ctl.try_send(kick()).unwrap();
        }
        reg.register(e);
        let waiting = tokio::spawn(async move {
            let got = rx_a.recv().await;
            (got, rx_a)
        });
        tokio::task::yield_now().await;
        reg.shut_down_all();
        let (got, mut rx_a) = waiting.await.unwrap();
        assert!(
            matches!(got, Some(Control::Shutdown)),
            "the waiting owner is woken"
        );
        for _ in 0..CONTROL_CAPACITY {
            assert!(matches!(rx_b.recv().await, Some(Control::Kick { .. })));
        }
        assert!(
            matches!(rx_b.recv().await, Some(Control::Shutdown)),
            "after the queue"
        );
        // Once: then the mailbox is as before (no request, senders alive: pending).
        let again = tokio::time::timeout(std::time::Duration::from_millis(20), rx_a.recv()).await;
        assert!(again.is_err(), "shutdown is handed out once");
    }

    fn entry(client_id: &str, conn_id: u64) -> ClientEntry {
        let (ctl, _) = control_mailbox();
        ClientEntry {
            conn_id,
            ctl,
            info: Arc::new(ClientInfo {
                client_id: client_id.into(),
                username: None,
                peer: None,
                protocol: Protocol::V5,
                keep_alive: 60,
                clean_start: true,
                connected_at_ms: 0,
                listener: "tcp:default".into(),
                peer_cert: None,
            }),
            connected: true,
        }
    }

    #[test]
    fn registry_replaces_the_owner_and_forgets_only_the_current_one() {
        let r = Registry::default();
        assert!(r.register(entry("a", 1)).is_none());
        assert!(r.register(entry("b", 2)).is_none());
        let prev = r.register(entry("a", 3)).expect("a had an owner");
        assert_eq!(prev.conn_id, 1);
        assert_eq!(r.len(), 2);
        // A stale owner neither detaches nor unregisters its successor.
        r.set_connected("a", 1, false);
        assert!(!r.unregister("a", 1));
        assert_eq!(
            r.get("a").map(|e| (e.conn_id, e.connected)),
            Some((3, true))
        );
        r.set_connected("a", 3, false);
        assert_eq!(r.connected_count(), 1);
        assert!(r.unregister("a", 3));
        assert!(r.get("a").is_none());
        assert_eq!(r.entries().len(), 1);
    }

    /// Every connection holds one mailbox (with the Arc's two counts: 72 bytes, a 80-byte chunk
    /// with glibc); part of the 2 KiB per idle connection budget (see net's channel tests).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn mailbox_stays_small() {
        assert!(std::mem::size_of::<Mutex<Mailbox>>() <= 56);
    }

    #[tokio::test]
    async fn mailbox_is_bounded_and_refuses_the_excess() {
        let (tx, _rx) = control_mailbox();
        for _ in 0..CONTROL_CAPACITY {
            tx.try_send(kick()).unwrap();
        }
        assert!(matches!(tx.try_send(kick()), Err(ControlError::Full(_))));
    }

    #[tokio::test]
    async fn mailbox_without_owner_refuses_and_closes_queued_replies() {
        let (tx, rx) = control_mailbox();
        let (reply, reply_rx) = oneshot::channel();
        tx.try_send(Control::Takeover {
            resume: true,
            reply,
        })
        .unwrap();
        drop(rx);
        // The queued takeover went with the owner: its reply channel is closed, nobody waits.
        assert!(reply_rx.await.is_err());
        assert!(matches!(tx.try_send(kick()), Err(ControlError::Closed(_))));
    }

    #[tokio::test]
    async fn mailbox_recv_ends_when_every_sender_is_gone() {
        let (tx, mut rx) = control_mailbox();
        let tx2 = tx.clone();
        tx2.try_send(kick()).unwrap();
        drop(tx);
        let waiting = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        tokio::task::yield_now().await;
        drop(tx2);
        let (queued, end) = waiting.await.unwrap();
        assert!(matches!(queued, Some(Control::Kick { .. })));
        assert!(end.is_none());
    }
}
