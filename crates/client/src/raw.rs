//! [`RawConnection`]: a bare TCP connection that sends and receives single packets or raw bytes,
//! with no background task and no protocol state, for conformance tests.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use linkmq_codec::{Packet, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::error::ClientError;
use crate::options::MAX_PACKET_SIZE_LIMIT;

/// A TCP connection driven packet by packet by the test itself.
#[derive(Debug)]
pub struct RawConnection {
    stream: TcpStream,
    buf: BytesMut,
    max_packet_size: u32,
}

impl RawConnection {
    /// Opens the TCP connection (nothing is sent).
    pub async fn connect(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::from_stream(stream))
    }

    /// Wraps an accepted or already connected stream (e.g. the server side of a fake broker in a test).
    pub fn from_stream(stream: TcpStream) -> Self {
        RawConnection {
            stream,
            buf: BytesMut::with_capacity(4096),
            max_packet_size: MAX_PACKET_SIZE_LIMIT,
        }
    }

    /// Largest packet [`RawConnection::recv`] accepts (default: the protocol limit).
    pub fn set_max_packet_size(&mut self, max: u32) {
        self.max_packet_size = max;
    }

    /// Encodes and writes one packet.
    pub async fn send(&mut self, packet: &Packet, protocol: Protocol) -> Result<(), ClientError> {
        let mut out = BytesMut::new();
        linkmq_codec::encode(packet, protocol, &mut out)?;
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Writes bytes as given (for malformed-input tests).
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Next packet decoded with `protocol`. `Ok(None)` on a clean EOF (nothing half-received);
    /// `Err(Timeout)` if no whole packet arrives within `timeout`; `Err(Decode)` on malformed bytes.
    pub async fn recv(
        &mut self,
        protocol: Protocol,
        timeout: Duration,
    ) -> Result<Option<Packet>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(packet) =
                linkmq_codec::decode(&mut self.buf, protocol, self.max_packet_size)?
            {
                return Ok(Some(packet));
            }
            self.buf.reserve(4096);
            let read = timeout_at(deadline, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| ClientError::Timeout)??;
            if read == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(
                    io::Error::new(io::ErrorKind::UnexpectedEof, "EOF inside a packet").into(),
                );
            }
        }
    }

    /// True if the peer closed the socket within `timeout`; whatever arrives before is discarded.
    /// A connection reset counts as closed.
    pub async fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.buf.clear();
        loop {
            self.buf.reserve(4096);
            match timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => self.buf.clear(),
            }
        }
    }

    /// The underlying stream, e.g. to shut down the write side.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}
