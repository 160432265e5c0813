//! Three single-node clusters linked in a full mesh: each message reaches each cluster once, and
//! nothing that arrived over a link is forwarded again (no loops, no transitive relay).

mod link_support;

use std::time::Duration;

use link_support::{Cluster, await_route, collect, link, texts};
use linkmq_client::QoS;

#[tokio::test]
async fn three_cluster_full_mesh_delivers_once_per_cluster_without_loops() {
    let mut cs = [Cluster::new("a"), Cluster::new("b"), Cluster::new("c")];
    let ports: Vec<(String, u16)> = cs.iter().map(|c| (c.name.clone(), c.port)).collect();
    for c in cs.iter_mut() {
        let links: Vec<String> = ports
            .iter()
            .filter(|(n, _)| *n != c.name)
            .map(|(n, p)| link(n, *p, &["m/#"]))
            .collect();
        c.launch(&links);
    }
    let mut subs = Vec::new();
    for c in &cs {
        let s = c.client("sub").await;
        s.subscribe("m/#", QoS::AtLeastOnce).await.unwrap();
        subs.push(s);
    }
    let pubs = [
        cs[0].client("pub").await,
        cs[1].client("pub").await,
        cs[2].client("pub").await,
    ];
    // Every cluster has the other two's routes (probe until both remote routes are there: each
    // probe must reach both other clusters).
    for (i, p) in pubs.iter().enumerate() {
        for (j, s) in subs.iter().enumerate() {
            if i == j {
                continue;
            }
            let topic = format!("m/probe/{i}");
            let until = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                await_route(p, &topic, Duration::from_secs(10)).await;
                let got = collect(s, usize::MAX, Duration::from_millis(200)).await;
                if texts(&got).iter().any(|t| t == "probe") {
                    break;
                }
                assert!(std::time::Instant::now() < until, "{i} → {j} never flowed");
            }
        }
    }
    // Drain the probes everywhere.
    let wait = Duration::from_millis(300);
    tokio::join!(
        collect(&subs[0], usize::MAX, wait),
        collect(&subs[1], usize::MAX, wait),
        collect(&subs[2], usize::MAX, wait)
    );
    for (i, p) in pubs.iter().enumerate() {
        p.publish(
            &format!("m/{i}"),
            format!("from-{i}"),
            QoS::AtLeastOnce,
            false,
        )
        .await
        .unwrap();
    }
    let mut want: Vec<String> = (0..3).map(|i| format!("from-{i}")).collect();
    want.sort();
    // Listen long enough for a looping copy to come back around.
    let wait = Duration::from_millis(1200);
    let (g0, g1, g2) = tokio::join!(
        collect(&subs[0], usize::MAX, wait),
        collect(&subs[1], usize::MAX, wait),
        collect(&subs[2], usize::MAX, wait)
    );
    for (j, got) in [g0, g1, g2].iter().enumerate() {
        let mut t = texts(got);
        t.sort();
        assert_eq!(t, want, "cluster {j} gets each message exactly once");
    }
}
