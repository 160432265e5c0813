//! `listeners.<type>.<name>.tcp_options.send_timeout` / `send_timeout_close`: a v5 subscriber that
//! stops reading while a publisher floods 64 KB QoS 0 messages is closed once its socket has taken
//! nothing for `send_timeout` (and counted in `connections.send_timeout`), the publisher unharmed;
//! with `send_timeout_close = false` the timeout is only reported and the subscriber stays.

use std::time::{Duration, Instant};

use linkmq_client::{Client, ConnectOptions, Publish, QoS, RawConnection, ReasonCode};
use linkmq_codec::{Packet, Properties, Protocol, SubOptions, Subscribe, SubscribeFilter};
use linkmq_core::metrics::Counter;
use linkmq_net::{ListenerOptions, SocketOptions};
use linkmq_tests::{TestBroker, WAIT, listener};
use tokio::net::TcpSocket;

/// Generous: the close is due about one second after the subscriber's socket fills.
const CLOSE_WITHIN: Duration = Duration::from_secs(20);
const PAYLOAD: usize = 64 * 1024;

/// A broker whose TCP listener has `send_timeout = 1s` and a small send buffer, so a subscriber
/// that stops reading stalls after a few messages.
async fn broker(send_timeout_close: bool) -> TestBroker {
    let tcp = SocketOptions {
        sndbuf: Some(8 * 1024),
        send_timeout: Some(Duration::from_secs(1)),
        send_timeout_close,
        ..Default::default()
    };
    let options = ListenerOptions {
        tcp,
        ..Default::default()
    };
    TestBroker::start_listeners(|_| {}, vec![listener("tcp:default", options)]).await
}

/// A v5 subscriber to `flood/#` (QoS 0) on a socket with a small receive buffer; the test reads
/// from it only when it says so.
async fn subscriber(b: &TestBroker) -> RawConnection {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4 * 1024).unwrap();
    let mut c = RawConnection::from_stream(socket.connect(b.addr).await.unwrap());
    let connect = b.opts("sub").keep_alive(0).connect_packet();
    c.send(&Packet::Connect(Box::new(connect)), Protocol::V5)
        .await
        .unwrap();
    match c.recv(Protocol::V5, WAIT).await.unwrap() {
        Some(Packet::ConnAck(a)) => assert_eq!(a.reason, ReasonCode::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let sub = Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![SubscribeFilter {
            filter: "flood/#".into(),
            options: SubOptions::default(),
        }],
        properties: Properties::default(),
    });
    c.send(&sub, Protocol::V5).await.unwrap();
    match c.recv(Protocol::V5, WAIT).await.unwrap() {
        Some(Packet::SubAck(a)) => assert_eq!(a.pkid, 1),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    c
}

async fn publisher(b: &TestBroker) -> Client {
    let opts = ConnectOptions::new(b.addr(), "pub").connect_timeout(WAIT);
    Client::connect(opts).await.unwrap().0
}

/// Publishes 64 KB QoS 0 messages (paced a little) until `done` holds; panics if it does not
/// within [`CLOSE_WITHIN`] or if the publisher is disconnected.
async fn flood_until(publ: &Client, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    let payload = bytes::Bytes::from(vec![b'x'; PAYLOAD]);
    while !done() {
        assert!(
            start.elapsed() < CLOSE_WITHIN,
            "not done within {CLOSE_WITHIN:?}"
        );
        publ.publish_nowait(Publish {
            topic: "flood/t".into(),
            payload: payload.clone(),
            ..Default::default()
        })
        .await
        .expect("the publisher stays connected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The publisher is still connected and served.
async fn assert_publisher_served(publ: &Client) {
    assert!(!publ.is_closed());
    let rc = publ
        .publish("other/t", "still here", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert!(
        matches!(rc, ReasonCode::Success | ReasonCode::NoMatchingSubscribers),
        "{rc:?}"
    );
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_closed_after_send_timeout() {
    let b = broker(true).await;
    let broker = b.node.broker.clone();
    let mut sub = subscriber(&b).await;
    let publ = publisher(&b).await;
    flood_until(&publ, || broker.registry.get("sub").is_none()).await;
    assert_eq!(broker.metrics.get(Counter::ConnectionsSendTimeout), 1);
    assert!(
        sub.closed_within(WAIT).await,
        "the subscriber's socket is closed"
    );
    assert_publisher_served(&publ).await;
    assert!(broker.registry.get("pub").is_some_and(|e| e.connected));
    b.node.shutdown().await;
}

#[tokio::test]
async fn with_send_timeout_close_false_the_timeout_is_only_reported() {
    let b = broker(false).await;
    let broker = b.node.broker.clone();
    let mut sub = subscriber(&b).await;
    let publ = publisher(&b).await;
    // Reported twice (once per second without progress): the broker kept waiting after the first.
    flood_until(&publ, || {
        broker.metrics.get(Counter::ConnectionsSendTimeout) >= 2
    })
    .await;
    assert!(broker.registry.get("sub").is_some_and(|e| e.connected));
    assert_publisher_served(&publ).await;
    // The subscriber reads again: what was queued for it arrives, then a PINGRESP for its PINGREQ.
    sub.send(&Packet::PingReq, Protocol::V5).await.unwrap();
    let mut publishes = 0;
    loop {
        match sub.recv(Protocol::V5, WAIT).await {
            Ok(Some(Packet::Publish(p))) => {
                assert_eq!(p.payload.len(), PAYLOAD);
                publishes += 1;
            }
            Ok(Some(Packet::PingResp)) => break,
            other => panic!("expected PUBLISH or PINGRESP, got {other:?}"),
        }
    }
    assert!(publishes > 0);
    assert!(broker.registry.get("sub").is_some_and(|e| e.connected));
    b.node.shutdown().await;
}
