//! Client-id takeover: a second CONNECT with a client identifier in use closes the first connection
//! with 0x8E and, with Clean Start 0, moves its session; also under concurrent connects.

mod session_support;

use std::time::Duration;

use linkmq_client::{Client, Event};
use linkmq_codec::{QoS, ReasonCode};
use linkmq_tests::{TestBroker, WAIT, expect_publish, expect_quiet};
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
