//! The cluster as separate `linkmq` processes: a restarted node rejoins with its persisted state,
//! `linkmq ctl cluster ...` and `/api/v5/nodes` show one view; and faults on a real multi-host
//! network made of network namespaces (one per node, veth pairs on a bridge): killing any one node
//! of three, partitioning one node and healing, with no QoS 1 message acknowledged to a publisher
//! lost for a subscriber whose node stayed up. The namespace tests skip, saying why, where
//! namespaces cannot be created.

mod cluster_support;
mod link_support;

use std::time::Duration;

use cluster_support::netns::{NetLab, in_ns};
use cluster_support::proc::{ProcNode, wait_nodes, wait_until};
use cluster_support::{TempDir, rand_u64};
use linkmq_client::{Client, ConnectOptions, Event};
use linkmq_codec::{QoS, ReasonCode};

const CONVERGE: Duration = Duration::from_secs(20);

/// The REST API of one node, logged in as the default dashboard user.
struct Api {
    port: u16,
    token: String,
}

impl Api {
    fn login(port: u16) -> Api {
        let (code, body) = link_support::http(
            port,
            "POST",
            "/api/v5/login",
            None,
            Some(&serde_json::json!({"username": "admin", "password": "public"})),
        );
        assert_eq!(code, 200, "login: {body}");
        Api {
            port,
            token: body["token"].as_str().expect("token").to_string(),
        }
    }

    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        link_support::http(
            self.port,
            "GET",
            &format!("/api/v5{path}"),
            Some(&self.token),
            None,
        )
    }

    fn text(&self, path: &str) -> String {
        match self.get(path).1 {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

async fn connect(addr: &str, id: &str) -> Client {
    let opts = ConnectOptions::new(addr, id)
        .keep_alive(0)
        .clean_start(true)
        .session_expiry(300);
    Client::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("{id} connects to {addr}: {e}"))
        .0
}

/// Publishes QoS 1 probes on `topic` until one is acknowledged with 0x00 (a route reached `p`'s node).
async fn until_routed(p: &Client, topic: &str) {
    let until = tokio::time::Instant::now() + CONVERGE;
    loop {
        let rc = p.publish(topic, "probe", QoS::AtLeastOnce, false).await;
        if matches!(rc, Ok(ReasonCode::Success)) {
            return;
        }
        assert!(tokio::time::Instant::now() < until, "no route for {topic}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The payloads received on `c` (probes skipped) until `n` arrived or `within` passed.
async fn collect(c: &Client, n: usize, within: Duration) -> Vec<String> {
    let until = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await {
            Some(Event::Publish(p)) => {
                let text = String::from_utf8_lossy(&p.payload).into_owned();
                if text != "probe" {
                    out.push(text);
                }
            }
            _ => break,
        }
    }
    out
}

fn numbers(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

// ---- restart, rejoin, ctl, API (loopback processes) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_restarted_node_rejoins_with_its_persisted_state_ctl_and_api_agree() {
    let root = TempDir::new("proc");
    let cookie = format!("c{:x}", rand_u64());
    let mut nodes: Vec<ProcNode> = (1..=3)
        .map(|i| ProcNode::new(&format!("n{i}"), "127.0.0.1", &root.0, &cookie))
        .collect();
    nodes[0].api_port = linkmq_tests::free_port();
    for n in &mut nodes {
        n.start();
    }
    let seed = nodes[0].seed();
    for n in &nodes[1..] {
        let (ok, out) = n.ctl(&["join", &seed]);
        assert!(ok, "ctl cluster join on {}: {out}", n.name);
        assert!(out.contains("Cluster status: running_nodes = ["), "{out}");
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    for n in &nodes {
        wait_nodes(&nodes, "ctl status shows 3 running", CONVERGE, || {
            n.running() == names
        });
    }
    let (ok, out) = nodes[2].ctl(&["status"]);
    assert!(ok);
    assert!(
        out.contains(&format!("running_nodes = [{}]", names.join(", "))),
        "{out}"
    );

    // The API: one entry per member, running, with connections.
    let sub = connect(&nodes[1].mqtt(), "api-sub").await;
    let api = Api::login(nodes[0].api_port);
    wait_until("/nodes lists 3 running members", CONVERGE, || {
        let (code, body) = api.get("/nodes");
        code == 200
            && body.as_array().is_some_and(|a| {
                a.len() == 3
                    && a.iter().all(|n| n["node_status"] == "running")
                    && a.iter()
                        .any(|n| n["node"] == nodes[1].name.as_str() && n["connections"] == 1)
            })
    });
    let (_, body) = api.get("/nodes");
    let listed: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(body[1]["uptime"].as_u64().unwrap() > 0);
    let (code, one) = api.get(&format!("/nodes/{}", nodes[2].name));
    assert_eq!((code, one["node_status"].as_str()), (200, Some("running")));
    let metrics = api.text("/prometheus/stats");
    assert!(
        metrics.contains("emqx_cluster_nodes_running 3"),
        "{metrics}"
    );
    assert!(metrics.contains("emqx_cluster_nodes_stopped 0"));
    drop(sub);

    // Retained message, then n3 is killed and comes back with it from its own disk.
    let p = connect(&nodes[0].mqtt(), "p").await;
    p.publish("keep/me", "R", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    // n3 has it (replicated through Raft) before it dies.
    let until = tokio::time::Instant::now() + CONVERGE;
    loop {
        let r = connect(&nodes[2].mqtt(), "r3").await;
        r.subscribe("keep/#", QoS::AtLeastOnce).await.unwrap();
        if collect(&r, 1, Duration::from_millis(300)).await == vec!["R"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "n3 never got the retained message"
        );
    }
    nodes[2].kill();
    wait_nodes(&nodes, "n3 stopped in n1's view", CONVERGE, || {
        nodes[0].status()["status"]["stopped_nodes"][0] == nodes[2].name.as_str()
    });
    wait_until("/nodes shows n3 stopped", CONVERGE, || {
        let (_, body) = api.get("/nodes");
        body[2]["node_status"] == "stopped"
    });
    assert!(
        api.text("/prometheus/stats")
            .contains("emqx_cluster_nodes_stopped 1")
    );
    nodes[2].start();
    for n in &nodes {
        wait_nodes(&nodes, "3 running again", CONVERGE, || n.running() == names);
    }
    let s3 = connect(&nodes[2].mqtt(), "s3").await;
    s3.subscribe("keep/#", QoS::AtLeastOnce).await.unwrap();
    let got = collect(&s3, 1, Duration::from_secs(5)).await;
    assert_eq!(got, vec!["R"], "retained message survived the restart");
    // Routes of the restarted node reach the others again.
    s3.subscribe("after/restart", QoS::AtLeastOnce)
        .await
        .unwrap();
    until_routed(&p, "after/restart").await;
    p.publish("after/restart", "1", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(collect(&s3, 1, Duration::from_secs(5)).await, vec!["1"]);

    // force-leave of a dead node, from the control channel.
    nodes[1].kill();
    let (ok, out) = nodes[0].ctl(&["force-leave", &nodes[1].name]);
    assert!(ok, "force-leave: {out}");
    let two = vec![names[0].clone(), names[2].clone()];
    for i in [0, 2] {
        wait_nodes(&nodes, "two members left", CONVERGE, || {
            let s = nodes[i].status();
            s["status"]["members"].as_array().map(|a| a.len()) == Some(2)
                && nodes[i].running() == two
        });
    }
    let (ok, out) = nodes[0].ctl(&["force-leave", &nodes[0].name]);
    assert!(!ok, "a node cannot force-leave itself: {out}");
    // n3 leaves: both go on alone.
    let (ok, out) = nodes[2].ctl(&["leave"]);
    assert!(ok, "leave: {out}");
    for i in [0, 2] {
        wait_nodes(&nodes, "alone", CONVERGE, || {
            nodes[i].running() == vec![nodes[i].name.clone()]
        });
    }
}

// ---- faults on a namespace network ----

/// The lab, or None with the reason printed (no namespaces here).
fn lab_or_skip(n: usize) -> Option<NetLab> {
    match NetLab::create(n) {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("SKIPPED: network namespaces are not available here: {e}");
            None
        }
    }
}

/// Three nodes `nI@10.99.0.I` on the default cluster port, formed by static seeds.
fn netns_cluster(lab: &NetLab, root: &TempDir, timers: &str) -> Vec<ProcNode> {
    let cookie = format!("c{:x}", rand_u64());
    let seeds: Vec<String> = (0..3)
        .map(|i| format!("\"n{}@{}\"", i + 1, lab.addr(i)))
        .collect();
    let mut nodes: Vec<ProcNode> = (0..3)
        .map(|i| {
            let mut n = ProcNode::new(&format!("n{}", i + 1), &lab.addr(i), &root.0, &cookie);
            n.netns = Some(lab.nodes[i].clone());
            n.extra = format!(
                "cluster {{ discovery_strategy = static, static.seeds = [{}] }}",
                seeds.join(", ")
            );
            n.timers = timers.to_string();
            n
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    for n in &nodes {
        wait_nodes(&nodes, "3 running members", CONVERGE, || {
            n.running() == names
        });
    }
    nodes
}

#[test]
fn faults_killing_any_one_node_of_three_keeps_the_others_serving_and_routing() {
    let Some(lab) = lab_or_skip(3) else { return };
    let root = TempDir::new("kill");
    let timers = "heartbeat=100ms,election=600ms,reconnect=200ms,purge=30s,stats=200ms";
    let nodes = netns_cluster(&lab, &root, timers);
    let addrs: Vec<String> = nodes.iter().map(ProcNode::mqtt).collect();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut nodes = lab.in_client(async move {
        let mut nodes = nodes;
        for victim in 0..3 {
            let (a, b) = ((victim + 1) % 3, (victim + 2) % 3);
            let sub = connect(&addrs[b], &format!("sub-{victim}")).await;
            let topic = format!("k/{victim}");
            sub.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
            let p = connect(&addrs[a], &format!("pub-{victim}")).await;
            until_routed(&p, &topic).await;
            let _ = collect(&sub, 1, Duration::from_millis(300)).await;

            tokio::task::block_in_place(|| nodes[victim].kill());
            const N: usize = 50;
            for i in 0..N {
                let rc = p
                    .publish(&topic, i.to_string(), QoS::AtLeastOnce, false)
                    .await
                    .unwrap();
                assert_eq!(
                    rc,
                    ReasonCode::Success,
                    "publish {i} with node {victim} dead"
                );
            }
            assert_eq!(
                collect(&sub, N, Duration::from_secs(10)).await,
                numbers(0..N),
                "node {} dead: every acknowledged message arrives in order",
                victim + 1
            );
            // Cluster-wide writes go on with two of three (a new leader if the dead one led).
            let r = format!("ret/{victim}");
            p.publish(&r, "kept", QoS::AtLeastOnce, true).await.unwrap();
            let reader = connect(&addrs[b], &format!("reader-{victim}")).await;
            let until = tokio::time::Instant::now() + CONVERGE;
            loop {
                reader.subscribe(&r, QoS::AtLeastOnce).await.unwrap();
                if collect(&reader, 1, Duration::from_millis(300)).await == vec!["kept"] {
                    break;
                }
                reader.unsubscribe(&[&r]).await.unwrap();
                assert!(
                    tokio::time::Instant::now() < until,
                    "retained {r} not replicated"
                );
            }
            tokio::task::block_in_place(|| {
                nodes[victim].start();
                for n in nodes.iter() {
                    wait_nodes(&nodes, "back to 3 running", CONVERGE, || {
                        n.running() == names
                    });
                }
            });
        }
        nodes
    });
    for n in &mut nodes {
        n.kill();
    }
}

#[test]
fn faults_partitioned_node_heals_and_converges_without_losing_acknowledged_qos1() {
    let Some(lab) = lab_or_skip(3) else { return };
    let root = TempDir::new("partition");
    let timers = "heartbeat=100ms,election=600ms,reconnect=200ms,purge=60s,stats=200ms";
    let nodes = netns_cluster(&lab, &root, timers);
    let addrs: Vec<String> = nodes.iter().map(ProcNode::mqtt).collect();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let lab = std::sync::Arc::new(lab);
    let lab2 = lab.clone();
    let n3_ns = lab.nodes[2].clone();
    let n3_addr = addrs[2].clone();
    let nodes = lab.in_client(async move {
        let nodes = nodes;
        let s2 = connect(&addrs[1], "s2").await;
        s2.subscribe("part/#", QoS::AtLeastOnce).await.unwrap();
        let s3 = connect(&addrs[2], "s3").await;
        s3.subscribe("part/#", QoS::AtLeastOnce).await.unwrap();
        s3.subscribe("probe/3", QoS::AtLeastOnce).await.unwrap();
        s2.subscribe("probe/2", QoS::AtLeastOnce).await.unwrap();
        let p = connect(&addrs[0], "p").await;
        until_routed(&p, "probe/2").await;
        until_routed(&p, "probe/3").await;

        // n3 is cut off.
        lab2.cut(2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        const N: usize = 40;
        for i in 0..N {
            let rc = p
                .publish("part/x", i.to_string(), QoS::AtLeastOnce, false)
                .await
                .unwrap();
            assert_eq!(rc, ReasonCode::Success);
        }
        assert_eq!(
            collect(&s2, N, Duration::from_secs(10)).await,
            numbers(0..N),
            "the subscriber on the majority side gets every message at once"
        );
        // The majority notices and goes on; a new route there is made while n3 is away.
        tokio::task::block_in_place(|| {
            wait_nodes(&nodes, "n1 sees n3 stopped", CONVERGE, || {
                nodes[0].status()["status"]["stopped_nodes"][0] == names[2].as_str()
            })
        });
        s2.subscribe("made/during", QoS::AtLeastOnce).await.unwrap();
        // The minority side keeps serving its local clients.
        let local = in_ns(&n3_ns, {
            let addr = n3_addr.clone();
            async move {
                let c = connect(&addr, "local3").await;
                c.subscribe("local/t", QoS::AtLeastOnce).await.unwrap();
                let rc = c
                    .publish("local/t", "here", QoS::AtLeastOnce, false)
                    .await
                    .unwrap();
                (rc, collect(&c, 1, Duration::from_secs(3)).await)
            }
        });
        assert_eq!(local, (ReasonCode::Success, vec!["here".to_string()]));

        // Heal: membership and routes converge, the buffered messages reach n3's subscriber.
        lab2.heal(2);
        tokio::task::block_in_place(|| {
            for n in nodes.iter() {
                wait_nodes(&nodes, "3 running after heal", CONVERGE, || {
                    n.running() == names
                });
            }
        });
        assert_eq!(
            collect(&s3, N, Duration::from_secs(15)).await,
            numbers(0..N),
            "the subscriber on the healed node gets every acknowledged message, in order"
        );
        let p3 = connect(&addrs[2], "p3").await;
        until_routed(&p3, "made/during").await;
        let _ = collect(&s2, 1, Duration::from_millis(300)).await;
        p3.publish("made/during", "late", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(collect(&s2, 1, Duration::from_secs(5)).await, vec!["late"]);
        nodes
    });
    drop(nodes);
}
