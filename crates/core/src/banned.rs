//! Banned client ids and EMQX's flapping detection (`flapping_detect`): a client id that disconnects
//! `max_count` times within `window_time` is banned for `ban_time` (CONNACK 0x8A Banned in v5,
//! return code 5 in v3). Both tables are bounded; expired entries are pruned as they are met and
//! whenever a table is full.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::message::now_ms;

/// Most client ids banned at once; beyond it new bans are not recorded (and logged).
pub const MAX_BANNED: usize = 100_000;
/// Most client ids whose disconnects are being counted at once; beyond it new ones are not tracked.
pub const MAX_FLAPPING_TRACKED: usize = 100_000;

/// `flapping_detect { enable, max_count, window_time, ban_time }` (EMQX defaults: off, 15, 1m, 5m).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlappingDetect {
    pub enable: bool,
    /// Disconnects within `window_time` that make a client id flapping.
    pub max_count: u32,
    pub window_time: Duration,
    /// How long a flapping client id stays banned.
    pub ban_time: Duration,
}

impl Default for FlappingDetect {
    fn default() -> Self {
        FlappingDetect {
            enable: false,
            max_count: 15,
            window_time: Duration::from_secs(60),
            ban_time: Duration::from_secs(300),
        }
    }
}

/// One ban, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub client_id: String,
    /// Who banned it, e.g. `flapping detector`.
    pub by: String,
    pub reason: String,
    /// Unix milliseconds.
    pub at_ms: u64,
    /// Unix milliseconds.
    pub until_ms: u64,
}

#[derive(Debug)]
struct Entry {
    ban: Ban,
    until: Instant,
}

#[derive(Debug, Default)]
struct Tables {
    bans: HashMap<String, Entry>,
    /// client id → (first counted disconnect, disconnects since).
    flapping: HashMap<String, (Instant, u32)>,
}

/// The node's ban list and flapping counters.
#[derive(Debug, Default)]
pub struct Banned {
    tables: Mutex<Tables>,
}

impl Banned {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `client_id` is banned now (an expired ban is removed).
    pub fn is_banned(&self, client_id: &str) -> bool {
        let mut t = self.lock();
        match t.bans.get(client_id) {
            None => false,
            Some(e) if e.until > Instant::now() => true,
            Some(_) => {
                t.bans.remove(client_id);
                false
            }
        }
    }

    /// Bans `client_id` for `duration`; returns false when the table is full of live bans.
    pub fn ban(&self, client_id: &str, duration: Duration, by: &str, reason: &str) -> bool {
        let now = Instant::now();
        let mut t = self.lock();
        if t.bans.len() >= MAX_BANNED && !t.bans.contains_key(client_id) {
            t.bans.retain(|_, e| e.until > now);
            if t.bans.len() >= MAX_BANNED {
                tracing::warn!(client_id, "ban list full, not banned");
                return false;
            }
        }
        let at_ms = now_ms();
        t.bans.insert(
            client_id.to_string(),
            Entry {
                ban: Ban {
                    client_id: client_id.to_string(),
                    by: by.to_string(),
                    reason: reason.to_string(),
                    at_ms,
                    until_ms: at_ms.saturating_add(duration.as_millis() as u64),
                },
                until: now + duration,
            },
        );
        true
    }

    /// Lifts a ban; returns whether there was one.
    pub fn unban(&self, client_id: &str) -> bool {
        self.lock().bans.remove(client_id).is_some()
    }

    /// The bans in force.
    pub fn list(&self) -> Vec<Ban> {
        let now = Instant::now();
        let mut t = self.lock();
        t.bans.retain(|_, e| e.until > now);
        t.bans.values().map(|e| e.ban.clone()).collect()
    }

    /// Counts one disconnect of `client_id`; bans it (and returns true) when it is the
    /// `max_count`-th within `window_time` (as EMQX's `emqx_flapping`).
    pub fn disconnected(&self, policy: &FlappingDetect, client_id: &str) -> bool {
        if !policy.enable || client_id.is_empty() {
            return false;
        }
        let now = Instant::now();
        let mut t = self.lock();
        let count = match t.flapping.get_mut(client_id) {
            Some((start, n)) if now.duration_since(*start) < policy.window_time => {
                *n += 1;
                *n
            }
            Some(entry) => {
                *entry = (now, 1);
                1
            }
            None => {
                if t.flapping.len() >= MAX_FLAPPING_TRACKED {
                    let window = policy.window_time;
                    t.flapping
                        .retain(|_, (start, _)| now.duration_since(*start) < window);
                    if t.flapping.len() >= MAX_FLAPPING_TRACKED {
                        return false;
                    }
                }
                t.flapping.insert(client_id.to_string(), (now, 1));
                1
            }
        };
        if count < policy.max_count.max(1) {
            return false;
        }
        t.flapping.remove(client_id);
        drop(t);
        tracing::warn!(
            client_id,
            count,
            window = ?policy.window_time,
            ban = ?policy.ban_time,
            "flapping detected, client id banned"
        );
        self.ban(
            client_id,
            policy.ban_time,
            "flapping detector",
            "flapping is detected",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_count: u32, window_ms: u64) -> FlappingDetect {
        FlappingDetect {
            enable: true,
            max_count,
            window_time: Duration::from_millis(window_ms),
            ban_time: Duration::from_millis(200),
        }
    }

    #[test]
    fn max_count_disconnects_within_the_window_ban_until_ban_time() {
        let b = Banned::default();
        let p = policy(3, 10_000);
        assert!(!b.disconnected(&p, "c"));
        assert!(!b.disconnected(&p, "c"));
        assert!(!b.is_banned("c"));
        assert!(b.disconnected(&p, "c"));
        assert!(b.is_banned("c"));
        assert!(!b.is_banned("other"));
        let list = b.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].by, "flapping detector");
        assert_eq!(list[0].until_ms - list[0].at_ms, 200);
        std::thread::sleep(Duration::from_millis(250));
        assert!(!b.is_banned("c"), "ban_time over");
        assert!(b.list().is_empty());
    }

    #[test]
    fn disconnects_spread_over_more_than_the_window_do_not_ban() {
        let b = Banned::default();
        let p = policy(2, 50);
        assert!(!b.disconnected(&p, "c"));
        std::thread::sleep(Duration::from_millis(80));
        assert!(!b.disconnected(&p, "c"), "the window restarted");
        assert!(b.disconnected(&p, "c"));
    }

    #[test]
    fn disabled_detection_never_bans() {
        let b = Banned::default();
        let p = FlappingDetect {
            enable: false,
            ..policy(1, 10_000)
        };
        for _ in 0..10 {
            assert!(!b.disconnected(&p, "c"));
        }
        assert!(!b.is_banned("c"));
    }

    #[test]
    fn unban_lifts_a_ban() {
        let b = Banned::default();
        assert!(b.ban("x", Duration::from_secs(60), "admin", "test"));
        assert!(b.is_banned("x"));
        assert!(b.unban("x"));
        assert!(!b.is_banned("x"));
        assert!(!b.unban("x"));
    }
}
