//! `$SYS/brokers/<node>/...` topics, EMQX names: version, sysdescr, uptime, datetime (heartbeat), and
//! `stats/*` / `metrics/*` (periodic). Broker-made messages carry `sys = true`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use linkmq_codec::{Properties, QoS};

use crate::broker::Broker;
use crate::message::Message;

/// The broker's version string.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Publishes one `$SYS` message (retained, like EMQX) under `$SYS/brokers/<node>/<suffix>`.
pub fn publish_sys(broker: &Broker, suffix: &str, payload: impl Into<Bytes>) {
    let topic = format!("$SYS/brokers/{}/{}", broker.settings.node_name, suffix);
    let mut m = Message::new(
        "".into(),
        topic.into(),
        QoS::AtMostOnce,
        true,
        payload.into(),
        Properties::default(),
    );
    m.sys = true;
    let m = Arc::new(m);
    broker.store_retained(&m);
    broker.route(m);
}

/// The gauges published under `stats/`.
pub fn stats(broker: &Broker) -> Vec<(&'static str, u64)> {
    vec![
        (
            "connections/count",
            broker.registry.connected_count() as u64,
        ),
        ("sessions/count", broker.registry.len() as u64),
        (
            "subscriptions/count",
            broker.router.subscription_count() as u64,
        ),
        ("topics/count", broker.router.topic_count() as u64),
        ("retained/count", broker.retained.len() as u64),
    ]
}

/// Publishes the static topics once, then heartbeat and stats periodically until shutdown.
pub async fn run(broker: Arc<Broker>) {
    publish_sys(&broker, "version", VERSION);
    publish_sys(&broker, "sysdescr", "linkmq");
    let hb = broker
        .settings
        .sys_heartbeat_interval
        .unwrap_or(Duration::MAX);
    let msgs = broker.settings.sys_msg_interval.unwrap_or(Duration::MAX);
    let mut hb_tick = tokio::time::interval(hb.min(Duration::from_secs(86400 * 365)));
    let mut msg_tick = tokio::time::interval(msgs.min(Duration::from_secs(86400 * 365)));
    let mut expiry_tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = hb_tick.tick(), if broker.settings.sys_heartbeat_interval.is_some() => {
                publish_sys(&broker, "uptime", broker.uptime_secs().to_string());
                publish_sys(&broker, "datetime", crate::message::now_ms().to_string());
            }
            _ = msg_tick.tick(), if broker.settings.sys_msg_interval.is_some() => {
                for (name, v) in stats(&broker) {
                    publish_sys(&broker, &format!("stats/{name}"), v.to_string());
                }
                for (name, v) in broker.metrics.snapshot() {
                    publish_sys(&broker, &format!("metrics/{}", name.replace('.', "/")), v.to_string());
                }
            }
            _ = expiry_tick.tick() => { broker.expire_retained(); }
        }
    }
}
