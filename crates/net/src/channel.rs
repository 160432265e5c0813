//! An established connection: the select loop over socket, session deliveries, control requests and
//! timers; then what happens when the socket goes (will message, detached session, expiry).

use std::collections::HashMap;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use linkmq_codec::{Connect, LastWill, ReasonCode};
use linkmq_core::Broker;
use linkmq_core::ack_hold::{AckHold, AckWait};
use linkmq_core::message::Message;
use linkmq_core::metrics::Counter;
use linkmq_core::registry::{Control, ControlReceiver};
use linkmq_core::router::Delivery;
use linkmq_core::session::SessionState;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::connection::{Connection, WriteQueue, read_some};

/// How the connected phase ended.
#[derive(Debug)]
pub(crate) enum Exit {
    /// DISCONNECT 0x00 (or v3 DISCONNECT): the will is discarded.
    Normal,
    /// The socket failed, keep alive expired, a protocol error, or DISCONNECT 0x04: the will stands.
    Abnormal(&'static str),
    /// We must close with this v5 reason code (protocol error etc.); the will stands.
    Error(ReasonCode, String),
    /// Another connection took the client id.
    TakenOver {
        resume: bool,
        reply: oneshot::Sender<Option<Box<SessionState>>>,
    },
    /// The client's own packets, handled before a takeover, ended the connection as `exit` says
    /// (a DISCONNECT, a protocol error, the end of the stream); then another connection took the
    /// client id over: the session goes to it only if it outlives its connection.
    EndedBeforeTakeover {
        exit: Box<Exit>,
        resume: bool,
        reply: oneshot::Sender<Option<Box<SessionState>>>,
    },
    /// Kicked by an administrator.
    Kicked(ReasonCode),
    /// The client's own packets, handled before an administrator's kick, ended the connection as
    /// `exit` says (a DISCONNECT, a protocol error, the end of the stream); the kick still ends
    /// the session.
    EndedBeforeKick(Box<Exit>),
    /// The broker is shutting down.
    Shutdown,
}

/// The topic aliases of a v5 connection.
#[derive(Debug, Default)]
pub(crate) struct TopicAliases {
    /// Client → server.
    pub inbound: HashMap<u16, Arc<str>>,
    /// Server → client.
    pub outbound: HashMap<Arc<str>, u16>,
}

/// Per-connection protocol state around the session.
pub(crate) struct Channel {
    pub broker: Arc<Broker>,
    /// The session; its `client_id` is this connection's.
    pub session: SessionState,
    pub conn_id: u64,
    pub ctl_rx: ControlReceiver,
    /// Boxed: most clients have no will, and the will's properties are large.
    pub will: Option<Box<LastWill>>,
    pub keep_alive: u16,
    /// Topic aliases, made with the first one used (most clients use none).
    pub aliases: Option<Box<TopicAliases>>,
    /// The client's Topic Alias Maximum (0 = none).
    pub peer_alias_max: u16,
    /// The client's Receive Maximum: our outbound window is min(max_inflight, this).
    pub window: u16,
    /// This client's authorization state (decision cache).
    pub authz: Box<dyn linkmq_core::access::ClientAuthz>,
}

impl Channel {
    /// The channel for a freshly accepted CONNECT.
    pub fn new(
        broker: Arc<Broker>,
        session: SessionState,
        conn_id: u64,
        ctl_rx: ControlReceiver,
        connect: &Connect,
        keep_alive: u16,
    ) -> Channel {
        let peer_recv_max = connect.properties.receive_maximum.unwrap_or(u16::MAX);
        let window = broker
            .settings
            .max_inflight
            .max(1)
            .min(peer_recv_max.max(1));
        Channel {
            session,
            conn_id,
            ctl_rx,
            will: connect.will.clone().map(Box::new),
            keep_alive,
            aliases: None,
            peer_alias_max: if connect.protocol.is_v5() {
                connect.properties.topic_alias_maximum.unwrap_or(0)
            } else {
                0
            },
            window,
            authz: Box::new(linkmq_core::access::AllowAll),
            broker,
        }
    }

    /// The topic aliases, made if there are none yet.
    pub(crate) fn aliases_mut(&mut self) -> &mut TopicAliases {
        self.aliases.get_or_insert_default()
    }

    /// Runs the connected phase, then closes the socket; returns the channel when its session
    /// outlives the socket, for [`Channel::detached`] to run once the socket is dropped.
    pub async fn run<R, W>(
        mut self: Box<Self>,
        conn: &mut Connection<R, W>,
        resumed: bool,
    ) -> Option<Box<Self>>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        if resumed {
            self.resend_inflight(conn);
        }
        let exit = self.connected(conn).await;
        // The aftermath (closing, will) is boxed: its state is allocated only when the socket
        // goes, not carried by every connected client.
        Box::pin(self.after_socket(conn, exit)).await
    }

    /// Closes the socket as `exit` says; returns the channel if its session is to be kept
    /// (detached), or `None` when it was handed over or ended.
    async fn after_socket<R, W>(
        mut self: Box<Self>,
        conn: &mut Connection<R, W>,
        exit: Exit,
    ) -> Option<Box<Self>>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let (exit, takeover, kicked) = match exit {
            Exit::EndedBeforeTakeover {
                exit,
                resume,
                reply,
            } => (*exit, Some((resume, reply)), false),
            Exit::EndedBeforeKick(exit) => (*exit, None, true),
            exit => {
                let kicked = matches!(exit, Exit::Kicked(_));
                (exit, None, kicked)
            }
        };
        let broker = self.broker.clone();
        broker.metrics.inc(Counter::ClientDisconnected);
        if !matches!(exit, Exit::Shutdown) {
            broker
                .banned
                .disconnected(&broker.settings.flapping_detect, &self.session.client_id);
        }
        info!(client_id = %self.session.client_id, reason = ?exit_label(&exit), "client disconnected");
        self.session.set_online(false);
        match exit {
            Exit::Shutdown => {
                conn.close_with(Some(ReasonCode::ServerShuttingDown)).await;
                return None;
            }
            Exit::TakenOver { resume, reply } => {
                conn.close_with(Some(ReasonCode::SessionTakenOver)).await;
                self.handover(resume, reply);
                return None;
            }
            Exit::Kicked(reason) => conn.close_with(Some(reason)).await,
            Exit::Normal => {
                self.will = None;
                conn.close_with(None).await;
            }
            // (EndedBeforeTakeover and EndedBeforeKick were unwrapped above.)
            Exit::Abnormal(_) | Exit::EndedBeforeTakeover { .. } | Exit::EndedBeforeKick(_) => {
                conn.close_with(None).await
            }
            Exit::Error(reason, _) => conn.close_with(Some(reason)).await,
        }
        if kicked {
            // A kick ends the session, also one that ended by its own packets first: a will the
            // client's DISCONNECT 0x00 discarded is gone ([MQTT-3.1.2-10]), any other is published.
            self.publish_will();
            self.end_session();
            return None;
        }
        if let Some((resume, reply)) = takeover {
            // Taken over as soon as it ended: as a detached session would be, resumed only if it
            // outlives its connection ([MQTT-3.1.2-23]; a v3.1.1 clean session never does,
            // [MQTT-3.1.2-6]); a will not discarded by DISCONNECT 0x00 is published (a delayed
            // one is cancelled by the resume, [MQTT-3.1.3-9]).
            let resume = resume && self.session.expiry_interval > 0;
            self.handover(resume, reply);
            return None;
        }
        Some(self)
    }

    /// The select loop while a socket is attached.
    async fn connected<R, W>(&mut self, conn: &mut Connection<R, W>) -> Exit
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let mut last_recv = Instant::now();
        // Bytes read together with CONNECT count against bytes_rate too.
        conn.limiter.on_read(conn.rbuf.len());
        // One timer for keep alive, retries, PUBREL expiry and the end of a rate-limit pause,
        // re-armed only when the earliest deadline moves earlier or when it fires: a busy
        // connection registers no timer per turn. Deadlines are recomputed rather than kept across
        // the wait: everything held here is held by every idle connection.
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        // Whether the timer is set (for its deadline).
        let mut armed = false;
        // Cleared when the registry forgets this connection without a word (nothing more can come).
        let mut ctl_open = true;
        // Since when the socket has taken none of what waits for it (for send_timeout): the clock
        // is read when a write is first refused, not per write; any progress clears it.
        let mut stalled_since: Option<Instant> = None;
        // Registered by now: a shutdown from here on reaches the mailbox (`Registry::shut_down_all`
        // runs after the token is cancelled); one that came before is seen here.
        if self.broker.shutdown.is_cancelled() {
            return Exit::Shutdown;
        }
        // Acknowledgements held until the local sessions this connection's last lone QoS 1/2
        // message went to have tried to write it (see `linkmq_core::ack_hold`).
        let mut acks_wait: Option<AckWait> = None;
        // A share of another connection's hold, taken with a delivery: let go once the write has
        // been tried, or when nothing waits to be written, or while this connection's own writes
        // wait (two connections never wait on each other).
        let mut taken: Option<AckHold> = None;
        loop {
            // Handle whatever is already buffered, then pull queued messages into the write buffer.
            let mut turn: Option<AckHold> = None;
            if let Some(exit) = self.handle_buffered(conn, false, &mut turn) {
                return exit;
            }
            if conn.rbuf.is_empty() {
                // Every packet handled: an idle connection keeps no read buffer. Even with no room
                // left, an empty buffer may still share the allocation of the packets split from it.
                conn.rbuf = bytes::BytesMut::new();
            }
            self.pump(conn);
            if let Some(hold) = turn {
                let task = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
                if let Some(wait) = hold.wait(&task) {
                    acks_wait = Some(wait);
                }
            }
            if acks_wait.as_ref().is_some_and(AckWait::released) {
                acks_wait = None;
            }
            if conn.wbuf.is_empty() || acks_wait.is_some() {
                taken = None;
            }
            // In a block: an Option<Instant> kept in scope would be kept across the wait.
            let paused = {
                let paused = conn.limiter.paused_until();
                if let Some(next) = self
                    .deadlines(paused, last_recv)
                    .into_iter()
                    .chain([stall_deadline(stalled_since, conn)])
                    .flatten()
                    .min()
                    && (!armed || next < timer.deadline())
                {
                    timer.as_mut().reset(next);
                    armed = true;
                }
                paused.is_some()
            };
            tokio::select! {
                // Shutdown comes through the mailbox (`Registry::shut_down_all`): no lock shared by
                // every connection is taken on each turn.
                ctl = self.ctl_rx.recv(), if ctl_open => match ctl {
                    Some(Control::Takeover { resume, reply }) => {
                        // What the client sent before it reconnected comes first.
                        return match self.handle_sent_first(conn) {
                            None => Exit::TakenOver { resume, reply },
                            Some(exit) => Exit::EndedBeforeTakeover { exit: Box::new(exit), resume, reply },
                        };
                    }
                    Some(Control::Kick { reason }) => {
                        // Here too: a DISCONNECT sent before the kick came discards the will.
                        return match self.handle_sent_first(conn) {
                            None => Exit::Kicked(reason),
                            Some(exit) => Exit::EndedBeforeKick(Box::new(exit)),
                        };
                    }
                    Some(Control::Info { reply }) => {
                        let mut info = self.session.info(None);
                        info.conn = Some(conn.stats.snapshot());
                        let _ = reply.send(info);
                    }
                    Some(Control::Shutdown) => return Exit::Shutdown,
                    None => ctl_open = false,
                },
                // Forgotten by the registry: no shutdown comes through the mailbox any more.
                _ = self.broker.shutdown.cancelled(), if !ctl_open => return Exit::Shutdown,
                r = read_some(&mut conn.reader, &mut conn.rbuf), if !paused => match r {
                    Ok(0) => return Exit::Abnormal("closed by peer without DISCONNECT"),
                    Ok(n) => {
                        last_recv = Instant::now();
                        conn.limiter.on_read(n);
                    }
                    Err(_) => return Exit::Abnormal("socket error"),
                },
                r = conn.wbuf.write_or_refusal(&mut conn.writer, stalled_since.is_none() && conn.send_timeout.timeout().is_some()),
                    if !conn.wbuf.is_empty() && acks_wait.is_none() => {
                    taken = None;
                    match r {
                        Ok(Some(_)) => stalled_since = None,
                        // Refused: the send timeout runs from now (the timer is armed above).
                        Ok(None) => stalled_since = Some(Instant::now()),
                        Err(_) => return Exit::Abnormal("socket error on write"),
                    }
                },
                next = Inbox::new(self.session.deliveries(), acks_wait.as_ref()) => {
                    let Next::Delivery(d) = next else {
                        acks_wait = None;
                        continue;
                    };
                    if let Some(mut d) = d {
                        taken = d.hold.take().or(taken);
                        self.session.enqueue(&self.broker, d, true);
                        // Drain what else is waiting, up to a batch, so one wakeup moves many messages.
                        for _ in 0..64 {
                            match self.session.receiver().try_recv() {
                                Ok(mut d) => {
                                    taken = d.hold.take().or(taken);
                                    self.session.enqueue(&self.broker, d, true);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                }
                _ = &mut timer, if armed => {
                    armed = false;
                    let now = Instant::now();
                    if paused && conn.limiter.paused_until().is_none() {
                        // Reading resumes: keep alive counts from now.
                        last_recv = now;
                    }
                    let [ka, retry, rel_expiry, _] =
                        self.deadlines(conn.limiter.paused_until(), last_recv);
                    if ka.is_some_and(|d| d <= now) {
                        return Exit::Error(ReasonCode::KeepAliveTimeout, "keep alive timeout".into());
                    }
                    if retry.is_some_and(|d| d <= now) {
                        self.retry_due(conn);
                    }
                    if rel_expiry.is_some_and(|d| d <= now) {
                        self.expire_awaiting_rel();
                    }
                    if stall_deadline(stalled_since, conn).is_some_and(|d| d <= now) {
                        self.broker.metrics.inc(Counter::ConnectionsSendTimeout);
                        if conn.send_timeout.close() {
                            debug!(client_id = %self.session.client_id, timeout = ?conn.send_timeout.timeout(), queued = conn.wbuf.len(), "send timed out, closing");
                            // The socket takes nothing: what waits is dropped, not flushed.
                            conn.wbuf = WriteQueue::default();
                            return Exit::Abnormal("send timeout");
                        }
                        debug!(client_id = %self.session.client_id, timeout = ?conn.send_timeout.timeout(), queued = conn.wbuf.len(), "send timed out, still waiting (send_timeout_close = false)");
                        stalled_since = Some(now);
                    }
                }
            }
            if conn.wbuf.is_empty() {
                let _ = conn.writer.flush().await;
            }
        }
    }

    /// Handles the whole packets in the read buffer, stopping while reading is paused by a rate
    /// limit unless `despite_pause`; `Some` when one ends the connection.
    pub(crate) fn handle_buffered<R, W>(
        &mut self,
        conn: &mut Connection<R, W>,
        despite_pause: bool,
        turn: &mut Option<AckHold>,
    ) -> Option<Exit>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        loop {
            // Over messages_rate / bytes_rate: leave the rest buffered until the bucket refills.
            if !despite_pause && conn.limiter.paused_until().is_some() {
                return None;
            }
            match conn.try_decode() {
                Ok(Some(p)) => {
                    if matches!(p, linkmq_codec::Packet::Publish(_)) {
                        conn.limiter.on_publish();
                    }
                    if let Some(exit) = self.handle_packet(conn, p, turn) {
                        return Some(exit);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    self.broker
                        .metrics
                        .inc(if e.reason_code() == ReasonCode::PacketTooLarge {
                            Counter::PacketsTooLarge
                        } else {
                            Counter::PacketsMalformed
                        });
                    debug!(client_id = %self.session.client_id, error = %e, "bad packet");
                    return Some(Exit::Error(e.reason_code(), e.to_string()));
                }
            }
        }
    }

    /// After the socket (dropped by then: a kept session holds no descriptor, and a WebSocket
    /// client sees the TCP close that ends its closing handshake): publish or schedule the will,
    /// and keep the session until it expires, is taken over or the broker shuts down.
    pub(crate) async fn detached(mut self: Box<Self>) {
        let expiry = self.session.expiry_interval;
        if expiry == 0 {
            self.publish_will();
            self.end_session();
            return;
        }
        self.broker
            .registry
            .set_connected(&self.session.client_id, self.conn_id, false);
        let disconnected_at_ms = linkmq_core::message::now_ms();
        let expires_at = Instant::now() + Duration::from_secs(u64::from(expiry));
        let mut will_at = None;
        if let Some(w) = &self.will {
            let delay = w.properties.will_delay_interval.unwrap_or(0).min(expiry);
            if delay == 0 {
                self.publish_will();
            } else {
                will_at = Some(Instant::now() + Duration::from_secs(u64::from(delay)));
            }
        }
        let shutdown = self.broker.shutdown.clone();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                ctl = self.ctl_rx.recv() => match ctl {
                    Some(Control::Takeover { resume, reply }) => {
                        self.handover(resume, reply);
                        return;
                    }
                    Some(Control::Kick { .. }) | None => {
                        self.publish_will();
                        self.end_session();
                        return;
                    }
                    Some(Control::Info { reply }) => {
                        let _ = reply.send(self.session.info(Some(disconnected_at_ms)));
                    }
                    Some(Control::Shutdown) => return,
                },
                next = Inbox::new(self.session.deliveries(), None) => {
                    if let Next::Delivery(Some(d)) = next {
                        self.session.enqueue(&self.broker, d, false);
                    }
                }
                _ = sleep_until_opt(will_at) => {
                    will_at = None;
                    self.publish_will();
                }
                _ = tokio::time::sleep_until(expires_at) => {
                    debug!(client_id = %self.session.client_id, "session expired");
                    self.publish_will();
                    self.end_session();
                    return;
                }
            }
        }
    }

    /// Ends the session here for good and releases the client id.
    fn end_session(self) {
        let client_id = self.session.client_id.clone();
        self.session.terminate(&self.broker);
        self.broker.registry.unregister(&client_id, self.conn_id);
    }

    /// The timer's deadlines: keep alive (not while reading is `paused`: we are the ones not
    /// reading), the next retry, the next PUBREL expiry, and the end of the pause.
    fn deadlines(&self, paused: Option<Instant>, last_recv: Instant) -> [Option<Instant>; 4] {
        let s = &self.broker.settings;
        let ka = (self.keep_alive > 0 && paused.is_none()).then(|| {
            last_recv + Duration::from_secs_f64(f64::from(self.keep_alive) * s.keepalive_multiplier)
        });
        let retry = self
            .session
            .inflight
            .next_retry_at(s.retry_interval)
            .map(Instant::from_std);
        [ka, retry, self.next_awaiting_rel_expiry(), paused]
    }

    /// When the oldest inbound QoS 2 message awaiting PUBREL times out (`await_rel_timeout`; zero = never).
    fn next_awaiting_rel_expiry(&self) -> Option<Instant> {
        let timeout = self.broker.settings.await_rel_timeout;
        if timeout.is_zero() {
            return None;
        }
        let oldest = self.session.awaiting_rel.values().min()?;
        oldest.checked_add(timeout).map(Instant::from_std)
    }

    /// Forgets inbound QoS 2 packet ids whose PUBREL did not come within `await_rel_timeout`
    /// (EMQX: `messages.dropped.await_pubrel_timeout`); a later PUBREL gets PUBCOMP 0x92.
    fn expire_awaiting_rel(&mut self) {
        let timeout = self.broker.settings.await_rel_timeout;
        let now = std::time::Instant::now();
        let before = self.session.awaiting_rel.len();
        self.session
            .awaiting_rel
            .retain(|_, at| now.saturating_duration_since(*at) < timeout);
        let expired = before - self.session.awaiting_rel.len();
        if expired > 0 {
            self.broker
                .metrics
                .add(Counter::MessagesDroppedAwaitPubrelTimeout, expired as u64);
            debug!(client_id = %self.session.client_id, expired, "awaiting PUBREL timed out");
        }
    }

    /// Publishes the will message, if one is pending.
    pub(crate) fn publish_will(&mut self) {
        let Some(w) = self.will.take() else { return };
        if !self.may_publish_will(&w.topic, w.qos, w.retain) {
            return;
        }
        let w = *w;
        let mut props = w.properties;
        props.will_delay_interval = None;
        let msg = Message::new(
            self.session.client_id.clone(),
            w.topic.into(),
            w.qos,
            w.retain,
            w.payload,
            props,
        );
        debug!(client_id = %self.session.client_id, topic = %msg.topic, "publishing will message");
        self.broker.publish(Arc::new(msg));
    }
}

/// When the socket, refusing bytes since `stalled_since`, has timed out (`tcp_options.send_timeout`).
fn stall_deadline<R, W>(
    stalled_since: Option<Instant>,
    conn: &Connection<R, W>,
) -> Option<Instant> {
    stalled_since?.checked_add(conn.send_timeout.timeout()?)
}

/// The session's next delivery (`None` once its channel is closed; never without one), or word
/// that the acknowledgements held for `wait` may go. One future for both keeps the connection's
/// task as small as it was (every idle connection pays for each byte).
struct Inbox<'a> {
    rx: Option<&'a mut mpsc::Receiver<Delivery>>,
    wait: Option<&'a AckWait>,
}

enum Next {
    Delivery(Option<Delivery>),
    AcksReleased,
}

impl<'a> Inbox<'a> {
    fn new(rx: Option<&'a mut mpsc::Receiver<Delivery>>, wait: Option<&'a AckWait>) -> Self {
        Inbox { rx, wait }
    }
}

impl std::future::Future for Inbox<'_> {
    type Output = Next;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Next> {
        // The last share of a hold wakes this task when it goes.
        if self.wait.is_some_and(AckWait::released) {
            return Poll::Ready(Next::AcksReleased);
        }
        match self.rx.as_deref_mut() {
            Some(rx) => rx.poll_recv(cx).map(Next::Delivery),
            None => Poll::Pending,
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn exit_label(e: &Exit) -> String {
    match e {
        Exit::Normal => "normal".into(),
        Exit::Abnormal(why) => (*why).into(),
        Exit::Error(rc, why) => format!("{rc:?}: {why}"),
        Exit::TakenOver { .. } => "taken over".into(),
        Exit::EndedBeforeTakeover { exit, .. } => format!("{}, then taken over", exit_label(exit)),
        Exit::Kicked(rc) => format!("kicked ({rc:?})"),
        Exit::EndedBeforeKick(exit) => format!("{}, then kicked", exit_label(exit)),
        Exit::Shutdown => "shutdown".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use linkmq_core::registry::{ClientEntry, ClientInfo, control_mailbox};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    use super::*;

    type TcpConnection = Connection<OwnedReadHalf, OwnedWriteHalf>;

    /// What every idle connection holds. The budget is 2 KiB per idle connection (RSS growth over
    /// 10,000 connections, `cargo xtask bench --only idle10k`); these figures are what it is made
    /// of, so a field added here shows as a failing test rather than as a slow drift. Raising a
    /// limit is fine when the bytes buy something: say what in the commit.
    #[cfg(target_pointer_width = "64")]
    #[tokio::test]
    async fn per_connection_structures_stay_within_their_budget() {
        let sizes = [
            ("Channel", size_of::<Channel>(), 184),
            ("SessionState", size_of::<SessionState>(), 120),
            ("Connection", size_of::<TcpConnection>(), 232),
            ("ClientInfo", size_of::<ClientInfo>(), 112),
            ("ClientEntry", size_of::<ClientEntry>(), 32),
        ];
        let broker = Broker::new(Default::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (r, w) = socket.into_split();
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut conn = Connection::new(r, w, peer, broker.clone(), "tcp:default".into());
        let (_tx, rx) = control_mailbox();
        let session = SessionState::new("c".into(), &broker);
        let connect = Connect {
            protocol: linkmq_codec::Protocol::V5,
            clean_start: true,
            keep_alive: 60,
            client_id: "c".into(),
            will: None,
            username: None,
            password: None,
            properties: Default::default(),
        };
        let mut ch = Box::new(Channel::new(broker.clone(), session, 1, rx, &connect, 60));
        // The connected phase's future is most of the connection's task (tokio rounds the task
        // up to 128 bytes); the whole task's future is measured from the connection's run().
        let connected = size_of_val(&ch.connected(&mut conn));
        let run = size_of_val(&Box::new(conn).run());
        let futures = [
            ("connected()", connected, 424),
            ("Connection::run()", run, 512),
        ];
        for (name, size, limit) in sizes.into_iter().chain(futures) {
            eprintln!("{name}: {size} bytes (limit {limit})");
            assert!(size <= limit, "{name} is {size} bytes, over its {limit}");
        }
    }
}
