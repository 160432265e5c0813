//! Shared subscriptions: which member of a `$share/<group>/<filter>` group gets a message.
//!
//! The strategies are EMQX's `broker.shared_subscription_strategy`. A [`GroupPicker`] holds the
//! per-group state (round-robin position, sticky member) and is called on the publish path, so
//! it takes `&self` and uses an atomic, or a short mutex for the sticky member only.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;

/// How a shared-subscription group chooses the member that receives a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharedStrategy {
    /// Members take turns.
    #[default]
    RoundRobin,
    /// A uniformly random member.
    Random,
    /// The same member until it leaves or cannot take messages.
    Sticky,
    /// A member chosen by hashing the publisher's client id (per-publisher order holds).
    HashClientId,
    /// A member chosen by hashing the topic (per-topic order holds).
    HashTopic,
}

impl SharedStrategy {
    /// The configuration name of the strategy.
    pub fn as_str(self) -> &'static str {
        match self {
            SharedStrategy::RoundRobin => "round_robin",
            SharedStrategy::Random => "random",
            SharedStrategy::Sticky => "sticky",
            SharedStrategy::HashClientId => "hash_clientid",
            SharedStrategy::HashTopic => "hash_topic",
        }
    }
}

impl fmt::Display for SharedStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A strategy name that is not one of EMQX's shared subscription strategies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown shared subscription strategy {0:?}: expected \"round_robin\", \"random\", \"sticky\", \"hash_clientid\" or \"hash_topic\""
)]
pub struct UnknownStrategy(pub String);

impl FromStr for SharedStrategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            // EMQX's per-group round robin and `local` (prefer local members) both rotate here:
            // a node only dispatches to its own members.
            "round_robin" | "round_robin_per_group" | "local" => Ok(SharedStrategy::RoundRobin),
            "random" => Ok(SharedStrategy::Random),
            "sticky" => Ok(SharedStrategy::Sticky),
            "hash_clientid" => Ok(SharedStrategy::HashClientId),
            "hash_topic" => Ok(SharedStrategy::HashTopic),
            other => Err(UnknownStrategy(other.to_string())),
        }
    }
}

/// Per-group selection state (e.g. the round-robin counter, the sticky member). Cheap, thread-safe (&self, atomics or a small Mutex only in the sticky case).
#[derive(Debug)]
pub struct GroupPicker {
    strategy: SharedStrategy,
    next: AtomicUsize,
    sticky: Mutex<Option<Box<str>>>,
}

impl GroupPicker {
    /// A picker with no history.
    pub fn new(strategy: SharedStrategy) -> Self {
        GroupPicker {
            strategy,
            next: AtomicUsize::new(0),
            sticky: Mutex::new(None),
        }
    }

    /// The strategy this picker follows.
    pub fn strategy(&self) -> SharedStrategy {
        self.strategy
    }

    /// Picks one of `members` (member ids, e.g. client ids) for a message from `publisher` on `topic`,
    /// skipping members for which `eligible(i)` is false. None if no eligible member.
    /// Sticky: keep the previous pick while it is still a member and eligible. Hash*: stable hash of the key modulo len (skip ineligible by probing the next).
    pub fn pick(
        &self,
        members: &[&str],
        publisher: &str,
        topic: &str,
        eligible: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = members.len();
        if n == 0 {
            return None;
        }
        match self.strategy {
            SharedStrategy::RoundRobin => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed);
                let picked = probe(turn % n, n, eligible)?;
                // Skipped members do not shift the rotation onto the picked one twice; if another
                // pick ran concurrently the counter is left to it.
                let skipped = (picked + n - turn % n) % n;
                if skipped > 0 {
                    let _ = self.next.compare_exchange(
                        turn.wrapping_add(1),
                        turn.wrapping_add(1 + skipped),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                Some(picked)
            }
            SharedStrategy::Random => probe(rand::rng().random_range(0..n), n, eligible),
            SharedStrategy::Sticky => {
                let mut sticky = self.sticky.lock().unwrap_or_else(|e| e.into_inner());
                let current = sticky
                    .as_deref()
                    .and_then(|id| members.iter().position(|m| *m == id))
                    .filter(|&i| eligible(i));
                if current.is_some() {
                    return current;
                }
                let picked = probe(rand::rng().random_range(0..n), n, eligible)?;
                *sticky = members.get(picked).map(|m| Box::from(*m));
                Some(picked)
            }
            SharedStrategy::HashClientId => probe(stable_hash(publisher) % n, n, eligible),
            SharedStrategy::HashTopic => probe(stable_hash(topic) % n, n, eligible),
        }
    }
}

/// The first eligible index at or after `start`, wrapping around.
fn probe(start: usize, n: usize, eligible: impl Fn(usize) -> bool) -> Option<usize> {
    (0..n).map(|k| (start + k) % n).find(|&i| eligible(i))
}

/// FNV-1a: the same on every node and every run, so a key keeps its member across restarts.
fn stable_hash(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Truncation on 32-bit targets only drops high bits of a hash.
    h as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBERS: [&str; 3] = ["c1", "c2", "c3"];

    fn counts(
        picker: &GroupPicker,
        members: &[&str],
        eligible: impl Fn(usize) -> bool + Copy,
    ) -> Vec<usize> {
        let mut counts = vec![0; members.len()];
        for i in 0..300 {
            let publisher = format!("p{i}");
            let topic = format!("t/{i}");
            if let Some(k) = picker.pick(members, &publisher, &topic, eligible) {
                counts[k] += 1;
            }
        }
        counts
    }

    #[test]
    fn strategy_names_parse() {
        for s in [
            "round_robin",
            "random",
            "sticky",
            "hash_clientid",
            "hash_topic",
        ] {
            let parsed: SharedStrategy = s.parse().unwrap_or_default();
            assert_eq!(parsed.as_str(), s);
        }
        assert_eq!(
            "round_robin_per_group".parse(),
            Ok(SharedStrategy::RoundRobin)
        );
        assert_eq!("local".parse(), Ok(SharedStrategy::RoundRobin));
        assert_eq!(
            "hash".parse::<SharedStrategy>(),
            Err(UnknownStrategy("hash".into()))
        );
    }

    #[test]
    fn round_robin_cycles_evenly() {
        let picker = GroupPicker::new(SharedStrategy::RoundRobin);
        let seq: Vec<Option<usize>> = (0..6)
            .map(|_| picker.pick(&MEMBERS, "p", "t", |_| true))
            .collect();
        assert_eq!(seq, [0, 1, 2, 0, 1, 2].map(Some));
        assert_eq!(counts(&picker, &MEMBERS, |_| true), [100, 100, 100]);
    }

    #[test]
    fn round_robin_skips_ineligible_evenly() {
        let picker = GroupPicker::new(SharedStrategy::RoundRobin);
        assert_eq!(counts(&picker, &MEMBERS, |i| i != 1), [150, 0, 150]);
    }

    #[test]
    fn sticky_sticks_and_moves_when_member_leaves() {
        let picker = GroupPicker::new(SharedStrategy::Sticky);
        let first = picker.pick(&MEMBERS, "p", "t", |_| true);
        let Some(first) = first else {
            panic!("no pick from three eligible members");
        };
        for _ in 0..50 {
            assert_eq!(picker.pick(&MEMBERS, "p", "t", |_| true), Some(first));
        }
        let chosen = MEMBERS[first];
        let remaining: Vec<&str> = MEMBERS.iter().copied().filter(|m| *m != chosen).collect();
        let Some(second) = picker.pick(&remaining, "p", "t", |_| true) else {
            panic!("no pick from two eligible members");
        };
        for _ in 0..50 {
            assert_eq!(picker.pick(&remaining, "p", "t", |_| true), Some(second));
        }
        // Back in the group, the previous member does not take over again.
        let second_id = remaining[second];
        let again = picker.pick(&MEMBERS, "p", "t", |_| true);
        assert_eq!(again.map(|i| MEMBERS[i]), Some(second_id));
        // Ineligible sticky member: move to another one.
        let moved = picker.pick(&MEMBERS, "p", "t", |i| MEMBERS[i] != second_id);
        assert!(moved.is_some_and(|i| MEMBERS[i] != second_id));
    }

    #[test]
    fn hash_clientid_is_stable_per_publisher() {
        let picker = GroupPicker::new(SharedStrategy::HashClientId);
        let members = ["a", "b", "c", "d", "e"];
        let mut seen = std::collections::HashSet::new();
        for p in 0..40 {
            let publisher = format!("pub-{p}");
            let first = picker.pick(&members, &publisher, "t/0", |_| true);
            for t in 0..5 {
                let topic = format!("t/{t}");
                assert_eq!(picker.pick(&members, &publisher, &topic, |_| true), first);
            }
            seen.insert(first);
        }
        assert!(seen.len() > 1, "all publishers hashed onto one member");
        // An ineligible hashed member hands over to the next one.
        let Some(home) = picker.pick(&members, "pub-0", "t", |_| true) else {
            panic!("no pick from five eligible members");
        };
        let probed = picker.pick(&members, "pub-0", "t", |i| i != home);
        assert_eq!(probed, Some((home + 1) % members.len()));
    }

    #[test]
    fn hash_topic_is_stable_per_topic() {
        let picker = GroupPicker::new(SharedStrategy::HashTopic);
        let mut seen = std::collections::HashSet::new();
        for t in 0..40 {
            let topic = format!("sensor/{t}");
            let first = picker.pick(&MEMBERS, "p0", &topic, |_| true);
            for p in 0..5 {
                let publisher = format!("p{p}");
                assert_eq!(picker.pick(&MEMBERS, &publisher, &topic, |_| true), first);
            }
            seen.insert(first);
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn random_picks_only_eligible_and_spreads() {
        let picker = GroupPicker::new(SharedStrategy::Random);
        let members = ["a", "b", "c", "d"];
        let c = counts(&picker, &members, |i| i % 2 == 0);
        assert_eq!(c[1] + c[3], 0);
        assert_eq!(c[0] + c[2], 300);
        assert!(c[0] > 0 && c[2] > 0);
    }

    #[test]
    fn none_eligible_or_empty_gives_none() {
        for s in [
            "round_robin",
            "random",
            "sticky",
            "hash_clientid",
            "hash_topic",
        ] {
            let picker = GroupPicker::new(s.parse().unwrap_or_default());
            assert_eq!(picker.pick(&MEMBERS, "p", "t", |_| false), None, "{s}");
            assert_eq!(picker.pick(&[], "p", "t", |_| true), None, "{s}");
        }
    }
}
