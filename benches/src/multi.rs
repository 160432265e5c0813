//! Runs over two brokers (two nodes of a cluster, two linked clusters, two bridged brokers):
//! subscribers connect to another broker than publishers (`--sub-port`), so their subscription has
//! to reach the publishers' broker before anything is measured; and CPU and memory are summed over
//! every broker process (`--broker-pid A,B`).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use linkmq_codec::QoS;

use crate::procfs;
use crate::run::Plan;
use crate::wire::{self, PublishTemplate, Stamp, Target};

/// The publisher index stamped on warm-up messages: subscribers count them apart, not as deliveries.
pub const WARMUP_PUBLISHER: u32 = u32::MAX;

/// How long the route (cluster route, link route, bridge) may take to form.
const WARMUP_WITHIN: Duration = Duration::from_secs(30);

/// How often an unanswered warm-up message is sent again.
const WARMUP_EVERY: Duration = Duration::from_millis(200);

/// Publishes a stamped QoS 0 warm-up message on the first publisher's topic from an extra client of
/// the publishers' broker, every 200 ms until a subscriber got one (`arrived`, counted by the
/// subscribers), so the measured phase starts with the way from publisher to subscriber open.
/// Fails after 30 s. Returns how long it took.
pub async fn warm_up(plan: &Plan, arrived: &AtomicU64) -> anyhow::Result<Duration> {
    let Some(pp) = &plan.publ else {
        return Ok(Duration::ZERO);
    };
    let started = Instant::now();
    let id = format!("{}-warmup", plan.client_prefix);
    let mut c = wire::connect(&plan.target, &id, 0, Duration::from_secs(10)).await?;
    let topic = pp.topic.replace("%i", "0");
    let template =
        PublishTemplate::new(&topic, QoS::AtMostOnce, false, pp.size, c.protocol.is_v5());
    let mut buf = BytesMut::with_capacity(template.wire_len());
    let mut seq = 0u32;
    while arrived.load(Relaxed) == 0 {
        if started.elapsed() > WARMUP_WITHIN {
            anyhow::bail!(
                "no warm-up message on {topic} reached the subscribers within {WARMUP_WITHIN:?}: \
                 the route between the brokers did not form"
            );
        }
        buf.clear();
        let stamp = Stamp {
            sent_ns: wire::now_ns(),
            publisher: WARMUP_PUBLISHER,
            seq,
        };
        template.put(&mut buf, 0, stamp);
        c.write_all(&buf).await?;
        seq += 1;
        let next = Instant::now() + WARMUP_EVERY;
        while arrived.load(Relaxed) == 0 && Instant::now() < next {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let took = started.elapsed();
    if !plan.quiet {
        eprintln!(
            "warm-up: a message from the publishers' broker arrived after {:.2}s ({} sent)",
            took.as_secs_f64(),
            seq
        );
    }
    Ok(took)
}

/// `target` on another port of the same host.
pub fn on_port(target: &Target, port: u16) -> Target {
    let mut t = target.clone();
    t.addr.set_port(port);
    if let Some((host, _)) = target.authority.rsplit_once(':') {
        t.authority = format!("{host}:{port}");
    }
    t
}

/// CPU time (user + system) of all these processes together, in microseconds; `None` if there are
/// none or one is gone.
pub fn cpu_us(pids: &[u32]) -> Option<u64> {
    cpu_times(pids).map(procfs::CpuTimes::total)
}

/// User and system CPU time summed over these processes (see [`procfs::cpu_times`]).
pub fn cpu_times(pids: &[u32]) -> Option<procfs::CpuTimes> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| procfs::cpu_times(*p)).sum()
}

/// A `kB` line of `/proc/<pid>/status` summed over these processes (see [`procfs::status_kib`]).
pub fn status_kib(pids: &[u32], key: &str) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| procfs::status_kib(*p, key)).sum()
}
