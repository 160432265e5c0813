//! Codec: decode and encode of every control packet type, MQTT 3.1.1 and 5.0.
//! `cargo bench -p linkmq-bench --bench codec`

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use linkmq_codec::{
    Auth, ConnAck, Connect, Disconnect, LastWill, Packet, Properties, Protocol, PubResponse,
    Publish, QoS, ReasonCode, SubAck, SubOptions, Subscribe, SubscribeFilter, UnsubAck,
    Unsubscribe,
};

/// One representative packet of each type, with v5 properties a real client would send.
fn packets(protocol: Protocol) -> Vec<(&'static str, Packet)> {
    let v5 = protocol.is_v5();
    let props = |f: fn(&mut Properties)| {
        let mut p = Properties::default();
        if v5 {
            f(&mut p);
        }
        p
    };
    let ack = |pkid| PubResponse {
        pkid,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    };
    let mut list = vec![
        (
            "connect",
            Packet::Connect(Box::new(Connect {
                protocol,
                clean_start: true,
                keep_alive: 60,
                client_id: "sensor-0042-eu-west".into(),
                will: Some(LastWill {
                    topic: "status/sensor-0042".into(),
                    payload: Bytes::from_static(b"offline"),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    properties: props(|p| p.will_delay_interval = Some(5)),
                }),
                username: Some("device".into()),
                password: Some(Bytes::from_static(b"secret-token")),
                properties: props(|p| {
                    p.session_expiry_interval = Some(3600);
                    p.receive_maximum = Some(100);
                    p.topic_alias_maximum = Some(10);
                }),
            })),
        ),
        (
            "connack",
            Packet::ConnAck(ConnAck {
                session_present: false,
                reason: ReasonCode::Success,
                properties: props(|p| {
                    p.receive_maximum = Some(32);
                    p.maximum_packet_size = Some(1 << 20);
                    p.topic_alias_maximum = Some(65535);
                }),
            }),
        ),
        (
            "publish_qos0_64b",
            Packet::Publish(Publish {
                topic: "sensors/eu-west/0042/temperature".into(),
                payload: Bytes::from(vec![b'x'; 64]),
                ..Publish::default()
            }),
        ),
        (
            "publish_qos1_1k_props",
            Packet::Publish(Publish {
                qos: QoS::AtLeastOnce,
                pkid: 42,
                topic: "sensors/eu-west/0042/temperature".into(),
                payload: Bytes::from(vec![b'x'; 1024]),
                properties: props(|p| {
                    p.content_type = Some("application/json".into());
                    p.message_expiry_interval = Some(60);
                    p.user_properties = vec![("trace".into(), "abc123".into())];
                }),
                ..Publish::default()
            }),
        ),
        ("puback", Packet::PubAck(ack(42))),
        ("pubrec", Packet::PubRec(ack(42))),
        ("pubrel", Packet::PubRel(ack(42))),
        ("pubcomp", Packet::PubComp(ack(42))),
        (
            "subscribe",
            Packet::Subscribe(Subscribe {
                pkid: 7,
                filters: ["sensors/+/0042/#", "cmd/sensor-0042", "$share/g/jobs/#"]
                    .iter()
                    .map(|f| SubscribeFilter {
                        filter: (*f).into(),
                        options: SubOptions {
                            qos: QoS::AtLeastOnce,
                            ..SubOptions::default()
                        },
                    })
                    .collect(),
                properties: props(|p| p.subscription_identifiers = vec![5]),
            }),
        ),
        (
            "suback",
            Packet::SubAck(SubAck {
                pkid: 7,
                reasons: vec![ReasonCode::GrantedQoS1; 3],
                properties: Properties::default(),
            }),
        ),
        (
            "unsubscribe",
            Packet::Unsubscribe(Unsubscribe {
                pkid: 8,
                filters: vec!["sensors/+/0042/#".into(), "cmd/sensor-0042".into()],
                properties: Properties::default(),
            }),
        ),
        (
            "unsuback",
            Packet::UnsubAck(UnsubAck {
                pkid: 8,
                reasons: if v5 {
                    vec![ReasonCode::Success; 2]
                } else {
                    Vec::new()
                },
                properties: Properties::default(),
            }),
        ),
        ("pingreq", Packet::PingReq),
        ("pingresp", Packet::PingResp),
        (
            "disconnect",
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::Success,
                properties: Properties::default(),
            }),
        ),
    ];
    if v5 {
        list.push((
            "auth",
            Packet::Auth(Auth {
                reason: ReasonCode::ContinueAuthentication,
                properties: props(|p| {
                    p.authentication_method = Some("SCRAM-SHA-256".into());
                    p.authentication_data = Some(Bytes::from_static(b"client-first-message"));
                }),
            }),
        ));
    }
    list
}

fn codec(c: &mut Criterion) {
    for (label, protocol) in [("v3", Protocol::V311), ("v5", Protocol::V5)] {
        let mut decode = c.benchmark_group(format!("decode_{label}"));
        for (name, packet) in packets(protocol) {
            let mut wire = BytesMut::new();
            linkmq_codec::encode(&packet, protocol, &mut wire).unwrap();
            let wire = wire.freeze();
            decode.throughput(Throughput::Bytes(wire.len() as u64));
            decode.bench_function(name, |b| {
                b.iter_batched_ref(
                    || BytesMut::from(&wire[..]),
                    |buf| black_box(linkmq_codec::decode(buf, protocol, u32::MAX).unwrap()),
                    BatchSize::SmallInput,
                )
            });
        }
        decode.finish();
        let mut encode = c.benchmark_group(format!("encode_{label}"));
        for (name, packet) in packets(protocol) {
            let mut buf = BytesMut::with_capacity(4096);
            encode.bench_function(name, |b| {
                b.iter(|| {
                    buf.clear();
                    linkmq_codec::encode(black_box(&packet), protocol, &mut buf).unwrap();
                    black_box(buf.len())
                })
            });
        }
        encode.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
