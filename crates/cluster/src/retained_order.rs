//! Keeps a node's own retained writes from being undone by their replication.
//!
//! A node stores a retained message it receives from a client at once, then proposes it to Raft,
//! which applies it on every node, this one included, a little later. Applied as it comes, the
//! older of two quick writes to a topic (`kept-1`, then `kept-2`) would come back over the newer
//! one until the newer one is applied too: a client subscribing in between got `kept-1`. So a node
//! remembers the writes it proposed, per topic and in order, and while a newer one of its own is
//! still on its way, an applied write to that topic leaves the local store alone: the newer write
//! is already there, and Raft applies it after everything before it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A node's retained writes proposed to Raft and not applied yet (message ids by topic).
#[derive(Debug, Default)]
pub struct OwnRetainedWrites {
    pending: Mutex<HashMap<String, VecDeque<u128>>>,
}

impl OwnRetainedWrites {
    /// This node proposed the write of message `id` to `topic`.
    pub fn proposed(&self, topic: &str, id: u128) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.entry(topic.to_string()).or_default().push_back(id);
    }

    /// The write of message `id` to `topic` was not proposed after all.
    pub fn withdraw(&self, topic: &str, id: u128) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = p.get_mut(topic) {
            queue.retain(|x| *x != id);
            if queue.is_empty() {
                p.remove(topic);
            }
        }
    }

    /// Raft applies the write of message `id` to `topic`: true when the local store should take
    /// it (no newer write of this node to the topic is still on its way).
    pub fn applies(&self, topic: &str, id: u128) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = p.get_mut(topic) else {
            return true;
        };
        if let Some(at) = queue.iter().position(|x| *x == id) {
            // Ours: it and anything proposed before it are applied by now.
            queue.drain(..=at);
        }
        if queue.is_empty() {
            p.remove(topic);
            return true;
        }
        false
    }

    /// Forgets every pending write (the node's Raft state was discarded).
    pub fn clear(&self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_own_write_applied_late_does_not_replace_the_newer_one() {
        let w = OwnRetainedWrites::default();
        w.proposed("t", 1);
        w.proposed("t", 2);
        assert!(!w.applies("t", 1), "write 2 is newer and still on its way");
        assert!(w.applies("t", 2));
        // Nothing of ours pending: every write applies.
        assert!(w.applies("t", 3));
    }

    #[test]
    fn another_nodes_write_between_two_of_ours_waits_for_our_newer_one() {
        let w = OwnRetainedWrites::default();
        w.proposed("t", 1);
        w.proposed("t", 2);
        assert!(!w.applies("t", 1));
        assert!(
            !w.applies("t", 9),
            "another node's write, applied before our newer one"
        );
        assert!(
            w.applies("t", 2),
            "ours comes last in Raft's order: the store ends with it"
        );
    }

    #[test]
    fn another_nodes_write_after_ours_applies() {
        let w = OwnRetainedWrites::default();
        w.proposed("t", 1);
        assert!(w.applies("t", 1));
        assert!(w.applies("t", 9));
    }

    #[test]
    fn topics_are_independent_and_a_cleared_state_holds_nothing_back() {
        let w = OwnRetainedWrites::default();
        w.proposed("a", 1);
        w.proposed("a", 2);
        assert!(w.applies("b", 5));
        w.clear();
        assert!(w.applies("a", 1));
    }

    #[test]
    fn a_withdrawn_write_holds_nothing_back() {
        let w = OwnRetainedWrites::default();
        w.proposed("t", 1);
        w.withdraw("t", 1);
        assert!(w.applies("t", 9));
    }

    #[test]
    fn a_write_applied_twice_holds_nothing_back_the_second_time() {
        // The proposer re-sends a write whose answer it lost: Raft may apply it twice.
        let w = OwnRetainedWrites::default();
        w.proposed("t", 1);
        assert!(w.applies("t", 1));
        assert!(w.applies("t", 1));
    }
}
