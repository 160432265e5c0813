//! Spec §9 scenario 8 (misconfigurations), as both sides log them: the handshake is rejected with the
//! spec's reason, in the receiver's order of checks, and nothing is replicated.

mod link_support;

use std::time::Duration;

use link_support::{Cluster, eventually, link, link_with};
use linkmq_client::{QoS, ReasonCode};

const WAIT: Duration = Duration::from_secs(10);

/// A log line that has all of `parts`.
fn logged(log: &str, parts: &[&str]) -> bool {
    log.lines().any(|l| parts.iter().all(|p| l.contains(p)))
}

async fn assert_rejected(east: &Cluster, west: &Cluster, reason: &str) {
    let want = format!("reason={reason}");
    eventually(&format!("east logs the rejection {reason}"), WAIT, || {
        logged(&east.log(), &["handshake rejected", &want])
    })
    .await;
    eventually(&format!("west logs the rejection {reason}"), WAIT, || {
        logged(&west.log(), &["cluster link handshake rejected", &want])
    })
    .await;
    // Every actor state change is a structured event.
    let log = east.log();
    for to in ["to=handshaking", "to=disconnected"] {
        assert!(
            logged(
                &log,
                &["cluster link actor state changed", "link=", "actor=", to]
            ),
            "{to} missing in east's log"
        );
    }
    // Nothing was replicated: a subscription on east does not make west forward.
    let s = east.client("s").await;
    s.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        p.publish("t/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
}

#[tokio::test]
async fn spec_9_8_wrong_link_name_is_rejected_as_bad_remote_cluster_link_name() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    // east calls west "westx": the target cluster (field 13) is not west's cluster.name.
    east.launch(&[link("westx", west.port, &["t/#"])]);
    west.launch(&[link("east", east.port, &[])]);
    assert_rejected(&east, &west, "bad_remote_cluster_link_name").await;
}

#[tokio::test]
async fn spec_9_8_disabled_remote_link_is_rejected_as_cluster_link_disabled() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    east.launch(&[link("west", west.port, &["t/#"])]);
    west.launch(&[link_with("east", east.port, &[], "enable = false")]);
    assert_rejected(&east, &west, "cluster_link_disabled").await;
}

#[tokio::test]
async fn spec_9_8_remote_without_the_link_rejects_as_unknown_cluster() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    east.launch(&[link("west", west.port, &["t/#"])]);
    west.launch(&[]);
    assert_rejected(&east, &west, "unknown_cluster").await;
}

#[tokio::test]
async fn checks_run_in_spec_order_disabled_before_bad_name() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    // Both wrong: the link is disabled on west AND east calls west by another name.
    east.launch(&[link("westx", west.port, &["t/#"])]);
    west.launch(&[link_with("east", east.port, &[], "enable = false")]);
    assert_rejected(&east, &west, "cluster_link_disabled").await;
    assert!(!west.log().contains("reason=bad_remote_cluster_link_name"));
}
