//! proptest strategies for every packet in a given protocol version, with arbitrary properties drawn
//! from the set §2.2.2.2 allows on that packet (written out here from the spec, independently of the
//! codec's own table). Shared by the round-trip, incremental and fuzz tests.
#![allow(dead_code)]

use bytes::Bytes;
use linkmq_codec::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// A UTF-8 string without U+0000 ([MQTT-1.5.4-2]).
pub fn string() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,8}"
}

/// A Topic Name: at least one character, no wildcards.
pub fn topic() -> impl Strategy<Value = String> {
    "[^\u{0}+#]{1,8}"
}

/// A topic filter (the codec does not judge filters; `core` does).
pub fn filter() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[^\u{0}]{1,8}", 1 => "\\$share/[a-z]{1,3}/[a-z+#/]{1,5}"]
}

pub fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..16).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn flag() -> impl Strategy<Value = Option<u8>> {
    option::of(0..=1u8)
}

fn nonzero_u16() -> impl Strategy<Value = Option<u16>> {
    option::of(1..=u16::MAX)
}

fn sub_id() -> impl Strategy<Value = u32> {
    1..=268_435_455u32
}

/// Property identifiers allowed per packet (§2.2.2.2, "Used in").
pub mod allowed {
    pub const CONNECT: &[u8] = &[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27];
    pub const WILL: &[u8] = &[0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26];
    pub const CONNACK: &[u8] = &[
        0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27, 0x28,
        0x29, 0x2A,
    ];
    pub const PUBLISH: &[u8] = &[0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26];
    pub const ACK: &[u8] = &[0x1F, 0x26];
    pub const SUBSCRIBE: &[u8] = &[0x0B, 0x26];
    pub const UNSUBSCRIBE: &[u8] = &[0x26];
    pub const DISCONNECT: &[u8] = &[0x11, 0x1C, 0x1F, 0x26];
    pub const AUTH: &[u8] = &[0x15, 0x16, 0x1F, 0x26];
    pub const ALL: &[u8] = &[
        0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A,
        0x1C, 0x1F, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
    ];
}

/// Every property set at random with a valid value (Subscription Identifier up to 3 times).
fn any_properties() -> impl Strategy<Value = Properties> {
    let message = (
        flag(),
        option::of(any::<u32>()),
        option::of(string()),
        option::of(topic()),
        option::of(binary()),
        vec(sub_id(), 0..3),
        option::of(any::<u32>()),
        option::of(string()),
        option::of(any::<u16>()),
    );
    let connection = (
        option::of(string()),
        option::of(binary()),
        flag(),
        option::of(any::<u32>()),
        flag(),
        option::of(string()),
        option::of(string()),
        option::of(string()),
        nonzero_u16(),
    );
    let limits = (
        option::of(any::<u16>()),
        nonzero_u16(),
        option::of(0..=1u8),
        flag(),
        vec((string(), string()), 0..3),
        option::of(1..=u32::MAX),
        flag(),
        flag(),
        flag(),
    );
    (message, connection, limits).prop_map(|(m, c, l)| {
        Properties::from(linkmq_codec::PropertyValues {
            payload_format_indicator: m.0,
            message_expiry_interval: m.1,
            content_type: m.2,
            response_topic: m.3,
            correlation_data: m.4,
            subscription_identifiers: m.5,
            session_expiry_interval: m.6,
            assigned_client_identifier: m.7,
            server_keep_alive: m.8,
            authentication_method: c.0,
            authentication_data: c.1,
            request_problem_information: c.2,
            will_delay_interval: c.3,
            request_response_information: c.4,
            response_information: c.5,
            server_reference: c.6,
            reason_string: c.7,
            receive_maximum: c.8,
            topic_alias_maximum: l.0,
            topic_alias: l.1,
            maximum_qos: l.2,
            retain_available: l.3,
            user_properties: l.4,
            maximum_packet_size: l.5,
            wildcard_subscription_available: l.6,
            subscription_identifier_available: l.7,
            shared_subscription_available: l.8,
        })
    })
}

/// Clears every property whose identifier is not in `ids`.
pub fn keep_only(mut p: Properties, ids: &[u8]) -> Properties {
    let has = |id: u8| ids.contains(&id);
    macro_rules! clear {
        ($($id:expr => $field:ident),* $(,)?) => {
            $(if !has($id) { p.$field = Default::default(); })*
        };
    }
    clear!(
        0x01 => payload_format_indicator, 0x02 => message_expiry_interval, 0x03 => content_type,
        0x08 => response_topic, 0x09 => correlation_data, 0x0B => subscription_identifiers,
        0x11 => session_expiry_interval, 0x12 => assigned_client_identifier, 0x13 => server_keep_alive,
        0x15 => authentication_method, 0x16 => authentication_data, 0x17 => request_problem_information,
        0x18 => will_delay_interval, 0x19 => request_response_information, 0x1A => response_information,
        0x1C => server_reference, 0x1F => reason_string, 0x21 => receive_maximum,
        0x22 => topic_alias_maximum, 0x23 => topic_alias, 0x24 => maximum_qos, 0x25 => retain_available,
        0x26 => user_properties, 0x27 => maximum_packet_size, 0x28 => wildcard_subscription_available,
        0x29 => subscription_identifier_available, 0x2A => shared_subscription_available,
    );
    p
}

/// Properties allowed on a packet; empty for v3.x. Subscription Identifier repeats only in PUBLISH.
pub fn properties(protocol: Protocol, ids: &'static [u8]) -> BoxedStrategy<Properties> {
    if !protocol.is_v5() {
        return Just(Properties::default()).boxed();
    }
    any_properties()
        .prop_map(move |p| {
            let mut p = keep_only(p, ids);
            if ids != allowed::PUBLISH {
                p.subscription_identifiers.truncate(1);
            }
            p
        })
        .boxed()
}

fn reason(codes: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    proptest::sample::select(codes).prop_map(|c| ReasonCode::from_u8(c).expect("assigned code"))
}

/// v5 reason codes allowed per packet (§3.x.2.1 tables).
pub mod reasons {
    pub const CONNACK: &[u8] = &[
        0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95,
        0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
    ];
    pub const V3_CONNACK: &[u8] = &[0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
    pub const PUBACK: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
    pub const PUBREL: &[u8] = &[0x00, 0x92];
    pub const SUBACK: &[u8] = &[
        0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
    ];
    pub const V3_SUBACK: &[u8] = &[0x00, 0x01, 0x02, 0x80];
    pub const UNSUBACK: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
    pub const DISCONNECT: &[u8] = &[
        0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
        0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
    ];
    pub const AUTH: &[u8] = &[0x00, 0x18, 0x19];
}

pub fn connect(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let will = option::of(
        (
            topic(),
            binary(),
            qos(),
            any::<bool>(),
            properties(protocol, allowed::WILL),
        )
            .prop_map(|(topic, payload, qos, retain, properties)| LastWill {
                topic,
                payload,
                qos,
                retain,
                properties,
            }),
    );
    (
        any::<bool>(),
        any::<u16>(),
        string(),
        will,
        option::of(string()),
        option::of(binary()),
        properties(protocol, allowed::CONNECT),
    )
        .prop_map(
            move |(
                clean_start,
                keep_alive,
                client_id,
                will,
                mut username,
                password,
                properties,
            )| {
                if !protocol.is_v5() && password.is_some() && username.is_none() {
                    username = Some(String::new());
                }
                Packet::Connect(Box::new(Connect {
                    protocol,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
}

pub fn connack(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let codes = if protocol.is_v5() {
        reasons::CONNACK
    } else {
        reasons::V3_CONNACK
    };
    (
        any::<bool>(),
        reason(codes),
        properties(protocol, allowed::CONNACK),
    )
        .prop_map(|(session_present, reason, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                reason,
                properties,
            })
        })
}

pub fn publish(protocol: Protocol) -> impl Strategy<Value = Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic(),
        1..=u16::MAX,
        properties(protocol, allowed::PUBLISH),
        binary(),
        any::<bool>(),
    )
        .prop_map(
            |(qos, dup, retain, mut topic, pkid, properties, payload, drop_topic)| {
                let with_pkid = qos != QoS::AtMostOnce;
                if drop_topic && properties.topic_alias.is_some() {
                    topic.clear();
                }
                Packet::Publish(Publish {
                    dup: dup && with_pkid,
                    qos,
                    retain,
                    topic,
                    pkid: if with_pkid { pkid } else { 0 },
                    properties,
                    payload,
                })
            },
        )
}

pub fn pub_response(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let v5 = protocol.is_v5();
    let ack = move |codes: &'static [u8]| {
        let codes = if v5 { codes } else { &[0x00] };
        (
            1..=u16::MAX,
            reason(codes),
            properties(protocol, allowed::ACK),
        )
            .prop_map(|(pkid, reason, properties)| PubResponse {
                pkid,
                reason,
                properties,
            })
    };
    prop_oneof![
        ack(reasons::PUBACK).prop_map(Packet::PubAck),
        ack(reasons::PUBACK).prop_map(Packet::PubRec),
        ack(reasons::PUBREL).prop_map(Packet::PubRel),
        ack(reasons::PUBREL).prop_map(Packet::PubComp),
    ]
}

pub fn subscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let v5 = protocol.is_v5();
    let handling = prop_oneof![
        Just(RetainHandling::OnSubscribe),
        Just(RetainHandling::OnNewSubscribe),
        Just(RetainHandling::DoNotSend)
    ];
    let one = (filter(), qos(), any::<bool>(), any::<bool>(), handling).prop_map(
        move |(filter, qos, no_local, retain_as_published, retain_handling)| {
            let options = if v5 {
                SubOptions {
                    qos,
                    no_local: no_local && !filter.starts_with("$share/"),
                    retain_as_published,
                    retain_handling,
                }
            } else {
                SubOptions {
                    qos,
                    ..SubOptions::default()
                }
            };
            SubscribeFilter { filter, options }
        },
    );
    (
        1..=u16::MAX,
        vec(one, 1..4),
        properties(protocol, allowed::SUBSCRIBE),
    )
        .prop_map(|(pkid, filters, properties)| {
            Packet::Subscribe(Subscribe {
                pkid,
                filters,
                properties,
            })
        })
}

pub fn suback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let codes = if protocol.is_v5() {
        reasons::SUBACK
    } else {
        reasons::V3_SUBACK
    };
    (
        1..=u16::MAX,
        vec(reason(codes), 1..4),
        properties(protocol, allowed::ACK),
    )
        .prop_map(|(pkid, reasons, properties)| {
            Packet::SubAck(SubAck {
                pkid,
                reasons,
                properties,
            })
        })
}

pub fn unsubscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    (
        1..=u16::MAX,
        vec(filter(), 1..4),
        properties(protocol, allowed::UNSUBSCRIBE),
    )
        .prop_map(|(pkid, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                pkid,
                filters,
                properties,
            })
        })
}

pub fn unsuback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let n = if protocol.is_v5() { 0..4usize } else { 0..1 };
    (
        1..=u16::MAX,
        vec(reason(reasons::UNSUBACK), n),
        properties(protocol, allowed::ACK),
    )
        .prop_map(|(pkid, reasons, properties)| {
            Packet::UnsubAck(UnsubAck {
                pkid,
                reasons,
                properties,
            })
        })
}

pub fn disconnect(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let codes = if protocol.is_v5() {
        reasons::DISCONNECT
    } else {
        &[0x00]
    };
    (reason(codes), properties(protocol, allowed::DISCONNECT))
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }))
}

pub fn auth() -> impl Strategy<Value = Packet> {
    (
        reason(reasons::AUTH),
        properties(Protocol::V5, allowed::AUTH),
    )
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }))
}

/// Any packet valid in `protocol` (AUTH only in v5), such that decode(encode(p)) == p.
pub fn packet(protocol: Protocol) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(protocol),
        connack(protocol),
        publish(protocol),
        pub_response(protocol),
        subscribe(protocol),
        suback(protocol),
        unsubscribe(protocol),
        unsuback(protocol),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(protocol),
    ];
    if protocol.is_v5() {
        prop_oneof![10 => common, 1 => auth()].boxed()
    } else {
        common.boxed()
    }
}

pub const PROTOCOLS: [Protocol; 3] = [Protocol::V31, Protocol::V311, Protocol::V5];
