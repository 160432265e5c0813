//! Limits from config, each tested: packet size, client id length, topic levels, QoS, topic aliases,
//! retain, wildcard and shared subscriptions, inflight window, message queue, awaiting PUBREL (count
//! and timeout), session expiry cap, listener connection limit, and slow subscribers.

use std::time::Duration;

use bytes::Bytes;
use linkmq_client::{Client, ClientError, Event, RawConnection};
use linkmq_codec::{
    ConnAck, Connect, LastWill, Packet, Properties, Protocol, PubResponse, Publish, QoS,
    ReasonCode, SubOptions, Subscribe, SubscribeFilter,
};
use linkmq_core::metrics::Counter;
use linkmq_tests::{
    TestBroker, WAIT, expect_disconnect, expect_publish, expect_quiet, payload_text,
};
use tokio::time::Instant;

fn refused_with(r: Result<(Client, ConnAck), ClientError>) -> ConnAck {
    match r {
        Err(ClientError::Refused(ack)) => *ack,
        other => panic!("expected a refused CONNACK, got {other:?}"),
    }
}

fn connect_packet(protocol: Protocol, client_id: &str) -> Connect {
    Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    }
}

async fn raw_connect(b: &TestBroker, protocol: Protocol, client_id: &str) -> RawConnection {
    let mut raw = RawConnection::connect(&b.addr()).await.unwrap();
    raw.send(
        &Packet::Connect(Box::new(connect_packet(protocol, client_id))),
        protocol,
    )
    .await
    .unwrap();
    match raw.recv(protocol, WAIT).await.unwrap() {
        Some(Packet::ConnAck(a)) if a.reason == ReasonCode::Success => raw,
        other => panic!("expected CONNACK 0x00, got {other:?}"),
    }
}

async fn raw_recv(raw: &mut RawConnection) -> Packet {
    raw.recv(Protocol::V5, WAIT)
        .await
        .unwrap()
        .expect("a packet, not EOF")
}

fn qos2(pkid: u16, topic: &str, payload: &str) -> Packet {
    Packet::Publish(Publish {
        qos: QoS::ExactlyOnce,
        pkid,
        topic: topic.into(),
        payload: Bytes::from(payload.to_string()),
        ..Default::default()
    })
}

fn pubrel(pkid: u16) -> Packet {
    Packet::PubRel(PubResponse {
        pkid,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    })
}

async fn expect_ack(raw: &mut RawConnection, kind: &str, pkid: u16, reason: ReasonCode) {
    let (got_kind, a) = match raw_recv(raw).await {
        Packet::PubRec(a) => ("PUBREC", a),
        Packet::PubComp(a) => ("PUBCOMP", a),
        Packet::PubAck(a) => ("PUBACK", a),
        other => panic!("expected {kind} {pkid}, got {other:?}"),
    };
    assert_eq!((got_kind, a.pkid, a.reason), (kind, pkid, reason));
}

/// Polls a counter until it reaches `want` (the broker counts asynchronously to the client's view).
async fn wait_counter(b: &TestBroker, c: Counter, want: u64) {
    let until = Instant::now() + WAIT;
    while b.node.broker.metrics.get(c) != want {
        assert!(
            Instant::now() < until,
            "{} stayed {} (want {want})",
            c.name(),
            b.node.broker.metrics.get(c)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- max_packet_size

#[tokio::test]
async fn max_packet_size_is_announced_and_enforced() {
    let b = TestBroker::start_with(|s| s.max_packet_size = 1024).await;
    let sub = b.client("sub").await;
    sub.subscribe("mp/t", QoS::AtLeastOnce).await.unwrap();
    let (p, ack) = Client::connect(b.opts("pub")).await.unwrap();
    assert_eq!(ack.properties.maximum_packet_size, Some(1024));
    // 1000 bytes of payload fit in 1024 with the headers.
    let rc = p
        .publish("mp/t", vec![b'a'; 1000], QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::Success);
    assert_eq!(expect_publish(&sub).await.payload.len(), 1000);
    // Our client refuses to send more than the server's maximum; a raw one can.
    let mut raw = raw_connect(&b, Protocol::V5, "raw").await;
    raw.send(
        &Packet::Publish(Publish {
            topic: "mp/t".into(),
            payload: Bytes::from(vec![b'b'; 1100]),
            ..Default::default()
        }),
        Protocol::V5,
    )
    .await
    .unwrap();
    match raw_recv(&mut raw).await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::PacketTooLarge),
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
    assert!(raw.closed_within(WAIT).await);
    expect_quiet(&sub).await;
}

// ---------------------------------------------------------------- max_clientid_len

#[tokio::test]
async fn max_clientid_len_refuses_longer_ids_with_0x85() {
    let b = TestBroker::start_with(|s| s.max_clientid_len = 10).await;
    let (c, _) = Client::connect(b.opts("0123456789")).await.unwrap();
    c.disconnect().await.unwrap();
    let ack = refused_with(Client::connect(b.opts("0123456789a")).await);
    assert_eq!(ack.reason, ReasonCode::ClientIdentifierNotValid);
    // v3.1.1: return code 2, identifier rejected.
    let ack = refused_with(Client::connect(b.opts("0123456789a").protocol(Protocol::V311)).await);
    assert_eq!(ack.reason, ReasonCode::ClientIdentifierNotValid);
    assert_eq!(b.node.broker.metrics.get(Counter::PacketsConnackError), 2);
}

// ---------------------------------------------------------------- max_topic_levels

#[tokio::test]
async fn max_topic_levels_rejects_deep_topics_and_filters() {
    let b = TestBroker::start_with(|s| s.max_topic_levels = 3).await;
    let c = b.client("c").await;
    let ack = c.subscribe("a/b/c", QoS::AtLeastOnce).await.unwrap();
    assert_eq!(ack.reasons, vec![ReasonCode::GrantedQoS1]);
    let ack = c.subscribe("a/b/c/d", QoS::AtLeastOnce).await.unwrap();
    assert_eq!(ack.reasons, vec![ReasonCode::TopicFilterInvalid]);
    let ack = c
        .subscribe("$share/g/a/b/+/d", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(ack.reasons, vec![ReasonCode::TopicFilterInvalid]);
    let rc = c
        .publish("a/b/c", "ok", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::Success);
    assert_eq!(payload_text(&expect_publish(&c).await), "ok");
    let rc = c
        .publish("a/b/c/d", "deep", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::TopicNameInvalid);
    expect_quiet(&c).await;
    // The connection stays usable.
    assert_eq!(
        c.publish("a/b/c", "after", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    assert_eq!(payload_text(&expect_publish(&c).await), "after");
}

// ---------------------------------------------------------------- max_qos_allowed

#[tokio::test]
async fn max_qos_allowed_1_caps_subscriptions_and_refuses_qos2_publishes_with_0x9b() {
    let b = TestBroker::start_with(|s| s.max_qos_allowed = QoS::AtLeastOnce).await;
    let (c, ack) = Client::connect(b.opts("c")).await.unwrap();
    assert_eq!(ack.properties.maximum_qos, Some(1));
    let ack = c.subscribe("q/t", QoS::ExactlyOnce).await.unwrap();
    assert_eq!(ack.reasons, vec![ReasonCode::GrantedQoS1]);
    let p = b.client("p").await;
    p.publish("q/t", "one", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let m = expect_publish(&c).await;
    assert_eq!((payload_text(&m), m.qos), ("one".into(), QoS::AtLeastOnce));
    let r = p.publish("q/t", "two", QoS::ExactlyOnce, false).await;
    assert!(r.is_err(), "{r:?}");
    expect_disconnect(&p, ReasonCode::QoSNotSupported).await;
    expect_quiet(&c).await;
    // A will above the maximum QoS is refused at CONNECT [MQTT-3.2.2-12].
    let will = LastWill {
        topic: "w/t".into(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::ExactlyOnce,
        retain: false,
        properties: Properties::default(),
    };
    let ack = refused_with(Client::connect(b.opts("w").will(will)).await);
    assert_eq!(ack.reason, ReasonCode::QoSNotSupported);
}

// ---------------------------------------------------------------- max_topic_alias

#[tokio::test]
async fn max_topic_alias_is_announced_and_enforced_with_0x94() {
    let b = TestBroker::start_with(|s| s.max_topic_alias = 2).await;
    let sub = b.client("sub").await;
    sub.subscribe("al/+", QoS::AtLeastOnce).await.unwrap();
    let (p, ack) = Client::connect(b.opts("pub")).await.unwrap();
    assert_eq!(ack.properties.topic_alias_maximum, Some(2));
    let aliased = |topic: &str, alias: u16| Publish {
        qos: QoS::AtLeastOnce,
        topic: topic.into(),
        payload: Bytes::from_static(b"x"),
        properties: Properties::from(linkmq_codec::PropertyValues {
            topic_alias: Some(alias),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(
        p.publish_with(aliased("al/a", 2))
            .await
            .unwrap()
            .is_success()
    );
    assert!(p.publish_with(aliased("", 2)).await.unwrap().is_success());
    assert_eq!(expect_publish(&sub).await.topic, "al/a");
    assert_eq!(expect_publish(&sub).await.topic, "al/a");
    assert!(p.publish_with(aliased("al/b", 3)).await.is_err());
    expect_disconnect(&p, ReasonCode::TopicAliasInvalid).await;
    expect_quiet(&sub).await;
}

// ---------------------------------------------------------------- retain_available

#[tokio::test]
async fn retain_available_false_is_announced_and_retained_publish_gets_0x9a() {
    let b = TestBroker::start_with(|s| s.retain_available = false).await;
    let (p, ack) = Client::connect(b.opts("pub")).await.unwrap();
    assert_eq!(ack.properties.retain_available, Some(0));
    // Non-retained publishing works.
    assert_eq!(
        p.publish("r/t", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
    let _ = p.publish("r/t", "kept?", QoS::AtLeastOnce, true).await;
    expect_disconnect(&p, ReasonCode::RetainNotSupported).await;
    assert!(b.node.broker.retained.matching("r/#").is_empty());
    let will = LastWill {
        topic: "w/t".into(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtMostOnce,
        retain: true,
        properties: Properties::default(),
    };
    let ack = refused_with(Client::connect(b.opts("w").will(will)).await);
    assert_eq!(ack.reason, ReasonCode::RetainNotSupported);
}

// ---------------------------------------------------------------- wildcard / shared subscriptions

fn filters(fs: &[&str]) -> Vec<SubscribeFilter> {
    fs.iter()
        .map(|f| SubscribeFilter {
            filter: (*f).into(),
            options: SubOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
        })
        .collect()
}

#[tokio::test]
async fn wildcard_subscription_false_refuses_wildcards_with_0xa2() {
    let b = TestBroker::start_with(|s| s.wildcard_subscription = false).await;
    let (c, ack) = Client::connect(b.opts("c")).await.unwrap();
    assert_eq!(ack.properties.wildcard_subscription_available, Some(0));
    let ack = c
        .subscribe_with(
            filters(&["a/+", "plain/t", "#", "$share/g/w/#", "$share/g/w/t"]),
            Properties::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        ack.reasons,
        vec![
            ReasonCode::WildcardSubscriptionsNotSupported,
            ReasonCode::GrantedQoS1,
            ReasonCode::WildcardSubscriptionsNotSupported,
            ReasonCode::WildcardSubscriptionsNotSupported,
            ReasonCode::GrantedQoS1,
        ]
    );
    assert_eq!(b.node.broker.router.subscription_count(), 2);
}

#[tokio::test]
async fn shared_subscription_false_refuses_shared_filters_with_0x9e() {
    let b = TestBroker::start_with(|s| s.shared_subscription = false).await;
    let (c, ack) = Client::connect(b.opts("c")).await.unwrap();
    assert_eq!(ack.properties.shared_subscription_available, Some(0));
    let ack = c
        .subscribe_with(
            filters(&["$share/g/t", "t", "$queue/t"]),
            Properties::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        ack.reasons,
        vec![
            ReasonCode::SharedSubscriptionsNotSupported,
            ReasonCode::GrantedQoS1,
            ReasonCode::SharedSubscriptionsNotSupported,
        ]
    );
    assert_eq!(b.node.broker.router.subscription_count(), 1);
}

// ---------------------------------------------------------------- max_inflight

#[tokio::test]
async fn max_inflight_bounds_unacknowledged_messages_to_a_client() {
    let b = TestBroker::start_with(|s| s.max_inflight = 3).await;
    let (sub, ack) = Client::connect(b.opts("sub").auto_ack(false))
        .await
        .unwrap();
    assert_eq!(ack.properties.receive_maximum, Some(3));
    sub.subscribe("if/t", QoS::ExactlyOnce).await.unwrap();
    let p = b.client("pub").await;
    for i in 0..7 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        p.publish("if/t", format!("m{i}"), qos, false)
            .await
            .unwrap();
    }
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(expect_publish(&sub).await);
    }
    assert_eq!(
        held.iter().map(payload_text).collect::<Vec<_>>(),
        vec!["m0", "m1", "m2"]
    );
    expect_quiet(&sub).await;
    // Each acknowledgement (PUBACK, or PUBREC for QoS 2) frees one slot.
    sub.ack(&held[1]).await.unwrap();
    let m3 = expect_publish(&sub).await;
    assert_eq!(payload_text(&m3), "m3");
    expect_quiet(&sub).await;
    sub.ack(&held[0]).await.unwrap();
    sub.ack(&held[2]).await.unwrap();
    sub.ack(&m3).await.unwrap();
    let rest: Vec<Publish> = vec![
        expect_publish(&sub).await,
        expect_publish(&sub).await,
        expect_publish(&sub).await,
    ];
    assert_eq!(
        rest.iter().map(payload_text).collect::<Vec<_>>(),
        vec!["m4", "m5", "m6"]
    );
    expect_quiet(&sub).await;
}

// ---------------------------------------------------------------- max_mqueue_len

#[tokio::test]
async fn max_mqueue_len_drops_qos0_first_then_the_oldest_for_an_offline_session() {
    let b = TestBroker::start_with(|s| s.max_mqueue_len = 5).await;
    let opts = b.opts("offline").session_expiry(60);
    let (sub, _) = Client::connect(opts.clone()).await.unwrap();
    sub.subscribe("mq/t", QoS::AtLeastOnce).await.unwrap();
    sub.disconnect().await.unwrap();
    let p = b.client("pub").await;
    // Queue: m1 z1 m2 m3 m4 | m5 drops z1 | z2 drops itself | m6 drops m1 (oldest).
    for (payload, qos) in [
        ("m1", QoS::AtLeastOnce),
        ("z1", QoS::AtMostOnce),
        ("m2", QoS::AtLeastOnce),
        ("m3", QoS::AtLeastOnce),
        ("m4", QoS::AtLeastOnce),
        ("m5", QoS::AtLeastOnce),
        ("z2", QoS::AtMostOnce),
        ("m6", QoS::AtLeastOnce),
    ] {
        p.publish("mq/t", payload, qos, false).await.unwrap();
    }
    wait_counter(&b, Counter::DeliveryDroppedQueueFull, 3).await;
    assert_eq!(
        b.node.broker.metrics.get(Counter::DeliveryDroppedQos0Msg),
        2
    );
    let (sub, ack) = Client::connect(opts.clean_start(false)).await.unwrap();
    assert!(ack.session_present);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(payload_text(&expect_publish(&sub).await));
    }
    assert_eq!(got, vec!["m2", "m3", "m4", "m5", "m6"]);
    expect_quiet(&sub).await;
    assert_eq!(
        b.node.broker.metrics.get(Counter::DeliveryDroppedQueueFull),
        3
    );
}

// ---------------------------------------------------------------- max_awaiting_rel

#[tokio::test]
async fn max_awaiting_rel_exceeded_drops_the_message_and_disconnects_with_0x93() {
    let b = TestBroker::start_with(|s| {
        s.max_awaiting_rel = 2;
        s.max_inflight = 10;
    })
    .await;
    let sub = b.client("sub").await;
    sub.subscribe("ar/t", QoS::ExactlyOnce).await.unwrap();
    let mut raw = raw_connect(&b, Protocol::V5, "raw").await;
    for (pkid, payload) in [(1, "m1"), (2, "m2")] {
        raw.send(&qos2(pkid, "ar/t", payload), Protocol::V5)
            .await
            .unwrap();
        expect_ack(&mut raw, "PUBREC", pkid, ReasonCode::Success).await;
    }
    // Released ids free their slot.
    raw.send(&pubrel(1), Protocol::V5).await.unwrap();
    expect_ack(&mut raw, "PUBCOMP", 1, ReasonCode::Success).await;
    raw.send(&qos2(3, "ar/t", "m3"), Protocol::V5)
        .await
        .unwrap();
    expect_ack(&mut raw, "PUBREC", 3, ReasonCode::Success).await;
    // Two awaiting PUBREL (2, 3): below our Receive Maximum (10) but at max_awaiting_rel (2).
    // EMQX drops the message and disconnects with 0x93 (no PUBREC can carry 0x93).
    raw.send(&qos2(4, "ar/t", "m4"), Protocol::V5)
        .await
        .unwrap();
    match raw_recv(&mut raw).await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::ReceiveMaximumExceeded),
        other => panic!("expected DISCONNECT 0x93, got {other:?}"),
    }
    assert!(raw.closed_within(WAIT).await);
    let got: Vec<String> = vec![
        payload_text(&expect_publish(&sub).await),
        payload_text(&expect_publish(&sub).await),
        payload_text(&expect_publish(&sub).await),
    ];
    assert_eq!(got, vec!["m1", "m2", "m3"]);
    expect_quiet(&sub).await;
    let m = &b.node.broker.metrics;
    // ($SYS version/sysdescr found no subscribers at start: those are the other drops.)
    assert_eq!(
        m.get(Counter::MessagesDropped) - m.get(Counter::MessagesDroppedNoSubscribers),
        1
    );
}

// ---------------------------------------------------------------- await_rel_timeout

#[tokio::test]
async fn await_rel_timeout_forgets_unreleased_qos2_ids() {
    let b = TestBroker::start_with(|s| {
        s.max_awaiting_rel = 1;
        s.await_rel_timeout = Duration::from_millis(500);
    })
    .await;
    let sub = b.client("sub").await;
    sub.subscribe("rt/t", QoS::ExactlyOnce).await.unwrap();
    let mut raw = raw_connect(&b, Protocol::V5, "raw").await;
    raw.send(&qos2(1, "rt/t", "first"), Protocol::V5)
        .await
        .unwrap();
    expect_ack(&mut raw, "PUBREC", 1, ReasonCode::Success).await;
    assert_eq!(payload_text(&expect_publish(&sub).await), "first");
    wait_counter(&b, Counter::MessagesDroppedAwaitPubrelTimeout, 1).await;
    // The id is forgotten: its PUBREL is unknown now ...
    raw.send(&pubrel(1), Protocol::V5).await.unwrap();
    expect_ack(&mut raw, "PUBCOMP", 1, ReasonCode::PacketIdentifierNotFound).await;
    // ... and the only max_awaiting_rel slot is free again (else: DISCONNECT 0x93).
    raw.send(&qos2(2, "rt/t", "second"), Protocol::V5)
        .await
        .unwrap();
    expect_ack(&mut raw, "PUBREC", 2, ReasonCode::Success).await;
    raw.send(&pubrel(2), Protocol::V5).await.unwrap();
    expect_ack(&mut raw, "PUBCOMP", 2, ReasonCode::Success).await;
    assert_eq!(payload_text(&expect_publish(&sub).await), "second");
    // Released in time: nothing more expires.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        b.node
            .broker
            .metrics
            .get(Counter::MessagesDroppedAwaitPubrelTimeout),
        1
    );
    expect_quiet(&sub).await;
}

// ---------------------------------------------------------------- session_expiry_interval cap

#[tokio::test]
async fn session_expiry_interval_is_capped_and_the_cap_returned_in_connack() {
    let b = TestBroker::start_with(|s| s.session_expiry_interval = Duration::from_secs(10)).await;
    let (_c, ack) = Client::connect(b.opts("long").session_expiry(3600))
        .await
        .unwrap();
    assert_eq!(ack.properties.session_expiry_interval, Some(10));
    // Within the cap: the client's value stands, CONNACK does not repeat it.
    let (_c, ack) = Client::connect(b.opts("short").session_expiry(5))
        .await
        .unwrap();
    assert_eq!(ack.properties.session_expiry_interval, None);
}

// ---------------------------------------------------------------- listener max_connections

#[tokio::test]
async fn listener_max_connections_closes_extra_connections_without_connack() {
    let b = TestBroker::start_full(|_| {}, 3).await;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(b.client(&format!("c{i}")).await);
    }
    let mut raw = RawConnection::connect(&b.addr()).await.unwrap();
    // The broker may close before or after our CONNECT arrives.
    let _ = raw
        .send(
            &Packet::Connect(Box::new(connect_packet(Protocol::V5, "c3"))),
            Protocol::V5,
        )
        .await;
    match raw.recv(Protocol::V5, WAIT).await {
        Ok(None) | Err(ClientError::Io(_)) => {}
        other => panic!("expected the socket closed without CONNACK, got {other:?}"),
    }
    assert_eq!(b.node.broker.metrics.get(Counter::ConnectionsRejected), 1);
    // A freed slot is usable again.
    held.pop().unwrap().disconnect().await.unwrap();
    let until = Instant::now() + WAIT;
    loop {
        match Client::connect(b.opts("c4")).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < until, "no slot freed: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- slow subscribers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_never_stalls_the_publisher_or_other_subscribers() {
    const N: usize = 20_000;
    let b = TestBroker::start().await;
    // Subscribed, then never reads its socket again.
    let mut slow = raw_connect(&b, Protocol::V5, "slow").await;
    slow.send(
        &Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: filters(&["slow/#"]),
            properties: Properties::default(),
        }),
        Protocol::V5,
    )
    .await
    .unwrap();
    assert!(matches!(raw_recv(&mut slow).await, Packet::SubAck(_)));
    let fast = b.client("fast").await;
    fast.subscribe("slow/#", QoS::AtMostOnce).await.unwrap();
    let p = b.client("pub").await;
    let payload = Bytes::from(vec![b'p'; 1024]);
    // The publisher runs at most 2 * BATCH ahead of the fast subscriber, within that subscriber's
    // queue (max_mqueue_len 1000): an unpaced publisher would overrun even a subscriber alone.
    // The slow one gets no such courtesy; it falls behind by all 20 MB.
    const BATCH: u64 = 250;
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0u64);
    let started = Instant::now();
    let publisher = tokio::spawn(async move {
        for i in 0..N as u64 {
            if i % BATCH == 0 {
                progress
                    .wait_for(|&got| got + BATCH >= i)
                    .await
                    .expect("subscriber alive");
            }
            let mut body = payload.to_vec();
            body[..8].copy_from_slice(&i.to_be_bytes());
            p.publish("slow/t", body, QoS::AtMostOnce, false)
                .await
                .unwrap();
        }
        p
    });
    let mut next = 0u64;
    while (next as usize) < N {
        let m = match fast.recv_timeout(Duration::from_secs(10)).await {
            Some(Event::Publish(m)) => m,
            other => panic!("fast subscriber stalled after {next} messages: {other:?}"),
        };
        let seq = u64::from_be_bytes(m.payload[..8].try_into().unwrap());
        assert_eq!(seq, next, "in order, none lost");
        assert_eq!(m.payload.len(), 1024);
        next += 1;
        progress_tx.send_replace(next);
    }
    let p = tokio::time::timeout(Duration::from_secs(10), publisher)
        .await
        .expect("publisher finished")
        .unwrap();
    assert!(!p.is_closed());
    assert!(started.elapsed() < Duration::from_secs(30));
    // The slow subscriber really was backed up: its queue overflowed (counted), nothing else did.
    let m = &b.node.broker.metrics;
    let dropped = m.get(Counter::DeliveryDroppedQueueFull);
    assert!(
        dropped > 1000,
        "slow subscriber's queue overflowed: {dropped}"
    );
    assert_eq!(m.get(Counter::DeliveryDroppedChannelFull), 0);
    assert_eq!(m.get(Counter::DeliveryDropped), dropped);
    drop(slow);
}
