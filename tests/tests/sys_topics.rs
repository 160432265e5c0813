//! `$SYS/brokers/<node>/...`: EMQX topic names, heartbeat and stats intervals, sane values.

use std::collections::BTreeMap;
use std::time::Duration;

use linkmq_client::{Client, Event};
use linkmq_codec::QoS;
use linkmq_tests::TestBroker;
use tokio::time::Instant;

const NODE: &str = "linkmq@127.0.0.1";

async fn sys_broker() -> TestBroker {
    TestBroker::start_with(|s| {
        s.sys_heartbeat_interval = Some(Duration::from_secs(1));
        s.sys_msg_interval = Some(Duration::from_secs(1));
    })
    .await
}

/// Collects (topic → payloads in arrival order) for `within`.
async fn collect(c: &Client, within: Duration) -> BTreeMap<String, Vec<String>> {
    let until = Instant::now() + within;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        match c.recv_timeout(left).await {
            Some(Event::Publish(p)) => out
                .entry(p.topic.clone())
                .or_default()
                .push(String::from_utf8(p.payload.to_vec()).unwrap()),
            Some(other) => panic!("unexpected {other:?}"),
            None => return out,
        }
    }
}

/// Waits until `topic` carries `want`, returning every value seen for it on the way.
async fn wait_for_value(c: &Client, topic: &str, want: &str, within: Duration) -> Vec<String> {
    let until = Instant::now() + within;
    let mut seen = Vec::new();
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        match c.recv_timeout(left).await {
            Some(Event::Publish(p)) if p.topic == topic => {
                let v = String::from_utf8(p.payload.to_vec()).unwrap();
                seen.push(v.clone());
                if v == want {
                    return seen;
                }
            }
            Some(Event::Publish(_)) => {}
            other => panic!("{topic} never became {want:?} (seen {seen:?}), then {other:?}"),
        }
    }
    panic!("{topic} never became {want:?} within {within:?}; seen {seen:?}");
}

#[tokio::test]
async fn heartbeat_topics_uptime_datetime_version_sysdescr() {
    let b = sys_broker().await;
    let c = b.client("watcher").await;
    for f in [
        "$SYS/brokers/+/uptime",
        "$SYS/brokers/+/datetime",
        "$SYS/brokers/+/version",
        "$SYS/brokers/+/sysdescr",
    ] {
        c.subscribe(f, QoS::AtMostOnce).await.unwrap();
    }
    let got = collect(&c, Duration::from_millis(2300)).await;
    let t = |s: &str| format!("$SYS/brokers/{NODE}/{s}");
    assert_eq!(
        got[&t("version")],
        vec![linkmq_core::sys::VERSION.to_string()]
    );
    assert_eq!(got[&t("sysdescr")], vec!["linkmq".to_string()]);
    // The retained value on subscribe, then one per second: seconds since start, not decreasing.
    let uptimes: Vec<u64> = got[&t("uptime")]
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(uptimes.len() >= 2, "{uptimes:?}");
    assert!(uptimes.windows(2).all(|w| w[0] <= w[1]), "{uptimes:?}");
    assert!(
        *uptimes.last().unwrap() >= 1 && *uptimes.last().unwrap() <= 4,
        "{uptimes:?}"
    );
    let now_ms = linkmq_core::message::now_ms();
    for v in &got[&t("datetime")] {
        let ms: u64 = v.parse().unwrap();
        assert!(
            now_ms.abs_diff(ms) < 10_000,
            "datetime {ms} vs now {now_ms}"
        );
    }
    assert_eq!(got.len(), 4, "nothing else matched: {:?}", got.keys());
}

#[tokio::test]
async fn stats_connections_count_follows_the_connected_clients() {
    let b = sys_broker().await;
    let c = b.client("watcher").await;
    c.subscribe("$SYS/brokers/+/stats/connections/count", QoS::AtMostOnce)
        .await
        .unwrap();
    let topic = format!("$SYS/brokers/{NODE}/stats/connections/count");
    wait_for_value(&c, &topic, "1", Duration::from_secs(3)).await;
    let _one = b.client("a").await;
    let two = b.client("b").await;
    wait_for_value(&c, &topic, "3", Duration::from_secs(3)).await;
    two.disconnect().await.unwrap();
    wait_for_value(&c, &topic, "2", Duration::from_secs(3)).await;
}

#[tokio::test]
async fn metrics_messages_received_counts_client_publishes_only() {
    let b = sys_broker().await;
    let c = b.client("watcher").await;
    c.subscribe("$SYS/brokers/+/metrics/messages/received", QoS::AtMostOnce)
        .await
        .unwrap();
    c.subscribe(
        "$SYS/brokers/+/metrics/messages/qos1/received",
        QoS::AtMostOnce,
    )
    .await
    .unwrap();
    let p = b.client("pub").await;
    for i in 0..3 {
        p.publish("m/t", format!("{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    p.publish("m/t", "q0", QoS::AtMostOnce, false)
        .await
        .unwrap();
    let seen = wait_for_value(
        &c,
        &format!("$SYS/brokers/{NODE}/metrics/messages/received"),
        "4",
        Duration::from_secs(3),
    )
    .await;
    // $SYS messages themselves are not counted as received: the value never passes 4.
    assert!(
        seen.iter().all(|v| v.parse::<u64>().unwrap() <= 4),
        "{seen:?}"
    );
    // The next round (1 s later) repeats the same values.
    let got = collect(&c, Duration::from_millis(1300)).await;
    for (suffix, want) in [("received", "4"), ("qos1/received", "3")] {
        let values = &got[&format!("$SYS/brokers/{NODE}/metrics/messages/{suffix}")];
        assert!(!values.is_empty());
        assert!(values.iter().all(|v| v == want), "{suffix}: {values:?}");
    }
}

#[tokio::test]
async fn without_intervals_only_the_static_topics_are_published() {
    let b = TestBroker::start().await; // sys intervals off
    let c = b.client("watcher").await;
    c.subscribe("$SYS/#", QoS::AtMostOnce).await.unwrap();
    let got = collect(&c, Duration::from_millis(1200)).await;
    let keys: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "$SYS/brokers/linkmq@127.0.0.1/sysdescr",
            "$SYS/brokers/linkmq@127.0.0.1/version"
        ]
    );
}
