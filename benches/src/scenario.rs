//! The standard scenarios `cargo xtask bench` runs against each broker. Throughput scenarios publish
//! for a fixed time (4 s, `--quick` 1 s) under a message-count bound, so a slow broker does not make
//! the run long; open-loop ones publish a fixed count at a fixed rate (at least 10,000 messages and
//! 5 s; `--quick` 2 s).

use std::time::Duration;

use linkmq_codec::QoS;

use crate::run::{IdlePlan, Pacing, Plan, PubPlan, SubPlan};

/// Name and one-line description of every standard scenario, in the order they run.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("qos0", "QoS 0 1→1, closed loop (window 1000)"),
    ("qos1", "QoS 1 1→1, closed loop (inflight 32, window 1000)"),
    ("fanout", "QoS 0 1→100, closed loop"),
    ("fanin", "QoS 0 100→1 on a wildcard, closed loop"),
    ("shared", "QoS 0 1→$share group of 10, closed loop"),
    (
        "idle10k",
        "10,000 idle connections: connect rate, RSS per connection",
    ),
    ("latency-qos0-1k", "QoS 0 open loop at 1,000 msg/s"),
    ("latency-qos0-10k", "QoS 0 open loop at 10,000 msg/s"),
    ("latency-qos1-1k", "QoS 1 open loop at 1,000 msg/s"),
    ("latency-qos1-10k", "QoS 1 open loop at 10,000 msg/s"),
    ("payload-1k", "QoS 0 1→1 with 1 KB payloads, closed loop"),
    ("payload-64k", "QoS 0 1→1 with 64 KB payloads, closed loop"),
    (
        "cluster-2node-qos0",
        "QoS 0 1→1 from node 1 to node 2 of a cluster (--sub-port), closed loop",
    ),
    (
        "cluster-2node-qos1",
        "QoS 1 1→1 from node 1 to node 2 of a cluster (--sub-port), closed loop",
    ),
    (
        "linked-clusters-qos0",
        "QoS 0 1→1 from cluster A to linked cluster B (--sub-port), closed loop",
    ),
    (
        "linked-clusters-qos1",
        "QoS 1 1→1 from cluster A to linked cluster B (--sub-port), closed loop",
    ),
];

/// Fills `base` (target, broker pid, output options) with the scenario `name`.
pub fn plan(name: &str, quick: bool, mut base: Plan) -> anyhow::Result<Plan> {
    let scale = |n: u64| if quick { (n / 10).max(1) } else { n };
    base.name = name.to_string();
    base.duration = Duration::from_secs(if quick { 1 } else { 4 });
    base.drain = Duration::from_secs(5);
    let pub_plan = |count: usize, topic: &str, qos: QoS, size: usize, limit: u64, pacing| PubPlan {
        count,
        topic: topic.into(),
        qos,
        size,
        retain: false,
        limit,
        pacing,
        inflight: 32,
    };
    let sub_plan = |count: usize, filter: &str, qos: QoS| SubPlan {
        count,
        filter: filter.into(),
        qos,
        limit: 0,
    };
    let one_to_one = |base: &mut Plan, qos: QoS, size: usize, limit: u64, window: u64| {
        base.sub = Some(sub_plan(1, "bench/one", qos));
        base.publ = Some(pub_plan(
            1,
            "bench/one",
            qos,
            size,
            limit,
            Pacing::Window(window),
        ));
        base.fanout = 1;
    };
    let open_loop = |base: &mut Plan, qos: QoS, rate: f64| {
        // At least 10,000 messages (10 s at 1,000 msg/s): a p99 over 5,000 rests on its 50 worst
        // samples and moved by ±20 % between repetitions of either broker.
        let seconds: f64 = if quick {
            2.0
        } else {
            (10_000.0 / rate).max(5.0)
        };
        // The deadline must not cut the count short (it did: 4 s of the 5).
        base.duration = Duration::from_secs_f64(seconds + 1.0);
        base.sub = Some(sub_plan(1, "bench/lat", qos));
        let mut p = pub_plan(
            1,
            "bench/lat",
            qos,
            64,
            (rate * seconds) as u64,
            Pacing::Rate(rate),
        );
        p.inflight = 10_000;
        base.publ = Some(p);
        base.fanout = 1;
    };
    match name {
        "qos0" => one_to_one(&mut base, QoS::AtMostOnce, 64, scale(5_000_000), 1000),
        "qos1" => one_to_one(&mut base, QoS::AtLeastOnce, 64, scale(5_000_000), 1000),
        "fanout" => {
            base.sub = Some(sub_plan(100, "bench/fanout", QoS::AtMostOnce));
            base.publ = Some(pub_plan(
                1,
                "bench/fanout",
                QoS::AtMostOnce,
                64,
                scale(100_000),
                Pacing::Window(100),
            ));
            base.fanout = 100;
        }
        "fanin" => {
            base.sub = Some(sub_plan(1, "bench/fanin/+", QoS::AtMostOnce));
            base.publ = Some(pub_plan(
                100,
                "bench/fanin/%i",
                QoS::AtMostOnce,
                64,
                scale(50_000),
                Pacing::Window(1000),
            ));
            base.fanout = 1;
        }
        "shared" => {
            base.sub = Some(sub_plan(10, "$share/g/bench/shared", QoS::AtMostOnce));
            base.publ = Some(pub_plan(
                1,
                "bench/shared",
                QoS::AtMostOnce,
                64,
                scale(5_000_000),
                Pacing::Window(1000),
            ));
            base.fanout = 1;
        }
        "idle10k" => {
            base.idle = Some(IdlePlan {
                count: scale(10_000) as usize,
                hold: Duration::from_secs(1),
            });
            base.conn_concurrency = 100;
            base.conn_rate = 0.0;
            // Two handshaking threads: one would be the bottleneck (see `crate::shards`).
            base.conn_threads = 2;
            if base.target.ifaddrs.is_empty() && base.target.addr.ip().is_loopback() {
                // Four source addresses: four times the ephemeral ports, so repeated runs never run out.
                base.target.ifaddrs = (1..=4).map(|i| [127, 0, 0, i].into()).collect();
            }
        }
        "latency-qos0-1k" => open_loop(&mut base, QoS::AtMostOnce, 1_000.0),
        "latency-qos0-10k" => open_loop(&mut base, QoS::AtMostOnce, 10_000.0),
        "latency-qos1-1k" => open_loop(&mut base, QoS::AtLeastOnce, 1_000.0),
        "latency-qos1-10k" => open_loop(&mut base, QoS::AtLeastOnce, 10_000.0),
        "payload-1k" => one_to_one(&mut base, QoS::AtMostOnce, 1024, scale(2_000_000), 1000),
        "payload-64k" => one_to_one(&mut base, QoS::AtMostOnce, 64 * 1024, scale(200_000), 100),
        // Two brokers: `--sub-port` puts the subscriber on the second (xtask starts the pair).
        "cluster-2node-qos0" | "linked-clusters-qos0" => {
            one_to_one(&mut base, QoS::AtMostOnce, 64, scale(5_000_000), 1000)
        }
        "cluster-2node-qos1" | "linked-clusters-qos1" => {
            one_to_one(&mut base, QoS::AtLeastOnce, 64, scale(5_000_000), 1000)
        }
        other => anyhow::bail!(
            "unknown scenario {other:?}; known: {}",
            SCENARIOS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok(base)
}
