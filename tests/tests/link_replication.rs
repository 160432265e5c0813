//! Cluster Linking end to end, spec §9 scenarios 1–3: two single-node clusters as separate `linkmq`
//! processes. `east` subscribes (its link to `west` lists the topics it wants); `west` publishes
//! (its link to `east` supplies the forwarding connection).

mod link_support;

use std::collections::HashMap;
use std::time::Duration;

use link_support::{Cluster, await_no_route, await_route, collect, link, texts};
use linkmq_client::{QoS, ReasonCode};

const UP: Duration = Duration::from_secs(10);

/// `east` wants `t/#` from `west`; `west` wants nothing from `east`.
fn pair() -> (Cluster, Cluster) {
    (Cluster::new("east"), Cluster::new("west"))
}

fn launch(east: &mut Cluster, west: &mut Cluster) {
    east.launch(&[link("west", west.port, &["t/#"])]);
    west.launch(&[link("east", east.port, &[])]);
}

fn real(ps: &[linkmq_codec::Publish]) -> Vec<String> {
    texts(ps).into_iter().filter(|t| t != "probe").collect()
}

#[tokio::test]
async fn spec_9_1_existing_subscriptions_bootstrap_new_ones_replicate_one_copy_per_cluster() {
    let (mut east, mut west) = pair();
    east.launch(&[link("west", west.port, &["t/#"])]);
    // Subscriptions that exist before the link can come up.
    let s1 = east.client("s1").await;
    s1.subscribe("t/a/+", QoS::AtLeastOnce).await.unwrap();
    let s2 = east.client("s2").await;
    s2.subscribe("t/+/x", QoS::AtLeastOnce).await.unwrap();
    west.launch(&[link("east", east.port, &[])]);
    let p = west.client("pub").await;
    await_route(&p, "t/a/x", UP).await;
    // No local subscriber on west, a remote route: acknowledged as delivered.
    assert_eq!(
        p.publish("t/a/x", "m1", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    // Two filters matched on the receiving side: forwarded once, each subscriber gets one copy.
    for s in [&s1, &s2] {
        let got = collect(s, usize::MAX, Duration::from_millis(800)).await;
        assert_eq!(real(&got), ["m1"]);
    }
    // A topic outside the link's topics is never replicated.
    let other = east.client("other").await;
    other.subscribe("u/1", QoS::AtLeastOnce).await.unwrap();
    // New subscription while online replicates.
    let s3 = east.client("s3").await;
    s3.subscribe("t/new", QoS::AtLeastOnce).await.unwrap();
    await_route(&p, "t/new", UP).await;
    p.publish("t/new", "m2", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = collect(&s3, usize::MAX, Duration::from_millis(500)).await;
    assert_eq!(real(&got), ["m2"]);
    assert_eq!(
        p.publish("u/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
    // Unsubscribing the last subscriber removes the route on the remote.
    s3.unsubscribe(&["t/new"]).await.unwrap();
    await_no_route(&p, "t/new", UP).await;
    // Messages published on west keep their QoS, properties and topic.
    let props = linkmq_codec::Properties::from(linkmq_codec::PropertyValues {
        content_type: Some("text/plain".into()),
        user_properties: vec![("k".into(), "v".into())],
        message_expiry_interval: Some(100),
        ..Default::default()
    });
    let publish = linkmq_codec::Publish {
        topic: "t/a/props".into(),
        qos: QoS::AtLeastOnce,
        payload: "m3".into(),
        properties: props,
        ..Default::default()
    };
    p.publish_with(publish).await.unwrap();
    let got = collect(&s1, usize::MAX, Duration::from_millis(500)).await;
    let m3: Vec<_> = got.iter().filter(|x| &x.payload[..] == b"m3").collect();
    assert_eq!(m3.len(), 1);
    assert_eq!(m3[0].topic, "t/a/props");
    assert_eq!(m3[0].qos, QoS::AtLeastOnce);
    assert_eq!(m3[0].properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        m3[0].properties.user_properties,
        vec![("k".into(), "v".into())]
    );
    let left = m3[0].properties.message_expiry_interval.unwrap();
    assert!((98..=100).contains(&left), "expiry {left}");
}

#[tokio::test]
async fn spec_9_2_shared_subscriptions_one_member_per_cluster() {
    let (mut east, mut west) = pair();
    launch(&mut east, &mut west);
    let e1 = east.client("e1").await;
    let e2 = east.client("e2").await;
    for c in [&e1, &e2] {
        c.subscribe("$share/g/t/s/#", QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    let w1 = west.client("w1").await;
    w1.subscribe("$share/g/t/s/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let p = west.client("pub").await;
    // The probe must not reach the local member: probe on a plain subscription of east.
    let probe = east.client("probe").await;
    probe.subscribe("t/probe", QoS::AtMostOnce).await.unwrap();
    await_route(&p, "t/probe", UP).await;
    // Give the shared route the same chance (it was subscribed first).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        p.publish("t/s/1", format!("m{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    let wait = Duration::from_millis(1500);
    let (g1, g2, gw) = tokio::join!(
        collect(&e1, 10, wait),
        collect(&e2, 10, wait),
        collect(&w1, 10, wait)
    );
    let mut east_got: Vec<String> = texts(&g1).into_iter().chain(texts(&g2)).collect();
    east_got.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(
        east_got, want,
        "each message reaches exactly one east member"
    );
    assert_eq!(texts(&gw).len(), 10, "and exactly one west member");
    assert!(!g1.is_empty() && !g2.is_empty(), "round robin within east");
}

#[tokio::test]
async fn spec_9_3_ten_publishers_ten_qos1_messages_each_all_arrive_in_publisher_order() {
    let (mut east, mut west) = pair();
    launch(&mut east, &mut west);
    let s = east.client("s").await;
    s.subscribe("t/o/#", QoS::AtLeastOnce).await.unwrap();
    let probe_sub = east.client("probe-sub").await;
    probe_sub
        .subscribe("t/probe", QoS::AtMostOnce)
        .await
        .unwrap();
    let probe = west.client("probe").await;
    await_route(&probe, "t/probe", UP).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = west.client(&format!("p{i}")).await;
        tasks.push(tokio::spawn(async move {
            for j in 0..10 {
                let rc = c
                    .publish(
                        &format!("t/o/{i}"),
                        format!("{i}:{j}"),
                        QoS::AtLeastOnce,
                        false,
                    )
                    .await
                    .unwrap();
                assert_eq!(rc, ReasonCode::Success);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = collect(&s, 100, Duration::from_secs(5)).await;
    let mut per: HashMap<String, Vec<u32>> = HashMap::new();
    for t in real(&got) {
        let (i, j) = t.split_once(':').unwrap();
        per.entry(i.to_string())
            .or_default()
            .push(j.parse().unwrap());
    }
    assert_eq!(per.len(), 10);
    for (i, seq) in per {
        assert_eq!(seq, (0..10).collect::<Vec<_>>(), "publisher {i}");
    }
}
