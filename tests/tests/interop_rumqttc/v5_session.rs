//! rumqttc's MQTT 5 API (`rumqttc::v5`): sessions, wills, keep alive, packet size limits,
//! authorization and TLS.

use std::time::Duration;

use bytes::Bytes;
use linkmq_core::metrics::Counter;
use linkmq_tests::TestBroker;
use linkmq_tests::pki::Pki;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    DisconnectReasonCode, Filter, LastWill, LastWillProperties, PublishProperties,
    SubscribeReasonCode,
};
use rumqttc::v5::{ConnectionError, StateError};

use crate::harness::{Client5, QUIET, WAIT, opts5, relay_hiding_maximum_packet_size, text};
use crate::v5::{exp, persistent, props, seen};
use crate::{acl_node, big_payload};

// ---------------------------------------------------------------- sessions

/// Session Expiry Interval: within it, Clean Start 0 resumes the session (Session Present 1,
/// [MQTT-3.2.2-3]) with the QoS 1 and 2 messages queued meanwhile; once it has passed the session is
/// gone (Session Present 0, [MQTT-3.2.2-3], nothing queued: 3.1.2.11.2); Clean Start 1 discards it
/// ([MQTT-3.1.2-4], [MQTT-3.2.2-2]). A request above the broker's `mqtt.session_expiry_interval`
/// (2 h) is lowered, and CONNACK says so (3.2.2.3.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_session_expiry_on_reconnect() {
    let b = TestBroker::start().await;
    let t = "interop/rq/v5/session";
    let mut publ = Client5::connect(opts5(b.addr, "rq5-sess-pub")).await;

    // Kept for 30 s, and for 1 s.
    for (id, expiry) in [("rq5-sess-long", 30), ("rq5-sess-short", 1)] {
        let mut c = Client5::connect(persistent(&b, id, expiry)).await;
        assert!(!c.connack.session_present);
        assert_eq!(
            c.connack
                .properties
                .as_ref()
                .and_then(|p| p.session_expiry_interval),
            None,
            "accepted as asked"
        );
        c.subscribe(t, QoS::ExactlyOnce).await;
        c.disconnect().await;
    }
    publ.publish(t, QoS::AtLeastOnce, false, "queued-1").await;
    publ.publish(t, QoS::ExactlyOnce, false, "queued-2").await;
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let mut c = Client5::connect(persistent(&b, "rq5-sess-long", 30)).await;
    assert!(c.connack.session_present);
    assert_eq!(
        seen(&c.recv().await),
        exp(t, QoS::AtLeastOnce, false, "queued-1")
    );
    assert_eq!(
        seen(&c.recv().await),
        exp(t, QoS::ExactlyOnce, false, "queued-2")
    );
    c.disconnect().await;

    let mut c = Client5::connect(persistent(&b, "rq5-sess-short", 30)).await;
    assert!(!c.connack.session_present, "expired after 1 s");
    c.events.assert_no_publish().await;
    c.disconnect().await;

    let mut o = persistent(&b, "rq5-sess-long", 30);
    o.set_clean_start(true);
    let c = Client5::connect(o).await;
    assert!(!c.connack.session_present, "Clean Start 1");

    let c = Client5::connect(persistent(&b, "rq5-sess-capped", 10_000_000)).await;
    assert_eq!(
        c.connack
            .properties
            .as_ref()
            .and_then(|p| p.session_expiry_interval),
        Some(7200)
    );
}

/// The server's DISCONNECT reason codes as rumqttc reports them: a second connection with the same
/// client id takes the session over, and the first gets DISCONNECT 0x8E Session taken over
/// ([MQTT-3.1.4-3]) while the second resumes it (Session Present 1) with its subscription; a broker
/// shutting down sends DISCONNECT 0x8B Server shutting down (4.13, 3.14.2.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_session_taken_over_and_server_shutdown_reason_codes() {
    let b = TestBroker::start().await;
    let t = "interop/rq/v5/takeover";
    let mut first = Client5::connect(persistent(&b, "rq5-takeover", 60)).await;
    first.subscribe(t, QoS::AtLeastOnce).await;
    let mut second = Client5::connect(persistent(&b, "rq5-takeover", 60)).await;
    assert!(second.connack.session_present);
    match first.events.error().await {
        ConnectionError::MqttState(StateError::ServerDisconnect { reason_code, .. }) => {
            assert_eq!(reason_code, DisconnectReasonCode::SessionTakenOver)
        }
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    let mut publ = Client5::connect(opts5(b.addr, "rq5-takeover-pub")).await;
    publ.publish(t, QoS::AtLeastOnce, false, "to-second").await;
    assert_eq!(
        seen(&second.recv().await),
        exp(t, QoS::AtLeastOnce, false, "to-second")
    );

    b.node.shutdown().await;
    match second.events.error().await {
        ConnectionError::MqttState(StateError::ServerDisconnect { reason_code, .. }) => {
            assert_eq!(reason_code, DisconnectReasonCode::ServerShuttingDown)
        }
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
}

// ---------------------------------------------------------------- will

/// The will of a connection closed without DISCONNECT ([MQTT-3.1.2-8]) is published with its
/// properties (3.1.3.2; user properties in order, [MQTT-3.1.3-10]): at once when the session ends
/// with the connection (Session Expiry 0 ends it before a 30 s Will Delay, 3.1.3.2.2), and only
/// after the Will Delay Interval when the session outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_will_with_properties_and_delay() {
    let b = TestBroker::start().await;
    let t = "interop/rq/v5/will";
    let mut watcher = Client5::connect(opts5(b.addr, "rq5-will-watch")).await;
    watcher.subscribe(t, QoS::AtLeastOnce).await;

    let will_props = LastWillProperties {
        delay_interval: Some(30),
        payload_format_indicator: Some(1),
        message_expiry_interval: None,
        content_type: Some("text/plain".into()),
        response_topic: Some("interop/rq/v5/will/ack".into()),
        correlation_data: Some(Bytes::from_static(b"w1")),
        user_properties: vec![("why".into(), "test".into())],
    };
    let mut o = opts5(b.addr, "rq5-will-now");
    o.set_last_will(LastWill::new(
        t,
        "gone",
        QoS::AtLeastOnce,
        false,
        Some(will_props),
    ));
    Client5::connect(o).await.events.drop_network().await;
    let p = watcher.recv().await;
    assert_eq!(seen(&p), exp(t, QoS::AtLeastOnce, false, "gone"));
    assert_eq!(
        props(&p),
        PublishProperties {
            payload_format_indicator: Some(1),
            content_type: Some("text/plain".into()),
            response_topic: Some("interop/rq/v5/will/ack".into()),
            correlation_data: Some(Bytes::from_static(b"w1")),
            user_properties: vec![("why".into(), "test".into())],
            ..Default::default()
        }
    );

    let delayed = LastWillProperties {
        delay_interval: Some(1),
        payload_format_indicator: None,
        message_expiry_interval: None,
        content_type: None,
        response_topic: None,
        correlation_data: None,
        user_properties: vec![],
    };
    let mut o = opts5(b.addr, "rq5-will-later");
    o.set_session_expiry_interval(Some(60));
    o.set_last_will(LastWill::new(
        t,
        "later",
        QoS::AtLeastOnce,
        false,
        Some(delayed),
    ));
    Client5::connect(o).await.events.drop_network().await;
    let closed = tokio::time::Instant::now();
    watcher.events.assert_no_publish().await;
    assert_eq!(
        seen(&watcher.recv().await),
        exp(t, QoS::AtLeastOnce, false, "later")
    );
    assert!(
        closed.elapsed() >= Duration::from_millis(900),
        "{:?}",
        closed.elapsed()
    );
}

// ---------------------------------------------------------------- keep alive

/// Keep alive. rumqttc's v5 options refuse a Keep Alive under 5 s, so the broker sets a short one:
/// with `mqtt.server_keepalive = 1` the CONNACK's Server Keep Alive 1 replaces the client's 30 s
/// ([MQTT-3.1.2-21]); rumqttc takes it and pings every second, each PINGREQ gets a PINGRESP
/// ([MQTT-3.12.4-1]), and the broker, now expecting a packet every 1.5 s ([MQTT-3.1.2-22]), keeps
/// the connection, which still carries messages afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_server_keep_alive_pings() {
    let b = TestBroker::start_with(|s| s.server_keepalive = Some(1)).await;
    let mut c = Client5::connect(opts5(b.addr, "rq5-server-ka")).await;
    assert_eq!(
        c.connack
            .properties
            .as_ref()
            .and_then(|p| p.server_keep_alive),
        Some(1)
    );
    let events = c.events.events_for(Duration::from_millis(3500)).await;
    let reqs = events
        .iter()
        .filter(|e| matches!(e, rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::PingReq)))
        .count();
    let resps = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::PingResp(_))
            )
        })
        .count();
    // About 3 at 1 s intervals; at least 2 however late a loaded machine runs the timers.
    assert!(reqs >= 2, "{reqs} PINGREQ in 3.5 s: {events:?}");
    assert!(
        resps + 1 >= reqs && resps <= reqs,
        "{reqs} PINGREQ, {resps} PINGRESP"
    );
    c.subscribe("interop/rq/v5/ka", QoS::AtLeastOnce).await;
    c.publish("interop/rq/v5/ka", QoS::AtLeastOnce, false, "alive")
        .await;
    assert_eq!(text(&c.recv().await.payload), "alive");
}

// ---------------------------------------------------------------- packet size

/// A 512 KiB payload makes the round trip byte for byte (QoS 1); a subscriber that announced a
/// Maximum Packet Size of 64 KiB is not sent it ([MQTT-3.1.2-25]: the server discards it) but
/// still gets the next small message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_512_kib_payload_and_the_clients_maximum_packet_size() {
    let b = TestBroker::start().await;
    let t = "interop/rq/v5/large";
    let payload = big_payload();
    let mut sub = Client5::connect(opts5(b.addr, "rq5-large-sub")).await;
    sub.subscribe(t, QoS::AtLeastOnce).await;
    let mut o = opts5(b.addr, "rq5-large-small");
    o.set_max_packet_size(Some(64 * 1024));
    let mut small = Client5::connect(o).await;
    small.subscribe(t, QoS::AtLeastOnce).await;

    let mut publ = Client5::connect(opts5(b.addr, "rq5-large-pub")).await;
    assert_eq!(
        publ.publish(t, QoS::AtLeastOnce, false, payload.clone())
            .await
            .as_deref(),
        Some("Success")
    );
    let p = sub.recv().await;
    assert_eq!((text(&p.topic), p.qos), (t.to_owned(), QoS::AtLeastOnce));
    assert!(
        p.payload[..] == payload[..],
        "payload differs ({} bytes)",
        p.payload.len()
    );

    publ.publish(t, QoS::AtLeastOnce, false, "small").await;
    assert_eq!(
        seen(&small.recv().await),
        exp(t, QoS::AtLeastOnce, false, "small")
    );
    assert_eq!(
        seen(&sub.recv().await),
        exp(t, QoS::AtLeastOnce, false, "small")
    );
}

/// Over the server's Maximum Packet Size (4 KiB here, announced in CONNACK): rumqttc honours the
/// announced limit and refuses to send the packet itself ([MQTT-3.2.2-15]), so the broker never
/// sees it. Behind a relay that hides the limit, rumqttc sends it, and the broker answers DISCONNECT
/// 0x95 Packet too large (4.13, 3.14.2.1; EMQX does the same) without forwarding it, which rumqttc
/// reports with its reason code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_publish_over_maximum_packet_size() {
    let b = TestBroker::start_with(|s| s.max_packet_size = 4096).await;
    let t = "interop/rq/v5/toolarge";
    let mut watcher = Client5::connect(opts5(b.addr, "rq5-big-watch")).await;
    watcher.subscribe(t, QoS::AtLeastOnce).await;

    let mut c = Client5::connect(opts5(b.addr, "rq5-big")).await;
    let max = c
        .connack
        .properties
        .as_ref()
        .and_then(|p| p.max_packet_size);
    assert_eq!(max, Some(4096));
    c.client
        .publish(t, QoS::AtLeastOnce, false, vec![b'x'; 8000])
        .await
        .expect("queue PUBLISH");
    let end = c.events.error().await;
    assert!(
        end.to_string().contains("maximum packet size of: '4096'"),
        "rumqttc's own refusal expected: {end} ({end:?})"
    );
    watcher.events.assert_no_publish().await;
    assert_eq!(b.node.broker.metrics.get(Counter::PacketsTooLarge), 0);

    let relay = relay_hiding_maximum_packet_size(b.addr).await;
    let mut c = Client5::connect(opts5(relay, "rq5-big-relayed")).await;
    assert_eq!(
        c.connack
            .properties
            .as_ref()
            .and_then(|p| p.max_packet_size),
        None
    );
    c.publish(t, QoS::AtLeastOnce, false, vec![b'y'; 3000])
        .await;
    assert_eq!(watcher.recv().await.payload.len(), 3000);
    c.client
        .publish(t, QoS::AtLeastOnce, false, vec![b'x'; 8000])
        .await
        .expect("queue PUBLISH");
    match c.events.error().await {
        ConnectionError::MqttState(StateError::ServerDisconnect { reason_code, .. }) => {
            assert_eq!(reason_code, DisconnectReasonCode::PacketTooLarge)
        }
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
    watcher.events.assert_no_publish().await;
    assert_eq!(b.node.broker.metrics.get(Counter::PacketsTooLarge), 1);
}

// ---------------------------------------------------------------- authorization

/// One SUBSCRIBE with allowed and denied filters: a reason code per filter in order
/// ([MQTT-3.9.3-1]), 0x87 Not authorized for the denied one (3.9.3); a denied QoS 1 PUBLISH gets
/// PUBACK 0x87 and is not delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_acl_denied_subscription_gets_0x87() {
    let n = acl_node().await;
    let addr = n.node.mqtt_addr();
    let mut c = Client5::connect(opts5(addr, "rq5-acl")).await;
    c.client
        .subscribe_many([
            Filter::new("interop/rq/acl/ok", QoS::AtLeastOnce),
            Filter::new("interop/rq/acl/denied/x", QoS::ExactlyOnce),
            Filter::new("interop/rq/acl/nopub/#", QoS::AtLeastOnce),
        ])
        .await
        .expect("queue SUBSCRIBE");
    let codes = c
        .events
        .until("SUBACK", |e| match e {
            rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::SubAck(a)) => {
                Some(a.return_codes.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        codes,
        [
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            SubscribeReasonCode::NotAuthorized,
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
        ]
    );
    assert_eq!(
        c.publish("interop/rq/acl/nopub/x", QoS::AtLeastOnce, false, "denied")
            .await
            .as_deref(),
        Some("NotAuthorized")
    );
    c.events.assert_no_publish().await;
    c.publish("interop/rq/acl/ok", QoS::AtLeastOnce, false, "allowed")
        .await;
    assert_eq!(
        seen(&c.recv().await),
        exp("interop/rq/acl/ok", QoS::AtLeastOnce, false, "allowed")
    );
    n.node.shutdown().await;
}

// ---------------------------------------------------------------- TLS

/// rumqttc v5 over mutual TLS (its rustls transport with a client certificate and key from the
/// test's CA; the listener has `verify_peer` and `fail_if_no_peer_cert`): a QoS 2 round trip; the
/// same client without a certificate does not get a CONNACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_mutual_tls_round_trip() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.mtls_options(true)).await;
    let (cert, key) = pki.client("rq5", "rq5-device", None, None);
    let read = |p| std::fs::read(p).expect("read PEM");
    let ca = pki.ca.pem().into_bytes();
    let t = "interop/rq/v5/tls";
    let mut o = opts5(b.addr, "rq5-mtls");
    o.set_transport(rumqttc::Transport::tls(
        ca.clone(),
        Some((read(cert), read(key))),
        None,
    ));
    let mut c = Client5::connect(o).await;
    c.subscribe(t, QoS::ExactlyOnce).await;
    c.publish(t, QoS::ExactlyOnce, false, "over mtls").await;
    assert_eq!(
        seen(&c.recv().await),
        exp(t, QoS::ExactlyOnce, false, "over mtls")
    );

    let mut o = opts5(b.addr, "rq5-mtls-nocert");
    o.set_transport(rumqttc::Transport::tls(ca, None, None));
    match tokio::time::timeout(WAIT + QUIET, Client5::try_connect(o)).await {
        Ok(Err(_)) => {}
        Ok(Ok(c)) => panic!("accepted without a client certificate: {:?}", c.connack),
        Err(_) => panic!("no answer"),
    }
}
