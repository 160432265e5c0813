//! Client-id takeover: a second CONNECT with a client identifier in use closes the first connection
//! with 0x8E and, with Clean Start 0, moves its session; also under concurrent connects.

mod session_support;

use std::time::Duration;

use bytes::Bytes;
use linkmq_client::{Client, Event};
use linkmq_codec::{
    ConnAck, Connect, Disconnect, LastWill, Packet, Properties, Protocol, Publish, QoS, ReasonCode,
    SubOptions, Subscribe, SubscribeFilter,
};
use linkmq_tests::blocking::BlockingConn;
use linkmq_tests::{BrokerProcess, TestBroker, WAIT, expect_publish, expect_quiet};
use session_support::*;

/// [MQTT-3.1.4-3]: a second CONNECT with the same client id closes the first connection (v5 with
/// DISCONNECT 0x8E Session taken over, v3.1.1 by closing the socket).
#[tokio::test]
async fn mqtt_3_1_4_3_second_connect_takes_over_with_0x8e() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let id = format!("take-{proto:?}");
        let (first, _) = Client::connect(b.opts(&id).protocol(proto)).await.unwrap();
        let (second, ack) = Client::connect(b.opts(&id).protocol(proto)).await.unwrap();
        assert!(!ack.session_present);
        let ev = first.recv_timeout(WAIT).await;
        if proto.is_v5() {
            match ev {
                Some(Event::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::SessionTakenOver),
                other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
            }
        } else {
            assert_eq!(ev, Some(Event::Closed));
        }
        assert!(first.is_closed());
        // The new connection works.
        second.subscribe("take/#", QoS::AtLeastOnce).await.unwrap();
        second
            .publish("take/x", "new", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(payload(&expect_publish(&second).await), "new");
        assert_eq!(b.node.broker.registry.connected_count(), 1);
        second.disconnect().await.unwrap();
    }
}

/// Takeover with Clean Start 0 moves the live session to the new connection: its subscriptions,
/// its unacknowledged message (re-sent with DUP) and its queued messages.
#[tokio::test]
async fn takeover_with_clean_start_0_moves_subscriptions_and_queued_messages() {
    let b = TestBroker::start_with(|s| s.max_inflight = 1).await;
    for proto in PROTOCOLS {
        let id = format!("move-{proto:?}");
        let (first, _) = Client::connect(persistent(&b, proto, &id, true, 30).auto_ack(false))
            .await
            .unwrap();
        first.subscribe("move/#", QoS::AtLeastOnce).await.unwrap();
        let publ = b.client(&format!("move-pub-{proto:?}")).await;
        for m in ["m1", "m2", "m3"] {
            publ.publish("move/t", m, QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
        // m1 is in flight (not acked); m2, m3 wait in the queue behind the window of 1.
        let p1 = expect_publish(&first).await;
        assert_eq!(payload(&p1), "m1");
        expect_quiet(&first).await;

        let (second, ack) = Client::connect(persistent(&b, proto, &id, false, 30))
            .await
            .unwrap();
        assert!(ack.session_present);
        assert!(matches!(
            first.recv_timeout(WAIT).await,
            Some(Event::Disconnect(_) | Event::Closed)
        ));
        let p = expect_publish(&second).await;
        assert_eq!((payload(&p), p.dup, p.pkid), ("m1", true, p1.pkid));
        for m in ["m2", "m3"] {
            let p = expect_publish(&second).await;
            assert_eq!((payload(&p), p.dup), (m, false));
        }
        publ.publish("move/t", "m4", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(payload(&expect_publish(&second).await), "m4");
        expect_quiet(&second).await;
        second.disconnect().await.unwrap();
    }
}

/// Takeover with Clean Start 1 discards the old session: Session Present 0, no subscriptions.
#[tokio::test]
async fn takeover_with_clean_start_1_discards_the_session() {
    let b = TestBroker::start().await;
    let (first, _) = Client::connect(b.opts("fresh").session_expiry(30))
        .await
        .unwrap();
    first.subscribe("fresh/#", QoS::AtLeastOnce).await.unwrap();
    let (second, ack) = Client::connect(b.opts("fresh")).await.unwrap();
    assert!(!ack.session_present);
    assert!(matches!(
        first.recv_timeout(WAIT).await,
        Some(Event::Disconnect(d)) if d.reason == ReasonCode::SessionTakenOver
    ));
    let rc = b
        .client("fresh-pub")
        .await
        .publish("fresh/x", "x", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::NoMatchingSubscribers);
    expect_quiet(&second).await;
}

/// Ten concurrent CONNECTs with one client id: all get CONNACK, nine are taken over (DISCONNECT
/// 0x8E), exactly one connection stays live and usable.
#[tokio::test]
async fn concurrent_connects_of_one_client_id_leave_exactly_one_connection() {
    let b = TestBroker::start().await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let opts = b.opts("racer");
        set.spawn(async move { Client::connect(opts).await.unwrap().0 });
    }
    let clients: Vec<Client> = set.join_all().await;
    let mut outcomes = tokio::task::JoinSet::new();
    for c in clients {
        outcomes.spawn(async move {
            let ev = c.recv_timeout(Duration::from_secs(2)).await;
            (ev, c)
        });
    }
    let mut taken = 0;
    let mut live = Vec::new();
    for (ev, c) in outcomes.join_all().await {
        match ev {
            Some(Event::Disconnect(d)) => {
                assert_eq!(d.reason, ReasonCode::SessionTakenOver);
                taken += 1;
            }
            None => live.push(c),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((taken, live.len()), (9, 1));
    assert_eq!(b.node.broker.registry.connected_count(), 1);
    let c = &live[0];
    assert!(!c.is_closed());
    c.subscribe("racer/#", QoS::AtLeastOnce).await.unwrap();
    c.publish("racer/x", "alive", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload(&expect_publish(c).await), "alive");
}

/// Ten concurrent resuming CONNECTs (Clean Start 0) of a session with a subscription: exactly one
/// connection stays, it holds the session, and the subscription is routed once (no duplicate
/// deliveries, no lost route).
#[tokio::test]
async fn concurrent_resuming_connects_keep_one_session_and_one_route() {
    let b = TestBroker::start().await;
    let (c, _) = Client::connect(b.opts("resumer").session_expiry(30))
        .await
        .unwrap();
    c.subscribe("resumer/#", QoS::AtLeastOnce).await.unwrap();
    c.abort();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let opts = b.opts("resumer").clean_start(false).session_expiry(30);
        set.spawn(async move { Client::connect(opts).await.unwrap() });
    }
    let clients = set.join_all().await;
    assert!(
        clients.iter().all(|(_, ack)| ack.session_present),
        "every resume finds the session"
    );
    let mut outcomes = tokio::task::JoinSet::new();
    for (c, _) in clients {
        outcomes.spawn(async move { (c.recv_timeout(Duration::from_secs(2)).await, c) });
    }
    let mut live = Vec::new();
    for (ev, c) in outcomes.join_all().await {
        match ev {
            Some(Event::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::SessionTakenOver),
            None => live.push(c),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(live.len(), 1);
    assert_eq!(b.node.broker.registry.len(), 1);
    assert_eq!(b.node.broker.router.subscription_count(), 1);
    b.client("resumer-pub")
        .await
        .publish("resumer/x", "once", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload(&expect_publish(&live[0]).await), "once");
    expect_quiet(&live[0]).await;
}

// ---- A takeover right after the old connection's last packets ----

/// One way the old connection ends before its client reconnects with the same client id.
struct LastWords {
    name: &'static str,
    proto: Protocol,
    clean_start: bool,
    /// v5 Session Expiry Interval in CONNECT.
    expiry: u32,
    /// v5 Session Expiry Interval in DISCONNECT.
    disconnect_expiry: Option<u32>,
    /// Whether the reconnect (Clean Start 0) finds the session.
    resumed: bool,
}

/// [MQTT-3.1.4-3] closes the existing connection of a client id a CONNECT takes over, but what
/// that connection's client sent before it reconnected comes first: here a QoS 0 PUBLISH and a
/// DISCONNECT 0x00, written together just before the second CONNECT. The PUBLISH is delivered;
/// the will is not published ([MQTT-3.1.2-10], [MQTT-3.14.4-3]); and the session the DISCONNECT
/// ended is not resumed: with Session Expiry 0 (from CONNECT, or set by DISCONNECT
/// [MQTT-3.14.2-2]) or a v3.1.1 clean session it ends with the connection ([MQTT-3.1.2-23],
/// [MQTT-3.1.2-6]): Session Present 0 and no subscription ([MQTT-3.2.2-3]); otherwise it is
/// resumed (Session Present 1, [MQTT-3.2.2-2]). Before, the old channel took the takeover before
/// reading what was already on its socket about half the time: the session resumed, the will
/// published, the PUBLISH lost. The real binary (its multi-threaded runtime), blocking sockets
/// writing back to back.
#[test]
fn packets_sent_before_a_takeover_are_handled_before_it() {
    let broker = BrokerProcess::start("");
    let addr = broker.addr();
    let cases = [
        LastWords {
            name: "v5-expiry-0",
            proto: Protocol::V5,
            clean_start: true,
            expiry: 0,
            disconnect_expiry: None,
            resumed: false,
        },
        LastWords {
            name: "v5-disconnect-expiry-0",
            proto: Protocol::V5,
            clean_start: true,
            expiry: 60,
            disconnect_expiry: Some(0),
            resumed: false,
        },
        LastWords {
            name: "v5-expiry-60",
            proto: Protocol::V5,
            clean_start: true,
            expiry: 60,
            disconnect_expiry: None,
            resumed: true,
        },
        LastWords {
            name: "v311-clean-1",
            proto: Protocol::V311,
            clean_start: true,
            expiry: 0,
            disconnect_expiry: None,
            resumed: false,
        },
        LastWords {
            name: "v311-clean-0",
            proto: Protocol::V311,
            clean_start: false,
            expiry: 0,
            disconnect_expiry: None,
            resumed: true,
        },
    ];
    const ROUNDS: u16 = 50;
    let mut watcher = raw_connect(&addr, connect_packet(Protocol::V5, "lw-watcher", true, 0)).0;
    watcher.send(&Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![SubscribeFilter {
            filter: "lw/out/#".into(),
            options: SubOptions::default(),
        }],
        properties: Properties::default(),
    }));
    let mut seen = Vec::new();
    assert!(matches!(
        recv_skipping(&mut watcher, &mut seen),
        Some(Packet::SubAck(_))
    ));
    let mut failures = Vec::new();
    let mut pkid = 1;
    for case in &cases {
        for i in 0..ROUNDS {
            let id = format!("lw-{}-{i}", case.name);
            let mut first = connect_packet(case.proto, &id, case.clean_start, case.expiry);
            first.will = Some(LastWill {
                topic: format!("lw/out/{}/{i}/will", case.name),
                payload: Bytes::from_static(b"will"),
                qos: QoS::AtMostOnce,
                retain: false,
                properties: Properties::default(),
            });
            let mut old = raw_connect(&addr, first).0;
            let sub_topic = format!("lw/sub/{}/{i}", case.name);
            old.send(&Packet::Subscribe(Subscribe {
                pkid: 1,
                filters: vec![SubscribeFilter {
                    filter: sub_topic.clone(),
                    options: SubOptions::default(),
                }],
                properties: Properties::default(),
            }));
            assert!(
                matches!(old.recv(), Some(Packet::SubAck(_))),
                "{id}: SUBACK"
            );
            // The last words and the reconnect, back to back.
            let mut last = old.encode(&Packet::Publish(Publish {
                topic: format!("lw/out/{}/{i}/last", case.name),
                payload: Bytes::from_static(b"last"),
                ..Publish::default()
            }));
            last.extend_from_slice(&old.encode(&Packet::Disconnect(Disconnect {
                reason: ReasonCode::Success,
                properties: Properties::from(linkmq_codec::PropertyValues {
                    session_expiry_interval: case.disconnect_expiry,
                    ..Default::default()
                }),
            })));
            old.write(&last);
            let (mut new, ack) = raw_connect(&addr, connect_packet(case.proto, &id, false, 0));
            if ack.session_present != case.resumed {
                failures.push(format!("{id}: Session Present {}", ack.session_present));
            }
            // Whether the subscription is still there: PUBACK 0x10 when nobody subscribes.
            pkid += 1;
            watcher.send(&Packet::Publish(Publish {
                topic: sub_topic,
                qos: QoS::AtLeastOnce,
                pkid,
                payload: Bytes::from_static(b"probe"),
                ..Publish::default()
            }));
            let subscribed = match recv_skipping(&mut watcher, &mut seen) {
                Some(Packet::PubAck(a)) => a.reason == ReasonCode::Success,
                other => panic!("{id}: expected PUBACK, got {other:?}"),
            };
            if subscribed != case.resumed {
                failures.push(format!("{id}: subscription kept: {subscribed}"));
            }
            new.send(&Packet::Disconnect(Disconnect {
                reason: ReasonCode::Success,
                properties: Properties::default(),
            }));
        }
    }
    // Everything the old connections published (or their wills) has reached the watcher by the
    // time it answers a PINGREQ after a short wait.
    std::thread::sleep(Duration::from_millis(300));
    watcher.send(&Packet::PingReq);
    while let Some(p) = recv_skipping(&mut watcher, &mut seen) {
        if matches!(p, Packet::PingResp) {
            break;
        }
    }
    for case in &cases {
        for i in 0..ROUNDS {
            let prefix = format!("lw/out/{}/{i}/", case.name);
            let id = format!("lw-{}-{i}", case.name);
            if !seen.contains(&format!("{prefix}last")) {
                failures.push(format!("{id}: PUBLISH before DISCONNECT lost"));
            }
            if seen.contains(&format!("{prefix}will")) {
                failures.push(format!("{id}: will published after DISCONNECT 0x00"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures in {} rounds:\n{}",
        failures.len(),
        cases.len() * usize::from(ROUNDS),
        failures.join("\n")
    );
}

fn connect_packet(proto: Protocol, client_id: &str, clean_start: bool, expiry: u32) -> Connect {
    let mut properties = Properties::default();
    if proto.is_v5() && expiry > 0 {
        properties.session_expiry_interval = Some(expiry);
    }
    Connect {
        protocol: proto,
        clean_start,
        keep_alive: 0,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties,
    }
}

/// How long a blocking read here waits (a CONNACK, an expected packet) before it counts as none.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

fn raw_connect(addr: &str, connect: Connect) -> (BlockingConn, ConnAck) {
    BlockingConn::connect(addr, connect, READ_TIMEOUT)
}

/// The next packet other than a QoS 0 PUBLISH, whose topics go to `seen`.
fn recv_skipping(c: &mut BlockingConn, seen: &mut Vec<String>) -> Option<Packet> {
    loop {
        match c.recv()? {
            Packet::Publish(p) => seen.push(p.topic),
            other => return Some(other),
        }
    }
}

/// A client writing as fast as it can does not hold up the connection taking its client id over:
/// the old connection handles what it can read without waiting (bounded), not until its client
/// stops, and the new one gets its CONNACK.
#[test]
fn a_client_flooding_its_connection_does_not_hold_up_its_takeover() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let broker = BrokerProcess::start("");
    let addr = broker.addr();
    for round in 0..5 {
        let id = format!("flooder-{round}");
        let mut old = raw_connect(&addr, connect_packet(Protocol::V5, &id, true, 0)).0;
        let burst: Vec<u8> = (0..64)
            .flat_map(|_| {
                old.encode(&Packet::Publish(Publish {
                    topic: "flood/t".into(),
                    payload: Bytes::from_static(&[7; 64]),
                    ..Publish::default()
                }))
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flood = {
            let stop = stop.clone();
            let mut s = old.stream.try_clone().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut sent = 0usize;
                while !stop.load(Ordering::Relaxed) && s.write_all(&burst).is_ok() {
                    sent += burst.len();
                }
                sent
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        // raw_connect panics unless the CONNACK comes within its 2 s read timeout.
        let (_new, ack) = raw_connect(&addr, connect_packet(Protocol::V5, &id, false, 0));
        assert!(
            ack.session_present,
            "{id}: the flooder's session is taken over"
        );
        stop.store(true, Ordering::Relaxed);
        let sent = flood.join().unwrap();
        assert!(sent > 0, "{id}: the flood ran");
        // The old connection is told why it was closed.
        let mut told = None;
        while let Some(p) = old.recv() {
            if let Packet::Disconnect(d) = p {
                told = Some(d.reason);
                break;
            }
        }
        assert_eq!(told, Some(ReasonCode::SessionTakenOver), "{id}");
    }
}
