//! A blocking MQTT connection on a plain `std` socket, for tests that must write two packets on two
//! connections back to back (no async runtime between them) and read exact packets back.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::BytesMut;
use linkmq_codec::{ConnAck, Connect, Packet, Protocol, ReasonCode};

/// A blocking connection, its protocol and its read buffer.
pub struct BlockingConn {
    pub stream: std::net::TcpStream,
    buf: BytesMut,
    proto: Protocol,
}

impl BlockingConn {
    /// Connects (TCP_NODELAY, reads time out after `read_timeout`) and sends `connect`; panics
    /// unless CONNACK accepts it.
    pub fn connect(
        addr: &str,
        connect: Connect,
        read_timeout: Duration,
    ) -> (BlockingConn, ConnAck) {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(read_timeout)).unwrap();
        let mut c = BlockingConn {
            stream,
            buf: BytesMut::new(),
            proto: connect.protocol,
        };
        c.send(&Packet::Connect(Box::new(connect)));
        match c.recv() {
            Some(Packet::ConnAck(ack)) if ack.reason == ReasonCode::Success => (c, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// `p` encoded in this connection's protocol.
    pub fn encode(&self, p: &Packet) -> BytesMut {
        let mut buf = BytesMut::new();
        linkmq_codec::encode(p, self.proto, &mut buf).unwrap();
        buf
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send(&mut self, p: &Packet) {
        let bytes = self.encode(p);
        self.write(&bytes);
    }

    /// The next packet, or `None` at end of stream or after the read timeout.
    pub fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = linkmq_codec::decode(&mut self.buf, self.proto, 1 << 20).unwrap() {
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
