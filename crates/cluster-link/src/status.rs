//! Per-link status (route actor and forwarding pool) and metrics (spec §8).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linkmq_codec::ReasonCode;
use serde_json::{Value, json};

/// Where a route-replication actor is in its state machine (spec §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorState {
    Connecting,
    Handshaking,
    Bootstrapping,
    Online,
    Disconnected,
    Stopped,
}

impl ActorState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorState::Connecting => "connecting",
            ActorState::Handshaking => "handshaking",
            ActorState::Bootstrapping => "bootstrapping",
            ActorState::Online => "online",
            ActorState::Disconnected => "disconnected",
            ActorState::Stopped => "stopped",
        }
    }
}

/// A link's status on this node as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLinkStatus {
    /// `running`, `connecting`, `disconnected` or `stopped`.
    pub status: &'static str,
    /// Why the link is not running, when known (e.g. the remote disconnected us with 0x98).
    pub reason: Option<String>,
}

#[derive(Debug)]
struct Inner {
    actor: ActorState,
    actor_reason: Option<String>,
    /// Per pool client: connected, and the last disconnect reason.
    workers: Vec<(bool, Option<String>)>,
    /// The most recent reason of any client (actor or pool), shown while not running.
    last_reason: Option<String>,
}

/// Live status of one running link, updated by its actor and pool clients.
#[derive(Debug)]
pub struct LinkStatus {
    inner: Mutex<Inner>,
}

impl LinkStatus {
    pub fn new(pool_size: usize) -> LinkStatus {
        LinkStatus {
            inner: Mutex::new(Inner {
                actor: ActorState::Connecting,
                actor_reason: None,
                workers: vec![(false, None); pool_size],
                last_reason: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an actor state; returns the previous one.
    pub fn set_actor(&self, state: ActorState, reason: Option<String>) -> (ActorState, bool) {
        let mut g = self.lock();
        let prev = g.actor;
        let changed = prev != state || (reason.is_some() && reason != g.actor_reason);
        g.actor = state;
        if let Some(r) = &reason {
            g.last_reason = Some(r.clone());
        }
        if state == ActorState::Online {
            g.actor_reason = None;
        } else if reason.is_some() {
            g.actor_reason = reason;
        }
        (prev, changed)
    }

    pub fn actor(&self) -> (ActorState, Option<String>) {
        let g = self.lock();
        (g.actor, g.actor_reason.clone())
    }

    /// Records a pool client's connection state.
    pub fn set_worker(&self, idx: usize, connected: bool, reason: Option<String>) {
        let mut g = self.lock();
        if let Some(r) = &reason {
            g.last_reason = Some(r.clone());
        }
        if let Some(w) = g.workers.get_mut(idx) {
            w.0 = connected;
            if reason.is_some() || connected {
                w.1 = reason;
            }
        }
    }

    /// Pool clients connected now.
    pub fn connected_workers(&self) -> usize {
        self.lock().workers.iter().filter(|w| w.0).count()
    }

    /// `running` once the actor is online and every pool client connected; `disconnected` (with the
    /// last reason) while the actor or a pool client lost its connection; `connecting` otherwise.
    pub fn node_status(&self) -> NodeLinkStatus {
        let g = self.lock();
        let pool_up = g.workers.iter().all(|w| w.0);
        if g.actor == ActorState::Online && pool_up {
            return NodeLinkStatus {
                status: "running",
                reason: None,
            };
        }
        let worker_reason = g.workers.iter().find(|w| !w.0).and_then(|w| w.1.clone());
        let disconnected = g.actor == ActorState::Disconnected || worker_reason.is_some();
        if disconnected {
            let reason = g
                .last_reason
                .clone()
                .or(g.actor_reason.clone())
                .or(worker_reason);
            NodeLinkStatus {
                status: "disconnected",
                reason,
            }
        } else {
            NodeLinkStatus {
                status: "connecting",
                reason: None,
            }
        }
    }
}

/// The text of a reason code as EMQX names it (`administrative_action`).
pub fn reason_name(rc: ReasonCode) -> String {
    let debug = format!("{rc:?}");
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// "disconnected by the remote with 0x98 (administrative_action)".
pub fn remote_disconnect_reason(rc: ReasonCode) -> String {
    format!(
        "disconnected by the remote with 0x{:02X} ({})",
        rc as u8,
        reason_name(rc)
    )
}

/// Forwarding counters and gauges of one link on this node.
#[derive(Debug, Default)]
pub struct LinkMetrics {
    pub matched: AtomicU64,
    pub success: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
    /// Messages that arrived from the remote over this link and were delivered here.
    pub received: AtomicU64,
    pub queuing: AtomicI64,
    pub inflight: AtomicI64,
    rates: Mutex<Rates>,
}

#[derive(Debug, Default)]
struct Rates {
    samples: VecDeque<(Instant, u64)>,
    current: f64,
    max: f64,
    last5m: f64,
}

/// How long rate samples are kept (for `rate_last5m`).
const RATE_WINDOW: Duration = Duration::from_secs(300);

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl LinkMetrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes a sample of `matched` (called every second): updates rate, rate_last5m and rate_max.
    pub fn sample(&self, now: Instant) {
        let matched = self.matched.load(Ordering::Relaxed);
        let mut r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&(t, m)) = r.samples.back() {
            let dt = now.duration_since(t).as_secs_f64();
            if dt > 0.0 {
                r.current = round2(matched.saturating_sub(m) as f64 / dt);
                r.max = r.max.max(r.current);
            }
        }
        r.samples.push_back((now, matched));
        while r
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            r.samples.pop_front();
        }
        if let Some(&(t, m)) = r.samples.front() {
            let dt = now.duration_since(t).as_secs_f64();
            r.last5m = if dt > 0.0 {
                round2(matched.saturating_sub(m) as f64 / dt)
            } else {
                0.0
            };
        }
    }

    /// Zeroes every counter, gauge-independent rate and the maxima.
    pub fn reset(&self) {
        for c in [
            &self.matched,
            &self.success,
            &self.failed,
            &self.dropped,
            &self.retried,
            &self.received,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        *self.rates.lock().unwrap_or_else(|e| e.into_inner()) = Rates::default();
    }

    /// `{"matched", "success", "failed", "dropped", "retried", "received", "queuing", "inflight",
    /// "rate", "rate_last5m", "rate_max"}`.
    pub fn forwarding_json(&self) -> Value {
        let r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "matched": get(&self.matched),
            "success": get(&self.success),
            "failed": get(&self.failed),
            "dropped": get(&self.dropped),
            "retried": get(&self.retried),
            "received": get(&self.received),
            "queuing": self.queuing.load(Ordering::Relaxed).max(0),
            "inflight": self.inflight.load(Ordering::Relaxed).max(0),
            "rate": r.current,
            "rate_last5m": r.last5m,
            "rate_max": r.max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_emqx_style() {
        assert_eq!(
            reason_name(ReasonCode::AdministrativeAction),
            "administrative_action"
        );
        assert_eq!(
            remote_disconnect_reason(ReasonCode::AdministrativeAction),
            "disconnected by the remote with 0x98 (administrative_action)"
        );
    }

    #[test]
    fn status_is_running_only_with_actor_online_and_pool_connected() {
        let s = LinkStatus::new(2);
        assert_eq!(s.node_status().status, "connecting");
        s.set_actor(ActorState::Online, None);
        s.set_worker(0, true, None);
        assert_eq!(s.node_status().status, "connecting");
        s.set_worker(1, true, None);
        assert_eq!(s.node_status().status, "running");
        s.set_worker(1, false, Some("kicked".into()));
        let st = s.node_status();
        assert_eq!(st.status, "disconnected");
        assert_eq!(st.reason.as_deref(), Some("kicked"));
        s.set_worker(1, true, None);
        s.set_actor(ActorState::Disconnected, Some("gone".into()));
        assert_eq!(s.node_status().reason.as_deref(), Some("gone"));
    }

    #[test]
    fn rates_follow_matched() {
        let m = LinkMetrics::default();
        let t0 = Instant::now();
        m.sample(t0);
        m.matched.store(10, Ordering::Relaxed);
        m.sample(t0 + Duration::from_secs(1));
        m.matched.store(12, Ordering::Relaxed);
        m.sample(t0 + Duration::from_secs(2));
        let j = m.forwarding_json();
        assert_eq!(j["rate"], 2.0);
        assert_eq!(j["rate_max"], 10.0);
        assert_eq!(j["rate_last5m"], 6.0);
        m.reset();
        assert_eq!(m.forwarding_json()["matched"], 0);
        assert_eq!(m.forwarding_json()["rate_max"], 0.0);
    }
}
