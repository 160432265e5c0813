//! Bytes ↔ packets for one socket, and the life of a connection: CONNECT phase, then the channel.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use linkmq_codec::{DecodeError, Disconnect, Packet, Properties, Protocol, PublishRef, ReasonCode};
use linkmq_core::Broker;
use linkmq_core::metrics::Counter;
use linkmq_core::registry::PeerCert;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use crate::connect;
use crate::ordered::Ordered;
use crate::traffic::Traffic;

/// Encoded (copied) outbound bytes above which no more queued messages are pulled into the write
/// queue (the session queue holds them instead, under its bound and drop policy).
pub(crate) const WRITE_HIGH_WATER: usize = 64 * 1024;
/// The same for all outbound bytes, large payloads queued by reference included. Those cost no
/// memory of their own, and several of them per vectored write save system calls and wake-ups on
/// both sides (`payload-64k`: up to 8 payloads per write instead of 1 took the broker's CPU per
/// message from about 41 to 35 µs, nearly all of it kernel time).
pub(crate) const WRITE_HIGH_WATER_SHARED: usize = 512 * 1024;
/// Payloads at least this large are written from the message's own memory (vectored writes)
/// instead of being copied into the write buffer, on transports that write vectors (TCP, TLS).
/// Smaller ones are copied: one buffer of many small packets is cheaper to write than many slices.
pub(crate) const SHARED_PAYLOAD_MIN: usize = 4096;
/// The most slices one vectored write is given.
const MAX_IOVECS: usize = 64;

/// Bytes a read lands in when the read buffer has less room than this: a stack buffer, copied into
/// the read buffer, so a connection waiting for data holds no read buffer at all.
const STACK_READ: usize = 16 * 1024;
/// The most the read buffer grows at once for the rest of a partly received packet.
const MAX_RESERVE: usize = 256 * 1024;
/// Initial write buffer (allocated when the first packet of a batch is queued, freed once written).
const WRITE_CHUNK: usize = 4096;
/// How long a connection the broker closed keeps reading what the peer still sends
/// ([`Connection::linger`]), and the most bytes it discards meanwhile.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_MAX_BYTES: usize = 1 << 20;

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
        ready!(Pin::new(&mut *reader).poll_read(cx, &mut buf))?;
        let filled = buf.filled();
        // The start of a packet larger than this read: room for the whole of it now, so its rest
        // is read straight in without growing (and copying) the buffer again.
        if rbuf.is_empty()
            && let Some(rest) = rest_of_packet(filled)
        {
            rbuf.reserve(filled.len() + rest.min(MAX_RESERVE));
        }
        rbuf.extend_from_slice(filled);
        Poll::Ready(Ok(filled.len()))
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

/// What waits to be written, in order: `chunks` (runs of encoded packets, and large payloads shared
/// with their message, not copied: flagged `true`), then `buf` (packets encoded since). Empty, it
/// holds no memory.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    chunks: VecDeque<(Bytes, bool)>,
    /// Bytes in `chunks` that were copied (runs of encoded packets) and that are shared payloads.
    /// Two u32 in the place of one usize: the pump stops at half a MiB and one packet is below
    /// 256 MiB, so only a resend of thousands of huge messages could pass 4 GiB; the counts wrap
    /// then (modular arithmetic, no panic) and only the high-water checks see a smaller queue.
    copied_chunked: u32,
    shared_chunked: u32,
    buf: BytesMut,
}

impl WriteQueue {
    /// Bytes waiting, payloads queued by reference included.
    pub fn len(&self) -> usize {
        self.copied_chunked.wrapping_add(self.shared_chunked) as usize + self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.buf.is_empty()
    }

    /// Bytes waiting that were copied in (encoded packets), not shared with their message: the
    /// memory this queue holds of its own.
    pub fn copied_len(&self) -> usize {
        self.copied_chunked as usize + self.buf.len()
    }

    /// The buffer the next packet is encoded into (allocated when the first one of a batch comes).
    fn buf(&mut self) -> &mut BytesMut {
        if self.buf.capacity() == 0 {
            self.buf.reserve(WRITE_CHUNK);
        }
        &mut self.buf
    }

    /// Queues `payload` by reference after everything encoded so far.
    fn push_shared(&mut self, payload: Bytes) {
        if !self.buf.is_empty() {
            let run = self.buf.split().freeze();
            self.copied_chunked = self.copied_chunked.wrapping_add(run.len() as u32);
            self.chunks.push_back((run, false));
        }
        self.shared_chunked = self.shared_chunked.wrapping_add(payload.len() as u32);
        self.chunks.push_back((payload, true));
    }

    /// Writes from the front of the queue; the bytes written (never 0: a writer that takes nothing
    /// is an error). Cancel safe: the queue moves on in the same poll the write completes in.
    pub async fn write_to<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_write_to(writer, cx)).await
    }

    /// [`WriteQueue::write_to`], except that when `report_refusal` is set and the writer takes
    /// nothing now (the socket is full), it returns `Ok(None)` at once instead of waiting: the
    /// send timeout starts. The waker stays registered with the writer either way.
    pub fn write_or_refusal<'a, W: AsyncWrite + Unpin>(
        &'a mut self,
        writer: &'a mut W,
        report_refusal: bool,
    ) -> impl Future<Output = std::io::Result<Option<usize>>> + 'a {
        std::future::poll_fn(move |cx| match self.poll_write_to(writer, cx) {
            Poll::Ready(r) => Poll::Ready(r.map(Some)),
            Poll::Pending if report_refusal => Poll::Ready(Ok(None)),
            Poll::Pending => Poll::Pending,
        })
    }

    fn poll_write_to<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        let n = if self.chunks.is_empty() {
            ready!(Pin::new(writer).poll_write(cx, &self.buf))?
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut k = 0;
            for (slot, (chunk, _)) in slices.iter_mut().zip(&self.chunks) {
                *slot = IoSlice::new(chunk);
                k += 1;
            }
            if k < MAX_IOVECS && !self.buf.is_empty() {
                slices[k] = IoSlice::new(&self.buf);
                k += 1;
            }
            ready!(Pin::new(writer).poll_write_vectored(cx, &slices[..k]))?
        };
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        self.advance(n);
        Poll::Ready(Ok(n))
    }

    /// Drops `n` written bytes from the front; an emptied queue gives its memory back.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some((front, shared)) = self.chunks.front_mut() else {
                self.buf.advance(n.min(self.buf.len()));
                break;
            };
            let take = n.min(front.len());
            front.advance(take);
            if *shared {
                self.shared_chunked = self.shared_chunked.wrapping_sub(take as u32);
            } else {
                self.copied_chunked = self.copied_chunked.wrapping_sub(take as u32);
            }
            n -= take;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        if self.buf.is_empty() {
            // Written out: the next batch allocates anew.
            self.buf = BytesMut::new();
            if self.chunks.is_empty() {
                self.chunks = VecDeque::new();
            }
        }
    }
}

/// `tcp_options.send_timeout` and `send_timeout_close` in the two bytes the connection had spare:
/// the timeout in tenths of a second (rounded up, at least one; at most 3,276.7 s, longer ones are
/// cut to that; 0 = never) in the low 15 bits, the close flag in the top bit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SendTimeout(u16);

impl SendTimeout {
    const CLOSE: u16 = 0x8000;

    pub(crate) fn new(timeout: Option<Duration>, close: bool) -> SendTimeout {
        let tenths = timeout.map_or(0, |t| {
            t.as_millis()
                .div_ceil(100)
                .clamp(1, u128::from(!Self::CLOSE)) as u16
        });
        SendTimeout(tenths | if close { Self::CLOSE } else { 0 })
    }

    /// How long a socket may refuse every byte; `None`: forever.
    pub(crate) fn timeout(self) -> Option<Duration> {
        let tenths = self.0 & !Self::CLOSE;
        (tenths > 0).then(|| Duration::from_millis(u64::from(tenths) * 100))
    }

    /// Whether a timed-out connection is closed.
    pub(crate) fn close(self) -> bool {
        self.0 & Self::CLOSE != 0
    }
}

/// One client socket with its buffers.
pub(crate) struct Connection<R, W> {
    /// The read half, read in the order sockets became readable ([`Ordered`]).
    pub reader: Ordered<R>,
    pub writer: W,
    pub rbuf: BytesMut,
    pub wbuf: WriteQueue,
    pub peer: SocketAddr,
    pub broker: Arc<Broker>,
    /// Protocol agreed in CONNECT (V5 until then; CONNECT decodes regardless).
    pub protocol: Protocol,
    /// The peer's Maximum Packet Size (v5), else unlimited.
    pub peer_max_packet: u32,
    /// The listener's name, e.g. `tcp:default`.
    pub listener: Arc<str>,
    /// The TLS client certificate's identity (TLS listeners with a client certificate); boxed,
    /// as most connections have none.
    pub peer_cert: Option<Box<PeerCert>>,
    /// The listener's `messages_rate` / `bytes_rate` for this client.
    pub(crate) limiter: crate::limiter::InboundLimiter,
    /// [`Connection::SKIP_AUTHN`], [`Connection::CLOSED_HERE`] and [`Connection::COUNTING`] (one
    /// byte: every connection holds this struct, see the size budget in `channel.rs`).
    flags: u8,
    /// The listener's `tcp_options.send_timeout` / `send_timeout_close`.
    pub(crate) send_timeout: SendTimeout,
    /// The listener's `max_connections` slot, released when the connection goes.
    pub(crate) permit: Option<crate::listener::ConnSlot>,
    /// What this connection has received and sent since its CONNACK (the REST API's `recv_pkt` ...).
    pub(crate) stats: Traffic,
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
            reader: Ordered::new(reader),
            writer,
            rbuf: BytesMut::new(),
            wbuf: WriteQueue::default(),
            peer,
            broker,
            protocol: Protocol::V5,
            peer_max_packet: u32::MAX,
            listener,
            peer_cert: None,
            limiter: Default::default(),
            flags: 0,
            send_timeout: SendTimeout::default(),
            permit: None,
            stats: Traffic::default(),
        }
    }

    /// The listener has `enable_authn = false`.
    const SKIP_AUTHN: u8 = 1;
    /// The broker closed its sending side ([`Connection::close_with`]): linger before dropping.
    const CLOSED_HERE: u8 = 2;
    /// CONNACK is queued: packets count in [`Connection::stats`].
    const COUNTING: u8 = 4;

    fn counting(&self) -> bool {
        self.flags & Self::COUNTING != 0
    }

    /// Counts the packets from here on (called once the CONNACK accepting the client is queued).
    pub fn start_counting(&mut self) {
        self.flags |= Self::COUNTING;
    }

    pub fn skip_authn(&self) -> bool {
        self.flags & Self::SKIP_AUTHN != 0
    }

    pub fn set_skip_authn(&mut self, skip: bool) {
        if skip {
            self.flags |= Self::SKIP_AUTHN;
        } else {
            self.flags &= !Self::SKIP_AUTHN;
        }
    }

    /// Runs the connection to its end; a session with expiry then goes on detached, in its own task.
    pub async fn run(mut self: Box<Self>)
    where
        R: 'static,
        W: 'static,
    {
        self.broker.connection_opened();
        let detached = connect::run(&mut self).await;
        self.broker.connection_closed();
        // The listener's connection permit goes now, and the socket once the peer has closed too
        // (`linger`, at most 2 s): a kept session is not a connection (for max_connections,
        // descriptors, or a WebSocket client waiting for the TCP close that ends its closing
        // handshake). It lives on in a task of its own, which ends at expiry, takeover or
        // shutdown; awaited here instead, it would grow every connection's task.
        self.permit = None;
        if let Some(ch) = detached {
            tokio::spawn(ch.detached());
        }
        if self.flags & Self::CLOSED_HERE != 0 {
            // In a task of its own, as the detached session: awaited here, its state would grow
            // every connection's task.
            tokio::spawn(self.linger());
        }
    }

    /// After the broker has closed its sending side: reads and discards what the peer still
    /// sends until the peer closes too, for at most [`LINGER`] and [`LINGER_MAX_BYTES`], or until
    /// shutdown. A socket closed with unread bytes makes the kernel answer with RST, so a client
    /// still writing (PUBRELs to the PUBRECs before a DISCONNECT 0x93, say) fails its next write
    /// (EPIPE) before it reads the DISCONNECT or CONNACK that says why, and on some systems loses
    /// what it had not read yet: the "lingering close" of HTTP servers.
    async fn linger(mut self: Box<Self>) {
        self.rbuf = BytesMut::new();
        let shutdown = self.broker.shutdown.clone();
        let reader = &mut self.reader;
        let drain = async move {
            let mut total = 0;
            while total < LINGER_MAX_BYTES {
                let read = std::future::poll_fn(|cx| {
                    let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
                    let mut buf = tokio::io::ReadBuf::uninit(&mut stack);
                    ready!(Pin::new(&mut *reader).poll_read(cx, &mut buf))?;
                    Poll::Ready(std::io::Result::Ok(buf.filled().len()))
                })
                .await;
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => total += n,
                }
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(LINGER, drain) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    /// Decodes one buffered packet, if complete.
    pub fn try_decode(&mut self) -> Result<Option<Packet>, DecodeError> {
        let before = self.rbuf.len();
        let r = linkmq_codec::decode(
            &mut self.rbuf,
            self.protocol,
            self.broker.settings.max_packet_size,
        );
        if let Ok(Some(p)) = &r {
            let len = before - self.rbuf.len();
            let m = &self.broker.metrics;
            m.inc(Counter::PacketsReceived);
            m.add(Counter::BytesReceived, len as u64);
            if self.counting() {
                self.stats.received(len, matches!(p, Packet::Publish(_)));
            }
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
        let buf = self.wbuf.buf();
        let before = buf.len();
        match linkmq_codec::encode(packet, self.protocol, buf) {
            Ok(()) => {
                let len = buf.len() - before;
                let m = &self.broker.metrics;
                m.inc(Counter::PacketsSent);
                m.add(Counter::BytesSent, len as u64);
                if self.counting() {
                    self.stats.sent(len, matches!(packet, Packet::Publish(_)));
                }
                true
            }
            Err(e) => {
                buf.truncate(before);
                debug!(error = %e, "packet not encodable, not sent");
                false
            }
        }
    }

    /// [`Connection::queue`] for a PUBLISH given by borrowed parts (one per delivery); `payload` is
    /// the memory `publish.payload` borrows. A large payload is queued by reference, not copied,
    /// when the transport writes vectors.
    pub fn queue_publish(&mut self, publish: &PublishRef<'_>, payload: &Bytes) -> bool {
        if self.peer_max_packet != u32::MAX {
            match publish.encoded_len(self.protocol) {
                Ok(n) if n <= self.peer_max_packet as usize => {}
                _ => return false,
            }
        }
        let shared = publish.payload.len() >= SHARED_PAYLOAD_MIN && self.writer.is_write_vectored();
        let buf = self.wbuf.buf();
        let before = buf.len();
        let encoded = if shared {
            publish.encode_header(self.protocol, buf)
        } else {
            publish.encode(self.protocol, buf)
        };
        match encoded {
            Ok(()) => {
                let mut n = buf.len() - before;
                if shared {
                    debug_assert_eq!(publish.payload, &payload[..]);
                    n += payload.len();
                    self.wbuf.push_shared(payload.clone());
                }
                let m = &self.broker.metrics;
                m.inc(Counter::PacketsSent);
                m.add(Counter::BytesSent, n as u64);
                if self.counting() {
                    self.stats.sent(n, true);
                }
                true
            }
            Err(e) => {
                buf.truncate(before);
                debug!(error = %e, "PUBLISH not encodable, not sent");
                false
            }
        }
    }

    /// Writes the whole write queue out.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        while !self.wbuf.is_empty() {
            self.wbuf.write_to(&mut self.writer).await?;
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
        self.flags |= Self::CLOSED_HERE;
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

    #[test]
    fn send_timeout_keeps_tenths_of_a_second_and_the_close_flag() {
        let t = |ms| Some(Duration::from_millis(ms));
        assert_eq!(SendTimeout::default().timeout(), None);
        assert_eq!(SendTimeout::new(None, true).timeout(), None);
        assert!(SendTimeout::new(None, true).close());
        let s = SendTimeout::new(t(15_000), true);
        assert_eq!((s.timeout(), s.close()), (t(15_000), true));
        let s = SendTimeout::new(t(1_001), false);
        assert_eq!((s.timeout(), s.close()), (t(1_100), false));
        assert_eq!(SendTimeout::new(t(0), true).timeout(), t(100));
        let long = SendTimeout::new(Some(Duration::from_secs(86_400)), false);
        assert_eq!((long.timeout(), long.close()), (t(3_276_700), false));
    }

    /// A writer taking at most `step` bytes per call, vectored or not.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        vectored: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            if !self.vectored {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &**b);
                return self.poll_write(cx, first);
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.step - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn write_queue_keeps_the_order_of_copied_and_shared_parts() {
        for vectored in [true, false] {
            for step in [1, 7, 4096, 1 << 20] {
                let mut q = WriteQueue::default();
                let mut want = Vec::new();
                for i in 0..5u8 {
                    q.buf().extend_from_slice(&[i; 3]);
                    want.extend_from_slice(&[i; 3]);
                    let payload = Bytes::from(vec![100 + i; 5000]);
                    want.extend_from_slice(&payload);
                    if i % 2 == 0 {
                        q.push_shared(payload);
                    } else {
                        q.buf().extend_from_slice(&payload);
                    }
                }
                // Two shared payloads in a row, then a copied tail.
                q.push_shared(Bytes::from_static(b"xyz"));
                q.buf().extend_from_slice(b"end");
                want.extend_from_slice(b"xyzend");
                assert_eq!(q.len(), want.len());
                // Copied: five 3-byte headers, the two odd payloads, the tail; not the shared ones.
                assert_eq!(q.copied_len(), 5 * 3 + 2 * 5000 + 3);
                let mut w = Trickle {
                    out: Vec::new(),
                    step,
                    vectored,
                };
                while !q.is_empty() {
                    let (before, copied) = (q.len(), q.copied_len());
                    let n = q.write_to(&mut w).await.unwrap();
                    assert_eq!(q.len(), before - n);
                    assert!(q.copied_len() <= copied && q.copied_len() <= q.len());
                }
                assert_eq!(q.copied_len(), 0);
                assert!(w.out == want, "vectored {vectored}, step {step}");
                assert_eq!(q.buf.capacity(), 0, "an emptied queue keeps no buffer");
            }
        }
    }

    #[tokio::test]
    async fn a_large_packet_read_through_the_stack_gets_room_for_all_of_it() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let mut rbuf = BytesMut::new();
        // PUBLISH with a remaining length of 40,000 (0xC0 0xB8 0x02), its first 1,000 bytes.
        client.write_all(&[0x30, 0xC0, 0xB8, 0x02]).await.unwrap();
        client.write_all(&[1; 1000]).await.unwrap();
        let n = read_some(&mut server, &mut rbuf).await.unwrap();
        assert_eq!(n, 1004);
        assert!(rbuf.capacity() >= 40_003, "{}", rbuf.capacity());
        let at = rbuf.as_ptr();
        client.write_all(&[2; 39_000]).await.unwrap();
        while rbuf.len() < 40_004 {
            read_some(&mut server, &mut rbuf).await.unwrap();
        }
        assert_eq!(rbuf.as_ptr(), at, "the rest is read in place");
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
