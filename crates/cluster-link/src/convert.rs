//! Between the broker's [`Message`] and the `$LINK` wire record [`ForwardedMessage`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use linkmq_codec::{Properties, QoS};
use linkmq_core::Message;
use linkmq_core::message::now_ms;
use linkmq_etf::link::{ForwardedMessage, ForwardedMessageRef, MessagePropertiesRef};

/// The record sent to a remote cluster (original QoS, flags, properties, timestamp and expiry
/// interval), encoded straight from the message's fields.
pub fn encode_forwarded(msg: &Message) -> Vec<u8> {
    let p = &msg.properties;
    ForwardedMessageRef {
        id: msg.id.to_be_bytes(),
        qos: msg.qos as u8,
        from: &msg.from,
        dup: false,
        retain: msg.retain,
        properties: MessagePropertiesRef {
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval: msg
                .expiry
                .map(|e| e.as_secs().min(u64::from(u32::MAX)) as u32),
            content_type: p.content_type.as_deref(),
            response_topic: p.response_topic.as_deref(),
            correlation_data: p.correlation_data.as_deref(),
            user_properties: &p.user_properties,
        },
        topic: &msg.topic,
        payload: &msg.payload,
        timestamp_ms: msg.timestamp_ms,
    }
    .encode()
}

/// The message to publish locally for a record that arrived from cluster `origin`. The expiry
/// counts from the original timestamp (as EMQX does), so time spent on the link is not given back.
pub fn from_forwarded(fwd: ForwardedMessage, origin: &str) -> Message {
    let p = fwd.properties;
    let properties = Properties::from(linkmq_codec::PropertyValues {
        payload_format_indicator: p.payload_format_indicator,
        content_type: p.content_type,
        response_topic: p.response_topic,
        correlation_data: p.correlation_data,
        user_properties: p
            .user_properties
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect(),
        ..Default::default()
    });
    let now = Instant::now();
    let age = Duration::from_millis(now_ms().saturating_sub(fwd.timestamp_ms));
    let expiry = p
        .message_expiry_interval
        .map(|s| Duration::from_secs(u64::from(s)));
    // Only the part of the age that matters for expiry; a clock ahead of ours means age 0.
    let age = expiry.map_or(Duration::ZERO, |e| age.min(e));
    Message {
        id: u128::from_be_bytes(fwd.id),
        topic: fwd.topic.into(),
        payload: fwd.payload,
        qos: QoS::from_u8(fwd.qos).unwrap_or(QoS::AtLeastOnce),
        retain: fwd.retain,
        from: fwd.from.into(),
        properties,
        timestamp_ms: fwd.timestamp_ms,
        received_at: now.checked_sub(age).unwrap_or(now),
        expiry,
        origin: Some(Arc::from(origin)),
        sys: false,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn round_trip_keeps_qos_properties_timestamp_and_expiry() {
        let props = Properties::from(linkmq_codec::PropertyValues {
            message_expiry_interval: Some(60),
            content_type: Some("text/plain".into()),
            payload_format_indicator: Some(1),
            response_topic: Some("r/1".into()),
            correlation_data: Some(Bytes::from_static(b"c")),
            user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            ..Default::default()
        });
        let mut m = Message::new(
            "pub-1".into(),
            "t/1".into(),
            QoS::ExactlyOnce,
            true,
            Bytes::from_static(b"hello"),
            props,
        );
        m.timestamp_ms = now_ms() - 5_000;
        let wire = encode_forwarded(&m);
        let fwd = ForwardedMessage::decode(&wire).unwrap();
        assert_eq!(fwd.qos, 2);
        let back = from_forwarded(fwd, "east");
        assert_eq!(back.id, m.id);
        assert_eq!(back.qos, QoS::ExactlyOnce);
        assert!(back.retain);
        assert_eq!(&*back.from, "pub-1");
        assert_eq!(back.origin.as_deref(), Some("east"));
        assert_eq!(back.timestamp_ms, m.timestamp_ms);
        assert_eq!(back.properties.content_type.as_deref(), Some("text/plain"));
        assert_eq!(back.properties.user_properties.len(), 2);
        assert_eq!(back.properties.message_expiry_interval, None);
        let left = back.remaining_expiry(Instant::now()).unwrap();
        assert!((54..=55).contains(&left), "{left}");
    }
}
