//! The writer task: drains the outbox in batches (one `write_all` for everything queued, up to
//! [`BATCH_BYTES`]) and sends PINGREQ when the connection has been idle for the keep-alive.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use linkmq_codec::Packet;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::state::Conn;

/// Stop pulling more packets into one write once the buffer holds this many bytes.
const BATCH_BYTES: usize = 64 * 1024;

/// Capacity of the outbox; publishers wait when it is full (back-pressure from the socket).
pub(crate) const OUTBOX_CAPACITY: usize = 1024;

/// One item of the outbox.
pub(crate) enum Outgoing {
    /// Encode and write; `written` fires once the bytes were handed to the socket.
    Packet {
        packet: Packet,
        written: Option<oneshot::Sender<()>>,
    },
    /// Write `packet` (a DISCONNECT) if any, then close the connection; `written` fires after the close.
    Close {
        packet: Option<Packet>,
        written: oneshot::Sender<()>,
    },
}

impl Outgoing {
    /// A packet nobody waits on.
    pub fn packet(packet: Packet) -> Self {
        Outgoing::Packet {
            packet,
            written: None,
        }
    }
}

/// Why the write loop ended.
enum WriteEnd {
    /// A Close item was written; fire these after closing.
    Closed(Vec<oneshot::Sender<()>>),
    /// The socket failed or the server stopped answering pings.
    Failed(String),
}

/// Runs until the connection closes; closes it on any write failure.
pub(crate) async fn run<W: AsyncWrite + Unpin>(
    conn: Arc<Conn>,
    mut sock: W,
    mut outbox: mpsc::Receiver<Outgoing>,
    keep_alive: Duration,
) {
    let mut shutdown = conn.shutdown_signal();
    let end = tokio::select! {
        end = write_loop(&conn, &mut sock, &mut outbox, keep_alive) => Some(end),
        _ = shutdown.wait_for(|closing| *closing) => None,
    };
    match end {
        Some(WriteEnd::Closed(written)) => {
            let _ = sock.shutdown().await;
            conn.close();
            for tx in written {
                let _ = tx.send(());
            }
        }
        Some(WriteEnd::Failed(why)) => {
            tracing::debug!(%why, "client writer stopped");
            conn.close();
        }
        None => {}
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    conn: &Conn,
    sock: &mut W,
    outbox: &mut mpsc::Receiver<Outgoing>,
    keep_alive: Duration,
) -> WriteEnd {
    let mut buf = BytesMut::with_capacity(BATCH_BYTES);
    let mut written: Vec<oneshot::Sender<()>> = Vec::new();
    let mut last_write = Instant::now();
    loop {
        let first = if keep_alive.is_zero() {
            outbox.recv().await
        } else {
            tokio::select! {
                item = outbox.recv() => item,
                _ = sleep_until(last_write + keep_alive) => {
                    if conn.ping_outstanding.swap(true, Ordering::AcqRel) {
                        return WriteEnd::Failed("no PINGRESP within the keep-alive".into());
                    }
                    encode(conn, &Packet::PingReq, &mut buf);
                    // flush: TLS and WebSocket streams buffer (a no-op on TCP).
                    if let Err(e) = write_flush(sock, &buf).await {
                        return WriteEnd::Failed(e.to_string());
                    }
                    buf.clear();
                    last_write = Instant::now();
                    continue;
                }
            }
        };
        // Conn owns a sender, so the queue only ends when the connection is gone.
        let Some(first) = first else {
            return WriteEnd::Failed("outbox closed".into());
        };
        let mut closing = add(conn, first, &mut buf, &mut written);
        while !closing && buf.len() < BATCH_BYTES {
            match outbox.try_recv() {
                Ok(item) => closing = add(conn, item, &mut buf, &mut written),
                Err(_) => break,
            }
        }
        if !buf.is_empty() {
            if let Err(e) = write_flush(sock, &buf).await {
                return WriteEnd::Failed(e.to_string());
            }
            buf.clear();
            last_write = Instant::now();
        }
        if closing {
            return WriteEnd::Closed(std::mem::take(&mut written));
        }
        for tx in written.drain(..) {
            let _ = tx.send(());
        }
    }
}

async fn write_flush<W: AsyncWrite + Unpin>(sock: &mut W, buf: &[u8]) -> std::io::Result<()> {
    sock.write_all(buf).await?;
    sock.flush().await
}

/// Encodes one outbox item into the batch; true if it closes the connection.
fn add(
    conn: &Conn,
    item: Outgoing,
    buf: &mut BytesMut,
    written: &mut Vec<oneshot::Sender<()>>,
) -> bool {
    match item {
        Outgoing::Packet {
            packet,
            written: tx,
        } => {
            encode(conn, &packet, buf);
            written.extend(tx);
            false
        }
        Outgoing::Close {
            packet,
            written: tx,
        } => {
            if let Some(packet) = packet {
                encode(conn, &packet, buf);
            }
            written.push(tx);
            true
        }
    }
}

fn encode(conn: &Conn, packet: &Packet, buf: &mut BytesMut) {
    let start = buf.len();
    if let Err(e) = linkmq_codec::encode(packet, conn.protocol, buf) {
        // Callers check encoded_len first, so this is a codec inconsistency: drop the packet whole.
        tracing::error!(error = %e, ?packet, "client cannot encode packet; dropped");
        buf.truncate(start);
    }
}
