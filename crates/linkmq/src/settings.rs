//! Maps the `mqtt.*`, `node.*` and `sys_topics.*` configuration onto core's settings.

use linkmq_codec::QoS;
use linkmq_core::MqttSettings;

/// Core settings from the loaded configuration.
pub fn mqtt_settings(cfg: &linkmq_config::Config) -> MqttSettings {
    let m = &cfg.mqtt;
    MqttSettings {
        node_name: cfg.node.name.clone(),
        max_packet_size: m.max_packet_size.min(u64::from(u32::MAX)) as u32,
        max_clientid_len: m.max_clientid_len as usize,
        max_topic_levels: m.max_topic_levels as usize,
        max_qos_allowed: QoS::from_u8(m.max_qos_allowed).unwrap_or(QoS::ExactlyOnce),
        max_topic_alias: m.max_topic_alias,
        retain_available: m.retain_available,
        wildcard_subscription: m.wildcard_subscription,
        shared_subscription: m.shared_subscription,
        ignore_loop_deliver: m.ignore_loop_deliver,
        max_inflight: m.max_inflight.max(1),
        retry_interval: m.retry_interval,
        max_awaiting_rel: m.max_awaiting_rel.map(|n| n as usize).unwrap_or(usize::MAX),
        await_rel_timeout: m.await_rel_timeout,
        session_expiry_interval: m.session_expiry_interval,
        max_mqueue_len: m.max_mqueue_len.map(|n| n as usize).unwrap_or(usize::MAX),
        mqueue_store_qos0: m.mqueue_store_qos0,
        upgrade_qos: m.upgrade_qos,
        keepalive_multiplier: m.keepalive_multiplier,
        server_keepalive: m.server_keepalive,
        shared_strategy: m
            .shared_subscription_strategy
            .as_str()
            .parse()
            .unwrap_or_default(),
        idle_timeout: m
            .idle_timeout
            .unwrap_or(std::time::Duration::from_secs(86400 * 365)),
        response_information: m.response_information.clone(),
        sys_heartbeat_interval: cfg.sys_topics.sys_heartbeat_interval,
        sys_msg_interval: cfg.sys_topics.sys_msg_interval,
        peer_cert_as_username: peer_cert_as(m.peer_cert_as_username),
        peer_cert_as_clientid: peer_cert_as(m.peer_cert_as_clientid),
        flapping_detect: linkmq_core::banned::FlappingDetect {
            enable: cfg.flapping_detect.enable,
            max_count: cfg.flapping_detect.max_count,
            window_time: cfg.flapping_detect.window_time,
            ban_time: cfg.flapping_detect.ban_time,
        },
        ..MqttSettings::default()
    }
}

/// `cn` and `dn` are what the TLS listener extracts; `crt`, `pem` and `md5` are not supported (off).
fn peer_cert_as(p: linkmq_config::PeerCertAs) -> linkmq_core::access::PeerCertAs {
    match p {
        linkmq_config::PeerCertAs::Cn => linkmq_core::access::PeerCertAs::Cn,
        linkmq_config::PeerCertAs::Dn => linkmq_core::access::PeerCertAs::Dn,
        _ => linkmq_core::access::PeerCertAs::Disabled,
    }
}
