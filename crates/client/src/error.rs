//! The one error type of the client.

use std::io;

use linkmq_codec::{ConnAck, DecodeError, EncodeError, Packet};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed (connect, read or write).
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The connect handshake or a raw receive did not finish in time.
    #[error("timed out")]
    Timeout,
    /// The server answered CONNECT with a failure reason code.
    #[error("connection refused by the server: {:?}", .0.reason)]
    Refused(Box<ConnAck>),
    /// The server sent bytes that are not a valid packet.
    #[error("malformed packet from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The packet cannot be encoded (e.g. a string longer than 65535 bytes).
    #[error("cannot encode packet: {0}")]
    Encode(#[from] EncodeError),
    /// The connection is closed (by us, by the server, or by a network failure).
    #[error("connection closed")]
    ConnectionClosed,
    /// The server sent a packet that is not valid at this point of the exchange.
    #[error("expected {expected}, the server sent {received:?}")]
    UnexpectedPacket {
        /// What the client was waiting for.
        expected: &'static str,
        /// What arrived instead.
        received: Box<Packet>,
    },
    /// The packet is larger than the server's Maximum Packet Size ([MQTT-3.1.2-24]).
    #[error(
        "[MQTT-3.1.2-24] packet of {size} bytes exceeds the server's maximum packet size {max}"
    )]
    PacketTooLarge {
        /// Encoded size of the packet.
        size: usize,
        /// The server's Maximum Packet Size from CONNACK.
        max: u32,
    },
    /// All 65535 packet identifiers are in use.
    #[error("no free packet identifier")]
    PacketIdsExhausted,
    /// The call does not make sense with these arguments.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The TLS configuration cannot be built (unreadable or unusable CA, certificate or key).
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The WebSocket upgrade failed (e.g. the server answered 404 or chose no `mqtt` subprotocol).
    #[error("WebSocket upgrade failed: {0}")]
    WebSocket(String),
}
