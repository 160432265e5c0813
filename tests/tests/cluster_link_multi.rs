//! Cluster Linking between two clusters of two nodes each (real `linkmq` processes): every node
//! runs its own route-replication actor and forwarding pool, the external route table is shared by
//! the nodes of the receiving cluster, and the API aggregates `node_status` / `node_metrics` over
//! the nodes. Spec §9 scenarios 1 (a publish matched on two receiving nodes is forwarded once and
//! delivered once to each) and 5 (a dead receiving node's routes vanish after the TTL, the others
//! stay).

mod cluster_support;
mod link_support;

use std::time::Duration;

use cluster_support::proc::{ProcNode, wait_nodes, wait_until};
use cluster_support::{TempDir, rand_u64};
use linkmq_client::{Client, ConnectOptions, Event};
use linkmq_codec::{QoS, ReasonCode};

const CONVERGE: Duration = Duration::from_secs(20);

fn login(port: u16) -> String {
    let (code, body) = link_support::http(
        port,
        "POST",
        "/api/v5/login",
        None,
        Some(&serde_json::json!({"username": "admin", "password": "public"})),
    );
    assert_eq!(code, 200, "login: {body}");
    body["token"].as_str().expect("token").to_string()
}

fn get(port: u16, token: &str, path: &str) -> serde_json::Value {
    let (code, body) =
        link_support::http(port, "GET", &format!("/api/v5{path}"), Some(token), None);
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}

async fn connect(addr: &str, id: &str) -> Client {
    Client::connect(ConnectOptions::new(addr, id).keep_alive(0))
        .await
        .unwrap_or_else(|e| panic!("{id} connects to {addr}: {e}"))
        .0
}

/// The payloads received on `c` until `n` came (or `within` passed), then anything more within
/// a short quiet period (to catch duplicates).
async fn texts(c: &Client, n: usize, within: Duration) -> Vec<String> {
    let until = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    loop {
        if out.len() >= n {
            if let Some(Event::Publish(p)) = c.recv_timeout(Duration::from_millis(300)).await {
                out.push(String::from_utf8_lossy(&p.payload).into_owned());
                continue;
            }
            return out;
        }
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await {
            Some(Event::Publish(p)) => out.push(String::from_utf8_lossy(&p.payload).into_owned()),
            _ => return out,
        }
    }
}

/// A two-node cluster `name` (nodes `<name>1`, `<name>2`) with one link; the second node joined.
fn two_nodes(root: &TempDir, name: &str, link: &str) -> Vec<ProcNode> {
    let cookie = format!("c{:x}", rand_u64());
    let mut nodes: Vec<ProcNode> = (1..=2)
        .map(|i| {
            let mut n = ProcNode::new(&format!("{name}{i}"), "127.0.0.1", &root.0, &cookie);
            n.api_port = linkmq_tests::free_port();
            n
        })
        .collect();
    let link = link.to_string();
    for n in &mut nodes {
        n.extra = format!("cluster {{ name = \"{name}\", links = [ {link} ] }}");
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_2x2_scenario_1_and_5_forward_once_deliver_once_each_ttl_removes_dead_node_routes() {
    let root = TempDir::new("link2x2");
    // A publishes, B subscribes: B's link to A carries the topics, A's link to B the connection.
    let mut a = two_nodes(&root, "A", "");
    let mut b = two_nodes(&root, "B", "");
    let a_server = format!("127.0.0.1:{}", a[0].mqtt_port);
    let b_server = format!("127.0.0.1:{}", b[0].mqtt_port);
    for n in &mut a {
        n.extra = format!(
            "cluster {{ name = \"A\", links = [ {{ name = \"B\", server = \"{b_server}\", topics = [], pool_size = 2 }} ] }}"
        );
    }
    for n in &mut b {
        n.extra = format!(
            "cluster {{ name = \"B\", links = [ {{ name = \"A\", server = \"{a_server}\", topics = [\"t/#\"], pool_size = 2 }} ] }}"
        );
    }
    for n in a.iter_mut().chain(b.iter_mut()) {
        n.start();
    }
    for c in [&a, &b] {
        let (ok, out) = c[1].ctl(&["join", &c[0].seed()]);
        assert!(ok, "join: {out}");
        let names: Vec<String> = c.iter().map(|n| n.name.clone()).collect();
        for n in c.iter() {
            wait_nodes(c, "2 running members", CONVERGE, || n.running() == names);
        }
    }
    // Subscriptions on both receiving nodes; both route actors replicate into A.
    let sb1 = connect(&b[0].mqtt(), "sb1").await;
    sb1.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    let sb2 = connect(&b[1].mqtt(), "sb2").await;
    sb2.subscribe("t/+", QoS::AtLeastOnce).await.unwrap();
    let tokens: Vec<String> = a.iter().map(|n| login(n.api_port)).collect();
    let routes = |i: usize| {
        get(a[i].api_port, &tokens[i], "/cluster/links/link/B/metrics")["metrics"]["router"]
            ["routes"]
            .as_u64()
    };
    // Both actors talk to A1 only; A2 knows the routes through the shared table.
    for i in 0..2 {
        wait_until("A's nodes hold B's two routes", CONVERGE, || {
            routes(i) == Some(2)
        });
    }
    // Every node of A forwards to B: node_status lists both, running.
    wait_until("link B running on both nodes of A", CONVERGE, || {
        let l = get(a[0].api_port, &tokens[0], "/cluster/links/link/B");
        l["status"] == "running"
            && l["node_status"].as_array().map(|v| v.len()) == Some(2)
            && l["node_status"]
                .as_array()
                .is_some_and(|v| v.iter().all(|n| n["status"] == "running"))
    });

    // Scenario 1: published on A2, matched by filters on B1 and B2: one copy crosses, one each.
    let p = connect(&a[1].mqtt(), "pub").await;
    const N: usize = 10;
    for i in 0..N {
        assert_eq!(
            p.publish("t/1", i.to_string(), QoS::AtLeastOnce, false)
                .await
                .unwrap(),
            ReasonCode::Success
        );
    }
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(
        texts(&sb1, N, Duration::from_secs(5)).await,
        want,
        "B1 once each, in order"
    );
    assert_eq!(
        texts(&sb2, N, Duration::from_secs(5)).await,
        want,
        "B2 once each, in order"
    );
    wait_until(
        "A forwarded each message once (summed over nodes)",
        CONVERGE,
        || {
            let m = get(a[0].api_port, &tokens[0], "/cluster/links/link/B/metrics");
            m["metrics"]["forwarding"]["success"] == N as u64
                && m["node_metrics"].as_array().map(|v| v.len()) == Some(2)
        },
    );

    // Scenario 5: B2 dies; after the TTL A drops its routes only.
    b[1].kill();
    for i in 0..2 {
        wait_until("A's nodes drop B2's route", CONVERGE, || {
            routes(i) == Some(1)
        });
    }
    assert_eq!(
        p.publish("t/2", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers,
        "only B2 wanted t/2"
    );
    p.publish("t/1", "still", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(
        texts(&sb1, 1, Duration::from_secs(5)).await,
        vec!["still".to_string()]
    );

    // A link changed through one node's API applies on every node of the cluster.
    let (code, body) = link_support::http(
        a[0].api_port,
        "POST",
        "/api/v5/cluster/links",
        Some(&tokens[0]),
        Some(&serde_json::json!({"name": "C", "server": "127.0.0.1:1", "topics": ["c/#"]})),
    );
    assert_eq!(code, 201, "create on A1: {body}");
    wait_until("A2 has link C", CONVERGE, || {
        link_support::http(
            a[1].api_port,
            "GET",
            "/api/v5/cluster/links/link/C",
            Some(&tokens[1]),
            None,
        )
        .0 == 200
    });
    let (code, _) = link_support::http(
        a[1].api_port,
        "DELETE",
        "/api/v5/cluster/links/link/C",
        Some(&tokens[1]),
        None,
    );
    assert_eq!(code, 204);
    wait_until("A1 dropped link C", CONVERGE, || {
        link_support::http(
            a[0].api_port,
            "GET",
            "/api/v5/cluster/links/link/C",
            Some(&tokens[0]),
            None,
        )
        .0 == 404
    });
}
