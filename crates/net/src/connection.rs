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

/// Bytes a read lands in when the read buffer has less room than this: a stack buffer, copied into
/// the read buffer, so a connection waiting for data holds no read buffer at all.
const STACK_READ: usize = 16 * 1024;
/// The most the read buffer grows at once for the rest of a partly received packet.
const MAX_RESERVE: usize = 256 * 1024;
/// Initial write buffer (allocated when the first packet of a batch is queued, freed once written).
const WRITE_CHUNK: usize = 4096;

/// Reads what the socket has into `rbuf`; Ok(0) at end of stream. Cancel safe. With room for the
/// rest of a partly received packet, reads straight into `rbuf` (a large PUBLISH arrives without
/// growth copies); otherwise through a stack buffer, so an idle connection keeps no buffer.
pub(crate) async fn read_some<R: AsyncRead + Unpin>(
    reader: &mut R,
    rbuf: &mut BytesMut,
) -> std::io::Result<usize> {
    if let Some(rest) = rest_of_packet(rbuf) {
        rbuf.reserve(rest.min(MAX_RESERVE));
    }
    if rbuf.capacity() - rbuf.len() >= STACK_READ / 4 {
        return reader.read_buf(rbuf).await;
    }
    std::future::poll_fn(|cx| {
        let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); STACK_READ];
        let mut buf = tokio::io::ReadBuf::uninit(&mut stack);
        std::task::ready!(std::pin::Pin::new(&mut *reader).poll_read(cx, &mut buf))?;
        rbuf.extend_from_slice(buf.filled());
        std::task::Poll::Ready(Ok(buf.filled().len()))
    })
    .await
}

/// Bytes still missing of the packet whose fixed header starts `buf`, when that header is complete.
fn rest_of_packet(buf: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    for (i, b) in buf.get(1..)?.iter().take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (2 + i + len).checked_sub(buf.len()).filter(|r| *r > 0);
        }
    }
    None
}

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
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
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
                r = tokio::time::timeout_at(deadline, read_some(&mut self.reader, &mut self.rbuf)) => r,
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
        if self.wbuf.capacity() == 0 {
            self.wbuf.reserve(WRITE_CHUNK);
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
        if self.wbuf.capacity() == 0 {
            self.wbuf.reserve(WRITE_CHUNK);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_of_packet_counts_what_is_missing() {
        assert_eq!(rest_of_packet(&[]), None);
        assert_eq!(rest_of_packet(&[0x30]), None);
        // 2-byte header, 5-byte body, 3 bytes of it here.
        assert_eq!(rest_of_packet(&[0x30, 5, 1, 2, 3]), Some(2));
        assert_eq!(rest_of_packet(&[0x30, 5, 1, 2, 3, 4, 5]), None);
        // Remaining length 200 = 0xC8 0x01: 3-byte header.
        assert_eq!(rest_of_packet(&[0x30, 0xC8, 0x01, 0]), Some(199));
        assert_eq!(rest_of_packet(&[0x30, 4]), Some(4));
        // An unfinished remaining length.
        assert_eq!(rest_of_packet(&[0x30, 0xC8]), None);
    }

    #[tokio::test]
    async fn read_some_reads_through_the_stack_and_straight_in() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let mut rbuf = BytesMut::new();
        client.write_all(&[0x30, 0xC8, 0x01]).await.unwrap();
        assert_eq!(read_some(&mut server, &mut rbuf).await.unwrap(), 3);
        assert_eq!(&rbuf[..], &[0x30, 0xC8, 0x01]);
        client.write_all(&[7; 200]).await.unwrap();
        let mut got = 0;
        while got < 200 {
            got += read_some(&mut server, &mut rbuf).await.unwrap();
        }
        assert_eq!(rbuf.len(), 203);
        assert!(rbuf[3..].iter().all(|b| *b == 7));
        drop(client);
        assert_eq!(read_some(&mut server, &mut rbuf).await.unwrap(), 0);
    }
}
