//! Sessions: Clean Start / Session Expiry Interval (v5) and Clean Session (v3.1.1), messages queued
//! while offline, re-sending unacknowledged messages with DUP on resume, and assigned client
//! identifiers. Client-id takeover is in `session_takeover.rs`.

mod session_support;

use std::time::Duration;

use linkmq_client::Client;
use linkmq_codec::{
    Disconnect, Packet, Properties, Protocol, Publish, QoS, ReasonCode, SubOptions, Subscribe,
    SubscribeFilter,
};
use linkmq_tests::{TestBroker, WAIT, expect_publish, expect_quiet};
use session_support::*;
use tokio::time::Instant;

/// [MQTT-4.4.0-1]: on a resumed session the broker re-sends every unacknowledged PUBLISH with DUP=1
/// and its original packet id, and the PUBREL of a QoS 2 message whose PUBREC it had.
#[tokio::test]
async fn mqtt_4_4_0_1_unacked_messages_are_resent_with_dup_on_resume() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let id = format!("resend-{proto:?}");
        let (mut c, ack) = raw_connect(&persistent(&b, proto, &id, true, 30)).await;
        assert!(!ack.session_present);
        c.send(
            &Packet::Subscribe(Subscribe {
                pkid: 1,
                filters: vec![SubscribeFilter {
                    filter: "resend/#".into(),
                    options: SubOptions {
                        qos: QoS::ExactlyOnce,
                        ..Default::default()
                    },
                }],
                properties: Properties::default(),
            }),
            proto,
        )
        .await
        .unwrap();
        assert!(matches!(next(&mut c, proto).await, Packet::SubAck(_)));

        let publ = b.client(&format!("resend-pub-{proto:?}")).await;
        for (m, q) in [
            ("a", QoS::AtLeastOnce),
            ("b", QoS::ExactlyOnce),
            ("c", QoS::ExactlyOnce),
        ] {
            publ.publish("resend/t", m, q, false).await.unwrap();
        }
        let mut first = Vec::new();
        for want in ["a", "b", "c"] {
            match next(&mut c, proto).await {
                Packet::Publish(p) => {
                    assert_eq!(payload(&p), want);
                    assert!(!p.dup);
                    first.push(p);
                }
                other => panic!("expected PUBLISH {want}, got {other:?}"),
            }
        }
        // Receive "c" (PUBREC → PUBREL) but complete nothing.
        let c_id = first[2].pkid;
        c.send(&Packet::PubRec(resp(c_id)), proto).await.unwrap();
        assert!(matches!(next(&mut c, proto).await, Packet::PubRel(r) if r.pkid == c_id));
        drop(c);

        let (mut c, ack) = raw_connect(&persistent(&b, proto, &id, false, 30)).await;
        assert_eq!(ack.reason, ReasonCode::Success);
        assert!(ack.session_present, "[MQTT-3.2.2-2] session present");
        for old in &first[..2] {
            match next(&mut c, proto).await {
                Packet::Publish(p) => {
                    assert!(p.dup, "re-sent PUBLISH has DUP=1 [MQTT-3.3.1-1]");
                    assert_eq!(p.pkid, old.pkid, "same packet id");
                    assert_eq!(p.qos, old.qos);
                    assert_eq!(p.topic, old.topic);
                    assert_eq!(p.payload, old.payload);
                }
                other => panic!("expected re-sent PUBLISH {old:?}, got {other:?}"),
            }
        }
        match next(&mut c, proto).await {
            Packet::PubRel(r) => assert_eq!(r.pkid, c_id),
            other => panic!("expected the re-sent PUBREL, got {other:?}"),
        }
        raw_assert_quiet(&mut c, proto).await;
        // Completing them ends the re-sends.
        c.send(&Packet::PubAck(resp(first[0].pkid)), proto)
            .await
            .unwrap();
        c.send(&Packet::PubRec(resp(first[1].pkid)), proto)
            .await
            .unwrap();
        assert!(matches!(next(&mut c, proto).await, Packet::PubRel(r) if r.pkid == first[1].pkid));
        c.send(&Packet::PubComp(resp(first[1].pkid)), proto)
            .await
            .unwrap();
        c.send(&Packet::PubComp(resp(c_id)), proto).await.unwrap();
        raw_assert_quiet(&mut c, proto).await;
        drop(c);
        let (mut c, ack) = raw_connect(&persistent(&b, proto, &id, false, 30)).await;
        assert!(ack.session_present);
        raw_assert_quiet(&mut c, proto).await;
    }
}

/// A session with expiry keeps its subscriptions and queues QoS 0/1/2 messages published while it
/// is offline; they are delivered in order on resume with Session Present 1.
#[tokio::test]
async fn offline_messages_are_queued_and_delivered_on_resume() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let id = format!("offline-{proto:?}");
        let (c, ack) = Client::connect(persistent(&b, proto, &id, true, 30))
            .await
            .unwrap();
        assert!(!ack.session_present);
        c.subscribe("offline/#", QoS::ExactlyOnce).await.unwrap();
        c.disconnect().await.unwrap();

        let publ = b.client(&format!("offline-pub-{proto:?}")).await;
        for (i, q) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let rc = publ
                .publish(&format!("offline/{i}"), format!("m{i}"), q, false)
                .await
                .unwrap();
            assert_eq!(rc, ReasonCode::Success, "the offline session still matches");
        }

        let (c, ack) = Client::connect(persistent(&b, proto, &id, false, 30))
            .await
            .unwrap();
        assert!(ack.session_present);
        for (i, q) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let p = expect_publish(&c).await;
            assert_eq!(
                (p.topic.as_str(), payload(&p), p.qos, p.dup),
                (
                    format!("offline/{i}").as_str(),
                    format!("m{i}").as_str(),
                    q,
                    false
                )
            );
        }
        expect_quiet(&c).await;
        // The subscription is live again.
        publ.publish("offline/live", "now", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(payload(&expect_publish(&c).await), "now");
        c.disconnect().await.unwrap();
    }
}

/// [MQTT-3.1.2-23]: the session ends when the Session Expiry Interval has passed after the
/// connection closed: afterwards Session Present is 0, nothing was queued, the subscription is gone.
/// v3.1.1 Clean Session 0 sessions use the broker's `session_expiry_interval`.
#[tokio::test]
async fn mqtt_3_1_2_23_session_expires_after_the_interval() {
    let b = TestBroker::start_with(|s| s.session_expiry_interval = Duration::from_secs(1)).await;
    for proto in PROTOCOLS {
        let id = format!("expire-{proto:?}");
        let (c, _) = Client::connect(persistent(&b, proto, &id, true, 1))
            .await
            .unwrap();
        c.subscribe("expire/#", QoS::AtLeastOnce).await.unwrap();
        c.disconnect().await.unwrap();
        let closed = Instant::now();
        let publ = b.client(&format!("expire-pub-{proto:?}")).await;
        assert_eq!(
            publ.publish("expire/a", "queued", QoS::AtLeastOnce, false)
                .await
                .unwrap(),
            ReasonCode::Success
        );
        wait_session_gone(&b, &id, Duration::from_secs(3)).await;
        let gone = closed.elapsed();
        assert!(gone >= Duration::from_millis(900), "expired after {gone:?}");
        assert_eq!(
            publ.publish("expire/a", "late", QoS::AtLeastOnce, false)
                .await
                .unwrap(),
            ReasonCode::NoMatchingSubscribers,
            "routes are removed with the session"
        );
        let (c, ack) = Client::connect(persistent(&b, proto, &id, false, 1))
            .await
            .unwrap();
        assert!(!ack.session_present);
        expect_quiet(&c).await;
        c.disconnect().await.unwrap();
    }
}

/// A session without expiry (v5 interval 0 / absent) ends with the connection.
#[tokio::test]
async fn v5_session_expiry_zero_ends_with_the_connection() {
    let b = TestBroker::start().await;
    let (c, _) = Client::connect(b.opts("zero-exp").clean_start(false))
        .await
        .unwrap();
    c.subscribe("zero/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect().await.unwrap();
    wait_session_gone(&b, "zero-exp", WAIT).await;
    let (_c, ack) = Client::connect(b.opts("zero-exp").clean_start(false))
        .await
        .unwrap();
    assert!(!ack.session_present);
}

/// [MQTT-3.1.2-4]: Clean Start 1 (v5) / Clean Session 1 (3.1.1) discards the existing session:
/// Session Present 0 [MQTT-3.2.2-1], no queued messages, no subscriptions.
#[tokio::test]
async fn mqtt_3_1_2_4_clean_start_discards_the_session() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let id = format!("discard-{proto:?}");
        let (c, _) = Client::connect(persistent(&b, proto, &id, true, 30))
            .await
            .unwrap();
        c.subscribe("discard/#", QoS::AtLeastOnce).await.unwrap();
        c.disconnect().await.unwrap();
        let publ = b.client(&format!("discard-pub-{proto:?}")).await;
        publ.publish("discard/a", "queued", QoS::AtLeastOnce, false)
            .await
            .unwrap();

        let (c, ack) = Client::connect(b.opts(&id).protocol(proto).clean_start(true))
            .await
            .unwrap();
        assert!(!ack.session_present);
        expect_quiet(&c).await;
        assert_eq!(
            publ.publish("discard/a", "x", QoS::AtLeastOnce, false)
                .await
                .unwrap(),
            ReasonCode::NoMatchingSubscribers
        );
        c.disconnect().await.unwrap();
    }
}

/// v3.1.1 [MQTT-3.2.2-2], [MQTT-3.2.2-3]: Clean Session 0 resumes the stored session with Session
/// Present 1; the first connect (no session) has Session Present 0; Clean Session 1 always 0.
#[tokio::test]
async fn mqtt_3_2_2_2_v311_clean_session_0_persists_and_session_present_is_right() {
    let b = TestBroker::start().await;
    let opts = b.opts("v3-persist").protocol(Protocol::V311);
    let (c, ack) = Client::connect(opts.clone().clean_start(false))
        .await
        .unwrap();
    assert!(!ack.session_present, "no session yet");
    c.subscribe("v3p/#", QoS::AtLeastOnce).await.unwrap();
    c.abort();
    let (c, ack) = Client::connect(opts.clone().clean_start(false))
        .await
        .unwrap();
    assert!(ack.session_present);
    // The subscription survived.
    b.client("v3p-pub")
        .await
        .publish("v3p/x", "hi", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload(&expect_publish(&c).await), "hi");
    c.disconnect().await.unwrap();
    let (c, ack) = Client::connect(opts.clone().clean_start(true))
        .await
        .unwrap();
    assert!(!ack.session_present, "[MQTT-3.2.2-1]");
    c.disconnect().await.unwrap();
    // Clean Session 1 sessions end with the connection.
    let (_c, ack) = Client::connect(opts.clean_start(false)).await.unwrap();
    assert!(!ack.session_present);
}

/// DISCONNECT may change the Session Expiry Interval: to 0 ends the session at once; to a longer
/// value keeps it past the one given in CONNECT.
#[tokio::test]
async fn disconnect_session_expiry_interval_overrides_connect() {
    let b = TestBroker::start().await;
    let with_expiry = |e: u32| {
        Properties::from(linkmq_codec::PropertyValues {
            session_expiry_interval: Some(e),
            ..Default::default()
        })
    };
    // 30 s on CONNECT, 0 on DISCONNECT: gone now.
    let (c, _) = Client::connect(b.opts("dx-zero").session_expiry(30))
        .await
        .unwrap();
    c.disconnect_with(ReasonCode::Success, with_expiry(0))
        .await
        .unwrap();
    wait_session_gone(&b, "dx-zero", WAIT).await;
    let (_c, ack) = Client::connect(b.opts("dx-zero").clean_start(false).session_expiry(30))
        .await
        .unwrap();
    assert!(!ack.session_present);

    // 1 s on CONNECT, 30 s on DISCONNECT: still there after 1.5 s.
    let (c, _) = Client::connect(b.opts("dx-long").session_expiry(1))
        .await
        .unwrap();
    c.subscribe("dx/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect_with(ReasonCode::Success, with_expiry(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(b.node.broker.registry.get("dx-long").is_some());
    let (_c, ack) = Client::connect(b.opts("dx-long").clean_start(false).session_expiry(30))
        .await
        .unwrap();
    assert!(ack.session_present);
}

/// [MQTT-3.14.2-2]: Session Expiry Interval 0 on CONNECT and non-zero on DISCONNECT is a protocol
/// error: the broker answers DISCONNECT 0x82 and the session does not outlive the connection.
#[tokio::test]
async fn mqtt_3_14_2_2_nonzero_expiry_on_disconnect_after_zero_is_protocol_error() {
    let b = TestBroker::start().await;
    let (mut c, _) = raw_connect(&b.opts("dx-err").clean_start(false)).await;
    c.send(
        &Packet::Disconnect(Disconnect {
            reason: ReasonCode::Success,
            properties: Properties::from(linkmq_codec::PropertyValues {
                session_expiry_interval: Some(60),
                ..Default::default()
            }),
        }),
        Protocol::V5,
    )
    .await
    .unwrap();
    match next(&mut c, Protocol::V5).await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::ProtocolError),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
    assert_eq!(c.recv(Protocol::V5, WAIT).await.unwrap(), None);
    wait_session_gone(&b, "dx-err", WAIT).await;
}

/// [MQTT-3.1.3-7] (v5 §3.2.2.3.7): an empty client id gets an Assigned Client Identifier in CONNACK,
/// unique per connection, usable to resume the session.
#[tokio::test]
async fn v5_empty_client_id_gets_an_assigned_identifier() {
    let b = TestBroker::start().await;
    let (c, ack) = Client::connect(b.opts("").session_expiry(30))
        .await
        .unwrap();
    let assigned = ack
        .properties
        .assigned_client_identifier
        .clone()
        .expect("CONNACK carries Assigned Client Identifier");
    assert!(!assigned.is_empty());
    assert!(b.node.broker.registry.get(&assigned).is_some());
    let (other, ack2) = Client::connect(b.opts("")).await.unwrap();
    assert_ne!(
        ack2.properties.assigned_client_identifier.as_deref(),
        Some(assigned.as_str()),
        "unique per connection"
    );
    other.disconnect().await.unwrap();

    c.subscribe("assigned/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect().await.unwrap();
    let (c, ack) = Client::connect(b.opts(&assigned).clean_start(false).session_expiry(30))
        .await
        .unwrap();
    assert!(ack.session_present, "the assigned id names the session");
    assert_eq!(ack.properties.assigned_client_identifier, None);
    b.client("assigned-pub")
        .await
        .publish("assigned/x", "yes", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload(&expect_publish(&c).await), "yes");
}

/// v3.1.1 [MQTT-3.1.3-6], [MQTT-3.1.3-8]: an empty client id is accepted with Clean Session 1 and
/// refused with return code 2 (Identifier rejected) with Clean Session 0, then the socket closes.
#[tokio::test]
async fn mqtt_3_1_3_8_v311_empty_client_id_needs_clean_session() {
    let b = TestBroker::start().await;
    let opts = b.opts("").protocol(Protocol::V311);
    let (c, ack) = Client::connect(opts.clone().clean_start(true))
        .await
        .unwrap();
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(!ack.session_present);
    c.subscribe("anon/#", QoS::AtLeastOnce).await.unwrap();
    c.publish("anon/x", "me", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload(&expect_publish(&c).await), "me");

    let (mut raw, ack) = raw_connect(&opts.clean_start(false)).await;
    assert_eq!(ack.reason, ReasonCode::ClientIdentifierNotValid);
    assert_eq!(ack.reason.to_v3_connack(), 2);
    assert!(!ack.session_present);
    assert_eq!(raw.recv(Protocol::V311, WAIT).await.unwrap(), None);
}

/// [MQTT-4.3.3-10] across a resume: the inbound QoS 2 state is part of the session, so a PUBLISH
/// re-sent with DUP after reconnecting is not routed again, and its PUBREL completes normally.
#[tokio::test]
async fn inbound_qos2_state_survives_resume_and_suppresses_the_duplicate() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let sub = b.client(&format!("in2-sub-{proto:?}")).await;
        let topic = format!("in2/{proto:?}");
        sub.subscribe(&topic, QoS::AtMostOnce).await.unwrap();
        let id = format!("in2-pub-{proto:?}");
        let msg = |dup: bool| {
            Packet::Publish(Publish {
                dup,
                qos: QoS::ExactlyOnce,
                topic: topic.clone(),
                pkid: 9,
                payload: "x".into(),
                ..Default::default()
            })
        };
        let (mut c, _) = raw_connect(&persistent(&b, proto, &id, true, 30)).await;
        c.send(&msg(false), proto).await.unwrap();
        assert!(matches!(next(&mut c, proto).await, Packet::PubRec(r) if r.pkid == 9));
        assert_eq!(payload(&expect_publish(&sub).await), "x");
        drop(c);

        let (mut c, ack) = raw_connect(&persistent(&b, proto, &id, false, 30)).await;
        assert!(ack.session_present);
        c.send(&msg(true), proto).await.unwrap();
        match next(&mut c, proto).await {
            Packet::PubRec(r) => assert_eq!((r.pkid, r.reason), (9, ReasonCode::Success)),
            other => panic!("expected PUBREC, got {other:?}"),
        }
        c.send(&Packet::PubRel(resp(9)), proto).await.unwrap();
        match next(&mut c, proto).await {
            Packet::PubComp(r) => assert_eq!((r.pkid, r.reason), (9, ReasonCode::Success)),
            other => panic!("expected PUBCOMP, got {other:?}"),
        }
        expect_quiet(&sub).await;
    }
}

/// [MQTT-3.3.2-5]: a message queued for an offline session is dropped once its Message Expiry
/// Interval has passed; one still alive is sent with the remaining interval [MQTT-3.3.2-6].
#[tokio::test]
async fn mqtt_3_3_2_5_queued_messages_expire_while_offline() {
    let b = TestBroker::start().await;
    let (c, _) = Client::connect(b.opts("mexp").session_expiry(30))
        .await
        .unwrap();
    c.subscribe("mexp/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect().await.unwrap();
    let publ = b.client("mexp-pub").await;
    for (t, e) in [("mexp/short", 1), ("mexp/long", 30)] {
        publ.publish_with(Publish {
            qos: QoS::AtLeastOnce,
            topic: t.into(),
            payload: t.into(),
            properties: Properties::from(linkmq_codec::PropertyValues {
                message_expiry_interval: Some(e),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (c, ack) = Client::connect(b.opts("mexp").clean_start(false).session_expiry(30))
        .await
        .unwrap();
    assert!(ack.session_present);
    let p = expect_publish(&c).await;
    assert_eq!(p.topic, "mexp/long");
    let left = p.properties.message_expiry_interval.unwrap();
    assert!((28..=29).contains(&left), "remaining expiry {left}");
    expect_quiet(&c).await;
}

/// A session kept after its connection is not a connection: the socket is closed (a WebSocket
/// client waits for that TCP close to finish its closing handshake) and the listener's
/// `max_connections` slot is free for another client while the session waits to be resumed.
#[tokio::test]
async fn a_kept_session_holds_no_socket_and_no_connection_slot() {
    let b = TestBroker::start_full(|_| {}, 1).await;
    for proto in PROTOCOLS {
        let id = format!("slot-{proto:?}");
        let (c, _) = Client::connect(persistent(&b, proto, &id, true, 60))
            .await
            .unwrap();
        c.subscribe("slot/#", QoS::AtLeastOnce).await.unwrap();
        c.disconnect().await.unwrap();
        let until = Instant::now() + WAIT;
        while b.node.broker.connection_count() != 0 {
            assert!(
                Instant::now() < until,
                "the kept session still counts as a connection"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (other, _) = Client::connect(b.opts(&format!("other-{proto:?}")))
            .await
            .expect("the only connection slot is free again");
        assert_eq!(
            other
                .publish("slot/a", "queued", QoS::AtLeastOnce, false)
                .await
                .unwrap(),
            ReasonCode::Success,
            "the kept session still has its subscription"
        );
        other.disconnect().await.unwrap();
        // Wait for `other`'s slot, then resume the session and get what was queued.
        let until = Instant::now() + WAIT;
        let (c, ack) = loop {
            match Client::connect(persistent(&b, proto, &id, false, 0)).await {
                Ok(r) => break r,
                Err(e) => assert!(Instant::now() < until, "no slot for the resume: {e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(ack.session_present);
        assert_eq!(&expect_publish(&c).await.payload[..], b"queued");
        c.disconnect().await.unwrap();
    }
}
