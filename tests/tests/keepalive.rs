//! Keep alive: a silent client is disconnected after 1.5 × Keep Alive (v5 DISCONNECT 0x8D, v3.1.1
//! socket close), PINGREQ and other packets keep it alive, Keep Alive 0 disables the check, and
//! `server_keepalive` is announced in CONNACK and enforced.

use std::time::Duration;

use linkmq_client::{ClientError, Event, LastWill, RawConnection};
use linkmq_codec::{ConnAck, Packet, Properties, Protocol, Publish, QoS, ReasonCode};
use linkmq_tests::TestBroker;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(5);

/// A raw connection after CONNECT/CONNACK with this keep alive (and optional will).
async fn raw(
    b: &TestBroker,
    proto: Protocol,
    id: &str,
    keep_alive: u16,
    will: Option<LastWill>,
) -> (RawConnection, ConnAck) {
    let mut c = RawConnection::connect(&b.addr()).await.unwrap();
    let mut opts = b.opts(id).protocol(proto).keep_alive(keep_alive);
    opts.will = will;
    c.send(&Packet::Connect(Box::new(opts.connect_packet())), proto)
        .await
        .unwrap();
    match c.recv(proto, WAIT).await.unwrap() {
        Some(Packet::ConnAck(a)) => {
            assert_eq!(a.reason, ReasonCode::Success);
            (c, a)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Waits for the broker to end the connection; returns the DISCONNECT reason if one came and the
/// time it took from `since`.
async fn wait_for_close(
    c: &mut RawConnection,
    proto: Protocol,
    since: Instant,
) -> (Option<ReasonCode>, Duration) {
    match c.recv(proto, WAIT).await {
        Ok(Some(Packet::Disconnect(d))) => {
            let t = since.elapsed();
            assert_eq!(
                c.recv(proto, WAIT).await.unwrap(),
                None,
                "socket closes after DISCONNECT"
            );
            (Some(d.reason), t)
        }
        Ok(None) => (None, since.elapsed()),
        Err(ClientError::Io(_)) => (None, since.elapsed()),
        other => panic!("expected the connection to close, got {other:?}"),
    }
}

/// [MQTT-3.1.2-22] (v5) / [MQTT-3.1.2-24] (3.1.1): no control packet within 1.5 × Keep Alive ends
/// the connection; v5 says why with DISCONNECT 0x8D (Keep Alive timeout).
#[tokio::test]
async fn mqtt_3_1_2_22_silent_client_is_disconnected_after_one_and_a_half_keep_alive() {
    let b = TestBroker::start().await;
    let (v5, v3) = tokio::join!(
        async {
            let (mut c, ack) = raw(&b, Protocol::V5, "ka-v5", 1, None).await;
            assert_eq!(ack.properties.server_keep_alive, None);
            wait_for_close(&mut c, Protocol::V5, Instant::now()).await
        },
        async {
            let (mut c, _) = raw(&b, Protocol::V311, "ka-v3", 1, None).await;
            wait_for_close(&mut c, Protocol::V311, Instant::now()).await
        }
    );
    assert_eq!(v5.0, Some(ReasonCode::KeepAliveTimeout));
    assert_eq!(v3.0, None, "v3.1.1 has no DISCONNECT from the server");
    for (_, t) in [v5, v3] {
        assert!(
            t >= Duration::from_millis(1000) && t < Duration::from_secs(3),
            "closed after {t:?}"
        );
    }
}

/// PINGREQ is answered with PINGRESP [MQTT-3.12.4-1] and keeps the connection alive well past
/// 1.5 × Keep Alive.
#[tokio::test]
async fn pingreq_keeps_the_connection_alive() {
    let b = TestBroker::start().await;
    for proto in [Protocol::V5, Protocol::V311] {
        let (mut c, _) = raw(&b, proto, &format!("ping-{proto:?}"), 1, None).await;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(2600) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            c.send(&Packet::PingReq, proto).await.unwrap();
            assert_eq!(c.recv(proto, WAIT).await.unwrap(), Some(Packet::PingResp));
        }
    }
}

/// Any control packet counts, not only PINGREQ.
#[tokio::test]
async fn any_packet_resets_the_keep_alive_timer() {
    let b = TestBroker::start().await;
    let (mut c, _) = raw(&b, Protocol::V5, "ka-pub", 1, None).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2600) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let p = Publish {
            qos: QoS::AtMostOnce,
            topic: "ka/keep".into(),
            payload: "x".into(),
            ..Default::default()
        };
        c.send(&Packet::Publish(p), Protocol::V5).await.unwrap();
    }
    c.send(&Packet::PingReq, Protocol::V5).await.unwrap();
    assert_eq!(
        c.recv(Protocol::V5, WAIT).await.unwrap(),
        Some(Packet::PingResp),
        "still connected"
    );
}

/// Keep Alive 0 switches the mechanism off (§3.1.2.10).
#[tokio::test]
async fn keep_alive_zero_never_times_out() {
    let b = TestBroker::start_with(|s| s.keepalive_multiplier = 1.0).await;
    let (mut c, _) = raw(&b, Protocol::V5, "ka-zero", 0, None).await;
    assert!(matches!(
        c.recv(Protocol::V5, Duration::from_millis(1800)).await,
        Err(ClientError::Timeout)
    ));
    c.send(&Packet::PingReq, Protocol::V5).await.unwrap();
    assert_eq!(
        c.recv(Protocol::V5, WAIT).await.unwrap(),
        Some(Packet::PingResp)
    );
}

/// `server_keepalive` overrides the client's Keep Alive: CONNACK carries Server Keep Alive
/// (§3.2.2.3.14; the client must use it, [MQTT-3.2.2-21]), and the broker enforces that value, not
/// the client's.
#[tokio::test]
async fn server_keepalive_is_announced_in_connack_and_enforced() {
    let b = TestBroker::start_with(|s| s.server_keepalive = Some(1)).await;
    let (mut c, ack) = raw(&b, Protocol::V5, "ska", 60, None).await;
    assert_eq!(ack.properties.server_keep_alive, Some(1));
    let (reason, t) = wait_for_close(&mut c, Protocol::V5, Instant::now()).await;
    assert_eq!(reason, Some(ReasonCode::KeepAliveTimeout));
    assert!(
        t >= Duration::from_millis(1000) && t < Duration::from_secs(3),
        "closed after {t:?}"
    );

    // The client follows the server's value: with automatic pings it stays connected.
    let (client, ack) = linkmq_client::Client::connect(b.opts("ska-client").keep_alive(60))
        .await
        .unwrap();
    assert_eq!(ack.properties.server_keep_alive, Some(1));
    assert!(
        client
            .recv_timeout(Duration::from_millis(2500))
            .await
            .is_none()
    );
    assert!(!client.is_closed());
}

/// A keep-alive timeout is an abnormal close: the will is published.
#[tokio::test]
async fn keep_alive_timeout_publishes_the_will() {
    let b = TestBroker::start().await;
    let watcher = b.client("ka-will-watch").await;
    watcher
        .subscribe("ka/will", QoS::AtLeastOnce)
        .await
        .unwrap();
    let will = LastWill {
        topic: "ka/will".into(),
        payload: "timed out".into(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    };
    let (mut c, _) = raw(&b, Protocol::V5, "ka-will", 1, Some(will)).await;
    let (reason, _) = wait_for_close(&mut c, Protocol::V5, Instant::now()).await;
    assert_eq!(reason, Some(ReasonCode::KeepAliveTimeout));
    match watcher.recv_timeout(WAIT).await {
        Some(Event::Publish(p)) => assert_eq!(&p.payload[..], b"timed out"),
        other => panic!("expected the will, got {other:?}"),
    }
}
