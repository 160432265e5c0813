//! The reader task: decodes what the server sends, completes waiting requests, resolves incoming
//! topic aliases, acknowledges incoming publishes (with auto-ack) and queues [`Event`]s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use linkmq_codec::{Disconnect, Packet, PubResponse, Publish, QoS, ReasonCode};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, oneshot};

use crate::client::Event;
use crate::state::{Conn, PubRecOutcome};
use crate::writer::Outgoing;

/// How long a protocol-error DISCONNECT may take to reach the socket before we close anyway.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// Per-connection settings of the reader.
pub(crate) struct ReaderConfig {
    /// Largest incoming packet accepted.
    pub max_packet_size: u32,
    /// The Topic Alias Maximum we announced in CONNECT.
    pub topic_alias_maximum: u16,
    /// Acknowledge incoming QoS 1/2 publishes automatically.
    pub auto_ack: bool,
}

/// How the stream of events ends.
enum End {
    Closed,
    Disconnect(Box<Disconnect>),
}

/// Runs until the connection closes, then queues the final event ([`Event::Disconnect`] or
/// [`Event::Closed`]) and drops the event sender so `recv` returns `None` afterwards.
pub(crate) async fn run<R: AsyncRead + Unpin>(
    conn: Arc<Conn>,
    sock: R,
    buf: BytesMut,
    events: mpsc::Sender<Event>,
    config: ReaderConfig,
) {
    let mut shutdown = conn.shutdown_signal();
    let end = tokio::select! {
        biased;
        end = read_loop(&conn, sock, buf, &events, &config) => end,
        _ = shutdown.wait_for(|closing| *closing) => End::Closed,
    };
    // The read half is dropped by now; the writer drops its half on the shutdown signal.
    conn.close();
    let last = match end {
        End::Closed => Event::Closed,
        End::Disconnect(d) => Event::Disconnect(*d),
    };
    let _ = events.send(last).await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    conn: &Conn,
    mut sock: R,
    mut buf: BytesMut,
    events: &mpsc::Sender<Event>,
    config: &ReaderConfig,
) -> End {
    let mut aliases: HashMap<u16, String> = HashMap::new();
    loop {
        loop {
            match linkmq_codec::decode(&mut buf, conn.protocol, config.max_packet_size) {
                Ok(Some(packet)) => {
                    if let Err(end) = handle(conn, packet, events, config, &mut aliases).await {
                        return end;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "client received a malformed packet");
                    protocol_error(conn, e.reason_code()).await;
                    return End::Closed;
                }
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        match sock.read_buf(&mut buf).await {
            Ok(0) => return End::Closed,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "client read failed");
                return End::Closed;
            }
        }
    }
}

/// Handles one packet; `Err` ends the connection.
async fn handle(
    conn: &Conn,
    packet: Packet,
    events: &mpsc::Sender<Event>,
    config: &ReaderConfig,
    aliases: &mut HashMap<u16, String>,
) -> Result<(), End> {
    match packet {
        Packet::Publish(mut publish) => {
            if let Err(reason) = resolve_alias(conn, &mut publish, config, aliases) {
                protocol_error(conn, reason).await;
                return Err(End::Closed);
            }
            let ack = if config.auto_ack {
                ack_for(&publish)
            } else {
                None
            };
            // A closed receiver means every handle is gone; the shutdown signal follows.
            let _ = events.send(Event::Publish(publish)).await;
            if let Some(ack) = ack {
                reply(conn, ack).await?;
            }
        }
        Packet::PubAck(ack) => {
            if !conn.on_puback(&ack) {
                tracing::warn!(pkid = ack.pkid, "client got PUBACK for no QoS 1 publish");
            }
        }
        Packet::PubRec(ack) => match conn.on_pubrec(&ack) {
            PubRecOutcome::Release => {
                reply(conn, pub_response(ack.pkid, ReasonCode::Success, PubRel)).await?
            }
            PubRecOutcome::Refused => {}
            PubRecOutcome::Unknown => {
                tracing::warn!(pkid = ack.pkid, "client got PUBREC for no QoS 2 publish");
                if ack.reason.is_success() {
                    let reason = if conn.protocol.is_v5() {
                        ReasonCode::PacketIdentifierNotFound
                    } else {
                        ReasonCode::Success
                    };
                    reply(conn, pub_response(ack.pkid, reason, PubRel)).await?;
                }
            }
        },
        // Always completed: after a session resume the PUBREC may have been sent by an earlier connection.
        Packet::PubRel(rel) => {
            reply(conn, pub_response(rel.pkid, ReasonCode::Success, PubComp)).await?
        }
        Packet::PubComp(ack) => {
            if !conn.on_pubcomp(&ack) {
                tracing::warn!(pkid = ack.pkid, "client got PUBCOMP for no PUBREL");
            }
        }
        Packet::SubAck(ack) => {
            let pkid = ack.pkid;
            if !conn.on_suback(ack) {
                tracing::warn!(pkid, "client got SUBACK for no SUBSCRIBE");
            }
        }
        Packet::UnsubAck(ack) => {
            let pkid = ack.pkid;
            if !conn.on_unsuback(ack) {
                tracing::warn!(pkid, "client got UNSUBACK for no UNSUBSCRIBE");
            }
        }
        Packet::PingResp => conn.on_pingresp(),
        Packet::Disconnect(d) => return Err(End::Disconnect(Box::new(d))),
        Packet::Auth(auth) => {
            tracing::warn!(
                ?auth,
                "client does not support enhanced authentication; AUTH ignored"
            );
        }
        other @ (Packet::Connect(_)
        | Packet::ConnAck(_)
        | Packet::Subscribe(_)
        | Packet::Unsubscribe(_)
        | Packet::PingReq) => {
            tracing::warn!(packet = ?other, "server sent a packet only a client may send");
            protocol_error(conn, ReasonCode::ProtocolError).await;
            return Err(End::Closed);
        }
    }
    Ok(())
}

/// Sets the topic of a publish that uses a topic alias, or records a new alias ([MQTT-3.3.2-12]).
fn resolve_alias(
    conn: &Conn,
    publish: &mut Publish,
    config: &ReaderConfig,
    aliases: &mut HashMap<u16, String>,
) -> Result<(), ReasonCode> {
    if !conn.protocol.is_v5() {
        return Ok(());
    }
    let Some(alias) = publish.properties.topic_alias else {
        return Ok(());
    };
    if alias == 0 || alias > config.topic_alias_maximum {
        tracing::warn!(
            alias,
            max = config.topic_alias_maximum,
            "[MQTT-3.3.2-9] topic alias out of range"
        );
        return Err(ReasonCode::TopicAliasInvalid);
    }
    if publish.topic.is_empty() {
        match aliases.get(&alias) {
            Some(topic) => publish.topic = topic.clone(),
            None => {
                tracing::warn!(
                    alias,
                    "[MQTT-3.3.4] unknown topic alias with an empty topic"
                );
                return Err(ReasonCode::ProtocolError);
            }
        }
    } else {
        aliases.insert(alias, publish.topic.clone());
    }
    Ok(())
}

/// The acknowledgement an incoming publish needs (PUBACK or PUBREC), if any.
pub(crate) fn ack_for(publish: &Publish) -> Option<Packet> {
    match publish.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(pub_response(publish.pkid, ReasonCode::Success, PubAck)),
        QoS::ExactlyOnce => Some(pub_response(publish.pkid, ReasonCode::Success, PubRec)),
    }
}

use Packet::{PubAck, PubComp, PubRec, PubRel};

fn pub_response(pkid: u16, reason: ReasonCode, kind: fn(PubResponse) -> Packet) -> Packet {
    kind(PubResponse {
        pkid,
        reason,
        properties: Default::default(),
    })
}

/// Queues a reply; `Err(End::Closed)` if the writer is gone.
async fn reply(conn: &Conn, packet: Packet) -> Result<(), End> {
    conn.send(Outgoing::packet(packet))
        .await
        .map_err(|_| End::Closed)
}

/// Closes the connection after a protocol violation by the server (v5: DISCONNECT with `reason` first).
async fn protocol_error(conn: &Conn, reason: ReasonCode) {
    let packet = conn.protocol.is_v5().then(|| {
        Packet::Disconnect(Disconnect {
            reason,
            properties: Default::default(),
        })
    });
    let (written, done) = oneshot::channel();
    if conn.send(Outgoing::Close { packet, written }).await.is_ok() {
        let _ = tokio::time::timeout(DISCONNECT_GRACE, done).await;
    }
    conn.close();
}
