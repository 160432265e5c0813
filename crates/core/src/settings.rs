//! The MQTT behaviour settings core needs, in core's own types (the binary maps `mqtt.*` config onto it).

use std::time::Duration;

use linkmq_codec::QoS;

use crate::access::PeerCertAs;
use crate::shared_sub::SharedStrategy;

/// Limits and options of the MQTT layer, EMQX names and defaults.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// This node's name, e.g. `linkmq@127.0.0.1` (used in `$SYS` topics).
    pub node_name: String,
    pub max_packet_size: u32,
    pub max_clientid_len: usize,
    pub max_topic_levels: usize,
    pub max_qos_allowed: QoS,
    pub max_topic_alias: u16,
    pub retain_available: bool,
    pub wildcard_subscription: bool,
    pub shared_subscription: bool,
    pub ignore_loop_deliver: bool,
    /// Outbound QoS 1/2 window per session (also capped by the client's Receive Maximum).
    pub max_inflight: u16,
    /// Re-send interval for unacknowledged outbound QoS 1/2 messages.
    pub retry_interval: Duration,
    /// Inbound QoS 2 messages awaiting PUBREL; one more is dropped with DISCONNECT 0x93 (as EMQX).
    pub max_awaiting_rel: usize,
    pub await_rel_timeout: Duration,
    /// Upper bound for a client's Session Expiry Interval.
    pub session_expiry_interval: Duration,
    pub max_mqueue_len: usize,
    pub mqueue_store_qos0: bool,
    pub upgrade_qos: bool,
    pub keepalive_multiplier: f64,
    /// Keep Alive the server imposes in CONNACK (v5), if set.
    pub server_keepalive: Option<u16>,
    pub shared_strategy: SharedStrategy,
    /// How long a socket may stay open without sending CONNECT.
    pub idle_timeout: Duration,
    /// Response Information returned when a v5 client requests it; empty = not supported.
    pub response_information: String,
    /// Capacity of each session's inbound delivery channel (publishers never wait on it).
    pub session_channel_capacity: usize,
    /// Maximum retained messages kept (0 = unlimited).
    pub max_retained_messages: usize,
    /// `$SYS` heartbeat (uptime, datetime) and stats interval.
    pub sys_heartbeat_interval: Option<Duration>,
    pub sys_msg_interval: Option<Duration>,
    /// `flapping_detect`: ban client ids that disconnect too often.
    pub flapping_detect: crate::banned::FlappingDetect,
    /// Take the CONNECT username from the TLS client certificate (`mqtt.peer_cert_as_username`).
    pub peer_cert_as_username: PeerCertAs,
    /// Take the client id from the TLS client certificate (`mqtt.peer_cert_as_clientid`).
    pub peer_cert_as_clientid: PeerCertAs,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            node_name: "linkmq@127.0.0.1".into(),
            max_packet_size: 1024 * 1024,
            max_clientid_len: 65535,
            max_topic_levels: 128,
            max_qos_allowed: QoS::ExactlyOnce,
            max_topic_alias: 65535,
            retain_available: true,
            wildcard_subscription: true,
            shared_subscription: true,
            ignore_loop_deliver: false,
            max_inflight: 32,
            retry_interval: Duration::from_secs(30),
            max_awaiting_rel: 100,
            await_rel_timeout: Duration::from_secs(300),
            session_expiry_interval: Duration::from_secs(2 * 3600),
            max_mqueue_len: 1000,
            mqueue_store_qos0: true,
            upgrade_qos: false,
            keepalive_multiplier: 1.5,
            server_keepalive: None,
            shared_strategy: SharedStrategy::RoundRobin,
            idle_timeout: Duration::from_secs(15),
            response_information: String::new(),
            session_channel_capacity: 1024,
            max_retained_messages: 0,
            sys_heartbeat_interval: Some(Duration::from_secs(30)),
            sys_msg_interval: Some(Duration::from_secs(60)),
            flapping_detect: crate::banned::FlappingDetect::default(),
            peer_cert_as_username: PeerCertAs::Disabled,
            peer_cert_as_clientid: PeerCertAs::Disabled,
        }
    }
}
