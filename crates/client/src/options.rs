//! What to connect to and how: [`ConnectOptions`] with a builder-style API.

use std::time::Duration;

use bytes::Bytes;
use linkmq_codec::{Connect, LastWill, Properties, Protocol};

use crate::transport::{TlsOptions, Transport};

/// The largest packet MQTT can carry (Remaining Length 268435455 plus a 5-byte fixed header).
pub const MAX_PACKET_SIZE_LIMIT: u32 = 268_435_455 + 5;

/// Connection parameters. Build with [`ConnectOptions::new`] and the builder methods.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Server address as "host:port".
    pub addr: String,
    /// TCP (default), TLS, WebSocket or WebSocket over TLS.
    pub transport: Transport,
    /// Protocol version to speak.
    pub protocol: Protocol,
    /// Client identifier; empty asks the server to assign one (v5) or is accepted with clean start (v3.1.1).
    pub client_id: String,
    /// Clean Start (v5) / Clean Session (v3.x).
    pub clean_start: bool,
    /// Keep-alive in seconds; 0 disables pings.
    pub keep_alive: u16,
    /// User name of CONNECT.
    pub username: Option<String>,
    /// Password of CONNECT.
    pub password: Option<Bytes>,
    /// Will message of CONNECT.
    pub will: Option<LastWill>,
    /// CONNECT properties (v5 only; ignored for v3.x): session expiry, receive maximum, maximum packet size,
    /// topic alias maximum, request response information, user properties.
    pub properties: Properties,
    /// Send PUBACK/PUBREC for incoming QoS 1/2 publishes automatically; when false, use [`crate::Client::ack`].
    pub auto_ack: bool,
    /// Limit for the TCP connect plus the CONNECT/CONNACK exchange.
    pub connect_timeout: Duration,
    /// Largest incoming packet accepted; a larger one closes the connection (v5: DISCONNECT 0x95).
    /// Advertised to the server only through `properties.maximum_packet_size`
    /// (which [`ConnectOptions::max_packet_size`] sets too).
    pub max_packet_size: u32,
    /// Capacity of the incoming event queue. When it is full the client stops reading the socket
    /// (TCP back-pressure onto the server) until [`crate::Client::recv`] makes room.
    pub event_capacity: usize,
}

impl ConnectOptions {
    /// MQTT 5.0, clean start, keep-alive 60 s, auto-ack, 10 s connect timeout.
    pub fn new(addr: impl Into<String>, client_id: impl Into<String>) -> Self {
        ConnectOptions {
            addr: addr.into(),
            transport: Transport::Tcp,
            protocol: Protocol::V5,
            client_id: client_id.into(),
            clean_start: true,
            keep_alive: 60,
            username: None,
            password: None,
            will: None,
            properties: Properties::default(),
            auto_ack: true,
            connect_timeout: Duration::from_secs(10),
            max_packet_size: MAX_PACKET_SIZE_LIMIT,
            event_capacity: 65_536,
        }
    }

    /// Transport to the server.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// MQTT over TLS.
    pub fn tls(self, tls: TlsOptions) -> Self {
        self.transport(Transport::Tls(tls))
    }

    /// MQTT over WebSocket at this HTTP path (e.g. `/mqtt`), subprotocol `mqtt`.
    pub fn ws(self, path: impl Into<String>) -> Self {
        self.transport(Transport::Ws { path: path.into() })
    }

    /// MQTT over WebSocket over TLS at this HTTP path.
    pub fn wss(self, tls: TlsOptions, path: impl Into<String>) -> Self {
        self.transport(Transport::Wss {
            tls,
            path: path.into(),
        })
    }

    /// Protocol version to speak.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Clean Start / Clean Session flag.
    pub fn clean_start(mut self, clean_start: bool) -> Self {
        self.clean_start = clean_start;
        self
    }

    /// Keep-alive in seconds (0 = off).
    pub fn keep_alive(mut self, secs: u16) -> Self {
        self.keep_alive = secs;
        self
    }

    /// User name and password.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<Bytes>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// Will message.
    pub fn will(mut self, will: LastWill) -> Self {
        self.will = Some(will);
        self
    }

    /// Session Expiry Interval property (v5).
    pub fn session_expiry(mut self, secs: u32) -> Self {
        self.properties.session_expiry_interval = Some(secs);
        self
    }

    /// Receive Maximum property (v5): how many QoS 1/2 publishes the server may have unacknowledged to us.
    pub fn receive_maximum(mut self, n: u16) -> Self {
        self.properties.receive_maximum = Some(n);
        self
    }

    /// Topic Alias Maximum property (v5): how many aliases the server may use towards us.
    pub fn topic_alias_maximum(mut self, n: u16) -> Self {
        self.properties.topic_alias_maximum = Some(n);
        self
    }

    /// Largest packet we accept, also advertised as the Maximum Packet Size property (v5).
    pub fn max_packet_size(mut self, n: u32) -> Self {
        self.max_packet_size = n;
        self.properties.maximum_packet_size = Some(n);
        self
    }

    /// Whether incoming QoS 1/2 publishes are acknowledged automatically.
    pub fn auto_ack(mut self, auto_ack: bool) -> Self {
        self.auto_ack = auto_ack;
        self
    }

    /// Adds a User Property to CONNECT (v5).
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties
            .user_properties
            .push((key.into(), value.into()));
        self
    }

    /// Limit for TCP connect plus CONNECT/CONNACK.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Capacity of the incoming event queue.
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }

    /// The CONNECT packet these options describe.
    pub fn connect_packet(&self) -> Connect {
        Connect {
            protocol: self.protocol,
            clean_start: self.clean_start,
            keep_alive: self.keep_alive,
            client_id: self.client_id.clone(),
            will: self.will.clone().map(|mut w| {
                if !self.protocol.is_v5() {
                    w.properties = Properties::default();
                }
                w
            }),
            username: self.username.clone(),
            password: self.password.clone(),
            properties: if self.protocol.is_v5() {
                self.properties.clone()
            } else {
                Properties::default()
            },
        }
    }
}
