//! The lean MQTT client side of the load generator: CONNECT/SUBSCRIBE through the codec (rare), and
//! the hot path by hand: PUBLISH written straight into a batch buffer from a template, incoming
//! packets split by their fixed header and PUBLISH parsed without allocating.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use linkmq_client::{Stream, Transport};
use linkmq_codec::{
    Connect, Packet, Properties, Protocol, QoS, SubOptions, Subscribe, SubscribeFilter,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// Bytes at the start of every payload: send time (ns since the Unix epoch), publisher index, sequence.
pub const STAMP_LEN: usize = 16;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// "host:port" as given: the TLS server name and the WebSocket `Host`.
    pub authority: String,
    /// TCP, TLS, WebSocket or WebSocket over TLS (TLS configuration prepared once).
    pub transport: Transport,
    pub protocol: Protocol,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Local addresses to bind, used round robin (several 127.0.0.x give more ephemeral ports).
    pub ifaddrs: Vec<IpAddr>,
    pub clean_start: bool,
}

/// An established MQTT connection (CONNACK received). Over WebSocket each write is one binary
/// message, so a batch of packets costs one frame.
pub struct Conn {
    pub stream: Stream,
    pub rbuf: BytesMut,
    pub protocol: Protocol,
}

/// The read buffer a connection starts with: enough for CONNACK, SUBACK and an idle connection's
/// rare reads. Readers of deliveries and acknowledgements grow it ([`Conn::reserve_read`]); a larger
/// start costs an idle connection a page fault and the generator 16 KiB each (160 MB and 40,000
/// page faults over `idle10k`).
const SETUP_READ_BUFFER: usize = 256;

impl Conn {
    /// Makes room for a large read (64 KiB when less than 4 KiB is free), so a busy reader
    /// drains the socket in few system calls.
    pub fn reserve_read(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() < 4096 {
            self.rbuf.reserve(64 * 1024);
        }
    }

    /// Makes closing this connection a reset instead of a FIN, so it leaves no TIME_WAIT behind:
    /// 10,000 idle connections closed normally hold 10,000 loopback address pairs for a minute, and
    /// new connections that land on one wait out a SYN retransmit (PAWS), stalling the runs after.
    pub fn reset_on_close(&self) {
        if let Stream::Tcp(s) = &self.stream {
            let _ = s.set_zero_linger();
        }
    }
}

/// Nanoseconds since the Unix epoch (the clock every publisher and subscriber shares).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Opens the socket (bound to `ifaddrs[index % len]` when given), sends CONNECT, waits for CONNACK.
pub async fn connect(
    target: &Target,
    client_id: &str,
    index: usize,
    timeout: Duration,
) -> anyhow::Result<Conn> {
    tokio::time::timeout(timeout, connect_inner(target, client_id, index))
        .await
        .map_err(|_| anyhow::anyhow!("{client_id}: no CONNACK within {timeout:?}"))?
}

async fn connect_inner(target: &Target, client_id: &str, index: usize) -> anyhow::Result<Conn> {
    let socket = if target.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if !target.ifaddrs.is_empty() {
        let ip = target.ifaddrs[index % target.ifaddrs.len()];
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("bind {ip}"))?;
    }
    let tcp = socket
        .connect(target.addr)
        .await
        .with_context(|| format!("connect {}", target.addr))?;
    tcp.set_nodelay(true)?;
    let stream = target
        .transport
        .establish(&target.authority, tcp)
        .await
        .with_context(|| {
            format!(
                "{} handshake with {}",
                transport_name(&target.transport),
                target.addr
            )
        })?;
    let mut conn = Conn {
        stream,
        rbuf: BytesMut::with_capacity(SETUP_READ_BUFFER),
        protocol: target.protocol,
    };
    let mut properties = Properties::default();
    if target.protocol.is_v5() {
        // Large enough that the broker never holds deliveries back for our sake.
        properties.receive_maximum = Some(u16::MAX);
    }
    let connect = Packet::Connect(Box::new(Connect {
        protocol: target.protocol,
        clean_start: target.clean_start,
        keep_alive: target.keep_alive,
        client_id: client_id.to_string(),
        will: None,
        username: target.username.clone(),
        password: target.password.clone().map(Bytes::from),
        properties,
    }));
    conn.send_packet(&connect).await?;
    let (first, body) = conn.read_frame().await?;
    if first >> 4 != 2 || body.len() < 2 {
        bail!(
            "{client_id}: expected CONNACK, got packet type {}",
            first >> 4
        );
    }
    if body[1] != 0 {
        bail!("{client_id}: CONNACK refused with code {:#04x}", body[1]);
    }
    Ok(conn)
}

/// "tcp", "tls", "ws" or "wss".
pub fn transport_name(t: &Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Tls(_) => "tls",
        Transport::Ws { .. } => "ws",
        Transport::Wss { .. } => "wss",
    }
}

impl Conn {
    /// Encodes and writes one packet (setup path only).
    pub async fn send_packet(&mut self, packet: &Packet) -> anyhow::Result<()> {
        let mut out = BytesMut::new();
        linkmq_codec::encode(packet, self.protocol, &mut out)?;
        self.write_all(&out).await?;
        Ok(())
    }

    /// Writes a batch of packets and flushes it (a no-op on TCP; on WebSocket it sends the one
    /// binary message the batch became, on TLS the last record).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads one whole packet: (first byte, body).
    pub async fn read_frame(&mut self) -> anyhow::Result<(u8, Bytes)> {
        loop {
            if let Some(f) = split_frame(&mut self.rbuf)? {
                return Ok(f);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("connection closed by the broker");
            }
        }
    }

    /// Subscribes to `filters` and waits for the SUBACK; fails if any filter is refused.
    pub async fn subscribe(&mut self, filters: &[String], qos: QoS) -> anyhow::Result<()> {
        let sub = Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: filters
                .iter()
                .map(|f| SubscribeFilter {
                    filter: f.clone(),
                    options: SubOptions {
                        qos,
                        ..SubOptions::default()
                    },
                })
                .collect(),
            properties: Properties::default(),
        });
        self.send_packet(&sub).await?;
        loop {
            let (first, body) = self.read_frame().await?;
            if first >> 4 != 9 {
                continue;
            }
            // pkid, (v5: properties), then one code per filter.
            let mut b = body.slice(2..);
            if self.protocol.is_v5() {
                let (len, n) = read_varint(&b).context("SUBACK properties")?;
                b.advance(n + len);
            }
            if let Some(code) = b.iter().find(|c| **c >= 0x80) {
                bail!("subscription refused with code {code:#04x}");
            }
            return Ok(());
        }
    }
}

/// Takes one whole packet off the front of `buf`: (first byte, body). `Ok(None)` = need more bytes.
pub fn split_frame(buf: &mut BytesMut) -> io::Result<Option<(u8, Bytes)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let Some((len, n)) = read_varint(&buf[1..]) else {
        if buf.len() >= 5 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad remaining length",
            ));
        }
        return Ok(None);
    };
    if buf.len() < 1 + n + len {
        buf.reserve(1 + n + len - buf.len());
        return Ok(None);
    }
    let first = buf[0];
    buf.advance(1 + n);
    Ok(Some((first, buf.split_to(len).freeze())))
}

/// A Variable Byte Integer at the front of `b`: (value, bytes used). None if incomplete or too long.
pub fn read_varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in b.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn write_varint(buf: &mut BytesMut, mut v: usize) {
    loop {
        let mut b = (v % 128) as u8;
        v /= 128;
        if v > 0 {
            b |= 0x80;
        }
        buf.put_u8(b);
        if v == 0 {
            break;
        }
    }
}

/// What a received PUBLISH carries for the measurements.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub qos: u8,
    pub pkid: u16,
    /// The stamp, if the payload has one.
    pub stamp: Option<Stamp>,
}

/// The first [`STAMP_LEN`] payload bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sent_ns: u64,
    pub publisher: u32,
    pub seq: u32,
}

/// Parses a PUBLISH body without allocating (topic skipped, v5 properties skipped).
pub fn parse_publish(first: u8, body: &[u8], v5: bool) -> Option<Received> {
    let qos = (first >> 1) & 3;
    let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut at = 2 + topic_len;
    let mut pkid = 0;
    if qos > 0 {
        pkid = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]);
        at += 2;
    }
    if v5 {
        let (len, n) = read_varint(body.get(at..)?)?;
        at += n + len;
    }
    let payload = body.get(at..)?;
    let stamp = (payload.len() >= STAMP_LEN).then(|| Stamp {
        sent_ns: u64::from_be_bytes(payload[0..8].try_into().unwrap()),
        publisher: u32::from_be_bytes(payload[8..12].try_into().unwrap()),
        seq: u32::from_be_bytes(payload[12..16].try_into().unwrap()),
    });
    Some(Received { qos, pkid, stamp })
}

/// Appends a PUBACK / PUBREC / PUBREL / PUBCOMP (`kind` = packet type) with success.
pub fn put_ack(buf: &mut BytesMut, kind: u8, pkid: u16) {
    let flags = if kind == 6 { 0b0010 } else { 0 };
    buf.put_u8(kind << 4 | flags);
    buf.put_u8(2);
    buf.put_u16(pkid);
}

/// A PUBLISH prepared once per publisher; each message patches the stamp and the packet id.
pub struct PublishTemplate {
    first: u8,
    /// Fixed header's remaining-length bytes + topic (+ a pkid placeholder when QoS > 0) (+ empty v5
    /// properties) + payload.
    head: BytesMut,
    pkid_at: Option<usize>,
    payload_at: usize,
}

impl PublishTemplate {
    /// `size` bytes of payload (at least [`STAMP_LEN`]).
    pub fn new(topic: &str, qos: QoS, retain: bool, size: usize, v5: bool) -> PublishTemplate {
        let size = size.max(STAMP_LEN);
        let mut body_len = 2 + topic.len() + size;
        if qos != QoS::AtMostOnce {
            body_len += 2;
        }
        if v5 {
            body_len += 1;
        }
        let mut head = BytesMut::with_capacity(body_len + 4);
        write_varint(&mut head, body_len);
        head.put_u16(topic.len() as u16);
        head.put_slice(topic.as_bytes());
        let mut pkid_at = None;
        if qos != QoS::AtMostOnce {
            pkid_at = Some(head.len());
            head.put_u16(0);
        }
        if v5 {
            head.put_u8(0);
        }
        let payload_at = head.len();
        head.put_bytes(b'x', size);
        PublishTemplate {
            first: 0x30 | (qos as u8) << 1 | u8::from(retain),
            head,
            pkid_at,
            payload_at,
        }
    }

    /// Bytes one message takes on the wire.
    pub fn wire_len(&self) -> usize {
        1 + self.head.len()
    }

    /// Appends one PUBLISH with this stamp and packet id to `out`.
    pub fn put(&self, out: &mut BytesMut, pkid: u16, stamp: Stamp) {
        out.reserve(self.wire_len());
        out.put_u8(self.first);
        let start = out.len();
        out.extend_from_slice(&self.head);
        let s = &mut out[start..];
        if let Some(at) = self.pkid_at {
            s[at..at + 2].copy_from_slice(&pkid.to_be_bytes());
        }
        let p = self.payload_at;
        s[p..p + 8].copy_from_slice(&stamp.sent_ns.to_be_bytes());
        s[p + 8..p + 12].copy_from_slice(&stamp.publisher.to_be_bytes());
        s[p + 12..p + 16].copy_from_slice(&stamp.seq.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matches_the_codec_and_parses_back() {
        for (qos, v5) in [
            (QoS::AtMostOnce, false),
            (QoS::AtLeastOnce, false),
            (QoS::AtMostOnce, true),
            (QoS::ExactlyOnce, true),
        ] {
            let t = PublishTemplate::new("bench/1", qos, false, 200, v5);
            let stamp = Stamp {
                sent_ns: 123_456_789,
                publisher: 7,
                seq: 42,
            };
            let mut out = BytesMut::new();
            t.put(&mut out, 9, stamp);
            assert_eq!(out.len(), t.wire_len());
            let protocol = if v5 { Protocol::V5 } else { Protocol::V311 };
            let mut copy = out.clone();
            let Some(Packet::Publish(p)) =
                linkmq_codec::decode(&mut copy, protocol, u32::MAX).unwrap()
            else {
                panic!("not a publish")
            };
            assert_eq!(p.topic, "bench/1");
            assert_eq!(p.qos, qos);
            assert_eq!(p.payload.len(), 200);
            let (first, body) = split_frame(&mut out).unwrap().unwrap();
            let r = parse_publish(first, &body, v5).unwrap();
            assert_eq!(r.stamp, Some(stamp));
            assert_eq!(r.qos, qos as u8);
            if qos != QoS::AtMostOnce {
                assert_eq!(r.pkid, 9);
            }
        }
    }
}
