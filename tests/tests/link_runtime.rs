//! Cluster links changed at runtime through the REST API of real `linkmq` processes: spec §9
//! scenarios 9 (topics change, disable, delete both sides), 8 (fixing a misconfiguration recovers
//! without restart) and 4 (the remote kicks the link clients: status disconnected with 0x98), plus
//! status `running` and the `routes` / forwarding metrics.

mod link_support;

use std::time::Duration;

use link_support::{Cluster, await_no_route, await_route, collect, eventually, link, texts};
use linkmq_client::{QoS, ReasonCode};
use serde_json::json;

const UP: Duration = Duration::from_secs(10);

fn status(c: &Cluster, name: &str) -> serde_json::Value {
    let (code, v) = c.api("GET", &format!("/cluster/links/{name}"), None);
    assert_eq!(code, 200, "{v}");
    v
}

fn link_body(name: &str, port: u16, topics: &[&str], enable: bool) -> serde_json::Value {
    json!({"name": name, "server": format!("127.0.0.1:{port}"), "topics": topics,
           "pool_size": 2, "enable": enable})
}

#[tokio::test]
async fn spec_9_9_runtime_topic_change_disable_enable_and_delete_both_sides() {
    let mut east = Cluster::new("east").with_api();
    let mut west = Cluster::new("west").with_api();
    east.launch(&[link("west", west.port, &["t/#"])]);
    west.launch(&[link("east", east.port, &[])]);
    let s = east.client("s").await;
    s.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    s.subscribe("u/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    await_route(&p, "t/1", UP).await;
    eventually("east's link running", UP, || {
        status(&east, "west")["status"] == "running"
    })
    .await;
    assert_eq!(status(&east, "west")["node_status"][0]["status"], "running");
    eventually("west's link running", UP, || {
        status(&west, "east")["status"] == "running"
    })
    .await;
    // routes = what east replicated into west (t/1; u/1 is outside east's topics).
    let m = west.api("GET", "/cluster/links/link/east/metrics", None).1;
    assert_eq!(m["metrics"]["router"]["routes"], 1, "{m}");
    assert_eq!(m["metrics"]["routers"], 1, "{m}");
    p.publish("t/1", "m1", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    eventually("forwarding counted", UP, || {
        let m = west.api("GET", "/cluster/links/east/metrics", None).1;
        let f = &m["metrics"]["forwarding"];
        f["success"].as_u64() >= Some(2) && f["matched"] == f["success"]
    })
    .await;
    let m = east.api("GET", "/cluster/links/west/metrics", None).1;
    assert!(
        m["metrics"]["forwarding"]["received"].as_u64() >= Some(2),
        "{m}"
    );

    // Change east's topics: t/# → u/#. The actor restarts with a new incarnation: west drops t/1.
    let (code, v) = east.api(
        "PUT",
        "/cluster/links/west",
        Some(&link_body("west", west.port, &["u/#"], true)),
    );
    assert_eq!(code, 200, "{v}");
    await_route(&p, "u/1", UP).await;
    await_no_route(&p, "t/1", UP).await;
    collect(&s, usize::MAX, Duration::from_millis(300)).await;
    p.publish("t/1", "old", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    p.publish("u/1", "new", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert_eq!(got, ["new"]);

    // Disable on east: inbound messages are blocked at once (west still has the routes).
    let (code, v) = east.api(
        "PUT",
        "/cluster/links/west",
        Some(&link_body("west", west.port, &["u/#"], false)),
    );
    assert_eq!((code, v["status"].clone()), (200, json!("stopped")));
    p.publish("u/1", "blocked", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert!(!got.contains(&"blocked".to_string()), "{got:?}");
    // Enable again: flows again.
    east.api(
        "PUT",
        "/cluster/links/west",
        Some(&link_body("west", west.port, &["u/#"], true)),
    );
    eventually("east's link running again", UP, || {
        status(&east, "west")["status"] == "running"
    })
    .await;
    p.publish("u/1", "again", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert!(got.contains(&"again".to_string()), "{got:?}");

    // Delete both sides: everything stops, nothing crashes.
    assert_eq!(east.api("DELETE", "/cluster/links/west", None).0, 204);
    assert_eq!(west.api("DELETE", "/cluster/links/link/east", None).0, 204);
    assert_eq!(
        p.publish("u/1", "gone", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert!(!got.contains(&"gone".to_string()), "{got:?}");
    assert_eq!(east.api("GET", "/cluster/links", None), (200, json!([])));
    assert_eq!(west.api("GET", "/cluster/links", None), (200, json!([])));
    s.publish("u/1", "local", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(texts(&collect(&s, 1, UP).await), ["local"]);
}

#[tokio::test]
async fn spec_9_8_fixing_misconfigurations_at_runtime_recovers_without_restart() {
    let mut east = Cluster::new("east").with_api();
    let mut west = Cluster::new("west").with_api();
    // Two mistakes: east calls west "westx", and west's link to east is disabled.
    east.launch(&[link("westx", west.port, &["t/#"])]);
    west.launch(&[link_support::link_with(
        "east",
        east.port,
        &[],
        "enable = false",
    )]);
    let reason = |c: &Cluster, name: &str| -> String {
        status(c, name)["node_status"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    eventually("rejected as disabled", UP, || {
        reason(&east, "westx").contains("cluster_link_disabled")
    })
    .await;
    assert_eq!(status(&east, "westx")["status"], "disconnected");
    assert_eq!(status(&west, "east")["status"], "stopped");
    // Fix west: the next check (the name) fails now.
    let (code, _) = west.api(
        "PUT",
        "/cluster/links/link/east",
        Some(&link_body("east", east.port, &[], true)),
    );
    assert_eq!(code, 200);
    eventually("rejected as bad name", UP, || {
        reason(&east, "westx").contains("bad_remote_cluster_link_name")
    })
    .await;
    // Fix east: replace the misnamed link.
    assert_eq!(east.api("DELETE", "/cluster/links/westx", None).0, 204);
    let (code, v) = east.api(
        "POST",
        "/cluster/links",
        Some(&link_body("west", west.port, &["t/#"], true)),
    );
    assert_eq!(code, 201, "{v}");
    eventually("running", UP, || {
        status(&east, "west")["status"] == "running"
    })
    .await;
    let s = east.client("s").await;
    s.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    await_route(&p, "t/1", UP).await;
    p.publish("t/1", "works", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert!(got.contains(&"works".to_string()), "{got:?}");
    // West started with its only link disabled: its rate sampler slept, and woke when the link
    // came. The forwarding rate is sampled every second: publish until a sample sees it move.
    let until = std::time::Instant::now() + UP;
    loop {
        p.publish("t/1", "rate", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let m = west.api("GET", "/cluster/links/east/metrics", None).1;
        if m["metrics"]["forwarding"]["rate_max"].as_f64() > Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "no forwarding rate sampled: {m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn spec_9_4_remote_kicks_the_link_clients_status_disconnected_with_0x98() {
    // A long reconnect delay keeps the disconnected state observable.
    let timers = "heartbeat=500ms,actor_ttl=3s,gc=500ms,reconnect=2s,handshake=2s";
    let mut east = Cluster::new("east").with_api().with_timers(timers);
    let mut west = Cluster::new("west").with_api();
    east.launch(&[link("west", west.port, &["t/#"])]);
    west.launch(&[link("east", east.port, &[])]);
    let h8 = linkmq_cluster_link::h8("east@127.0.0.1");
    for (round, id) in [format!("east:routesync:{h8}"), format!("east:msg:{h8}:1")]
        .iter()
        .enumerate()
    {
        eventually("running", UP, || {
            status(&east, "west")["status"] == "running"
        })
        .await;
        let kick = || {
            west.api(
                "DELETE",
                &format!("/clients/{}", id.replace(':', "%3A")),
                None,
            )
        };
        let (code, v) = kick();
        assert_eq!(code, 204, "kick {id}: {v}");
        // The first reconnect is immediate (the last attempt was long ago); kicked again, the
        // client waits `reconnect` after that attempt, disconnected.
        eventually("reconnected and kicked again", UP, || kick().0 == 204).await;
        eventually(&format!("disconnected after kick {round}"), UP, || {
            let st = status(&east, "west");
            st["status"] == "disconnected"
                && st["node_status"][0]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("0x98") && r.contains("administrative_action"))
        })
        .await;
    }
    // And it recovers by itself.
    eventually("running again", UP, || {
        status(&east, "west")["status"] == "running"
    })
    .await;
}
