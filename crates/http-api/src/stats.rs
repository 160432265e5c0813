//! The `/stats` gauges with EMQX names (`connections.count`, `topics.count`, ...) and the highest
//! values seen (`*.max`), sampled once a second while the API server runs.

use std::sync::atomic::{AtomicU64, Ordering};

use linkmq_core::Broker;

/// Gauges tracked with a maximum, in output order.
pub const GAUGES: &[&str] = &[
    "channels",
    "connections",
    "live_connections",
    "cluster_sessions",
    "sessions",
    "topics",
    "subscriptions",
    "subscriptions.shared",
    "subscribers",
    "suboptions",
    "retained",
    "delayed",
];

/// Highest value seen of each gauge in [`GAUGES`].
#[derive(Debug)]
pub struct StatsMax {
    max: Vec<AtomicU64>,
}

impl Default for StatsMax {
    fn default() -> Self {
        StatsMax {
            max: GAUGES.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Current values of [`GAUGES`]. `shared` walks the subscription table, so the sampler skips it.
pub fn current(broker: &Broker, shared: bool) -> Vec<u64> {
    let sessions = broker.registry.len() as u64;
    let live = broker.registry.connected_count() as u64;
    let subs = broker.router.subscription_count() as u64;
    let shared_subs = if shared {
        broker
            .router
            .subscriptions(None)
            .iter()
            .filter(|s| s.group.is_some())
            .count() as u64
    } else {
        0
    };
    vec![
        sessions,
        sessions,
        live,
        sessions,
        sessions,
        broker.router.topic_count() as u64,
        subs,
        shared_subs,
        subs.saturating_sub(shared_subs),
        subs,
        broker.retained.len() as u64,
        0,
    ]
}

impl StatsMax {
    /// Folds current values into the maxima.
    pub fn observe(&self, values: &[u64]) {
        for (m, v) in self.max.iter().zip(values) {
            m.fetch_max(*v, Ordering::Relaxed);
        }
    }

    /// `(name, value)` pairs: `<gauge>.count` and `<gauge>.max`, EMQX names.
    pub fn snapshot(&self, broker: &Broker) -> Vec<(String, u64)> {
        let now = current(broker, true);
        self.observe(&now);
        let mut out = Vec::with_capacity(GAUGES.len() * 2);
        for ((name, v), m) in GAUGES.iter().zip(&now).zip(&self.max) {
            out.push((format!("{name}.count"), *v));
            out.push((format!("{name}.max"), m.load(Ordering::Relaxed)));
        }
        out
    }
}
