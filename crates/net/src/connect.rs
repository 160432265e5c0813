//! The CONNECT phase: validate CONNECT, take over or resume the session, answer CONNACK; and the
//! giving side of a takeover (what the old connection handles first, the session handed over).

use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use linkmq_codec::{ConnAck, Connect, DecodeError, Packet, Properties, Protocol, QoS, ReasonCode};
use linkmq_core::metrics::Counter;
use linkmq_core::registry::{ClientEntry, ClientInfo, Control, control_mailbox};
use linkmq_core::session::SessionState;
use linkmq_core::{ClientId, topic};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::channel::{Channel, Exit};
use crate::connection::{Connection, ReadError, read_some};

/// How long a takeover may take before the new connection gives up on the old session.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a connection being taken over or kicked reads, without waiting, to handle what its
/// client sent before: a client that keeps on sending cannot hold its successor (or a kick) up.
const SENT_FIRST_READ_MAX: usize = 256 * 1024;

/// Runs the connection while it has its socket: CONNECT, then the channel; returns the channel if
/// its session outlives the socket. The CONNECT phase's state (the packet, authentication,
/// takeover) lives in its own boxed future, freed before the channel settles in, so an idle
/// connection holds only the channel's.
pub(crate) async fn run<R, W>(conn: &mut Connection<R, W>) -> Option<Box<Channel>>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    // The channel goes to the heap and straight into its future: bound to a local first, it would
    // be stored in this future twice.
    let channel = Box::pin(handshake(conn))
        .await
        .map(|(ch, session_present)| Box::new(ch).run(conn, session_present))?;
    channel.await
}

/// CONNECT to CONNACK: the channel to run, and whether a session was resumed; `None` when refused.
async fn handshake<R, W>(conn: &mut Connection<R, W>) -> Option<(Channel, bool)>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let broker = conn.broker.clone();
    let mut connect = match conn.read_packet(broker.settings.idle_timeout).await {
        Ok(Packet::Connect(c)) => c,
        Ok(other) => {
            debug!(peer = %conn.peer, packet = other.name(), "[MQTT-3.1.0-1] first packet is not CONNECT; closing");
            return None;
        }
        Err(ReadError::Decode(DecodeError::UnsupportedProtocol { level })) => {
            debug!(peer = %conn.peer, level, "unsupported protocol level; CONNACK 0x84 / return code 1");
            conn.protocol = if level == 5 {
                Protocol::V5
            } else {
                Protocol::V311
            };
            refuse(conn, ReasonCode::UnsupportedProtocolVersion, None).await;
            return None;
        }
        Err(ReadError::Decode(e)) => {
            broker.metrics.inc(Counter::PacketsMalformed);
            debug!(peer = %conn.peer, error = %e, "malformed CONNECT; closing");
            return None;
        }
        Err(e) => {
            debug!(peer = %conn.peer, error = %e, "no CONNECT");
            return None;
        }
    };
    conn.protocol = connect.protocol;
    crate::access::apply_peer_cert(&mut connect, conn.peer_cert.as_deref(), &broker.settings);
    broker.metrics.inc(Counter::PacketsConnectReceived);
    broker.metrics.inc(Counter::ClientConnect);
    if let Some(max) = connect.properties.maximum_packet_size {
        conn.peer_max_packet = max;
    }

    let assigned = connect.client_id.is_empty();
    let client_id: ClientId = match check_connect(&connect, &broker.settings) {
        Ok(()) if assigned => {
            format!("linkmq-{:032x}", linkmq_core::message::next_message_id()).into()
        }
        Ok(()) => connect.client_id.as_str().into(),
        Err((reason, why)) => {
            debug!(peer = %conn.peer, client_id = %connect.client_id, ?reason, why, "CONNECT refused");
            refuse(conn, reason, Some(why)).await;
            return None;
        }
    };
    if broker.banned.is_banned(&client_id) {
        debug!(peer = %conn.peer, client_id = %client_id, "client id banned; CONNACK 0x8A / return code 5");
        refuse(conn, ReasonCode::Banned, Some("client id is banned")).await;
        return None;
    }

    let authed = match crate::access::authenticate(conn, &connect, &client_id).await {
        Ok(a) => a,
        Err((reason, why)) => {
            debug!(peer = %conn.peer, client_id = %client_id, ?reason, "authentication failed");
            refuse(conn, reason, Some(why)).await;
            return None;
        }
    };

    // Session expiry: v5 from the property (capped), v3 from clean_session and the configured interval.
    let max_expiry = broker
        .settings
        .session_expiry_interval
        .as_secs()
        .min(u64::from(u32::MAX)) as u32;
    let (requested_expiry, expiry) = if connect.protocol.is_v5() {
        let r = connect.properties.session_expiry_interval.unwrap_or(0);
        (r, r.min(max_expiry))
    } else if connect.clean_start {
        (0, 0)
    } else {
        (max_expiry, max_expiry)
    };

    // Take over whoever holds this client id now [MQTT-3.1.4-3].
    let conn_id = broker.next_conn_id();
    let (ctl_tx, ctl_rx) = control_mailbox();
    let info = Arc::new(ClientInfo {
        client_id: client_id.clone(),
        username: connect.username.clone(),
        peer: Some(conn.peer),
        protocol: connect.protocol,
        keep_alive: connect.keep_alive,
        clean_start: connect.clean_start,
        connected_at_ms: linkmq_core::message::now_ms(),
        listener: conn.listener.clone(),
        peer_cert: conn.peer_cert.clone(),
    });
    let authz = broker
        .access
        .authorizer()
        .client(info.clone(), authed.is_superuser);
    let claim_info = info.clone();
    let prev = broker.registry.register(ClientEntry {
        conn_id,
        ctl: ctl_tx,
        info,
        connected: true,
    });
    let resume = !connect.clean_start;
    let mut old_state = None;
    if let Some(prev) = prev {
        // Never a v3.1.1 clean session [MQTT-3.1.2-6]: Session Present 0.
        let resume = resume && prev.info.session_resumable();
        let (reply_tx, reply_rx) = oneshot::channel();
        if prev
            .ctl
            .try_send(Control::Takeover {
                resume,
                reply: reply_tx,
            })
            .is_ok()
            && let Ok(Ok(state)) = tokio::time::timeout(TAKEOVER_TIMEOUT, reply_rx).await
        {
            old_state = state;
        }
        // Neither when the old session ended by itself first (its connection closed with the
        // session's end, just before this CONNECT took it over).
        if old_state.is_some() {
            broker.metrics.inc(Counter::SessionTakenover);
        } else if !resume {
            broker.metrics.inc(Counter::SessionDiscarded);
        }
    }
    // Cluster-wide: close this client id on other nodes, and bring its session over if it lives there.
    if let Some(dir) = broker.registry.directory() {
        let want = resume && old_state.is_none();
        let claim = dir.claim(claim_info, conn_id, want);
        if let Ok(Some(snap)) = tokio::time::timeout(TAKEOVER_TIMEOUT, claim).await
            && want
        {
            old_state = Some(Box::new(SessionState::import(snap, &broker)));
            broker.metrics.inc(Counter::SessionTakenover);
        }
    }
    let session_present = old_state.is_some();
    let mut session = match old_state {
        Some(s) => {
            broker.metrics.inc(Counter::SessionResumed);
            *s
        }
        None => SessionState::new(client_id.clone(), &broker),
    };
    session.expiry_interval = expiry;
    session.set_online(true);

    let mut props = Properties::default();
    if connect.protocol.is_v5() {
        let s = &broker.settings;
        if expiry != requested_expiry {
            props.session_expiry_interval = Some(expiry);
        }
        props.receive_maximum = Some(s.max_inflight.max(1));
        if s.max_qos_allowed != QoS::ExactlyOnce {
            props.maximum_qos = Some(s.max_qos_allowed as u8);
        }
        if !s.retain_available {
            props.retain_available = Some(0);
        }
        props.maximum_packet_size = Some(s.max_packet_size);
        if assigned {
            props.assigned_client_identifier = Some(client_id.to_string());
        }
        props.topic_alias_maximum = Some(s.max_topic_alias);
        if !s.wildcard_subscription {
            props.wildcard_subscription_available = Some(0);
        }
        if !s.shared_subscription {
            props.shared_subscription_available = Some(0);
        }
        if let Some(ka) = s.server_keepalive {
            props.server_keep_alive = Some(ka);
        }
        if connect.properties.request_response_information == Some(1)
            && !s.response_information.is_empty()
        {
            props.response_information = Some(s.response_information.clone());
        }
    }
    authed.connack_properties(&mut props);
    let ack = Packet::ConnAck(ConnAck {
        session_present,
        reason: ReasonCode::Success,
        properties: props,
    });
    conn.queue(&ack);
    conn.start_counting();
    broker.metrics.inc(Counter::PacketsConnackSent);
    broker.metrics.inc(Counter::ClientConnack);
    broker.metrics.inc(Counter::ClientConnected);
    info!(client_id = %client_id, peer = %conn.peer, proto = ?connect.protocol, session_present, "client connected");

    let keep_alive = match (connect.protocol.is_v5(), broker.settings.server_keepalive) {
        (true, Some(ka)) => ka,
        _ => connect.keep_alive,
    };
    let connect = *connect;
    let mut ch = Channel::new(
        broker.clone(),
        session,
        conn_id,
        ctl_rx,
        &connect,
        keep_alive,
    );
    ch.authz = authz;
    Some((ch, session_present))
}

/// Refuses a CONNECT: CONNACK with `reason` (v3 return codes mapped by the codec), then close.
async fn refuse<R, W>(conn: &mut Connection<R, W>, reason: ReasonCode, why: Option<&'static str>)
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let mut properties = Properties::default();
    if conn.protocol.is_v5() {
        properties.reason_string = why.map(str::to_string);
    }
    conn.queue(&Packet::ConnAck(ConnAck {
        session_present: false,
        reason,
        properties,
    }));
    conn.broker.metrics.inc(Counter::PacketsConnackError);
    conn.close_with(None).await;
}

/// Server-side limits on CONNECT: client id, authentication method, will.
fn check_connect(
    c: &Connect,
    s: &linkmq_core::MqttSettings,
) -> Result<(), (ReasonCode, &'static str)> {
    if c.client_id.len() > s.max_clientid_len {
        return Err((
            ReasonCode::ClientIdentifierNotValid,
            "client id longer than max_clientid_len",
        ));
    }
    if c.client_id.is_empty() {
        match c.protocol {
            Protocol::V5 => {}
            Protocol::V311 if c.clean_start => {}
            // [MQTT-3.1.3-8]: a zero-byte client id with CleanSession=0 is refused with return code 2.
            _ => {
                return Err((
                    ReasonCode::ClientIdentifierNotValid,
                    "[MQTT-3.1.3-8] empty client id needs a clean session",
                ));
            }
        }
    }
    if c.properties.authentication_data.is_some() && c.properties.authentication_method.is_none() {
        return Err((
            ReasonCode::ProtocolError,
            "[MQTT-3.1.2.11.10] Authentication Data without Authentication Method",
        ));
    }
    if let Some(w) = &c.will {
        if w.qos > s.max_qos_allowed {
            return Err((
                ReasonCode::QoSNotSupported,
                "[MQTT-3.2.2-12] will QoS above the maximum QoS",
            ));
        }
        if w.retain && !s.retain_available {
            return Err((
                ReasonCode::RetainNotSupported,
                "[MQTT-3.2.2-13] retained will but retain is not available",
            ));
        }
        if topic::validate_topic_name(&w.topic, s.max_topic_levels).is_err() {
            return Err((ReasonCode::TopicNameInvalid, "invalid will topic"));
        }
    }
    Ok(())
}

impl Channel {
    /// Gives the session to the connection that took the client id over (or discards it).
    pub(crate) fn handover(
        mut self,
        resume: bool,
        reply: oneshot::Sender<Option<Box<SessionState>>>,
    ) {
        // A will with a delay is cancelled by a new connection resuming the session [MQTT-3.1.3-9];
        // otherwise it is due now.
        let delayed = self
            .will
            .as_ref()
            .is_some_and(|w| w.properties.will_delay_interval.unwrap_or(0) > 0);
        if !(resume && delayed) {
            self.publish_will();
        }
        let state = self.session;
        if resume {
            if let Err(Some(state)) = reply.send(Some(Box::new(state))) {
                // The new connection is gone already: end the session here.
                state.terminate(&self.broker);
            }
        } else {
            state.terminate(&self.broker);
            let _ = reply.send(None);
        }
    }

    /// On a takeover or a kick, before the session goes: handles what the client sent on this
    /// connection before, whole packets already buffered and what the socket holds now (read
    /// without waiting, at most [`SENT_FIRST_READ_MAX`]), despite a rate-limit pause (the
    /// connection ends). A client's DISCONNECT written just before its next CONNECT is readable
    /// here by the time that CONNECT takes over, yet the takeover may be picked first: its
    /// PUBLISHes would be lost, its will published although it sent DISCONNECT 0x00
    /// ([MQTT-3.1.2-10], [MQTT-3.14.4-3]) and a session that ended with it resumed
    /// ([MQTT-3.1.2-23]). The same for packets still unread when an administrator's kick comes
    /// (held back by a rate limit, or sent just before). `Some` when these packets (or the end of
    /// the stream) ended the connection.
    pub(crate) fn handle_sent_first<R, W>(&mut self, conn: &mut Connection<R, W>) -> Option<Exit>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        // Read at once: a read that yields its turn (`Ordered`) would look like nothing to read.
        conn.reader.pass();
        // Each read is polled once, never waited for: no waker is needed (the connection ends
        // either way), and unconstrained, so a coop budget this task's turn has spent cannot
        // hide what is readable.
        let mut cx = Context::from_waker(Waker::noop());
        let mut read = 0;
        loop {
            if let Some(exit) = self.handle_buffered(conn, true, &mut None) {
                return Some(exit);
            }
            if read >= SENT_FIRST_READ_MAX {
                return None;
            }
            let next = tokio::task::unconstrained(read_some(&mut conn.reader, &mut conn.rbuf));
            match pin!(next).poll(&mut cx) {
                Poll::Pending => return None,
                Poll::Ready(Ok(0)) => {
                    return Some(Exit::Abnormal("closed by peer without DISCONNECT"));
                }
                Poll::Ready(Ok(n)) => {
                    read += n;
                    conn.limiter.on_read(n);
                }
                Poll::Ready(Err(_)) => return Some(Exit::Abnormal("socket error")),
            }
        }
    }
}
