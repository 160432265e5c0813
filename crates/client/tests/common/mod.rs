//! A fake MQTT server for the client's tests: a TcpListener on 127.0.0.1:0 whose connections are
//! [`RawConnection`]s, so each test scripts exactly what the server sends.

#![allow(dead_code)]

use std::time::Duration;

use linkmq_client::{ConnAck, Packet, Protocol, PubResponse, RawConnection, ReasonCode};
use linkmq_codec::Connect;
use tokio::net::TcpListener;

/// How long a test waits for a packet that must come.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be confident a packet does not come.
pub const QUIET: Duration = Duration::from_millis(300);

/// The listening side.
pub struct FakeServer {
    listener: TcpListener,
    /// "127.0.0.1:port"
    pub addr: String,
}

impl FakeServer {
    pub async fn bind() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr").to_string();
        FakeServer { listener, addr }
    }

    /// Accepts one connection and reads its CONNECT.
    pub async fn accept(&self, protocol: Protocol) -> (ServerConn, Connect) {
        let (stream, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("accept timeout")
            .expect("accept");
        let mut conn = ServerConn {
            raw: RawConnection::from_stream(stream),
            protocol,
        };
        match conn.recv().await {
            Packet::Connect(connect) => (conn, *connect),
            other => panic!("expected CONNECT, got {other:?}"),
        }
    }

    /// Accepts one connection, reads CONNECT and answers with a successful CONNACK carrying `connack`'s properties.
    pub async fn accept_ok(&self, protocol: Protocol, connack: ConnAck) -> (ServerConn, Connect) {
        let (mut conn, connect) = self.accept(protocol).await;
        conn.send(Packet::ConnAck(connack)).await;
        (conn, connect)
    }
}

/// One accepted connection.
pub struct ServerConn {
    pub raw: RawConnection,
    pub protocol: Protocol,
}

impl ServerConn {
    /// The next packet; panics on timeout or EOF.
    pub async fn recv(&mut self) -> Packet {
        match self.raw.recv(self.protocol, WAIT).await {
            Ok(Some(packet)) => packet,
            Ok(None) => panic!("client closed the connection"),
            Err(e) => panic!("server recv failed: {e}"),
        }
    }

    /// Asserts nothing arrives for a while.
    pub async fn expect_silence(&mut self) {
        match self.raw.recv(self.protocol, QUIET).await {
            Err(linkmq_client::ClientError::Timeout) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    pub async fn send(&mut self, packet: Packet) {
        self.raw
            .send(&packet, self.protocol)
            .await
            .expect("server send");
    }
}

/// A PUBACK/PUBREC/PUBREL/PUBCOMP body.
pub fn resp(pkid: u16, reason: ReasonCode) -> PubResponse {
    PubResponse {
        pkid,
        reason,
        properties: Default::default(),
    }
}
