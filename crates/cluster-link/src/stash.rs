//! Pending route ops of one route-replication actor: keyed by (filter, route id), last op wins.

use std::collections::HashMap;

use linkmq_etf::link::RouteOp;

/// Ops not yet acknowledged by the remote. A taken batch that fails is put back unless a newer op
/// for the same key arrived meanwhile.
#[derive(Debug, Default)]
pub(crate) struct RouteStash {
    ops: HashMap<(String, String), bool>,
}

/// A batch taken out of the stash: what was sent, to restore if sending failed.
pub(crate) type Taken = Vec<((String, String), bool)>;

impl RouteStash {
    /// Records an add (`true`) or delete (`false`), replacing any pending op of that key.
    pub fn push(&mut self, filter: String, route_id: String, add: bool) {
        self.ops.insert((filter, route_id), add);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn clear(&mut self) {
        self.ops.clear();
    }

    /// Takes up to `max` ops (deletes after adds do not matter: keys are distinct).
    pub fn take(&mut self, max: usize) -> Taken {
        let keys: Vec<(String, String)> = self.ops.keys().take(max).cloned().collect();
        keys.into_iter()
            .map(|k| {
                let add = self.ops.remove(&k).unwrap_or(true);
                (k, add)
            })
            .collect()
    }

    /// Puts a failed batch back; keys that got a newer op meanwhile keep the newer one.
    pub fn restore(&mut self, taken: Taken) {
        for (k, add) in taken {
            self.ops.entry(k).or_insert(add);
        }
    }
}

/// The wire form of taken ops.
pub(crate) fn to_ops(taken: &Taken) -> Vec<RouteOp> {
    taken
        .iter()
        .map(|((filter, route_id), add)| {
            let (filter, route_id) = (filter.clone(), route_id.clone());
            if *add {
                RouteOp::Add { filter, route_id }
            } else {
                RouteOp::Delete { filter, route_id }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_op_wins_and_failed_batches_do_not_override_newer_ops() {
        let mut s = RouteStash::default();
        s.push("a".into(), "a".into(), true);
        s.push("a".into(), "a".into(), false);
        s.push("b".into(), "b".into(), true);
        assert_eq!(s.len(), 2);
        let taken = s.take(10);
        assert!(s.is_empty());
        assert!(taken.contains(&(("a".into(), "a".into()), false)));
        // While the batch was out, b was deleted.
        s.push("b".into(), "b".into(), false);
        s.restore(taken);
        let mut all = s.take(10);
        all.sort();
        assert_eq!(
            all,
            vec![
                (("a".into(), "a".into()), false),
                (("b".into(), "b".into()), false)
            ]
        );
    }

    #[test]
    fn batches_are_bounded() {
        let mut s = RouteStash::default();
        for i in 0..10 {
            s.push(format!("t/{i}"), format!("t/{i}"), true);
        }
        assert_eq!(s.take(4).len(), 4);
        assert_eq!(s.len(), 6);
        assert_eq!(to_ops(&s.take(100)).len(), 6);
    }
}
