//! `mqtt { ... }`: protocol limits and session behaviour, EMQX 5.8 names and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::reader::{self, Ctx, Section, config_enum, describe};

config_enum! {
    /// How a shared-subscription group picks the member that gets a message.
    pub enum SharedSubscriptionStrategy {
        /// Members in turn, across all groups.
        RoundRobin = "round_robin",
        /// Members in turn, per group.
        RoundRobinPerGroup = "round_robin_per_group",
        /// A random member.
        Random = "random",
        /// Stay with the last picked member while it is alive.
        Sticky = "sticky",
        /// Hash of the publisher's client id.
        HashClientid = "hash_clientid",
        /// Hash of the topic.
        HashTopic = "hash_topic",
        /// Prefer members on the publisher's node.
        Local = "local",
    }
    default = RoundRobin;
}

config_enum! {
    /// Which certificate field becomes the username / client id (EMQX `peer_cert_as_*`).
    pub enum PeerCertAs {
        /// Do not use the certificate.
        Disabled = "disabled",
        /// Subject common name.
        Cn = "cn",
        /// Subject distinguished name.
        Dn = "dn",
        /// DER certificate as text.
        Crt = "crt",
        /// PEM certificate.
        Pem = "pem",
        /// MD5 of the PEM certificate.
        Md5 = "md5",
    }
    default = Disabled;
}

config_enum! {
    /// Priority of topics not listed in `mqueue_priorities`.
    pub enum MqueueDefaultPriority {
        /// Below every listed topic.
        Lowest = "lowest",
        /// Above every listed topic.
        Highest = "highest",
    }
    default = Lowest;
}

/// Protocol limits and session defaults applied to every client.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// Largest packet accepted, in bytes.
    pub max_packet_size: u64,
    /// Longest client id accepted.
    pub max_clientid_len: u32,
    /// Most levels a topic may have.
    pub max_topic_levels: u32,
    /// Highest QoS granted.
    pub max_qos_allowed: u8,
    /// Topic Alias Maximum announced to v5 clients.
    pub max_topic_alias: u16,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Whether subscriptions may use `+`/`#`.
    pub wildcard_subscription: bool,
    /// Whether `$share/...` subscriptions are supported.
    pub shared_subscription: bool,
    /// Whether `$exclusive/...` subscriptions are supported.
    pub exclusive_subscription: bool,
    /// Do not deliver a client's own publishes back to it (v3 no-local).
    pub ignore_loop_deliver: bool,
    /// Reject non-UTF-8 topics and other lax input strictly.
    pub strict_mode: bool,
    /// Close a connection that sends no CONNECT within this time; `None` is `infinity`.
    pub idle_timeout: Option<Duration>,
    /// In-flight QoS 1/2 messages per session.
    pub max_inflight: u16,
    /// Re-send interval of unacknowledged QoS 1/2 messages.
    pub retry_interval: Duration,
    /// Incoming QoS 2 messages awaiting PUBREL; `None` is `infinity`.
    pub max_awaiting_rel: Option<u64>,
    /// Drop an incoming QoS 2 message whose PUBREL takes longer.
    pub await_rel_timeout: Duration,
    /// Session expiry for v3 clients with `clean_session = false` (and the v5 upper bound).
    pub session_expiry_interval: Duration,
    /// Queue length per offline/slow session; `None` is `infinity`.
    pub max_mqueue_len: Option<u64>,
    /// Whether QoS 0 messages are queued for offline sessions.
    pub mqueue_store_qos0: bool,
    /// Per-topic queue priorities (1..=255); `None` is `disabled`.
    pub mqueue_priorities: Option<BTreeMap<String, u8>>,
    /// Priority of unlisted topics.
    pub mqueue_default_priority: MqueueDefaultPriority,
    /// Deliver at the subscription's QoS even if the message's is lower.
    pub upgrade_qos: bool,
    /// Keepalive × this = time without packets before a client is dropped.
    pub keepalive_multiplier: f64,
    /// How often keepalive timers are checked.
    pub keepalive_check_interval: Duration,
    /// Server Keep Alive imposed on v5 clients, in seconds; `None` is `disabled`.
    pub server_keepalive: Option<u16>,
    /// Shared-subscription dispatch.
    pub shared_subscription_strategy: SharedSubscriptionStrategy,
    /// Response Information sent to v5 clients that ask for it (empty: none).
    pub response_information: String,
    /// Replace the client id by the username after authentication.
    pub use_username_as_clientid: bool,
    /// Take the username from the TLS client certificate.
    pub peer_cert_as_username: PeerCertAs,
    /// Take the client id from the TLS client certificate.
    pub peer_cert_as_clientid: PeerCertAs,
    /// Upper bound on Message Expiry; `None` is `infinity`.
    pub message_expiry_interval: Option<Duration>,
    /// Subscriptions per client; `None` is `infinity`.
    pub max_subscriptions: Option<u64>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            max_packet_size: 1 << 20,
            max_clientid_len: 65_535,
            max_topic_levels: 128,
            max_qos_allowed: 2,
            max_topic_alias: 65_535,
            retain_available: true,
            wildcard_subscription: true,
            shared_subscription: true,
            exclusive_subscription: false,
            ignore_loop_deliver: false,
            strict_mode: false,
            idle_timeout: Some(Duration::from_secs(15)),
            max_inflight: 32,
            retry_interval: Duration::from_secs(30),
            max_awaiting_rel: Some(100),
            await_rel_timeout: Duration::from_secs(300),
            session_expiry_interval: Duration::from_secs(2 * 3600),
            max_mqueue_len: Some(1000),
            mqueue_store_qos0: true,
            mqueue_priorities: None,
            mqueue_default_priority: MqueueDefaultPriority::Lowest,
            upgrade_qos: false,
            keepalive_multiplier: 1.5,
            keepalive_check_interval: Duration::from_secs(30),
            server_keepalive: None,
            shared_subscription_strategy: SharedSubscriptionStrategy::RoundRobin,
            response_information: String::new(),
            use_username_as_clientid: false,
            peer_cert_as_username: PeerCertAs::Disabled,
            peer_cert_as_clientid: PeerCertAs::Disabled,
            message_expiry_interval: None,
            max_subscriptions: None,
        }
    }
}

/// MQTT's largest encodable packet (variable byte integer limit), 256 MB - 1.
const MAX_PACKET_SIZE_LIMIT: u64 = 268_435_455;

fn priorities(v: &Value) -> Result<Option<BTreeMap<String, u8>>, String> {
    if reader::is_word(v, "disabled") {
        return Ok(None);
    }
    let Value::Object(map) = v else {
        return Err(format!(
            "expected disabled or an object of topic = priority (1..255), found {}",
            describe(v)
        ));
    };
    let mut out = BTreeMap::new();
    for (topic, p) in map {
        let p = reader::int_in(1, 255)(p).map_err(|e| format!("priority of {topic:?}: {e}"))?;
        out.insert(topic.clone(), p as u8);
    }
    Ok(Some(out))
}

fn server_keepalive(v: &Value) -> Result<Option<u16>, String> {
    if reader::is_word(v, "disabled") {
        return Ok(None);
    }
    reader::int_in(1, 65_535)(v)
        .map(|n| Some(n as u16))
        .map_err(|_| {
            format!(
                "expected disabled or seconds between 1 and 65535, found {}",
                describe(v)
            )
        })
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> MqttConfig {
    let d = MqttConfig::default();
    let out = MqttConfig {
        max_packet_size: sec.get(
            ctx,
            "max_packet_size",
            d.max_packet_size,
            reader::size_in(1, MAX_PACKET_SIZE_LIMIT),
        ),
        max_clientid_len: sec.get(
            ctx,
            "max_clientid_len",
            d.max_clientid_len.into(),
            reader::int_in(23, 65_535),
        ) as u32,
        max_topic_levels: sec.get(
            ctx,
            "max_topic_levels",
            d.max_topic_levels.into(),
            reader::int_in(1, 65_535),
        ) as u32,
        max_qos_allowed: sec.get(
            ctx,
            "max_qos_allowed",
            d.max_qos_allowed.into(),
            reader::int_in(0, 2),
        ) as u8,
        max_topic_alias: sec.get(
            ctx,
            "max_topic_alias",
            d.max_topic_alias.into(),
            reader::int_in(0, 65_535),
        ) as u16,
        retain_available: sec.get(ctx, "retain_available", d.retain_available, reader::boolean),
        wildcard_subscription: sec.get(
            ctx,
            "wildcard_subscription",
            d.wildcard_subscription,
            reader::boolean,
        ),
        shared_subscription: sec.get(
            ctx,
            "shared_subscription",
            d.shared_subscription,
            reader::boolean,
        ),
        exclusive_subscription: sec.get(
            ctx,
            "exclusive_subscription",
            d.exclusive_subscription,
            reader::boolean,
        ),
        ignore_loop_deliver: sec.get(
            ctx,
            "ignore_loop_deliver",
            d.ignore_loop_deliver,
            reader::boolean,
        ),
        strict_mode: sec.get(ctx, "strict_mode", d.strict_mode, reader::boolean),
        idle_timeout: sec.get(
            ctx,
            "idle_timeout",
            d.idle_timeout,
            reader::duration_or_infinity,
        ),
        max_inflight: sec.get(
            ctx,
            "max_inflight",
            d.max_inflight.into(),
            reader::int_in(1, 65_535),
        ) as u16,
        retry_interval: sec.get(ctx, "retry_interval", d.retry_interval, reader::duration),
        max_awaiting_rel: sec.get(
            ctx,
            "max_awaiting_rel",
            d.max_awaiting_rel,
            reader::int_or_infinity(0, u64::MAX),
        ),
        await_rel_timeout: sec.get(
            ctx,
            "await_rel_timeout",
            d.await_rel_timeout,
            reader::duration,
        ),
        session_expiry_interval: sec.get(
            ctx,
            "session_expiry_interval",
            d.session_expiry_interval,
            reader::duration,
        ),
        max_mqueue_len: sec.get(
            ctx,
            "max_mqueue_len",
            d.max_mqueue_len,
            reader::int_or_infinity(0, u64::MAX),
        ),
        mqueue_store_qos0: sec.get(
            ctx,
            "mqueue_store_qos0",
            d.mqueue_store_qos0,
            reader::boolean,
        ),
        mqueue_priorities: sec.get(ctx, "mqueue_priorities", d.mqueue_priorities, priorities),
        mqueue_default_priority: sec.get(
            ctx,
            "mqueue_default_priority",
            d.mqueue_default_priority,
            reader::one_of,
        ),
        upgrade_qos: sec.get(ctx, "upgrade_qos", d.upgrade_qos, reader::boolean),
        keepalive_multiplier: sec.get(
            ctx,
            "keepalive_multiplier",
            d.keepalive_multiplier,
            reader::positive_float,
        ),
        keepalive_check_interval: sec.get(
            ctx,
            "keepalive_check_interval",
            d.keepalive_check_interval,
            reader::duration,
        ),
        server_keepalive: sec.get(
            ctx,
            "server_keepalive",
            d.server_keepalive,
            server_keepalive,
        ),
        shared_subscription_strategy: sec.get(
            ctx,
            "shared_subscription_strategy",
            d.shared_subscription_strategy,
            reader::one_of,
        ),
        response_information: sec.get(
            ctx,
            "response_information",
            d.response_information,
            reader::string,
        ),
        use_username_as_clientid: sec.get(
            ctx,
            "use_username_as_clientid",
            d.use_username_as_clientid,
            reader::boolean,
        ),
        peer_cert_as_username: sec.get(
            ctx,
            "peer_cert_as_username",
            d.peer_cert_as_username,
            reader::one_of,
        ),
        peer_cert_as_clientid: sec.get(
            ctx,
            "peer_cert_as_clientid",
            d.peer_cert_as_clientid,
            reader::one_of,
        ),
        message_expiry_interval: sec.get(
            ctx,
            "message_expiry_interval",
            d.message_expiry_interval,
            reader::duration_or_infinity,
        ),
        max_subscriptions: sec.get(
            ctx,
            "max_subscriptions",
            d.max_subscriptions,
            reader::int_or_infinity(0, u64::MAX),
        ),
    };
    sec.accept(&[
        "keepalive_backoff",
        "shared_subscription_initial_sticky_pick",
        "client_attrs_init",
        "clientid_override",
        "mqueue_priorities_default",
    ]);
    sec.finish(ctx);
    out
}
