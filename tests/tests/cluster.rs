//! The Raft-backed cluster, in process: several real `linkmq::Node`s on loopback (each with its
//! own MQTT and cluster ports and data directory), driven through MQTT clients and the cluster's
//! operator surface (join, leave, force-leave, status). Sessions across nodes are in
//! `cluster_sessions.rs`.

mod cluster_support;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use cluster_support::{
    TempDir, TestNode, cluster_of, eventually, shutdown, wait_route, wait_running,
};
use linkmq_client::Event;
use linkmq_codec::{QoS, ReasonCode};
use linkmq_core::metrics::Counter;
use linkmq_tests::{WAIT, expect_publish, expect_quiet, payload_text};

// ---- 1. Membership ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_three_nodes_join_one_by_one_and_all_show_the_same_view() {
    let root = TempDir::new("membership");
    let nodes = cluster_of(&root, 3, "").await;
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let leaders: BTreeSet<Option<String>> =
        nodes.iter().map(|n| n.cluster().status().leader).collect();
    assert_eq!(leaders.len(), 1, "one leader seen by all: {leaders:?}");
    assert!(leaders.iter().all(|l| l.is_some()));
    for n in &nodes {
        let s = n.cluster().status();
        let members: Vec<String> = s.members.iter().map(|m| m.node.clone()).collect();
        assert_eq!(members, names, "members seen by {}", n.name);
        assert!(s.members.iter().all(|m| m.voter), "all voters: {s:?}");
        assert_eq!(s.running_nodes, names);
        assert!(s.stopped_nodes.is_empty());
        // Load figures of every member reach every node.
        assert!(s.members.iter().all(|m| m.stats.is_some()), "{s:?}");
    }
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_leave_and_force_leave_shrink_the_cluster_and_drop_routes() {
    let root = TempDir::new("leave");
    let mut nodes = cluster_of(&root, 3, "").await;
    let sub = nodes[2].client("sub3").await;
    sub.subscribe("only/n3", QoS::AtLeastOnce).await.unwrap();
    wait_route(&nodes[0], &nodes[2], "only/n3", None).await;

    // n3 dies; its routes stay until the membership drops it.
    drop(sub);
    let n3_id = nodes[2].cluster().id;
    nodes[2].stop().await;
    eventually("n1 sees n3 stopped", || {
        nodes[0].cluster().status().stopped_nodes == vec![nodes[2].name.clone()]
    })
    .await;
    nodes[0]
        .cluster()
        .force_leave(&nodes[2].name)
        .await
        .expect("force-leave n3");
    for n in &nodes[..2] {
        eventually("n3's routes dropped", || {
            n.cluster().routes_of(n3_id).is_empty() && n.cluster().status().members.len() == 2
        })
        .await;
    }
    let p = nodes[0].client("p").await;
    assert_eq!(
        p.publish("only/n3", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );

    // n2 leaves on its own: it goes on alone, n1 alone too.
    nodes[1].cluster().leave().await.expect("leave");
    eventually("n1 alone", || {
        nodes[0].cluster().status().members.len() == 1
    })
    .await;
    eventually("n2 alone", || {
        let s = nodes[1].cluster().status();
        s.members.len() == 1 && s.leader.as_deref() == Some(nodes[1].name.as_str())
    })
    .await;
    // And can join again.
    let seed = nodes[0].seed();
    nodes[1].cluster().join(&seed).await.expect("join again");
    wait_running(&nodes[..2], 2).await;
    // Forwarding works both ways after the rejoin (fresh links, no stale sequence numbers).
    for (from, to) in [(1, 0), (0, 1)] {
        let s = nodes[to].client(&format!("after-{to}")).await;
        s.subscribe("after/rejoin", QoS::AtLeastOnce).await.unwrap();
        wait_route(&nodes[from], &nodes[to], "after/rejoin", None).await;
        let p = nodes[from].client(&format!("pub-{from}")).await;
        for i in 0..3 {
            p.publish("after/rejoin", i.to_string(), QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
        for i in 0..3 {
            assert_eq!(payload_text(&expect_publish(&s).await), i.to_string());
        }
    }
    nodes.truncate(2);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_static_seeds_form_the_cluster_without_an_operator() {
    let root = TempDir::new("static");
    let cookie = "static-cookie";
    let mut ports = Vec::new();
    for _ in 0..3 {
        ports.push(linkmq_tests::free_port());
    }
    let seeds: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("\"n{}@127.0.0.1:{p}\"", i + 1))
        .collect();
    let mut nodes = Vec::new();
    // Started in reverse: the joiners wait for the founder (the first seed by name).
    for i in (1..=3).rev() {
        let extra = format!(
            "cluster {{ discovery_strategy = static, static.seeds = [{}] }}\nrpc.tcp_server_port = {}",
            seeds.join(", "),
            ports[i - 1]
        );
        nodes.push(TestNode::start(&format!("n{i}"), &root, cookie, &extra).await);
    }
    wait_running(&nodes, 3).await;
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_wrong_cookie_is_refused() {
    let root = TempDir::new("cookie");
    let a = TestNode::start("a", &root, "right-cookie", "").await;
    let b = TestNode::start("b", &root, "wrong-cookie", "").await;
    let err = b.cluster().join(&a.seed()).await.expect_err("join refused");
    assert!(err.to_string().contains("cookie"), "{err}");
    assert_eq!(a.cluster().status().members.len(), 1);
    assert_eq!(b.cluster().status().members.len(), 1);
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_nodes_join_and_leave_one_at_a_time_while_traffic_flows() {
    let root = TempDir::new("dynamic");
    let mut nodes = cluster_of(&root, 2, "").await;
    let cookie = nodes[0].cookie.clone();
    let sub = nodes[1].client("flow-sub").await;
    sub.subscribe("flow/#", QoS::AtLeastOnce).await.unwrap();
    wait_route(&nodes[0], &nodes[1], "flow/#", None).await;
    let p = nodes[0].client("flow-pub").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut sent = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let rc = p
                    .publish("flow/x", sent.to_string(), QoS::AtLeastOnce, false)
                    .await
                    .unwrap();
                assert_eq!(rc, ReasonCode::Success, "message {sent}");
                sent += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sent
        }
    });
    let seed = nodes[0].seed();
    for name in ["n3", "n4"] {
        let joiner = TestNode::start(name, &root, &cookie, "").await;
        joiner.cluster().join(&seed).await.expect("join");
        nodes.push(joiner);
        wait_running(&nodes, 3).await;
        let leaver = nodes.pop().expect("joiner");
        leaver.cluster().leave().await.expect("leave");
        wait_running(&nodes, 2).await;
        let mut leaver = leaver;
        leaver.stop().await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = publisher.await.unwrap();
    assert!(sent > 20, "traffic flowed during the changes ({sent})");
    for i in 0..sent {
        let got = expect_publish(&sub).await;
        assert_eq!(
            payload_text(&got),
            i.to_string(),
            "message {i} arrives once, in order"
        );
    }
    expect_quiet(&sub).await;
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_losing_quorum_keeps_local_clients_served_and_recovers() {
    let root = TempDir::new("quorum");
    let mut nodes = cluster_of(&root, 3, "").await;
    nodes[1].stop().await;
    nodes[2].stop().await;
    eventually("n1 sees two stopped", || {
        nodes[0].cluster().status().stopped_nodes.len() == 2
    })
    .await;
    // The minority serves its local clients.
    let c = nodes[0].client("local").await;
    c.subscribe("minority/t", QoS::AtLeastOnce).await.unwrap();
    assert_eq!(
        c.publish("minority/t", "m", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    assert_eq!(payload_text(&expect_publish(&c).await), "m");
    // A retained message is stored locally at once; its cluster-wide write waits for quorum.
    c.publish("minority/r", "kept", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    assert!(nodes[0].node().broker.retained.get("minority/r").is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One node back: quorum, and the waiting write goes through.
    nodes[1].restart().await;
    eventually("the retained write reached n2", || {
        nodes[1]
            .node
            .as_ref()
            .is_some_and(|n| n.broker.retained.get("minority/r").is_some())
    })
    .await;
    nodes[2].restart().await;
    wait_running(&nodes, 3).await;
    eventually("n3 has it too", || {
        nodes[2].node().broker.retained.get("minority/r").is_some()
    })
    .await;
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_autoclean_removes_a_node_down_longer_than_configured() {
    let root = TempDir::new("autoclean");
    let mut nodes = cluster_of(&root, 3, "cluster.autoclean = 2s").await;
    let gone = nodes[2].cluster().id;
    nodes[2].stop().await;
    for n in &nodes[..2] {
        eventually("the dead node is removed", || {
            let s = n.cluster().status();
            s.members.len() == 2 && s.stopped_nodes.is_empty()
        })
        .await;
        assert!(n.cluster().routes_of(gone).is_empty());
    }
    nodes.truncate(2);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_over_mutual_tls_and_a_foreign_certificate_is_refused() {
    let root = TempDir::new("tls");
    let write = |name: &str, text: &str| {
        let p = root.0.join(name);
        std::fs::write(&p, text).expect("write pem");
        p.display().to_string()
    };
    let ca = linkmq_tests::pki::Ca::new("cluster ca");
    let (cert, key) = ca.node("node", &["127.0.0.1"]);
    let rpc_tls = |cert: &str, key: &str, ca: &str| {
        format!(
            "rpc {{ driver = ssl, certfile = \"{cert}\", keyfile = \"{key}\", cacertfile = \"{ca}\" }}"
        )
    };
    let extra = rpc_tls(
        &write("node.pem", &cert),
        &write("node.key", &key),
        &write("ca.pem", &ca.pem()),
    );
    let nodes = cluster_of(&root, 2, &extra).await;
    let sub = nodes[1].client("tls-sub").await;
    sub.subscribe("tls/t", QoS::AtLeastOnce).await.unwrap();
    wait_route(&nodes[0], &nodes[1], "tls/t", None).await;
    let p = nodes[0].client("tls-pub").await;
    p.publish("tls/t", "over tls", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload_text(&expect_publish(&sub).await), "over tls");
    // The right cookie but a certificate of another CA: no way in.
    let other = linkmq_tests::pki::Ca::new("other ca");
    let (ocert, okey) = other.node("intruder", &["127.0.0.1"]);
    let extra = rpc_tls(
        &write("o.pem", &ocert),
        &write("o.key", &okey),
        &write("oca.pem", &other.pem()),
    );
    let intruder = TestNode::start("x", &root, &nodes[0].cookie, &extra).await;
    assert!(intruder.cluster().join(&nodes[0].seed()).await.is_err());
    assert_eq!(nodes[0].cluster().status().members.len(), 2);
    let mut all = nodes;
    all.push(intruder);
    shutdown(all).await;
}

// ---- 2. Routing ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routing_qos_0_1_2_and_wildcards_across_nodes() {
    let root = TempDir::new("routing");
    let nodes = cluster_of(&root, 2, "").await;
    let sub = nodes[1].client("sub").await;
    sub.subscribe("r/+/x", QoS::ExactlyOnce).await.unwrap();
    sub.subscribe("w/#", QoS::AtLeastOnce).await.unwrap();
    wait_route(&nodes[0], &nodes[1], "r/+/x", None).await;
    wait_route(&nodes[0], &nodes[1], "w/#", None).await;
    let p = nodes[0].client("pub").await;
    for (qos, n) in [
        (QoS::AtMostOnce, 0),
        (QoS::AtLeastOnce, 1),
        (QoS::ExactlyOnce, 2),
    ] {
        let rc = p
            .publish(&format!("r/{n}/x"), format!("q{n}"), qos, false)
            .await
            .unwrap();
        assert_eq!(rc, ReasonCode::Success, "remote-only match acks 0x00");
        let got = expect_publish(&sub).await;
        assert_eq!(got.topic, format!("r/{n}/x"));
        assert_eq!(got.qos, qos);
        assert_eq!(payload_text(&got), format!("q{n}"));
    }
    // `w/#` at QoS 1 downgrades a QoS 2 publish.
    p.publish("w/a/b/c", "deep", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    let got = expect_publish(&sub).await;
    assert_eq!((got.topic.as_str(), got.qos), ("w/a/b/c", QoS::AtLeastOnce));
    // Nothing matches: 0x10 on the publisher's node.
    assert_eq!(
        p.publish("nobody", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
    expect_quiet(&sub).await;
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routing_each_message_crosses_to_each_node_once_in_publisher_order() {
    let root = TempDir::new("once");
    let nodes = cluster_of(&root, 3, "").await;
    // Two overlapping filters (two sessions) on n2, one on n3.
    let s2a = nodes[1].client("s2a").await;
    s2a.subscribe("o/#", QoS::AtLeastOnce).await.unwrap();
    let s2b = nodes[1].client("s2b").await;
    s2b.subscribe("o/+", QoS::AtLeastOnce).await.unwrap();
    s2b.subscribe("o/1", QoS::AtLeastOnce).await.unwrap();
    let s3 = nodes[2].client("s3").await;
    s3.subscribe("o/1", QoS::AtLeastOnce).await.unwrap();
    wait_route(&nodes[0], &nodes[1], "o/+", None).await;
    wait_route(&nodes[0], &nodes[1], "o/1", None).await;
    wait_route(&nodes[0], &nodes[2], "o/1", None).await;
    let forwarded_before = nodes[0].node().broker.metrics.get(Counter::MessagesForward);
    let received_before: Vec<u64> = nodes
        .iter()
        .map(|n| n.node().broker.metrics.get(Counter::MessagesReceived))
        .collect();
    let p = nodes[0].client("pub").await;
    const N: usize = 100;
    let mut acks = Vec::new();
    for i in 0..N {
        let publish = linkmq_codec::Publish {
            qos: QoS::AtLeastOnce,
            topic: "o/1".into(),
            payload: Bytes::from(i.to_string()),
            ..Default::default()
        };
        acks.push(p.publish_queued(publish).await.unwrap());
    }
    for a in acks {
        assert_eq!(a.await.unwrap(), ReasonCode::Success);
    }
    for (c, name) in [(&s2a, "s2a"), (&s2b, "s2b"), (&s3, "s3")] {
        for i in 0..N {
            let got = expect_publish(c).await;
            assert_eq!(
                payload_text(&got),
                i.to_string(),
                "{name}: message {i} in order"
            );
        }
        expect_quiet(c).await;
    }
    let forwarded = nodes[0].node().broker.metrics.get(Counter::MessagesForward) - forwarded_before;
    assert_eq!(forwarded, 2 * N as u64, "one copy per node (n2, n3)");
    for (i, n) in nodes.iter().enumerate().skip(1) {
        let got = n.node().broker.metrics.get(Counter::MessagesReceived) - received_before[i];
        assert_eq!(got, N as u64, "{} received each message once", n.name);
    }
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routing_route_changes_reach_every_node() {
    let root = TempDir::new("routes");
    let nodes = cluster_of(&root, 3, "").await;
    let c = nodes[0].client("c").await;
    c.subscribe("rc/+", QoS::AtMostOnce).await.unwrap();
    c.subscribe("$share/g/rs", QoS::AtMostOnce).await.unwrap();
    let n1 = nodes[0].cluster().id;
    for n in &nodes[1..] {
        wait_route(n, &nodes[0], "rc/+", None).await;
        wait_route(n, &nodes[0], "rs", Some("g")).await;
    }
    c.unsubscribe(&["rc/+"]).await.unwrap();
    for n in &nodes[1..] {
        eventually("unsubscribe replicated", || {
            n.cluster().routes_of(n1) == vec![("rs".to_string(), Some("g".to_string()))]
        })
        .await;
    }
    drop(c);
    for n in &nodes[1..] {
        eventually("session end replicated", || {
            n.cluster().routes_of(n1).is_empty()
        })
        .await;
    }
    shutdown(nodes).await;
}

// ---- 3. Shared subscriptions and retained messages ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_subscription_gives_each_message_to_one_member_cluster_wide() {
    let root = TempDir::new("shared");
    let nodes = cluster_of(&root, 3, "").await;
    let mut members = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let c = n.client(&format!("m{i}")).await;
        c.subscribe("$share/g/sh/+", QoS::AtLeastOnce)
            .await
            .unwrap();
        members.push(c);
    }
    for n in &nodes[1..] {
        wait_route(&nodes[0], n, "sh/+", Some("g")).await;
    }
    let p = nodes[0].client("p").await;
    const N: usize = 30;
    for i in 0..N {
        assert_eq!(
            p.publish(&format!("sh/{i}"), i.to_string(), QoS::AtLeastOnce, false)
                .await
                .unwrap(),
            ReasonCode::Success
        );
    }
    let mut seen = Vec::new();
    let mut per_member = Vec::new();
    for m in &members {
        let mut n = 0;
        while let Some(Event::Publish(p)) = m.recv_timeout(Duration::from_millis(500)).await {
            seen.push(payload_text(&p).parse::<usize>().unwrap());
            n += 1;
        }
        per_member.push(n);
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "each message exactly once"
    );
    assert!(
        per_member.iter().all(|n| *n > 0),
        "round robin reaches members on every node: {per_member:?}"
    );
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_subscription_hash_clientid_keeps_each_publisher_on_one_member_cluster_wide() {
    let root = TempDir::new("sharedhash");
    let extra = "mqtt.shared_subscription_strategy = hash_clientid";
    let nodes = cluster_of(&root, 3, extra).await;
    let mut members = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let c = n.client(&format!("h{i}")).await;
        c.subscribe("$share/g/hs", QoS::AtLeastOnce).await.unwrap();
        members.push(c);
    }
    for n in &nodes[1..] {
        wait_route(&nodes[0], n, "hs", Some("g")).await;
    }
    let mut homes = BTreeSet::new();
    for p in 0..6 {
        let publisher = nodes[p % 3].client(&format!("hp{p}")).await;
        for i in 0..5 {
            publisher
                .publish("hs", format!("{p}-{i}"), QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
        // All five went to one member (the same whichever node they were published on).
        let mut got_by = Vec::new();
        for (m, c) in members.iter().enumerate() {
            let mut n = 0;
            while let Some(Event::Publish(_)) = c.recv_timeout(Duration::from_millis(300)).await {
                n += 1;
            }
            if n > 0 {
                got_by.push((m, n));
            }
        }
        assert_eq!(got_by.len(), 1, "publisher hp{p}: {got_by:?}");
        assert_eq!(got_by[0].1, 5);
        homes.insert(got_by[0].0);
    }
    assert!(homes.len() > 1, "publishers spread over members: {homes:?}");
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retained_messages_are_visible_on_every_node_and_survive_restart() {
    let root = TempDir::new("retained");
    let mut nodes = cluster_of(&root, 3, "").await;
    let p = nodes[0].client("p").await;
    p.publish("ret/a", "A", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    p.publish("ret/b", "B", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    for n in &nodes {
        eventually("retained replicated", || {
            n.node().broker.retained.get("ret/a").is_some()
                && n.node().broker.retained.get("ret/b").is_some()
        })
        .await;
    }
    let s = nodes[2].client("s").await;
    s.subscribe("ret/#", QoS::AtLeastOnce).await.unwrap();
    let mut got: Vec<String> = Vec::new();
    for _ in 0..2 {
        let m = expect_publish(&s).await;
        assert!(m.retain);
        got.push(payload_text(&m));
    }
    got.sort();
    assert_eq!(got, vec!["A", "B"]);
    // Clearing replicates too.
    p.publish("ret/b", Bytes::new(), QoS::AtLeastOnce, true)
        .await
        .unwrap();
    for n in &nodes {
        eventually("retained clear replicated", || {
            n.node().broker.retained.get("ret/b").is_none()
        })
        .await;
    }
    drop(s);
    // A restarted node has them from its own disk at once.
    nodes[2].restart().await;
    assert!(nodes[2].node().broker.retained.get("ret/a").is_some());
    assert!(nodes[2].node().broker.retained.get("ret/b").is_none());
    wait_running(&nodes, 3).await;
    let _ = WAIT;
    shutdown(nodes).await;
}

/// A node's own retained writes are not undone by their replication: Raft applies each write on
/// the node that made it too, later than the node stored it, and the older of two quick writes to
/// a topic must not come back over the newer one (a subscriber in between got the old message).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retained_quick_replacements_are_never_read_back_stale_on_their_node() {
    let root = TempDir::new("retained-order");
    let nodes = cluster_of(&root, 1, "").await;
    let p = nodes[0].client("p").await;
    let store = &nodes[0].node().broker.retained;
    let read = || store.get("order/r").map(|m| m.payload.clone());
    for round in 0..20 {
        let (old, new) = (format!("old-{round}"), format!("new-{round}"));
        p.publish("order/r", old, QoS::AtLeastOnce, true)
            .await
            .unwrap();
        p.publish("order/r", new.clone(), QoS::AtLeastOnce, true)
            .await
            .unwrap();
        // Until well after both are applied, the store holds the newer one.
        let until = tokio::time::Instant::now() + Duration::from_millis(30);
        while tokio::time::Instant::now() < until {
            assert_eq!(read(), Some(Bytes::from(new.clone())), "round {round}");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    drop(p);
    shutdown(nodes).await;
}
