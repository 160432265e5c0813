//! The application message as it travels through the broker: built once per PUBLISH, shared by `Arc`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use linkmq_codec::{Properties, QoS};

/// A client identifier, shared cheaply.
pub type ClientId = Arc<str>;

/// One application message. Immutable once published; every subscriber gets the same `Arc`.
#[derive(Debug, Clone)]
pub struct Message {
    /// Unique id (16 bytes on the `$LINK` wire).
    pub id: u128,
    pub topic: Arc<str>,
    pub payload: Bytes,
    /// QoS the publisher used.
    pub qos: QoS,
    /// Retain flag as published.
    pub retain: bool,
    /// Publisher client id (empty for broker-made messages).
    pub from: ClientId,
    /// Application properties passed through to subscribers: payload format, content type, response
    /// topic, correlation data, user properties. Never topic alias, subscription ids or expiry.
    pub properties: Properties,
    /// Wall-clock publish time in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Monotonic receive time, for expiry.
    pub received_at: Instant,
    /// Message Expiry Interval as published.
    pub expiry: Option<Duration>,
    /// Name of the remote cluster this message came from over a Cluster Link; such messages are never
    /// forwarded to another cluster.
    pub origin: Option<Arc<str>>,
    /// Published by the broker itself (`$SYS`, will messages keep the client's id and are not `sys`).
    pub sys: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique, roughly time-ordered 128-bit message id.
pub fn next_message_id() -> u128 {
    message_id_at(now_ms())
}

fn message_id_at(ms: u64) -> u128 {
    let seq = NEXT_ID.fetch_add(1, Ordering::Relaxed) as u128;
    ((ms as u128) << 64) | seq
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Message {
    /// Builds a message from the parts of a PUBLISH (topic already resolved from any alias).
    pub fn new(
        from: ClientId,
        topic: Arc<str>,
        qos: QoS,
        retain: bool,
        payload: Bytes,
        mut properties: Properties,
    ) -> Message {
        let expiry = properties.values_mut().and_then(|p| {
            p.topic_alias = None;
            p.subscription_identifiers.clear();
            p.message_expiry_interval
                .take()
                .map(|s| Duration::from_secs(u64::from(s)))
        });
        // One wall-clock read serves the id and the timestamp (clock reads show up per message).
        let now_ms = now_ms();
        Message {
            id: message_id_at(now_ms),
            topic,
            payload,
            qos,
            retain,
            from,
            properties,
            timestamp_ms: now_ms,
            received_at: Instant::now(),
            expiry,
            origin: None,
            sys: false,
        }
    }

    /// True once the Message Expiry Interval has passed.
    pub fn is_expired(&self, now: Instant) -> bool {
        match self.expiry {
            Some(e) => now.duration_since(self.received_at) >= e,
            None => false,
        }
    }

    /// [`Message::is_expired`] at the current time; reads the clock only when an expiry is set.
    pub fn is_expired_now(&self) -> bool {
        self.expiry.is_some() && self.is_expired(Instant::now())
    }

    /// The expiry interval left, in whole seconds (rounded up, at least 1 while not expired), to send
    /// on to subscribers ([MQTT-3.3.2-6]).
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        let e = self.expiry?;
        let left = e.saturating_sub(now.duration_since(self.received_at));
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Some(secs.clamp(1, u64::from(u32::MAX)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_taken_out_of_properties_and_counts_down() {
        let props = Properties::from(linkmq_codec::PropertyValues {
            message_expiry_interval: Some(10),
            topic_alias: Some(3),
            ..Default::default()
        });
        let m = Message::new(
            "c".into(),
            "t".into(),
            QoS::AtLeastOnce,
            false,
            Bytes::new(),
            props,
        );
        assert_eq!(m.properties.message_expiry_interval, None);
        assert_eq!(m.properties.topic_alias, None);
        assert_eq!(m.remaining_expiry(m.received_at), Some(10));
        assert_eq!(
            m.remaining_expiry(m.received_at + Duration::from_millis(2500)),
            Some(8)
        );
        assert!(!m.is_expired(m.received_at + Duration::from_secs(9)));
        assert!(m.is_expired(m.received_at + Duration::from_secs(10)));
    }

    #[test]
    fn ids_are_unique() {
        let a = next_message_id();
        let b = next_message_id();
        assert_ne!(a, b);
    }
}
