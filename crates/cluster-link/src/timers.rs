//! The protocol's timers (spec §4–§5), overridable for tests.

use std::time::Duration;

/// Environment variable that overrides [`LinkTimers`] (tests only), e.g.
/// `LINKMQ_LINK_TIMERS="heartbeat=500ms,actor_ttl=2s,gc=500ms,reconnect=300ms,handshake=2s"`.
pub const TIMERS_ENV: &str = "LINKMQ_LINK_TIMERS";

/// Timers of route replication and the external route table. Defaults are EMQX's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTimers {
    /// Heartbeat period of an online route-replication actor (10 s).
    pub heartbeat: Duration,
    /// How long a remote actor's routes live without init or heartbeat (30 s).
    pub actor_ttl: Duration,
    /// Period of the external route table's GC (30 s).
    pub gc_interval: Duration,
    /// Time allowed for `actor_init_ack` (5 s).
    pub handshake_timeout: Duration,
    /// A disconnected client reconnects this long after its last attempt (5 s).
    pub reconnect: Duration,
    /// Route ops are coalesced this long before a batch is sent (10 ms).
    pub batch_delay: Duration,
}

impl Default for LinkTimers {
    fn default() -> Self {
        LinkTimers {
            heartbeat: Duration::from_secs(10),
            actor_ttl: Duration::from_secs(30),
            gc_interval: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(5),
            reconnect: Duration::from_secs(5),
            batch_delay: Duration::from_millis(10),
        }
    }
}

impl LinkTimers {
    /// Defaults, with any override from [`TIMERS_ENV`] applied (unknown or malformed entries are ignored
    /// with a warning).
    pub fn from_env() -> LinkTimers {
        let mut t = LinkTimers::default();
        if let Ok(spec) = std::env::var(TIMERS_ENV) {
            t.apply(&spec);
        }
        t
    }

    /// Applies `key=duration` pairs separated by commas.
    pub fn apply(&mut self, spec: &str) {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                tracing::warn!(item, "{TIMERS_ENV}: expected key=duration");
                continue;
            };
            let Some(d) = parse_duration(value.trim()) else {
                tracing::warn!(item, "{TIMERS_ENV}: bad duration");
                continue;
            };
            match key.trim() {
                "heartbeat" => self.heartbeat = d,
                "actor_ttl" => self.actor_ttl = d,
                "gc" => self.gc_interval = d,
                "handshake" => self.handshake_timeout = d,
                "reconnect" => self.reconnect = d,
                "batch_delay" => self.batch_delay = d,
                other => tracing::warn!(key = other, "{TIMERS_ENV}: unknown timer"),
            }
        }
    }
}

/// `500ms`, `2s`, `1m`.
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_and_bad_entries_are_ignored() {
        let mut t = LinkTimers::default();
        t.apply("heartbeat=500ms, actor_ttl=2s,gc=1m,bogus=1s,reconnect=x,handshake");
        assert_eq!(t.heartbeat, Duration::from_millis(500));
        assert_eq!(t.actor_ttl, Duration::from_secs(2));
        assert_eq!(t.gc_interval, Duration::from_secs(60));
        assert_eq!(t.reconnect, Duration::from_secs(5));
        assert_eq!(t.handshake_timeout, Duration::from_secs(5));
    }
}
