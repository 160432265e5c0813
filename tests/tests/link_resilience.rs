//! Cluster Linking under failures: spec §9 scenario 7 (route churn while the route-replication
//! connection is killed repeatedly), the remote cluster killed and restarted mid-stream, and a dead
//! subscribing cluster's routes expiring after the actor TTL (the single-node form of scenario 5).

mod link_support;

use std::collections::BTreeSet;
use std::time::Duration;

use link_support::{Cluster, await_no_route, await_route, collect, link, texts};
use linkmq_client::{Client, ConnectOptions, QoS, ReasonCode};

const UP: Duration = Duration::from_secs(10);

#[tokio::test]
async fn spec_9_7_route_churn_with_routesync_killed_repeatedly_converges_to_the_true_set() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    east.launch(&[link("west", west.port, &["c/#", "probe"])]);
    west.launch(&[link("east", east.port, &[])]);
    let probe = east.client("probe").await;
    probe.subscribe("probe", QoS::AtMostOnce).await.unwrap();
    let p = west.client("pub").await;
    await_route(&p, "probe", UP).await;

    let routesync_id = format!(
        "east:routesync:{}",
        linkmq_cluster_link::h8("east@127.0.0.1")
    );
    let subs: Vec<Client> = {
        let mut v = Vec::new();
        for i in 0..2 {
            v.push(east.client(&format!("churn{i}")).await);
        }
        v
    };
    // Deterministic churn: 2 clients × 16 topics, flipping subscriptions in rounds, while the
    // route-replication connection is taken over (and so dropped) between rounds.
    let mut held: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); subs.len()];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..8 {
        for _ in 0..10 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let c = (seed % subs.len() as u64) as usize;
            let t = ((seed >> 8) % 16) as usize;
            let filter = format!("c/{t}");
            if held[c].insert(t) {
                subs[c].subscribe(&filter, QoS::AtLeastOnce).await.unwrap();
            } else {
                held[c].remove(&t);
                subs[c].unsubscribe(&[filter.as_str()]).await.unwrap();
            }
        }
        if round % 2 == 0 {
            // Take the actor's client id over: the remote drops the link's connection (0x8E).
            let (kicker, _) =
                Client::connect(ConnectOptions::new(west.addr(), routesync_id.clone()))
                    .await
                    .unwrap();
            kicker.abort();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let truth: BTreeSet<usize> = held.iter().flatten().copied().collect();
    assert_eq!(
        truth.len(),
        12,
        "the churn leaves 12 of 16 topics: {truth:?}"
    );
    for t in 0..16 {
        let topic = format!("c/{t}");
        if truth.contains(&t) {
            await_route(&p, &topic, UP).await;
        } else {
            await_no_route(&p, &topic, UP).await;
        }
    }
    // And it stays that way (nothing late arrives).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in 0..16 {
        let rc = p
            .publish(&format!("c/{t}"), "final", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let want = if truth.contains(&t) {
            ReasonCode::Success
        } else {
            ReasonCode::NoMatchingSubscribers
        };
        assert_eq!(rc, want, "c/{t}");
    }
    assert!(
        east.log().contains("disconnected by the remote with 0x8E"),
        "the takeovers really dropped the actor's connection"
    );
}

#[tokio::test]
async fn publishing_cluster_killed_and_restarted_mid_stream_routes_rebootstrap_and_qos1_resumes() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    east.launch(&[link("west", west.port, &["s/#"])]);
    west.launch(&[link("east", east.port, &[])]);
    let sub = east.client("sub").await;
    sub.subscribe("s/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("pub").await;
    await_route(&p, "s/1", UP).await;
    let mut sent_before = 0;
    for i in 0..20 {
        p.publish("s/1", format!("{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
        sent_before += 1;
    }
    west.kill();
    west.restart();
    // The subscription on east was never repeated: the actor re-bootstraps it into the new west.
    let p = west.client("pub").await;
    await_route(&p, "s/1", UP).await;
    for i in 20..40 {
        let rc = p
            .publish("s/1", format!("{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(rc, ReasonCode::Success);
    }
    let got: Vec<u32> = texts(&collect(&sub, usize::MAX, Duration::from_secs(2)).await)
        .into_iter()
        .filter(|t| t != "probe")
        .map(|t| t.parse().unwrap())
        .collect();
    // Everything after the restart arrives once and in order; before the kill, at most what was sent.
    let after: Vec<u32> = got.iter().copied().filter(|i| *i >= 20).collect();
    assert_eq!(after, (20..40).collect::<Vec<_>>());
    let before: Vec<u32> = got.iter().copied().filter(|i| *i < 20).collect();
    let mut dedup = before.clone();
    dedup.dedup();
    assert_eq!(before, dedup, "no duplicates");
    assert!(before.len() <= sent_before);
    assert!(
        before.windows(2).all(|w| w[0] < w[1]),
        "in order: {before:?}"
    );
}

#[tokio::test]
async fn subscribing_cluster_killed_its_routes_expire_after_the_actor_ttl() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    east.launch(&[link("west", west.port, &["x/#"])]);
    west.launch(&[link("east", east.port, &[])]);
    let sub = east.client("sub").await;
    sub.subscribe("x/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("pub").await;
    await_route(&p, "x/1", UP).await;
    east.kill();
    let killed = std::time::Instant::now();
    // TTL 3 s, GC every 500 ms in tests.
    await_no_route(&p, "x/1", Duration::from_secs(8)).await;
    assert!(
        killed.elapsed() >= Duration::from_millis(2000),
        "routes outlive a dead actor until its TTL passes ({:?})",
        killed.elapsed()
    );
    assert!(west.log().contains("cluster link actor expired"));
}
