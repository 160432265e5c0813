//! Bytes ↔ packets for one socket, and the life of a connection: CONNECT phase, then the channel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use linkmq_codec::{DecodeError, Disconnect, Packet, Properties, Protocol, PublishRef, ReasonCode};
use linkmq_core::Broker;
use linkmq_core::metrics::Counter;
use linkmq_core::registry::PeerCert;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use crate::connect;

/// Outbound bytes above which no more queued messages are pulled into the write buffer (the session
/// queue holds them instead, under its bound and drop policy).
pub(crate) const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Why reading a packet failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("connection closed by peer")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("timed out")]
    Timeout,
}

/// One client socket with its buffers.
pub(crate) struct Connection<R, W> {
    pub reader: R,
    pub writer: W,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub peer: SocketAddr,
    pub broker: Arc<Broker>,
    /// Protocol agreed in CONNECT (V5 until then; CONNECT decodes regardless).
    pub protocol: Protocol,
    /// The peer's Maximum Packet Size (v5), else unlimited.
    pub peer_max_packet: u32,
    /// The listener's name, e.g. `tcp:default`.
    pub listener: Arc<str>,
    /// The TLS client certificate's identity (TLS listeners with a client certificate).
    pub peer_cert: Option<PeerCert>,
    /// The listener's `messages_rate` / `bytes_rate` for this client.
    pub(crate) limiter: crate::limiter::InboundLimiter,
    /// The listener has `enable_authn = false`.
    pub skip_authn: bool,
}

impl<R: AsyncRead + Unpin + Send, W: AsyncWrite + Unpin + Send> Connection<R, W> {
    /// A connection on a split socket.
    pub fn new(
        reader: R,
        writer: W,
        peer: SocketAddr,
        broker: Arc<Broker>,
        listener: Arc<str>,
    ) -> Self {
        Connection {
            reader,
            writer,
            rbuf: BytesMut::with_capacity(4096),
            wbuf: BytesMut::with_capacity(4096),
            peer,
            broker,
            protocol: Protocol::V5,
            peer_max_packet: u32::MAX,
            listener,
            peer_cert: None,
            limiter: Default::default(),
            skip_authn: false,
        }
    }

    /// Runs the connection to its end (and, for a session with expiry, beyond: detached).
    pub async fn run(mut self: Box<Self>) {
        self.broker.connection_opened();
        let broker = self.broker.clone();
        connect::run(&mut self).await;
        broker.connection_closed();
    }

    /// Decodes one buffered packet, if complete.
    pub fn try_decode(&mut self) -> Result<Option<Packet>, DecodeError> {
        let before = self.rbuf.len();
        let r = linkmq_codec::decode(
            &mut self.rbuf,
            self.protocol,
            self.broker.settings.max_packet_size,
        );
        if let Ok(Some(_)) = &r {
            let m = &self.broker.metrics;
            m.inc(Counter::PacketsReceived);
            m.add(Counter::BytesReceived, (before - self.rbuf.len()) as u64);
        }
        r
    }

    /// Reads until one packet is complete (CONNECT phase only; the channel reads in its select loop).
    pub async fn read_packet(&mut self, timeout: Duration) -> Result<Packet, ReadError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(p) = self.try_decode()? {
                return Ok(p);
            }
            // A socket still in the CONNECT phase must not hold up a shutdown.
            let read = tokio::select! {
                _ = self.broker.shutdown.cancelled() => return Err(ReadError::Closed),
                r = tokio::time::timeout_at(deadline, self.reader.read_buf(&mut self.rbuf)) => r,
            };
            match read {
                Err(_) => return Err(ReadError::Timeout),
                Ok(Ok(0)) => return Err(ReadError::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Encodes `packet` into the write buffer, unless it exceeds the peer's Maximum Packet Size
    /// ([MQTT-3.1.2-24]); returns whether it was queued.
    pub fn queue(&mut self, packet: &Packet) -> bool {
        if self.peer_max_packet != u32::MAX {
            match linkmq_codec::encoded_len(packet, self.protocol) {
                Ok(n) if n <= self.peer_max_packet as usize => {}
                _ => return false,
            }
        }
        let before = self.wbuf.len();
        match linkmq_codec::encode(packet, self.protocol, &mut self.wbuf) {
            Ok(()) => {
                let m = &self.broker.metrics;
                m.inc(Counter::PacketsSent);
                m.add(Counter::BytesSent, (self.wbuf.len() - before) as u64);
                true
            }
            Err(e) => {
                self.wbuf.truncate(before);
                debug!(error = %e, "packet not encodable, not sent");
                false
            }
        }
    }

    /// [`Connection::queue`] for a PUBLISH given by borrowed parts (one per delivery, no copies).
    pub fn queue_publish(&mut self, publish: &PublishRef<'_>) -> bool {
        if self.peer_max_packet != u32::MAX {
            match publish.encoded_len(self.protocol) {
                Ok(n) if n <= self.peer_max_packet as usize => {}
                _ => return false,
            }
        }
        let before = self.wbuf.len();
        match publish.encode(self.protocol, &mut self.wbuf) {
            Ok(()) => {
                let m = &self.broker.metrics;
                m.inc(Counter::PacketsSent);
                m.add(Counter::BytesSent, (self.wbuf.len() - before) as u64);
                true
            }
            Err(e) => {
                self.wbuf.truncate(before);
                debug!(error = %e, "PUBLISH not encodable, not sent");
                false
            }
        }
    }

    /// Writes the whole write buffer out.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.writer.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.writer.flush().await
    }

    /// Sends DISCONNECT (v5 only) with `reason`, flushes (briefly) and shuts the socket down.
    pub async fn close_with(&mut self, reason: Option<ReasonCode>) {
        if let (Some(reason), true) = (reason, self.protocol.is_v5()) {
            let p = Packet::Disconnect(Disconnect {
                reason,
                properties: Properties::default(),
            });
            if self.queue(&p) {
                self.broker.metrics.inc(Counter::PacketsDisconnectSent);
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.flush()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.writer.shutdown()).await;
    }
}
