//! What crosses between nodes, as plain serde data (postcard on the wire): messages, deliveries and
//! whole sessions. Conversions to and from core's types live here and nowhere else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use linkmq_codec::{Properties, QoS, RetainHandling, SubOptions};
use linkmq_core::Message;
use linkmq_core::router::{Delivery, SharedRef, Subscription};
use linkmq_core::session::SubRecord;
use linkmq_core::session::inflight::Stage;
use linkmq_core::session::snapshot::SessionSnapshot;
use serde::{Deserialize, Serialize};

/// The application properties a message carries to subscribers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireProps {
    pub payload_format_indicator: Option<u8>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    pub user_properties: Vec<(String, String)>,
}

/// One application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireMessage {
    pub id: u128,
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    pub from: String,
    pub props: WireProps,
    pub timestamp_ms: u64,
    /// Message expiry left when it was put on the wire (milliseconds).
    pub expiry_left_ms: Option<u64>,
    /// The Message Expiry Interval as published (seconds).
    pub expiry_s: Option<u64>,
    pub origin: Option<String>,
    pub sys: bool,
}

impl WireMessage {
    /// The wire form of `m`.
    pub fn from_message(m: &Message) -> WireMessage {
        let now = Instant::now();
        let p = &m.properties;
        WireMessage {
            id: m.id,
            topic: m.topic.to_string(),
            payload: m.payload.clone(),
            qos: m.qos as u8,
            retain: m.retain,
            from: m.from.to_string(),
            props: WireProps {
                payload_format_indicator: p.payload_format_indicator,
                content_type: p.content_type.clone(),
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.clone(),
                user_properties: p.user_properties.clone(),
            },
            timestamp_ms: m.timestamp_ms,
            expiry_left_ms: m.expiry.map(|e| {
                e.saturating_sub(now.duration_since(m.received_at))
                    .as_millis() as u64
            }),
            expiry_s: m.expiry.map(|e| e.as_secs()),
            origin: m.origin.as_ref().map(|o| o.to_string()),
            sys: m.sys,
        }
    }

    /// Back to a message; expiry counts on from the time left when it was sent.
    pub fn into_message(self) -> Message {
        let props = Properties::from(linkmq_codec::PropertyValues {
            payload_format_indicator: self.props.payload_format_indicator,
            content_type: self.props.content_type,
            response_topic: self.props.response_topic,
            correlation_data: self.props.correlation_data,
            user_properties: self.props.user_properties,
            ..Default::default()
        });
        let mut m = Message::new(
            self.from.into(),
            self.topic.into(),
            QoS::from_u8(self.qos).unwrap_or(QoS::AtMostOnce),
            self.retain,
            self.payload,
            props,
        );
        m.id = self.id;
        m.timestamp_ms = self.timestamp_ms;
        if let (Some(left), Some(total)) = (self.expiry_left_ms, self.expiry_s) {
            // Keep "published with interval N" while counting from the time left.
            let total = Duration::from_secs(total);
            let left = Duration::from_millis(left).min(total);
            m.expiry = Some(total);
            m.received_at = Instant::now()
                .checked_sub(total - left)
                .unwrap_or_else(Instant::now);
        }
        m.origin = self.origin.map(Into::into);
        m.sys = self.sys;
        m
    }
}

/// A subscription's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSub {
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub sub_id: Option<u32>,
}

impl From<Subscription> for WireSub {
    fn from(s: Subscription) -> Self {
        WireSub {
            qos: s.options.qos as u8,
            no_local: s.options.no_local,
            retain_as_published: s.options.retain_as_published,
            retain_handling: s.options.retain_handling as u8,
            sub_id: s.sub_id,
        }
    }
}

impl From<WireSub> for Subscription {
    fn from(w: WireSub) -> Self {
        Subscription {
            options: SubOptions {
                qos: QoS::from_u8(w.qos).unwrap_or(QoS::AtMostOnce),
                no_local: w.no_local,
                retain_as_published: w.retain_as_published,
                retain_handling: match w.retain_handling {
                    1 => RetainHandling::OnNewSubscribe,
                    2 => RetainHandling::DoNotSend,
                    _ => RetainHandling::OnSubscribe,
                },
            },
            sub_id: w.sub_id,
        }
    }
}

/// One message on its way into a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDelivery {
    pub msg: WireMessage,
    pub qos: u8,
    pub retain: bool,
    pub sub_ids: Vec<u32>,
    /// (group, filter) for a delivery through a shared subscription.
    pub shared: Option<(String, String)>,
}

impl WireDelivery {
    fn from_delivery(d: &Delivery) -> Self {
        WireDelivery {
            msg: WireMessage::from_message(&d.msg),
            qos: d.qos as u8,
            retain: d.retain,
            sub_ids: d.sub_ids.clone(),
            shared: d
                .shared
                .as_ref()
                .map(|s| (s.group.to_string(), s.filter.to_string())),
        }
    }

    fn into_delivery(self) -> Delivery {
        Delivery {
            msg: Arc::new(self.msg.into_message()),
            qos: QoS::from_u8(self.qos).unwrap_or(QoS::AtMostOnce),
            retain: self.retain,
            sub_ids: self.sub_ids,
            shared: self.shared.map(|(g, f)| SharedRef {
                group: g.into(),
                filter: f.into(),
            }),
            hold: None,
        }
    }
}

/// A whole session moving between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSession {
    pub client_id: String,
    /// (filter as subscribed, inner filter, group, options).
    pub subscriptions: Vec<(String, String, Option<String>, WireSub)>,
    /// (packet id, delivery, stage: 0 PUBACK, 1 PUBREC, 2 PUBCOMP awaited).
    pub inflight: Vec<(u16, WireDelivery, u8)>,
    pub queued: Vec<WireDelivery>,
    pub awaiting_rel: Vec<u16>,
    pub expiry_interval: u32,
    pub created_at_ms: u64,
}

impl WireSession {
    /// The wire form of a session exported from this node.
    pub fn from_snapshot(s: &SessionSnapshot) -> Self {
        WireSession {
            client_id: s.client_id.to_string(),
            subscriptions: s
                .subscriptions
                .iter()
                .map(|(f, r)| (f.clone(), r.filter.clone(), r.group.clone(), r.sub.into()))
                .collect(),
            inflight: s
                .inflight
                .iter()
                .map(|(pkid, d, stage)| {
                    let st = match stage {
                        Stage::AwaitPubAck => 0,
                        Stage::AwaitPubRec => 1,
                        Stage::AwaitPubComp => 2,
                    };
                    (*pkid, WireDelivery::from_delivery(d), st)
                })
                .collect(),
            queued: s.queued.iter().map(WireDelivery::from_delivery).collect(),
            awaiting_rel: s.awaiting_rel.clone(),
            expiry_interval: s.expiry_interval,
            created_at_ms: s.created_at_ms,
        }
    }

    /// Back to a snapshot that [`linkmq_core::session::SessionState::import`] takes.
    pub fn into_snapshot(self) -> SessionSnapshot {
        SessionSnapshot {
            client_id: self.client_id.into(),
            subscriptions: self
                .subscriptions
                .into_iter()
                .map(|(f, filter, group, sub)| {
                    (
                        f,
                        SubRecord {
                            filter,
                            group,
                            sub: sub.into(),
                        },
                    )
                })
                .collect(),
            inflight: self
                .inflight
                .into_iter()
                .map(|(pkid, d, st)| {
                    let stage = match st {
                        0 => Stage::AwaitPubAck,
                        1 => Stage::AwaitPubRec,
                        _ => Stage::AwaitPubComp,
                    };
                    (pkid, d.into_delivery(), stage)
                })
                .collect(),
            queued: self
                .queued
                .into_iter()
                .map(WireDelivery::into_delivery)
                .collect(),
            awaiting_rel: self.awaiting_rel,
            expiry_interval: self.expiry_interval,
            created_at_ms: self.created_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips_through_postcard() {
        let props = Properties::from(linkmq_codec::PropertyValues {
            content_type: Some("text/plain".into()),
            user_properties: vec![("k".into(), "v".into())],
            correlation_data: Some(Bytes::from_static(b"c")),
            message_expiry_interval: Some(60),
            ..Default::default()
        });
        let m = Message::new(
            "pub".into(),
            "a/b".into(),
            QoS::ExactlyOnce,
            true,
            Bytes::from_static(b"hello"),
            props,
        );
        let w = WireMessage::from_message(&m);
        let bytes = postcard::to_allocvec(&w).expect("encode");
        let back: WireMessage = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back, w);
        let m2 = back.into_message();
        assert_eq!(m2.id, m.id);
        assert_eq!(&*m2.topic, "a/b");
        assert_eq!(m2.qos, QoS::ExactlyOnce);
        assert_eq!(m2.properties.content_type.as_deref(), Some("text/plain"));
        assert_eq!(
            m2.properties.user_properties,
            vec![("k".into(), "v".into())]
        );
        assert_eq!(m2.remaining_expiry(Instant::now()), Some(60));
    }
}
