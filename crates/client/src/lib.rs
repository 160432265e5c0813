//! A small async MQTT 5.0 / 3.1.1 / 3.1 client on the linkmq codec, used by the broker's integration
//! tests, the benchmarks and the Cluster Linking forwarder.
//!
//! It knows nothing of the broker: it speaks the wire protocol through `linkmq-codec` only.
//! [`Client::connect`] returns a cloneable [`Client`] whose connection is owned by two tasks: a reader
//! (completes acknowledgements, resolves incoming topic aliases, auto-acks, queues [`Event`]s) and a
//! writer (batches queued packets into one write, sends keep-alive pings). Outgoing QoS 1/2 publishes
//! respect the server's Receive Maximum and every packet its Maximum Packet Size. Every internal queue
//! is bounded: a full outbox makes senders wait, a full event queue stops reading the socket.
//!
//! [`RawConnection`] is the opposite: no task, no state, packets or bytes in and out, for protocol
//! conformance tests.

mod client;
mod error;
mod options;
mod raw;
mod reader;
mod state;
mod transport;
mod writer;

pub use client::{Client, Event, PublishAck};
pub use error::ClientError;
pub use options::{ConnectOptions, MAX_PACKET_SIZE_LIMIT};
pub use raw::RawConnection;
pub use transport::{Io, Pem, Sni, Stream, TlsOptions, TlsVersion, Transport};

/// The codec this client speaks through, for tests that build or parse packets themselves.
pub use linkmq_codec as codec;
pub use linkmq_codec::{
    ConnAck, Disconnect, LastWill, Packet, Properties, Protocol, PubResponse, Publish, QoS,
    ReasonCode, RetainHandling, SubAck, SubOptions, SubscribeFilter, UnsubAck,
};
