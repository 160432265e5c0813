//! Sessions across the cluster, in process (real `linkmq::Node`s on loopback, as in `cluster.rs`):
//! client ids unique cluster-wide, a session resumed on another node with its subscriptions,
//! inflight window and queue, concurrent connects, and a v3.1.1 clean session never resumed.

mod cluster_support;

use std::time::Duration;

use cluster_support::{TempDir, cluster_of, eventually, shutdown, wait_route};
use linkmq_client::Event;
use linkmq_codec::{Protocol, QoS, ReasonCode};
use linkmq_tests::{WAIT, expect_disconnect, expect_publish, expect_quiet, payload_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_client_ids_are_unique_cluster_wide_takeover_closes_old_with_0x8e() {
    let root = TempDir::new("takeover");
    let nodes = cluster_of(&root, 2, "").await;
    let first = nodes[0].client("dup").await;
    eventually("n2 knows dup on n1", || {
        !nodes[1].cluster().client_holders("dup").is_empty()
    })
    .await;
    let (second, ack) = linkmq_client::Client::connect(nodes[1].opts("dup"))
        .await
        .unwrap();
    assert!(!ack.session_present, "clean start: no session");
    expect_disconnect(&first, ReasonCode::SessionTakenOver).await;
    eventually("n1 knows dup moved", || {
        nodes[0].node().broker.registry.get("dup").is_none()
            && !nodes[0].cluster().client_holders("dup").is_empty()
    })
    .await;
    // The new owner works.
    second.subscribe("t", QoS::AtLeastOnce).await.unwrap();
    wait_route(&nodes[0], &nodes[1], "t", None).await;
    let p = nodes[0].client("p").await;
    p.publish("t", "hi", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(payload_text(&expect_publish(&second).await), "hi");
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_resume_on_another_node_moves_subscriptions_inflight_and_queue() {
    let root = TempDir::new("resume");
    let nodes = cluster_of(&root, 3, "").await;
    let opts = nodes[0]
        .opts("mover")
        .clean_start(true)
        .session_expiry(60)
        .auto_ack(false);
    let (c, _) = linkmq_client::Client::connect(opts).await.unwrap();
    c.subscribe("mv/#", QoS::AtLeastOnce).await.unwrap();
    c.subscribe("mv2/+", QoS::ExactlyOnce).await.unwrap();
    wait_route(&nodes[2], &nodes[0], "mv/#", None).await;
    let p = nodes[2].client("p").await;
    // One message in flight (received, not acknowledged)...
    p.publish("mv/inflight", "i", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = expect_publish(&c).await;
    assert_eq!(payload_text(&got), "i");
    // ...then the client goes away and two more queue up on n1.
    c.abort();
    eventually("n1 holds the session detached", || {
        nodes[0]
            .node()
            .broker
            .registry
            .get("mover")
            .is_some_and(|e| !e.connected)
    })
    .await;
    p.publish("mv/q1", "q1", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    p.publish("mv2/q2", "q2", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    // The client comes back at once: acknowledged messages still on their way to n1 reach the
    // session before it moves (the takeover waits for the other nodes' forwards to n1).

    // Back on n2 with clean_start = false: the session comes over.
    let opts = nodes[1].opts("mover").clean_start(false).session_expiry(60);
    let (c2, ack) = linkmq_client::Client::connect(opts).await.unwrap();
    assert!(ack.session_present, "session moved from n1");
    let resent = expect_publish(&c2).await;
    assert_eq!((payload_text(&resent).as_str(), resent.dup), ("i", true));
    let q1 = expect_publish(&c2).await;
    assert_eq!(
        (payload_text(&q1).as_str(), q1.qos),
        ("q1", QoS::AtLeastOnce)
    );
    let q2 = expect_publish(&c2).await;
    assert_eq!(
        (payload_text(&q2).as_str(), q2.qos),
        ("q2", QoS::ExactlyOnce)
    );
    expect_quiet(&c2).await;
    // Routes followed the session: n2 holds them, n1 none.
    let n1 = nodes[0].cluster().id;
    wait_route(&nodes[2], &nodes[1], "mv/#", None).await;
    wait_route(&nodes[2], &nodes[1], "mv2/+", None).await;
    eventually("n1 routes gone", || {
        nodes[2].cluster().routes_of(n1).is_empty()
    })
    .await;
    assert!(nodes[0].node().broker.registry.get("mover").is_none());
    p.publish("mv/after", "a", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload_text(&expect_publish(&c2).await), "a");
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_concurrent_connects_on_two_nodes_leave_exactly_one_live() {
    let root = TempDir::new("concurrent");
    let nodes = cluster_of(&root, 2, "").await;
    for round in 0..5 {
        let id = format!("race-{round}");
        let (a, b) = tokio::join!(
            linkmq_client::Client::connect(nodes[0].opts(&id)),
            linkmq_client::Client::connect(nodes[1].opts(&id)),
        );
        let (a, b) = (a.unwrap().0, b.unwrap().0);
        // Settle: the loser is told 0x8E.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut live = 0;
        for c in [&a, &b] {
            match c.recv_timeout(Duration::from_millis(500)).await {
                Some(Event::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::SessionTakenOver),
                Some(Event::Closed) => {}
                None => live += 1,
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(live, 1, "round {round}: exactly one connection stays");
        let owners = nodes
            .iter()
            .filter(|n| {
                n.node()
                    .broker
                    .registry
                    .get(&id)
                    .is_some_and(|e| e.connected)
            })
            .count();
        assert_eq!(owners, 1, "round {round}: exactly one node owns {id}");
    }
    shutdown(nodes).await;
}

/// A v3.1.1 clean session still connected on n1, taken over from n2 by a CONNECT with Clean
/// Session 0: n1 closes it and its state is not reused ([MQTT-3.1.2-6]): Session Present 0
/// ([MQTT-3.2.2-3]), no subscription. A clean session 0 taken over the same way is resumed
/// (Session Present 1, [MQTT-3.2.2-2]) with its subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_a_v311_clean_session_taken_over_from_another_node_is_not_resumed() {
    let root = TempDir::new("clean311");
    let nodes = cluster_of(&root, 2, "").await;
    let n1 = nodes[0].cluster().id;
    let p = nodes[1].client("p").await;
    for clean in [true, false] {
        let id = format!("v311-clean-{}", u8::from(clean));
        let topic = format!("c311/{}", u8::from(clean));
        let opts = nodes[0]
            .opts(&id)
            .protocol(Protocol::V311)
            .clean_start(clean);
        let (first, _) = linkmq_client::Client::connect(opts).await.unwrap();
        first.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
        wait_route(&nodes[1], &nodes[0], &topic, None).await;
        eventually("n2 knows the client on n1", || {
            !nodes[1].cluster().client_holders(&id).is_empty()
        })
        .await;
        let opts = nodes[1]
            .opts(&id)
            .protocol(Protocol::V311)
            .clean_start(false);
        let (second, ack) = linkmq_client::Client::connect(opts).await.unwrap();
        assert_eq!(
            ack.session_present, !clean,
            "{id}: Session Present when the old connection had clean session {clean}"
        );
        assert_eq!(first.recv_timeout(WAIT).await, Some(Event::Closed), "{id}");
        if clean {
            // The clean session's route goes with it.
            eventually("n1's routes gone", || {
                nodes[1].cluster().routes_of(n1).is_empty()
            })
            .await;
        } else {
            wait_route(&nodes[0], &nodes[1], &topic, None).await;
        }
        p.publish(&topic, "after", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        if clean {
            expect_quiet(&second).await;
        } else {
            assert_eq!(payload_text(&expect_publish(&second).await), "after");
        }
        second.disconnect().await.unwrap();
    }
    shutdown(nodes).await;
}
