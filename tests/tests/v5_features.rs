//! MQTT 5.0 features end to end: topic aliases, Receive Maximum, Maximum Packet Size, Message
//! Expiry, subscription identifiers, No Local, property pass-through, Request/Response Information
//! and the `$`-topic matching rule.

use std::time::Duration;

use bytes::Bytes;
use linkmq_client::{Client, Event, RawConnection};
use linkmq_codec::{
    ConnAck, Connect, Packet, Properties, Protocol, PubResponse, Publish, QoS, ReasonCode,
    SubOptions, Subscribe, SubscribeFilter,
};
use linkmq_core::metrics::Counter;
use linkmq_tests::{
    QUIET, TestBroker, WAIT, expect_disconnect, expect_publish, expect_quiet, payload_text,
};

/// A raw connection after CONNECT/CONNACK.
async fn raw_connect(
    b: &TestBroker,
    protocol: Protocol,
    client_id: &str,
    properties: Properties,
) -> (RawConnection, ConnAck) {
    let mut raw = RawConnection::connect(&b.addr()).await.unwrap();
    let connect = Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties,
    };
    raw.send(&Packet::Connect(Box::new(connect)), protocol)
        .await
        .unwrap();
    match raw.recv(protocol, WAIT).await.unwrap() {
        Some(Packet::ConnAck(a)) => {
            assert_eq!(a.reason, ReasonCode::Success);
            (raw, a)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

async fn raw_recv(raw: &mut RawConnection) -> Packet {
    raw.recv(Protocol::V5, WAIT)
        .await
        .unwrap()
        .expect("a packet, not EOF")
}

fn publish(topic: &str, payload: &str, qos: QoS, properties: Properties) -> Publish {
    Publish {
        qos,
        topic: topic.into(),
        payload: Bytes::from(payload.to_string()),
        properties,
        ..Default::default()
    }
}

fn alias(a: u16) -> Properties {
    Properties::from(linkmq_codec::PropertyValues {
        topic_alias: Some(a),
        ..Default::default()
    })
}

// ---------------------------------------------------------------- topic aliases, client → broker

#[tokio::test]
async fn mqtt_3_3_2_12_inbound_topic_alias_is_resolved_for_subscribers() {
    let b = TestBroker::start().await;
    let sub = b.client("sub").await;
    sub.subscribe("alias/#", QoS::AtLeastOnce).await.unwrap();
    let (p, ack) = Client::connect(b.opts("pub")).await.unwrap();
    assert_eq!(ack.properties.topic_alias_maximum, Some(65535));
    let rc = p
        .publish_with(publish("alias/one", "first", QoS::AtLeastOnce, alias(1)))
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::Success);
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let rc = p
            .publish_with(publish("", &format!("again{i}"), qos, alias(1)))
            .await
            .unwrap();
        assert_eq!(rc, ReasonCode::Success);
    }
    // A new topic on the same alias replaces the mapping [MQTT-3.3.2-12].
    p.publish_with(publish("alias/two", "second", QoS::AtLeastOnce, alias(1)))
        .await
        .unwrap();
    p.publish_with(publish("", "again-two", QoS::AtLeastOnce, alias(1)))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        let m = expect_publish(&sub).await;
        assert_eq!(
            m.properties.topic_alias, None,
            "the subscriber set no alias maximum"
        );
        got.push((m.topic.clone(), payload_text(&m)));
    }
    assert_eq!(
        got,
        vec![
            ("alias/one".into(), "first".into()),
            ("alias/one".into(), "again0".into()),
            ("alias/one".into(), "again1".into()),
            ("alias/one".into(), "again2".into()),
            ("alias/two".into(), "second".into()),
            ("alias/two".into(), "again-two".into()),
        ]
    );
    expect_quiet(&sub).await;
}

#[tokio::test]
async fn mqtt_3_3_2_8_topic_alias_zero_is_disconnected_with_0x94() {
    let b = TestBroker::start().await;
    let p = b.client("pub").await;
    p.publish_with(publish("a/b", "x", QoS::AtMostOnce, alias(0)))
        .await
        .unwrap();
    expect_disconnect(&p, ReasonCode::TopicAliasInvalid).await;
}

#[tokio::test]
async fn mqtt_3_3_2_9_topic_alias_above_the_maximum_is_disconnected_with_0x94() {
    let b = TestBroker::start_with(|s| s.max_topic_alias = 5).await;
    let (p, ack) = Client::connect(b.opts("pub")).await.unwrap();
    assert_eq!(ack.properties.topic_alias_maximum, Some(5));
    // The maximum itself is fine.
    let rc = p
        .publish_with(publish("a/b", "x", QoS::AtLeastOnce, alias(5)))
        .await
        .unwrap();
    assert!(rc.is_success());
    p.publish_with(publish("a/b", "x", QoS::AtLeastOnce, alias(6)))
        .await
        .unwrap_err();
    expect_disconnect(&p, ReasonCode::TopicAliasInvalid).await;
}

#[tokio::test]
async fn unknown_topic_alias_with_empty_topic_is_a_protocol_error_0x82() {
    let b = TestBroker::start().await;
    let p = b.client("pub").await;
    p.publish_with(publish("", "x", QoS::AtMostOnce, alias(3)))
        .await
        .unwrap();
    expect_disconnect(&p, ReasonCode::ProtocolError).await;
}

// ---------------------------------------------------------------- topic aliases, broker → client

#[tokio::test]
async fn outbound_topic_alias_first_publish_has_topic_then_alias_only() {
    let b = TestBroker::start().await;
    let props = Properties::from(linkmq_codec::PropertyValues {
        topic_alias_maximum: Some(2),
        ..Default::default()
    });
    let (mut raw, _) = raw_connect(&b, Protocol::V5, "aliased", props).await;
    raw.send(
        &Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![SubscribeFilter {
                filter: "ta/#".into(),
                options: SubOptions::default(),
            }],
            properties: Properties::default(),
        }),
        Protocol::V5,
    )
    .await
    .unwrap();
    assert!(matches!(raw_recv(&mut raw).await, Packet::SubAck(_)));
    let p = b.client("pub").await;
    // x, x, y, x, z (no alias left: full topic), y, z
    let topics = ["ta/x", "ta/x", "ta/y", "ta/x", "ta/z", "ta/y", "ta/z"];
    for (i, t) in topics.iter().enumerate() {
        p.publish(t, format!("{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..topics.len() {
        match raw_recv(&mut raw).await {
            Packet::Publish(m) => {
                got.push((m.topic, m.properties.topic_alias, text_of(&m.payload)))
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    let s = |t: &str| t.to_string();
    assert_eq!(
        got,
        vec![
            (s("ta/x"), Some(1), s("0")),
            (s(""), Some(1), s("1")),
            (s("ta/y"), Some(2), s("2")),
            (s(""), Some(1), s("3")),
            (s("ta/z"), None, s("4")),
            (s(""), Some(2), s("5")),
            (s("ta/z"), None, s("6")),
        ]
    );
}

fn text_of(b: &Bytes) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[tokio::test]
async fn outbound_topic_alias_is_resolved_by_our_client() {
    let b = TestBroker::start().await;
    let (sub, _) = Client::connect(b.opts("sub").topic_alias_maximum(4))
        .await
        .unwrap();
    sub.subscribe("tb/+", QoS::AtMostOnce).await.unwrap();
    let p = b.client("pub").await;
    for _ in 0..3 {
        p.publish("tb/a", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    for _ in 0..3 {
        let m = expect_publish(&sub).await;
        assert_eq!(m.topic, "tb/a");
        assert_eq!(m.properties.topic_alias, Some(1));
    }
}

// ---------------------------------------------------------------- Receive Maximum

#[tokio::test]
async fn mqtt_3_3_4_9_server_sends_no_more_than_the_clients_receive_maximum() {
    let b = TestBroker::start().await;
    let (sub, _) = Client::connect(b.opts("sub").receive_maximum(2).auto_ack(false))
        .await
        .unwrap();
    sub.subscribe("rm/t", QoS::AtLeastOnce).await.unwrap();
    let p = b.client("pub").await;
    for i in 0..5 {
        p.publish("rm/t", format!("m{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    let m0 = expect_publish(&sub).await;
    let m1 = expect_publish(&sub).await;
    assert_eq!(
        (payload_text(&m0), payload_text(&m1)),
        ("m0".into(), "m1".into())
    );
    expect_quiet(&sub).await;
    sub.ack(&m0).await.unwrap();
    let m2 = expect_publish(&sub).await;
    assert_eq!(payload_text(&m2), "m2");
    expect_quiet(&sub).await;
    sub.ack(&m1).await.unwrap();
    sub.ack(&m2).await.unwrap();
    let m3 = expect_publish(&sub).await;
    let m4 = expect_publish(&sub).await;
    assert_eq!(
        (payload_text(&m3), payload_text(&m4)),
        ("m3".into(), "m4".into())
    );
    sub.ack(&m3).await.unwrap();
    sub.ack(&m4).await.unwrap();
    expect_quiet(&sub).await;
}

#[tokio::test]
async fn mqtt_3_3_4_7_client_exceeding_the_servers_receive_maximum_gets_0x93() {
    let b = TestBroker::start_with(|s| s.max_inflight = 2).await;
    let (mut raw, ack) = raw_connect(&b, Protocol::V5, "greedy", Properties::default()).await;
    assert_eq!(ack.properties.receive_maximum, Some(2));
    for pkid in 1..=3u16 {
        let mut m = publish("rx/t", "x", QoS::ExactlyOnce, Properties::default());
        m.pkid = pkid;
        raw.send(&Packet::Publish(m), Protocol::V5).await.unwrap();
    }
    for pkid in 1..=2u16 {
        match raw_recv(&mut raw).await {
            Packet::PubRec(PubResponse { pkid: got, .. }) => assert_eq!(got, pkid),
            other => panic!("expected PUBREC {pkid}, got {other:?}"),
        }
    }
    match raw_recv(&mut raw).await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::ReceiveMaximumExceeded),
        other => panic!("expected DISCONNECT 0x93, got {other:?}"),
    }
    assert!(raw.closed_within(WAIT).await);
}

/// A client still writing when the broker closes (PUBRELs for the PUBRECs before the DISCONNECT, as
/// the Paho interoperability suite's `test_flow_control2` does) can write them and then read the
/// DISCONNECT: the broker reads and discards until the client closes too, instead of closing with
/// unread bytes, which makes the kernel answer with RST and fail the client's next write (EPIPE).
#[tokio::test]
async fn mqtt_3_14_4_2_disconnect_0x93_reaches_a_client_that_keeps_writing() {
    let b = TestBroker::start_with(|s| s.max_inflight = 4).await;
    let (mut raw, _) = raw_connect(&b, Protocol::V5, "writer", Properties::default()).await;
    for pkid in 1..=5u16 {
        let mut m = publish("rx/t", "x", QoS::ExactlyOnce, Properties::default());
        m.pkid = pkid;
        raw.send(&Packet::Publish(m), Protocol::V5).await.unwrap();
    }
    // Let the broker answer and close before the first PUBREL leaves.
    tokio::time::sleep(QUIET).await;
    for pkid in 1..=4u16 {
        match raw_recv(&mut raw).await {
            Packet::PubRec(PubResponse { pkid: got, .. }) => assert_eq!(got, pkid),
            other => panic!("expected PUBREC {pkid}, got {other:?}"),
        }
        let rel = Packet::PubRel(PubResponse {
            pkid,
            reason: ReasonCode::Success,
            properties: Properties::default(),
        });
        raw.send(&rel, Protocol::V5)
            .await
            .unwrap_or_else(|e| panic!("PUBREL {pkid} after the broker closed: {e:?}"));
        // Time for a RST to come back, were there one.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match raw_recv(&mut raw).await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::ReceiveMaximumExceeded),
        other => panic!("expected DISCONNECT 0x93, got {other:?}"),
    }
    // The client closes; the broker, reading, sees it and closes at once.
    tokio::io::AsyncWriteExt::shutdown(raw.stream_mut())
        .await
        .unwrap();
    assert!(raw.closed_within(Duration::from_secs(1)).await);
}

// ---------------------------------------------------------------- Maximum Packet Size

fn big_publish(payload_len: usize) -> Packet {
    Packet::Publish(Publish {
        qos: QoS::AtMostOnce,
        topic: "big/t".into(),
        payload: Bytes::from(vec![b'x'; payload_len]),
        ..Default::default()
    })
}

#[tokio::test]
async fn mqtt_3_2_2_15_packet_above_servers_maximum_is_disconnected_with_0x95() {
    let b = TestBroker::start_with(|s| s.max_packet_size = 1024).await;
    let (mut raw, ack) = raw_connect(&b, Protocol::V5, "big", Properties::default()).await;
    assert_eq!(ack.properties.maximum_packet_size, Some(1024));
    // Just below the limit is fine (QoS 0: no answer expected); above it is not.
    raw.send(&big_publish(1000), Protocol::V5).await.unwrap();
    raw.send(&big_publish(2000), Protocol::V5).await.unwrap();
    match raw_recv(&mut raw).await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::PacketTooLarge),
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
    assert!(raw.closed_within(WAIT).await);
    assert_eq!(b.node.broker.metrics.get(Counter::PacketsTooLarge), 1);
}

#[tokio::test]
async fn packet_above_servers_maximum_closes_a_v311_connection() {
    let b = TestBroker::start_with(|s| s.max_packet_size = 1024).await;
    let (mut raw, _) = raw_connect(&b, Protocol::V311, "big3", Properties::default()).await;
    raw.send(&big_publish(2000), Protocol::V311).await.unwrap();
    // No DISCONNECT in v3.1.1: the socket just closes, nothing sent before.
    match raw.recv(Protocol::V311, WAIT).await {
        Ok(None) => {}
        Err(linkmq_client::ClientError::Io(_)) => {}
        other => panic!("expected the socket closed, got {other:?}"),
    }
}

#[tokio::test]
async fn mqtt_3_1_2_24_server_never_sends_a_packet_above_the_clients_maximum() {
    let b = TestBroker::start().await;
    let (sub, _) = Client::connect(b.opts("small").max_packet_size(200))
        .await
        .unwrap();
    sub.subscribe("mps/#", QoS::AtLeastOnce).await.unwrap();
    let p = b.client("pub").await;
    let big = "y".repeat(500);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        p.publish("mps/t", "small-1", qos, false).await.unwrap();
        // Delivering it would exceed 200 bytes: it is skipped [MQTT-3.1.2-25].
        p.publish("mps/t", big.clone(), qos, false).await.unwrap();
        p.publish("mps/t", "small-2", qos, false).await.unwrap();
        assert_eq!(payload_text(&expect_publish(&sub).await), "small-1");
        assert_eq!(payload_text(&expect_publish(&sub).await), "small-2");
    }
    expect_quiet(&sub).await;
    assert_eq!(
        b.node.broker.metrics.get(Counter::DeliveryDroppedTooLarge),
        2
    );
}

// ---------------------------------------------------------------- Message Expiry

fn expiring(secs: u32) -> Properties {
    Properties::from(linkmq_codec::PropertyValues {
        message_expiry_interval: Some(secs),
        ..Default::default()
    })
}

#[tokio::test]
async fn mqtt_3_3_2_5_expired_message_is_not_delivered_to_a_returning_session() {
    let b = TestBroker::start().await;
    let opts = b.opts("offline").session_expiry(60);
    let (sub, _) = Client::connect(opts.clone()).await.unwrap();
    sub.subscribe("exp/t", QoS::AtLeastOnce).await.unwrap();
    sub.disconnect().await.unwrap();
    let p = b.client("pub").await;
    p.publish_with(publish("exp/t", "short", QoS::AtLeastOnce, expiring(1)))
        .await
        .unwrap();
    p.publish_with(publish("exp/t", "long", QoS::AtLeastOnce, expiring(10)))
        .await
        .unwrap();
    p.publish("exp/t", "forever", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (sub, ack) = Client::connect(opts.clean_start(false)).await.unwrap();
    assert!(ack.session_present);
    let long = expect_publish(&sub).await;
    assert_eq!(payload_text(&long), "long");
    // 2 s of its 10 s have passed [MQTT-3.3.2-6].
    let left = long.properties.message_expiry_interval.unwrap();
    assert!((7..=8).contains(&left), "remaining expiry {left}");
    let forever = expect_publish(&sub).await;
    assert_eq!(payload_text(&forever), "forever");
    assert_eq!(forever.properties.message_expiry_interval, None);
    expect_quiet(&sub).await;
    assert_eq!(
        b.node.broker.metrics.get(Counter::DeliveryDroppedExpired),
        1
    );
}

#[tokio::test]
async fn mqtt_3_3_2_6_delivered_message_carries_the_remaining_expiry() {
    let b = TestBroker::start().await;
    let sub = b.client("sub").await;
    sub.subscribe("exp/live", QoS::AtMostOnce).await.unwrap();
    let p = b.client("pub").await;
    p.publish_with(publish("exp/live", "x", QoS::AtLeastOnce, expiring(30)))
        .await
        .unwrap();
    let m = expect_publish(&sub).await;
    let left = m.properties.message_expiry_interval.unwrap();
    assert!((29..=30).contains(&left), "remaining expiry {left}");
}

// ---------------------------------------------------------------- subscription identifiers

fn sub_filter(filter: &str, qos: QoS) -> SubscribeFilter {
    SubscribeFilter {
        filter: filter.into(),
        options: SubOptions {
            qos,
            ..Default::default()
        },
    }
}

fn sub_id(id: u32) -> Properties {
    Properties::from(linkmq_codec::PropertyValues {
        subscription_identifiers: vec![id],
        ..Default::default()
    })
}

#[tokio::test]
async fn mqtt_3_3_4_3_overlapping_subscriptions_deliver_one_copy_with_every_identifier() {
    let b = TestBroker::start().await;
    let sub = b.client("sub").await;
    sub.subscribe_with(vec![sub_filter("sid/+", QoS::AtMostOnce)], sub_id(7))
        .await
        .unwrap();
    sub.subscribe_with(vec![sub_filter("sid/#", QoS::AtLeastOnce)], sub_id(9))
        .await
        .unwrap();
    sub.subscribe("sid/a", QoS::AtMostOnce).await.unwrap(); // no identifier
    let p = b.client("pub").await;
    p.publish("sid/a", "both", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    let m = expect_publish(&sub).await;
    assert_eq!(payload_text(&m), "both");
    // QoS = the maximum granted among the matching subscriptions, capped by the message's.
    assert_eq!(m.qos, QoS::AtLeastOnce);
    let mut ids = m.properties.subscription_identifiers.clone();
    ids.sort();
    assert_eq!(ids, vec![7, 9]);
    expect_quiet(&sub).await;
    p.publish("sid/a/b", "deep", QoS::AtMostOnce, false)
        .await
        .unwrap();
    let m = expect_publish(&sub).await;
    assert_eq!(payload_text(&m), "deep");
    assert_eq!(m.properties.subscription_identifiers, vec![9]);
    expect_quiet(&sub).await;
}

#[tokio::test]
async fn mqtt_3_8_3_3_no_local_drops_own_messages_only() {
    let b = TestBroker::start().await;
    let me = b.client("me").await;
    let filter = SubscribeFilter {
        filter: "nl/t".into(),
        options: SubOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            ..Default::default()
        },
    };
    me.subscribe_with(vec![filter], Properties::default())
        .await
        .unwrap();
    let other = b.client("other").await;
    me.publish("nl/t", "mine", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    other
        .publish("nl/t", "theirs", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let m = expect_publish(&me).await;
    assert_eq!(payload_text(&m), "theirs");
    expect_quiet(&me).await;
}

#[tokio::test]
async fn mqtt_3_3_2_17_application_properties_pass_through_unchanged_in_order() {
    let b = TestBroker::start().await;
    let sub = b.client("sub").await;
    sub.subscribe("props/t", QoS::AtLeastOnce).await.unwrap();
    let p = b.client("pub").await;
    let props = Properties::from(linkmq_codec::PropertyValues {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        response_topic: Some("props/reply".into()),
        correlation_data: Some(Bytes::from_static(&[0, 1, 2, 0xff])),
        user_properties: vec![
            ("k".into(), "v1".into()),
            ("k".into(), "v2".into()),
            ("other".into(), "ünïcode".into()),
        ],
        ..Default::default()
    });
    p.publish_with(publish("props/t", "{}", QoS::AtLeastOnce, props.clone()))
        .await
        .unwrap();
    let m = expect_publish(&sub).await;
    assert_eq!(m.properties, props, "order of user properties kept too");
}

#[tokio::test]
async fn response_information_is_returned_only_when_requested() {
    let b = TestBroker::start_with(|s| s.response_information = "resp/".into()).await;
    let mut opts = b.opts("asker");
    opts.properties.request_response_information = Some(1);
    let (_c, ack) = Client::connect(opts).await.unwrap();
    assert_eq!(
        ack.properties.response_information.as_deref(),
        Some("resp/")
    );
    let (_c, ack) = Client::connect(b.opts("silent")).await.unwrap();
    assert_eq!(ack.properties.response_information, None);
    let mut opts = b.opts("declined");
    opts.properties.request_response_information = Some(0);
    let (_c, ack) = Client::connect(opts).await.unwrap();
    assert_eq!(ack.properties.response_information, None);
}

#[tokio::test]
async fn request_response_round_trip_with_response_topic_and_correlation_data() {
    let b = TestBroker::start_with(|s| s.response_information = "resp/".into()).await;
    let responder = b.client("responder").await;
    responder
        .subscribe("svc/req", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut opts = b.opts("requester");
    opts.properties.request_response_information = Some(1);
    let (requester, ack) = Client::connect(opts).await.unwrap();
    let reply_to = format!(
        "{}requester",
        ack.properties.response_information.clone().unwrap()
    );
    requester
        .subscribe(&reply_to, QoS::AtLeastOnce)
        .await
        .unwrap();
    let req = Properties::from(linkmq_codec::PropertyValues {
        response_topic: Some(reply_to.clone()),
        correlation_data: Some(Bytes::from_static(b"req-42")),
        ..Default::default()
    });
    requester
        .publish_with(publish("svc/req", "ping", QoS::AtLeastOnce, req))
        .await
        .unwrap();
    let r = expect_publish(&responder).await;
    let answer = Properties::from(linkmq_codec::PropertyValues {
        correlation_data: r.properties.correlation_data.clone(),
        ..Default::default()
    });
    responder
        .publish_with(publish(
            r.properties.response_topic.as_deref().unwrap(),
            "pong",
            QoS::AtLeastOnce,
            answer,
        ))
        .await
        .unwrap();
    let a = expect_publish(&requester).await;
    assert_eq!(a.topic, "resp/requester");
    assert_eq!(payload_text(&a), "pong");
    assert_eq!(
        a.properties.correlation_data.as_deref(),
        Some(&b"req-42"[..])
    );
}

// ---------------------------------------------------------------- $-topics

#[tokio::test]
async fn mqtt_4_7_2_1_dollar_topics_are_not_matched_by_leading_wildcards() {
    let b =
        TestBroker::start_with(|s| s.sys_heartbeat_interval = Some(Duration::from_secs(1))).await;
    let hash = b.client("hash").await;
    hash.subscribe("#", QoS::AtMostOnce).await.unwrap();
    let plus = b.client("plus").await;
    plus.subscribe("+/brokers/#", QoS::AtMostOnce)
        .await
        .unwrap();
    let plus_app = b.client("plus-app").await;
    plus_app.subscribe("+/x", QoS::AtMostOnce).await.unwrap();
    let sys = b.client("sys").await;
    sys.subscribe("$SYS/#", QoS::AtMostOnce).await.unwrap();
    let app = b.client("app").await;
    app.subscribe("$app/+", QoS::AtMostOnce).await.unwrap();
    // $SYS messages: retained (version, ...) on subscribe and the heartbeat.
    let first = expect_publish(&sys).await;
    assert!(first.topic.starts_with("$SYS/brokers/"), "{}", first.topic);
    // A client publishing to a $ topic: only a filter naming the $ level matches it.
    let p = b.client("pub").await;
    p.publish("$app/x", "dollar", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    p.publish("plain/x", "plain", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let m = expect_publish(&app).await;
    assert_eq!(
        (m.topic.as_str(), payload_text(&m).as_str()),
        ("$app/x", "dollar")
    );
    // Let a heartbeat pass, then check what the wildcard subscribers got.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got_hash: Vec<String> = drain_topics(&hash).await;
    assert_eq!(got_hash, vec!["plain/x".to_string()]);
    assert_eq!(drain_topics(&plus).await, Vec::<String>::new());
    assert_eq!(drain_topics(&plus_app).await, vec!["plain/x".to_string()]);
    let sys_topics = drain_topics(&sys).await;
    assert!(
        sys_topics.iter().all(|t| t.starts_with("$SYS/brokers/")),
        "{sys_topics:?}"
    );
    assert!(
        sys_topics.iter().any(|t| t.ends_with("/uptime")),
        "heartbeat seen by $SYS/#: {sys_topics:?}"
    );
}

async fn drain_topics(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(ev) = c.recv_timeout(QUIET).await {
        match ev {
            Event::Publish(p) => out.push(p.topic),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}
