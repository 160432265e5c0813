//! QoS 0/1/2 flows in both directions, packet by packet over raw connections, in MQTT 5.0 and 3.1.1:
//! acknowledgements, the outbound window waiting for PUBACK/PUBCOMP, QoS 2 duplicate suppression,
//! unknown packet identifiers, QoS downgrade and the `retry_interval` re-send.

use std::time::Duration;

use bytes::Bytes;
use linkmq_client::{Client, Event, RawConnection};
use linkmq_codec::{
    Packet, Properties, Protocol, PubResponse, Publish, QoS, ReasonCode, SubOptions, Subscribe,
    SubscribeFilter,
};
use linkmq_tests::TestBroker;

const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);
const PROTOCOLS: [Protocol; 2] = [Protocol::V5, Protocol::V311];

/// A raw connection that has completed CONNECT/CONNACK (clean start, no keep alive).
async fn raw(b: &TestBroker, proto: Protocol, id: &str) -> RawConnection {
    let mut c = RawConnection::connect(&b.addr()).await.unwrap();
    let connect = b.opts(id).protocol(proto).keep_alive(0).connect_packet();
    c.send(&Packet::Connect(Box::new(connect)), proto)
        .await
        .unwrap();
    match c.recv(proto, WAIT).await.unwrap() {
        Some(Packet::ConnAck(a)) => assert_eq!(a.reason, ReasonCode::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    c
}

async fn next(c: &mut RawConnection, proto: Protocol) -> Packet {
    match c.recv(proto, WAIT).await {
        Ok(Some(p)) => p,
        other => panic!("expected a packet, got {other:?}"),
    }
}

async fn assert_quiet(c: &mut RawConnection, proto: Protocol) {
    match c.recv(proto, QUIET).await {
        Err(linkmq_client::ClientError::Timeout) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

async fn raw_subscribe(c: &mut RawConnection, proto: Protocol, filter: &str, qos: QoS) {
    let sub = Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![SubscribeFilter {
            filter: filter.into(),
            options: SubOptions {
                qos,
                ..Default::default()
            },
        }],
        properties: Properties::default(),
    });
    c.send(&sub, proto).await.unwrap();
    match next(c, proto).await {
        Packet::SubAck(a) => {
            assert_eq!(a.pkid, 1);
            assert_eq!(a.reasons.len(), 1);
            assert_eq!(a.reasons[0] as u8, qos as u8);
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

fn publish(topic: &str, payload: &'static str, qos: QoS, pkid: u16) -> Packet {
    Packet::Publish(Publish {
        qos,
        topic: topic.into(),
        pkid,
        payload: Bytes::from_static(payload.as_bytes()),
        ..Default::default()
    })
}

fn resp(pkid: u16) -> PubResponse {
    PubResponse {
        pkid,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    }
}

/// Expects a PUBLISH with this topic, payload and QoS, DUP clear; returns it.
async fn expect_publish(
    c: &mut RawConnection,
    proto: Protocol,
    topic: &str,
    payload: &str,
    qos: QoS,
) -> Publish {
    match next(c, proto).await {
        Packet::Publish(p) => {
            assert_eq!(p.topic, topic);
            assert_eq!(&p.payload[..], payload.as_bytes());
            assert_eq!(p.qos, qos);
            assert!(!p.dup, "first delivery must not have DUP set");
            if qos == QoS::AtMostOnce {
                assert_eq!(p.pkid, 0);
            } else {
                assert_ne!(p.pkid, 0);
            }
            p
        }
        other => panic!("expected PUBLISH {payload}, got {other:?}"),
    }
}

#[tokio::test]
async fn qos0_both_directions_has_no_acknowledgement() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let mut sub = raw(&b, proto, &format!("q0-sub-{proto:?}")).await;
        let mut publ = raw(&b, proto, &format!("q0-pub-{proto:?}")).await;
        raw_subscribe(&mut sub, proto, "q0/#", QoS::ExactlyOnce).await;
        publ.send(&publish("q0/a", "zero", QoS::AtMostOnce, 0), proto)
            .await
            .unwrap();
        expect_publish(&mut sub, proto, "q0/a", "zero", QoS::AtMostOnce).await;
        // Neither side is sent any acknowledgement.
        assert_quiet(&mut publ, proto).await;
        assert_quiet(&mut sub, proto).await;
    }
}

#[tokio::test]
async fn qos1_client_to_broker_gets_puback_with_same_packet_id() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let mut sub = raw(&b, proto, &format!("q1in-sub-{proto:?}")).await;
        let mut publ = raw(&b, proto, &format!("q1in-pub-{proto:?}")).await;
        raw_subscribe(&mut sub, proto, "q1in/#", QoS::AtLeastOnce).await;
        publ.send(&publish("q1in/a", "one", QoS::AtLeastOnce, 4242), proto)
            .await
            .unwrap();
        match next(&mut publ, proto).await {
            Packet::PubAck(a) => {
                assert_eq!(a.pkid, 4242);
                assert_eq!(a.reason, ReasonCode::Success);
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
        let p = expect_publish(&mut sub, proto, "q1in/a", "one", QoS::AtLeastOnce).await;
        sub.send(&Packet::PubAck(resp(p.pkid)), proto)
            .await
            .unwrap();
        assert_quiet(&mut publ, proto).await;
    }
}

/// [MQTT-4.3.2]: the broker keeps a QoS 1 message in flight until PUBACK; with a window of one the
/// next message waits for it.
#[tokio::test]
async fn qos1_broker_to_client_waits_for_puback_before_next_message() {
    let b = TestBroker::start_with(|s| s.max_inflight = 1).await;
    for proto in PROTOCOLS {
        let mut sub = raw(&b, proto, &format!("q1out-sub-{proto:?}")).await;
        raw_subscribe(&mut sub, proto, "q1out/#", QoS::AtLeastOnce).await;
        let publ = Client::connect(b.opts(&format!("q1out-pub-{proto:?}")))
            .await
            .unwrap()
            .0;
        for m in ["m1", "m2"] {
            assert_eq!(
                publ.publish("q1out/x", m, QoS::AtLeastOnce, false)
                    .await
                    .unwrap(),
                ReasonCode::Success
            );
        }
        let p1 = expect_publish(&mut sub, proto, "q1out/x", "m1", QoS::AtLeastOnce).await;
        assert_quiet(&mut sub, proto).await;
        sub.send(&Packet::PubAck(resp(p1.pkid)), proto)
            .await
            .unwrap();
        let p2 = expect_publish(&mut sub, proto, "q1out/x", "m2", QoS::AtLeastOnce).await;
        sub.send(&Packet::PubAck(resp(p2.pkid)), proto)
            .await
            .unwrap();
        assert_quiet(&mut sub, proto).await;
    }
}

/// [MQTT-4.3.3]: PUBLISH → PUBREC, PUBREL → PUBCOMP, same packet id throughout; the message is
/// routed once, on PUBLISH.
#[tokio::test]
async fn qos2_client_to_broker_pubrec_pubrel_pubcomp() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let mut sub = raw(&b, proto, &format!("q2in-sub-{proto:?}")).await;
        let mut publ = raw(&b, proto, &format!("q2in-pub-{proto:?}")).await;
        raw_subscribe(&mut sub, proto, "q2in/#", QoS::ExactlyOnce).await;
        publ.send(&publish("q2in/a", "two", QoS::ExactlyOnce, 77), proto)
            .await
            .unwrap();
        match next(&mut publ, proto).await {
            Packet::PubRec(a) => {
                assert_eq!(a.pkid, 77);
                assert_eq!(a.reason, ReasonCode::Success);
            }
            other => panic!("expected PUBREC, got {other:?}"),
        }
        let p = expect_publish(&mut sub, proto, "q2in/a", "two", QoS::ExactlyOnce).await;
        // Nothing more until the publisher releases.
        assert_quiet(&mut publ, proto).await;
        publ.send(&Packet::PubRel(resp(77)), proto).await.unwrap();
        match next(&mut publ, proto).await {
            Packet::PubComp(a) => {
                assert_eq!(a.pkid, 77);
                assert_eq!(a.reason, ReasonCode::Success);
            }
            other => panic!("expected PUBCOMP, got {other:?}"),
        }
        // Complete the outbound side too.
        sub.send(&Packet::PubRec(resp(p.pkid)), proto)
            .await
            .unwrap();
        assert!(matches!(next(&mut sub, proto).await, Packet::PubRel(r) if r.pkid == p.pkid));
        sub.send(&Packet::PubComp(resp(p.pkid)), proto)
            .await
            .unwrap();
        assert_quiet(&mut sub, proto).await;
    }
}

/// Broker → client QoS 2: the broker waits for PUBREC, answers it with PUBREL, and frees the window
/// slot only on PUBCOMP.
#[tokio::test]
async fn qos2_broker_to_client_pubrec_gets_pubrel_and_pubcomp_completes() {
    let b = TestBroker::start_with(|s| s.max_inflight = 1).await;
    for proto in PROTOCOLS {
        let mut sub = raw(&b, proto, &format!("q2out-sub-{proto:?}")).await;
        raw_subscribe(&mut sub, proto, "q2out/#", QoS::ExactlyOnce).await;
        let publ = Client::connect(b.opts(&format!("q2out-pub-{proto:?}")))
            .await
            .unwrap()
            .0;
        for m in ["m1", "m2"] {
            assert_eq!(
                publ.publish("q2out/x", m, QoS::ExactlyOnce, false)
                    .await
                    .unwrap(),
                ReasonCode::Success
            );
        }
        let p1 = expect_publish(&mut sub, proto, "q2out/x", "m1", QoS::ExactlyOnce).await;
        // Waiting for PUBREC: nothing else comes.
        assert_quiet(&mut sub, proto).await;
        sub.send(&Packet::PubRec(resp(p1.pkid)), proto)
            .await
            .unwrap();
        match next(&mut sub, proto).await {
            Packet::PubRel(r) => {
                assert_eq!(r.pkid, p1.pkid);
                assert_eq!(r.reason, ReasonCode::Success);
            }
            other => panic!("expected PUBREL, got {other:?}"),
        }
        // Still in flight until PUBCOMP.
        assert_quiet(&mut sub, proto).await;
        sub.send(&Packet::PubComp(resp(p1.pkid)), proto)
            .await
            .unwrap();
        let p2 = expect_publish(&mut sub, proto, "q2out/x", "m2", QoS::ExactlyOnce).await;
        sub.send(&Packet::PubRec(resp(p2.pkid)), proto)
            .await
            .unwrap();
        assert!(matches!(next(&mut sub, proto).await, Packet::PubRel(r) if r.pkid == p2.pkid));
        sub.send(&Packet::PubComp(resp(p2.pkid)), proto)
            .await
            .unwrap();
        assert_quiet(&mut sub, proto).await;
    }
}

/// The same flows through the client with `auto_ack` off: nothing more is delivered until the
/// application acknowledges.
#[tokio::test]
async fn manual_ack_client_holds_the_window_until_acknowledged() {
    let b = TestBroker::start_with(|s| s.max_inflight = 1).await;
    for proto in PROTOCOLS {
        let (sub, _) = Client::connect(
            b.opts(&format!("man-sub-{proto:?}"))
                .protocol(proto)
                .auto_ack(false),
        )
        .await
        .unwrap();
        sub.subscribe("man/#", QoS::ExactlyOnce).await.unwrap();
        let publ = b.client(&format!("man-pub-{proto:?}")).await;
        publ.publish("man/1", "a", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        publ.publish("man/2", "b", QoS::ExactlyOnce, false)
            .await
            .unwrap();
        publ.publish("man/1", "c", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let p = match sub.recv_timeout(WAIT).await {
                Some(Event::Publish(p)) => p,
                other => panic!("expected a publish, got {other:?}"),
            };
            assert!(
                sub.recv_timeout(QUIET).await.is_none(),
                "nothing may arrive before the ack of {p:?}"
            );
            got.push((String::from_utf8(p.payload.to_vec()).unwrap(), p.qos));
            sub.ack(&p).await.unwrap();
        }
        assert_eq!(
            got,
            vec![
                ("a".into(), QoS::AtLeastOnce),
                ("b".into(), QoS::ExactlyOnce),
                ("c".into(), QoS::AtLeastOnce)
            ]
        );
        assert!(sub.recv_timeout(QUIET).await.is_none());
        sub.disconnect().await.unwrap();
    }
}

/// [MQTT-4.3.3-10]: a QoS 2 PUBLISH re-sent (DUP=1) with a packet id not yet released is
/// acknowledged again but not delivered again. After PUBREL the id starts a new message.
#[tokio::test]
async fn mqtt_4_3_3_10_qos2_resent_with_dup_is_not_delivered_twice() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let mut sub = raw(&b, proto, &format!("dup-sub-{proto:?}")).await;
        let mut publ = raw(&b, proto, &format!("dup-pub-{proto:?}")).await;
        raw_subscribe(&mut sub, proto, "dup/#", QoS::AtMostOnce).await;
        publ.send(&publish("dup/a", "once", QoS::ExactlyOnce, 5), proto)
            .await
            .unwrap();
        assert!(matches!(next(&mut publ, proto).await, Packet::PubRec(r) if r.pkid == 5));
        let mut again = publish("dup/a", "once", QoS::ExactlyOnce, 5);
        if let Packet::Publish(p) = &mut again {
            p.dup = true;
        }
        publ.send(&again, proto).await.unwrap();
        match next(&mut publ, proto).await {
            Packet::PubRec(r) => {
                assert_eq!(r.pkid, 5);
                assert_eq!(r.reason, ReasonCode::Success);
            }
            other => panic!("expected a second PUBREC, got {other:?}"),
        }
        expect_publish(&mut sub, proto, "dup/a", "once", QoS::AtMostOnce).await;
        assert_quiet(&mut sub, proto).await;

        publ.send(&Packet::PubRel(resp(5)), proto).await.unwrap();
        assert!(
            matches!(next(&mut publ, proto).await, Packet::PubComp(r) if r.pkid == 5 && r.reason == ReasonCode::Success)
        );
        // Released: packet id 5 is a new message now.
        publ.send(&publish("dup/a", "new", QoS::ExactlyOnce, 5), proto)
            .await
            .unwrap();
        assert!(matches!(next(&mut publ, proto).await, Packet::PubRec(r) if r.pkid == 5));
        expect_publish(&mut sub, proto, "dup/a", "new", QoS::AtMostOnce).await;
    }
}

/// A PUBREL for a packet id the broker does not know is answered with PUBCOMP 0x92 (Packet
/// Identifier Not Found) in v5; v3.1.1 has no reason code, the PUBCOMP still comes.
#[tokio::test]
async fn pubrel_for_unknown_packet_id_gets_pubcomp_0x92() {
    let b = TestBroker::start().await;
    for (proto, expected) in [
        (Protocol::V5, ReasonCode::PacketIdentifierNotFound),
        (Protocol::V311, ReasonCode::Success),
    ] {
        let mut c = raw(&b, proto, &format!("rel-{proto:?}")).await;
        c.send(&Packet::PubRel(resp(999)), proto).await.unwrap();
        match next(&mut c, proto).await {
            Packet::PubComp(a) => {
                assert_eq!(a.pkid, 999);
                assert_eq!(a.reason, expected);
            }
            other => panic!("expected PUBCOMP, got {other:?}"),
        }
        // The connection stays usable.
        c.send(&Packet::PingReq, proto).await.unwrap();
        assert_eq!(next(&mut c, proto).await, Packet::PingResp);
    }
}

/// A PUBREC for a packet id the broker never sent is answered with PUBREL 0x92 in v5.
#[tokio::test]
async fn pubrec_for_unknown_packet_id_gets_pubrel_0x92_in_v5() {
    let b = TestBroker::start().await;
    let proto = Protocol::V5;
    let mut c = raw(&b, proto, "rec-unknown").await;
    c.send(&Packet::PubRec(resp(31)), proto).await.unwrap();
    match next(&mut c, proto).await {
        Packet::PubRel(a) => {
            assert_eq!(a.pkid, 31);
            assert_eq!(a.reason, ReasonCode::PacketIdentifierNotFound);
        }
        other => panic!("expected PUBREL, got {other:?}"),
    }
}

/// Delivery QoS is the minimum of the message QoS and the subscription QoS.
#[tokio::test]
async fn delivery_qos_is_min_of_publish_and_subscription_qos() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let publ = b.client(&format!("min-pub-{proto:?}")).await;
        for (sub_qos, pub_qos, want) in [
            (QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce),
            (QoS::AtMostOnce, QoS::ExactlyOnce, QoS::AtMostOnce),
            (QoS::ExactlyOnce, QoS::AtLeastOnce, QoS::AtLeastOnce),
            (QoS::ExactlyOnce, QoS::AtMostOnce, QoS::AtMostOnce),
        ] {
            let id = format!("min-sub-{proto:?}-{}{}", sub_qos as u8, pub_qos as u8);
            let mut sub = raw(&b, proto, &id).await;
            let topic = format!("min/{id}");
            raw_subscribe(&mut sub, proto, &topic, sub_qos).await;
            publ.publish(&topic, "m", pub_qos, false).await.unwrap();
            let p = expect_publish(&mut sub, proto, &topic, "m", want).await;
            match want {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => sub
                    .send(&Packet::PubAck(resp(p.pkid)), proto)
                    .await
                    .unwrap(),
                QoS::ExactlyOnce => unreachable!(),
            }
            assert_quiet(&mut sub, proto).await;
        }
    }
}

/// `retry_interval`: an unacknowledged QoS 1 message is re-sent with DUP=1 and the same packet id
/// while the client stays connected; a QoS 2 message whose PUBREC came gets its PUBREL re-sent.
#[tokio::test]
async fn retry_interval_resends_unacked_messages_with_dup() {
    let b = TestBroker::start_with(|s| s.retry_interval = Duration::from_secs(1)).await;
    tokio::join!(retry_flow(&b, Protocol::V5), retry_flow(&b, Protocol::V311));
}

async fn retry_flow(b: &TestBroker, proto: Protocol) {
    let mut sub = raw(b, proto, &format!("retry-sub-{proto:?}")).await;
    raw_subscribe(
        &mut sub,
        proto,
        &format!("retry/{proto:?}/#"),
        QoS::ExactlyOnce,
    )
    .await;
    let publ = b.client(&format!("retry-pub-{proto:?}")).await;
    publ.publish(&format!("retry/{proto:?}/1"), "q1", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let first = expect_publish(
        &mut sub,
        proto,
        &format!("retry/{proto:?}/1"),
        "q1",
        QoS::AtLeastOnce,
    )
    .await;
    match next(&mut sub, proto).await {
        Packet::Publish(p) => {
            assert!(p.dup, "a re-send must have DUP set [MQTT-3.3.1-1]");
            assert_eq!(p.pkid, first.pkid);
            assert_eq!(p.qos, QoS::AtLeastOnce);
            assert_eq!(&p.payload[..], b"q1");
        }
        other => panic!("expected the re-sent PUBLISH, got {other:?}"),
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "re-sent after {waited:?}"
    );
    sub.send(&Packet::PubAck(resp(first.pkid)), proto)
        .await
        .unwrap();

    publ.publish(&format!("retry/{proto:?}/2"), "q2", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    let p = expect_publish(
        &mut sub,
        proto,
        &format!("retry/{proto:?}/2"),
        "q2",
        QoS::ExactlyOnce,
    )
    .await;
    sub.send(&Packet::PubRec(resp(p.pkid)), proto)
        .await
        .unwrap();
    assert!(matches!(next(&mut sub, proto).await, Packet::PubRel(r) if r.pkid == p.pkid));
    // No PUBCOMP: the PUBREL comes again (PUBREL has no DUP flag).
    match next(&mut sub, proto).await {
        Packet::PubRel(r) => assert_eq!(r.pkid, p.pkid),
        other => panic!("expected the re-sent PUBREL, got {other:?}"),
    }
    sub.send(&Packet::PubComp(resp(p.pkid)), proto)
        .await
        .unwrap();
    // Acknowledged: no more re-sends.
    match sub.recv(proto, Duration::from_millis(1200)).await {
        Err(linkmq_client::ClientError::Timeout) => {}
        other => panic!("expected no more re-sends, got {other:?}"),
    }
}

/// A QoS 1 PUBLISH handed to an idle local subscriber is written to that subscriber before the
/// publisher's PUBACK: once the publisher has its PUBACK, the subscriber's socket already holds the
/// message (loopback TCP queues data at the receiver within the sending call). Acknowledging first
/// woke the publisher, which, on a machine shared with the broker, ran before the delivery was
/// written (`linkmq_core::ack_hold`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_puback_leaves_after_the_delivery_to_an_idle_local_subscriber() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let mut sub = raw(&b, proto, "order-sub").await;
        raw_subscribe(&mut sub, proto, "order/t", QoS::AtLeastOnce).await;
        let mut publisher = raw(&b, proto, "order-pub").await;
        // A second descriptor of the subscriber's socket, to look at what the kernel holds for it
        // without waiting for tokio to hear of it.
        let fd = std::os::fd::AsFd::as_fd(sub.stream_mut())
            .try_clone_to_owned()
            .unwrap();
        let peek = std::net::TcpStream::from(fd);
        for pkid in 1..=200u16 {
            publisher
                .send(&publish("order/t", "m", QoS::AtLeastOnce, pkid), proto)
                .await
                .unwrap();
            match next(&mut publisher, proto).await {
                Packet::PubAck(a) => assert_eq!(a.pkid, pkid),
                other => panic!("expected PUBACK {pkid}, got {other:?}"),
            }
            let held = peek.peek(&mut [0u8; 1]);
            assert!(
                held.as_ref().is_ok_and(|n| *n > 0),
                "{proto:?}: the PUBACK of message {pkid} came before its delivery ({held:?})"
            );
            let p = expect_publish(&mut sub, proto, "order/t", "m", QoS::AtLeastOnce).await;
            sub.send(&Packet::PubAck(resp(p.pkid)), proto)
                .await
                .unwrap();
        }
    }
}
