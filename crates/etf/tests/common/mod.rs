//! The typed values behind `fixtures/*.bin` (see `fixtures/gen_fixtures.escript`).

#![allow(dead_code)]

use std::path::PathBuf;

use bytes::Bytes;
use linkmq_etf::link::{
    ActorInit, ActorInitAck, ControlMessage, ForwardedMessage, Heartbeat, MessageProperties,
    RouteBatch, RouteOp,
};

pub const ACTOR: &str = "emqx@node1.example";
pub const INCARNATION: u64 = 1_718_000_000_123;
pub const ID: [u8; 16] = [
    0x00, 0x06, 0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81, 0x92, 0xA3, 0xB4, 0xC5, 0xD6, 0xE7,
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn ack(result: Result<(), &str>, need_bootstrap: Option<bool>) -> ControlMessage {
    ActorInitAck {
        actor: ACTOR.into(),
        proto_ver: 1,
        result: result.map_err(str::to_owned),
        need_bootstrap,
    }
    .into()
}

fn add(filter: &str, route_id: &str) -> RouteOp {
    RouteOp::Add {
        filter: filter.into(),
        route_id: route_id.into(),
    }
}

fn delete(filter: &str, route_id: &str) -> RouteOp {
    RouteOp::Delete {
        filter: filter.into(),
        route_id: route_id.into(),
    }
}

pub fn large_route_ops() -> Vec<RouteOp> {
    (1..=1000)
        .map(|n| {
            let f = format!("devices/{n}/telemetry/#");
            if n % 3 == 0 {
                delete(&f, &f)
            } else {
                add(&f, &f)
            }
        })
        .collect()
}

/// Control fixtures: file stem and the value Erlang encoded.
pub fn control_fixtures() -> Vec<(&'static str, ControlMessage)> {
    vec![
        (
            "actor_init",
            ActorInit {
                actor: ACTOR.into(),
                incarnation: INCARNATION,
                target_cluster: "cluster-b".into(),
                proto_ver: 1,
            }
            .into(),
        ),
        ("actor_init_ack_ok_bootstrap", ack(Ok(()), Some(true))),
        ("actor_init_ack_ok_resume", ack(Ok(()), Some(false))),
        (
            "actor_init_ack_unknown_cluster",
            ack(Err("unknown_cluster"), None),
        ),
        (
            "actor_init_ack_bad_remote_cluster_link_name",
            ack(Err("bad_remote_cluster_link_name"), None),
        ),
        (
            "actor_init_ack_cluster_link_disabled",
            ack(Err("cluster_link_disabled"), None),
        ),
        (
            "route_batch",
            RouteBatch {
                actor: ACTOR.into(),
                incarnation: INCARNATION,
                ops: vec![
                    add("t/1/2/3/#", "t/+/2/3/#"),
                    add("t/#", "$s/g/t/#"),
                    delete("t/z", "t/z"),
                    delete("t/#", "$s/g/t/#"),
                    add("sensor/+/temp", "sensor/+/temp"),
                ],
            }
            .into(),
        ),
        (
            "route_batch_empty",
            RouteBatch {
                actor: ACTOR.into(),
                incarnation: INCARNATION,
                ops: vec![],
            }
            .into(),
        ),
        (
            "route_batch_large",
            RouteBatch {
                actor: ACTOR.into(),
                incarnation: INCARNATION,
                ops: large_route_ops(),
            }
            .into(),
        ),
        (
            "heartbeat",
            Heartbeat {
                actor: ACTOR.into(),
                incarnation: INCARNATION,
            }
            .into(),
        ),
    ]
}

pub fn message_full() -> ForwardedMessage {
    ForwardedMessage {
        id: ID,
        qos: 2,
        from: "pub-1".into(),
        dup: true,
        retain: true,
        properties: MessageProperties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(3600),
            content_type: Some("application/json".into()),
            response_topic: Some("reply/to/me".into()),
            correlation_data: Some(Bytes::from_static(&[0, 1, 2, 255])),
            user_properties: vec![
                (Bytes::from_static(b"k1"), Bytes::from_static(b"v1")),
                (Bytes::from_static(b"k1"), Bytes::from_static(b"v2")),
                (Bytes::from("ключ"), Bytes::new()),
            ],
        },
        topic: "t/1/2/3/x".into(),
        payload: Bytes::from_static(b"{\"temp\": 21.5}"),
        timestamp_ms: 1_718_000_000_456,
    }
}

pub fn message_minimal() -> ForwardedMessage {
    ForwardedMessage {
        id: ID,
        qos: 0,
        from: "pub-2".into(),
        dup: false,
        retain: false,
        properties: MessageProperties::default(),
        topic: "t/1".into(),
        payload: Bytes::new(),
        timestamp_ms: 1_718_000_000_999,
    }
}
