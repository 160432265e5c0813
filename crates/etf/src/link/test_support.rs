//! A forwarded message with every field set, shared by the link codecs' unit tests.

use bytes::Bytes;

use super::{ForwardedMessage, MessageProperties};

/// Every property set, `users` user properties `k<i>` = `v<i>`, non-ASCII in `from` and `topic`,
/// an expiry beyond 31 bits.
pub(crate) fn sample_message(users: usize, payload: &[u8]) -> ForwardedMessage {
    ForwardedMessage {
        id: *b"0123456789abcdef",
        qos: 2,
        from: "pub-é".into(),
        dup: true,
        retain: false,
        properties: MessageProperties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(3_000_000_000),
            content_type: Some("text/plain".into()),
            response_topic: Some("r/1".into()),
            correlation_data: Some(Bytes::from_static(b"corr")),
            user_properties: (0..users)
                .map(|i| (Bytes::from(format!("k{i}")), Bytes::from(format!("v{i}"))))
                .collect(),
        },
        topic: "t/é/1".into(),
        payload: Bytes::copy_from_slice(payload),
        timestamp_ms: 1_700_000_000_123,
    }
}
