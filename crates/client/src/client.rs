//! [`Client`]: a cloneable handle on one MQTT connection whose socket is owned by a reader and a
//! writer task, and the [`Event`]s it yields.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use linkmq_codec::{
    ConnAck, Disconnect, Packet, Properties, Protocol, Publish, QoS, ReasonCode, SubAck,
    SubOptions, Subscribe, SubscribeFilter, UnsubAck, Unsubscribe,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::ClientError;
use crate::options::ConnectOptions;
use crate::reader::{self, ReaderConfig};
use crate::state::{Conn, Pending};
use crate::transport::Stream;
use crate::writer::{self, OUTBOX_CAPACITY, Outgoing};

/// What the server sent us, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An application message; the topic is resolved when it came with a topic alias (the alias
    /// stays in the properties). The client does no duplicate suppression: tests see what the server sent.
    Publish(Publish),
    /// The server sent DISCONNECT; no more events follow.
    Disconnect(Disconnect),
    /// The connection closed without a DISCONNECT from the server (EOF, error, our own disconnect or
    /// abort); no more events follow.
    Closed,
}

/// The acknowledgement of a publish queued with [`Client::publish_queued`]: resolves to the PUBACK
/// (QoS 1) or PUBREC/PUBCOMP (QoS 2) reason, at once for QoS 0.
#[derive(Debug)]
pub struct PublishAck(Option<oneshot::Receiver<ReasonCode>>);

impl std::future::Future for PublishAck {
    type Output = Result<ReasonCode, ClientError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.0.as_mut() {
            None => std::task::Poll::Ready(Ok(ReasonCode::Success)),
            Some(rx) => std::pin::Pin::new(rx)
                .poll(cx)
                .map(|r| r.map_err(|_| ClientError::ConnectionClosed)),
        }
    }
}

/// A handle on one MQTT connection. Clones share the connection; dropping the last one closes the
/// socket without DISCONNECT.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Arc<Conn>,
    events: Mutex<mpsc::Receiver<Event>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.conn.close();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("protocol", &self.inner.conn.protocol)
            .field("closed", &self.inner.conn.is_closed())
            .finish()
    }
}

/// Undoes a registration (and gives back its Receive Maximum slot) if the request never reached the outbox.
struct Registration<'a> {
    conn: &'a Conn,
    pkid: u16,
    holds_slot: bool,
    sent: bool,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.sent && self.conn.unregister(self.pkid) && self.holds_slot {
            self.conn.release_slot();
        }
    }
}

impl Client {
    /// Connects, sends CONNECT and waits for CONNACK (all within `opts.connect_timeout`).
    /// A CONNACK with a failure reason is `Err(ClientError::Refused)`.
    pub async fn connect(opts: ConnectOptions) -> Result<(Client, ConnAck), ClientError> {
        let (stream, connack, leftover) =
            tokio::time::timeout(opts.connect_timeout, handshake(&opts))
                .await
                .map_err(|_| ClientError::Timeout)??;
        if !connack.reason.is_success() {
            return Err(ClientError::Refused(Box::new(connack)));
        }
        let v5 = opts.protocol.is_v5();
        let props = &connack.properties;
        let keep_alive = props
            .server_keep_alive
            .filter(|_| v5)
            .unwrap_or(opts.keep_alive);
        let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let conn = Arc::new(Conn::new(
            opts.protocol,
            props.maximum_packet_size.filter(|_| v5),
            props.receive_maximum.filter(|_| v5).unwrap_or(u16::MAX),
            outbox_tx,
        ));
        let (events_tx, events_rx) = mpsc::channel(opts.event_capacity.max(1));
        let config = ReaderConfig {
            max_packet_size: opts.max_packet_size,
            topic_alias_maximum: opts
                .properties
                .topic_alias_maximum
                .filter(|_| v5)
                .unwrap_or(0),
            auto_ack: opts.auto_ack,
        };
        let keep_alive = Duration::from_secs(u64::from(keep_alive));
        let tasks = (leftover, events_tx, config, outbox_rx, keep_alive);
        match stream {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                spawn_io(&conn, r, w, tasks);
            }
            Stream::Other(s) => {
                let (r, w) = tokio::io::split(s);
                spawn_io(&conn, r, w, tasks);
            }
        }
        let client = Client {
            inner: Arc::new(Inner {
                conn,
                events: Mutex::new(events_rx),
            }),
        };
        Ok((client, connack))
    }

    fn conn(&self) -> &Conn {
        &self.inner.conn
    }

    /// Protocol version of this connection.
    pub fn protocol(&self) -> Protocol {
        self.conn().protocol
    }

    /// True once the connection is closed (by either side).
    pub fn is_closed(&self) -> bool {
        self.conn().is_closed()
    }

    /// Publishes a message. QoS 0: returns once written to the socket. QoS 1: waits for PUBACK and
    /// returns its reason. QoS 2: waits for PUBREC, sends PUBREL, waits for PUBCOMP; returns PUBREC's
    /// reason (or PUBCOMP's if that one failed).
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<ReasonCode, ClientError> {
        let publish = Publish {
            qos,
            retain,
            topic: topic.to_owned(),
            payload: payload.into(),
            ..Default::default()
        };
        self.publish_with(publish).await
    }

    /// Publishes a prepared message (properties, topic alias and DUP flag as given; the packet
    /// identifier is assigned here). QoS 1/2 first wait for a slot under the server's Receive Maximum.
    pub async fn publish_with(&self, publish: Publish) -> Result<ReasonCode, ClientError> {
        self.publish_queued(publish).await?.await
    }

    /// Hands a prepared message to the writer and returns without waiting for its acknowledgement,
    /// so messages queued by one caller one after another go out in that order while several are in
    /// flight (the Cluster Linking forwarder pipelines this way). QoS 1/2 wait here for a slot under
    /// the server's Receive Maximum; QoS 0 waits until written. The returned [`PublishAck`] resolves
    /// to what [`Client::publish_with`] would return.
    pub async fn publish_queued(&self, mut publish: Publish) -> Result<PublishAck, ClientError> {
        let conn = self.conn();
        conn.check_open()?;
        if publish.qos == QoS::AtMostOnce {
            publish.pkid = 0;
            let packet = Packet::Publish(publish);
            conn.check_size(&packet)?;
            let (written, done) = oneshot::channel();
            conn.send(Outgoing::Packet {
                packet,
                written: Some(written),
            })
            .await?;
            done.await.map_err(|_| ClientError::ConnectionClosed)?;
            return Ok(PublishAck(None));
        }
        publish.pkid = 1;
        let mut packet = Packet::Publish(publish);
        conn.check_size(&packet)?;
        conn.inflight
            .acquire()
            .await
            .map_err(|_| ClientError::ConnectionClosed)?
            .forget();
        let (tx, done) = oneshot::channel();
        let exactly_once = matches!(&packet, Packet::Publish(p) if p.qos == QoS::ExactlyOnce);
        let pending = if exactly_once {
            Pending::PubRec(tx)
        } else {
            Pending::PubAck(tx)
        };
        let pkid = match conn.register(pending) {
            Ok(pkid) => pkid,
            Err(e) => {
                conn.release_slot();
                return Err(e);
            }
        };
        let mut registration = Registration {
            conn,
            pkid,
            holds_slot: true,
            sent: false,
        };
        if let Packet::Publish(p) = &mut packet {
            p.pkid = pkid;
        }
        conn.send(Outgoing::packet(packet)).await?;
        registration.sent = true;
        Ok(PublishAck(Some(done)))
    }

    /// Queues a QoS 0 message and returns without waiting for the write: the cheap path for
    /// benchmarks. Waits only while the outbox is full.
    pub async fn publish_nowait(&self, publish: Publish) -> Result<(), ClientError> {
        if publish.qos != QoS::AtMostOnce {
            return Err(ClientError::InvalidArgument(
                "publish_nowait takes QoS 0 messages only",
            ));
        }
        let packet = Packet::Publish(Publish { pkid: 0, ..publish });
        self.conn().check_size(&packet)?;
        self.conn().send(Outgoing::packet(packet)).await
    }

    /// Subscribes to one filter with default options; returns the SUBACK.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<SubAck, ClientError> {
        let filter = SubscribeFilter {
            filter: filter.to_owned(),
            options: SubOptions {
                qos,
                ..Default::default()
            },
        };
        self.subscribe_with(vec![filter], Properties::default())
            .await
    }

    /// Sends one SUBSCRIBE with these filters and properties (e.g. a subscription identifier); returns the SUBACK.
    pub async fn subscribe_with(
        &self,
        filters: Vec<SubscribeFilter>,
        properties: Properties,
    ) -> Result<SubAck, ClientError> {
        let (tx, done) = oneshot::channel();
        let packet = Packet::Subscribe(Subscribe {
            pkid: 1,
            filters,
            properties,
        });
        self.request(packet, Pending::SubAck(tx)).await?;
        done.await.map_err(|_| ClientError::ConnectionClosed)
    }

    /// Unsubscribes from these filters; returns the UNSUBACK.
    pub async fn unsubscribe(&self, filters: &[&str]) -> Result<UnsubAck, ClientError> {
        let filters = filters.iter().map(|f| (*f).to_owned()).collect();
        self.unsubscribe_with(filters, Properties::default()).await
    }

    /// Sends one UNSUBSCRIBE with these filters and properties; returns the UNSUBACK.
    pub async fn unsubscribe_with(
        &self,
        filters: Vec<String>,
        properties: Properties,
    ) -> Result<UnsubAck, ClientError> {
        let (tx, done) = oneshot::channel();
        let packet = Packet::Unsubscribe(Unsubscribe {
            pkid: 1,
            filters,
            properties,
        });
        self.request(packet, Pending::UnsubAck(tx)).await?;
        done.await.map_err(|_| ClientError::ConnectionClosed)
    }

    /// Registers `pending` under a fresh packet identifier, writes it into `packet` and queues the packet.
    async fn request(&self, mut packet: Packet, pending: Pending) -> Result<(), ClientError> {
        let conn = self.conn();
        conn.check_size(&packet)?;
        let pkid = conn.register(pending)?;
        let mut registration = Registration {
            conn,
            pkid,
            holds_slot: false,
            sent: false,
        };
        match &mut packet {
            Packet::Subscribe(s) => s.pkid = pkid,
            Packet::Unsubscribe(u) => u.pkid = pkid,
            _ => {
                return Err(ClientError::InvalidArgument(
                    "only SUBSCRIBE and UNSUBSCRIBE are requests",
                ));
            }
        }
        conn.send(Outgoing::packet(packet)).await?;
        registration.sent = true;
        Ok(())
    }

    /// Next event; `None` once the final [`Event::Closed`] or [`Event::Disconnect`] was returned.
    pub async fn recv(&self) -> Option<Event> {
        self.inner.events.lock().await.recv().await
    }

    /// Like [`Client::recv`], but `None` also when nothing arrives within `timeout`.
    pub async fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        tokio::time::timeout(timeout, self.recv())
            .await
            .ok()
            .flatten()
    }

    /// Acknowledges an incoming publish when `auto_ack` is off: PUBACK for QoS 1, PUBREC for QoS 2
    /// (the PUBREL that follows is answered with PUBCOMP automatically). No-op for QoS 0.
    pub async fn ack(&self, publish: &Publish) -> Result<(), ClientError> {
        match reader::ack_for(publish) {
            Some(packet) => self.conn().send(Outgoing::packet(packet)).await,
            None => Ok(()),
        }
    }

    /// Queues any packet as is, for protocol tests (e.g. a PUBREL for an unknown packet identifier).
    /// The client's own bookkeeping does not see it.
    pub async fn send_packet(&self, packet: Packet) -> Result<(), ClientError> {
        self.conn().check_size(&packet)?;
        self.conn().send(Outgoing::packet(packet)).await
    }

    /// Sends DISCONNECT with reason 0x00 (Normal disconnection), then closes the socket.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.disconnect_with(ReasonCode::Success, Properties::default())
            .await
    }

    /// Sends DISCONNECT with this reason and properties (v5; v3.x DISCONNECT has no body), then closes the socket.
    /// Returns once the socket is closed.
    pub async fn disconnect_with(
        &self,
        reason: ReasonCode,
        properties: Properties,
    ) -> Result<(), ClientError> {
        let conn = self.conn();
        conn.check_open()?;
        let packet = Packet::Disconnect(Disconnect { reason, properties });
        conn.check_size(&packet)?;
        let (written, done) = oneshot::channel();
        conn.send(Outgoing::Close {
            packet: Some(packet),
            written,
        })
        .await?;
        done.await.map_err(|_| ClientError::ConnectionClosed)
    }

    /// Drops the socket without DISCONNECT (an abnormal close: the server publishes the will).
    pub fn abort(&self) {
        self.conn().close();
    }
}

/// What the reader and writer tasks get besides the socket halves.
type TaskParts = (
    BytesMut,
    mpsc::Sender<Event>,
    ReaderConfig,
    mpsc::Receiver<Outgoing>,
    Duration,
);

/// Spawns the reader and the writer task on the two halves of the connection.
fn spawn_io<R, W>(conn: &Arc<Conn>, r: R, w: W, parts: TaskParts)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (leftover, events_tx, config, outbox_rx, keep_alive) = parts;
    tokio::spawn(reader::run(conn.clone(), r, leftover, events_tx, config));
    tokio::spawn(writer::run(conn.clone(), w, outbox_rx, keep_alive));
}

/// Transport (TCP, TLS, WebSocket), CONNECT, CONNACK. Returns the stream, the CONNACK and any bytes
/// read past it.
async fn handshake(opts: &ConnectOptions) -> Result<(Stream, ConnAck, BytesMut), ClientError> {
    let mut stream = crate::transport::open(&opts.addr, &opts.transport).await?;
    let mut buf = BytesMut::with_capacity(256);
    linkmq_codec::encode(
        &Packet::Connect(Box::new(opts.connect_packet())),
        opts.protocol,
        &mut buf,
    )?;
    stream.write_all(&buf).await?;
    stream.flush().await?;
    buf.clear();
    loop {
        if let Some(packet) = linkmq_codec::decode(&mut buf, opts.protocol, opts.max_packet_size)? {
            return match packet {
                Packet::ConnAck(connack) => Ok((stream, connack, buf)),
                other => Err(ClientError::UnexpectedPacket {
                    expected: "CONNACK",
                    received: Box::new(other),
                }),
            };
        }
        buf.reserve(4096);
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(ClientError::ConnectionClosed);
        }
    }
}
