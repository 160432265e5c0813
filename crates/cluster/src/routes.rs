//! Routes across the cluster. Each node owns its route set (filter → this node, and one route per
//! shared group) and replicates it node-to-node, not through Raft: deltas are batched per peer in a
//! stash (last op per route wins) and a peer gets the whole set on every (re)connect. The
//! [`RouteTable`] holds every node's routes (this node's too, for cluster-wide shared dispatch) and
//! answers, for a topic, which nodes need a copy.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use linkmq_core::router::trie::TopicTrie;
use linkmq_core::shared_sub::SharedStrategy;
use rand::Rng;
use smallvec::SmallVec;

use crate::raft::types::NodeId;
use crate::transport::WireRoute;

/// What changed since a peer was last sent this node's state.
#[derive(Debug, Default)]
pub(crate) struct Stash {
    /// Route → added (true) or removed (false); the last op wins.
    pub routes: HashMap<WireRoute, bool>,
    /// Client id → connected at (ms), or released (None).
    pub clients: HashMap<String, Option<u64>>,
}

/// This node's own replicated state, and what each peer has not been sent yet.
#[derive(Debug, Default)]
pub(crate) struct LocalState {
    pub routes: BTreeSet<WireRoute>,
    /// Client id → (connection id, connected at ms).
    pub clients: HashMap<String, (u64, u64)>,
    pub stashes: HashMap<NodeId, Stash>,
}

impl LocalState {
    pub fn route(&mut self, r: WireRoute, added: bool) {
        if added {
            self.routes.insert(r.clone());
        } else {
            self.routes.remove(&r);
        }
        for s in self.stashes.values_mut() {
            s.routes.insert(r.clone(), added);
        }
    }

    pub fn client_up(&mut self, id: &str, conn_id: u64, ts: u64) {
        self.clients.insert(id.to_string(), (conn_id, ts));
        for s in self.stashes.values_mut() {
            s.clients.insert(id.to_string(), Some(ts));
        }
    }

    /// Forgets `id` if it is still connection `conn_id`; returns whether it did.
    pub fn client_down(&mut self, id: &str, conn_id: u64) -> bool {
        if self.clients.get(id).is_some_and(|(c, _)| *c == conn_id) {
            self.clients.remove(id);
            for s in self.stashes.values_mut() {
                s.clients.insert(id.to_string(), None);
            }
            true
        } else {
            false
        }
    }

    /// Everything, for a full resync of `peer`; its stash starts empty from here.
    pub fn full_for(&mut self, peer: NodeId) -> (Vec<WireRoute>, Vec<(String, u64)>) {
        self.stashes.insert(peer, Stash::default());
        let routes = self.routes.iter().cloned().collect();
        let clients = self
            .clients
            .iter()
            .map(|(k, (_, ts))| (k.clone(), *ts))
            .collect();
        (routes, clients)
    }

    /// What `peer` has not been sent yet.
    pub fn take_stash(&mut self, peer: NodeId) -> Stash {
        self.stashes
            .get_mut(&peer)
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// The nodes holding one shared group on one filter.
#[derive(Debug, Default)]
struct GroupNodes {
    nodes: Vec<NodeId>,
    next: AtomicUsize,
    sticky: Mutex<Option<NodeId>>,
}

/// Names are reference-counted so a publish matching a group copies no string.
#[derive(Debug)]
struct FilterNodes {
    filter: Arc<str>,
    direct: BTreeSet<NodeId>,
    groups: BTreeMap<Arc<str>, GroupNodes>,
}

impl FilterNodes {
    fn new(filter: &str) -> FilterNodes {
        FilterNodes {
            filter: filter.into(),
            direct: BTreeSet::new(),
            groups: BTreeMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.groups.is_empty()
    }
}

#[derive(Default)]
struct Tables {
    trie: TopicTrie<FilterNodes>,
    by_node: HashMap<NodeId, HashSet<WireRoute>>,
    /// Shared groups held on some filter by some node (this one included).
    groups: usize,
}

impl Tables {
    fn add(&mut self, node: NodeId, r: &WireRoute) {
        if !self.by_node.entry(node).or_default().insert(r.clone()) {
            return;
        }
        let e = self
            .trie
            .get_or_insert_with(&r.0, || FilterNodes::new(&r.0));
        match &r.1 {
            None => {
                e.direct.insert(node);
            }
            Some(g) => {
                let g = e.groups.entry(g.as_str().into()).or_insert_with(|| {
                    self.groups += 1;
                    GroupNodes::default()
                });
                if let Err(i) = g.nodes.binary_search(&node) {
                    g.nodes.insert(i, node);
                }
            }
        }
    }

    fn remove(&mut self, node: NodeId, r: &WireRoute) {
        let held = self.by_node.get_mut(&node).is_some_and(|s| s.remove(r));
        if !held {
            return;
        }
        let Some(e) = self.trie.get_mut(&r.0) else {
            return;
        };
        match &r.1 {
            None => {
                e.direct.remove(&node);
            }
            Some(g) => {
                if let Some(gn) = e.groups.get_mut(g.as_str()) {
                    gn.nodes.retain(|n| *n != node);
                    if gn.nodes.is_empty() {
                        e.groups.remove(g.as_str());
                        self.groups -= 1;
                    }
                }
            }
        }
        if e.is_empty() {
            self.trie.remove(&r.0);
        }
    }
}

/// For one publish: the nodes that get a copy for their direct subscribers, and for each shared
/// group the candidate nodes, preferred first.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Matched {
    pub direct: BTreeSet<NodeId>,
    /// The shared groups matched; on the stack for the usual one or two.
    pub groups: SmallVec<[GroupMatch; 2]>,
}

/// (filter, group, candidate nodes in order of preference).
pub(crate) type GroupMatch = (Arc<str>, Arc<str>, Candidates);

/// A shared group's nodes in order of preference.
pub(crate) type Candidates = SmallVec<[NodeId; 4]>;

/// Every node's routes.
#[derive(Default)]
pub struct RouteTable {
    inner: RwLock<Tables>,
}

impl RouteTable {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn apply(&self, node: NodeId, add: &[WireRoute], del: &[WireRoute]) {
        let mut t = self.write();
        for r in del {
            t.remove(node, r);
        }
        for r in add {
            t.add(node, r);
        }
    }

    /// Replaces everything `node` holds with `routes`.
    pub(crate) fn replace(&self, node: NodeId, routes: &[WireRoute]) {
        let mut t = self.write();
        let new: HashSet<WireRoute> = routes.iter().cloned().collect();
        let old: Vec<WireRoute> = t
            .by_node
            .get(&node)
            .map(|s| s.difference(&new).cloned().collect())
            .unwrap_or_default();
        for r in &old {
            t.remove(node, r);
        }
        for r in routes {
            t.add(node, r);
        }
    }

    /// Drops every route of `node` (it left, or has been unreachable too long).
    pub(crate) fn drop_node(&self, node: NodeId) -> usize {
        let mut t = self.write();
        let old: Vec<WireRoute> = t
            .by_node
            .get(&node)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for r in &old {
            t.remove(node, r);
        }
        t.by_node.remove(&node);
        old.len()
    }

    /// The routes `node` holds here, sorted.
    pub fn routes_of(&self, node: NodeId) -> Vec<WireRoute> {
        let mut v: Vec<WireRoute> = self
            .read()
            .by_node
            .get(&node)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Who needs a message on `topic` from `publisher` published on node `me`, shared groups
    /// picked by `strategy`. None, without walking the trie, when the table holds nothing but
    /// `me`'s own direct routes, which `me`'s local router serves: no shared group on any node
    /// and no route of another node.
    pub(crate) fn matches(
        &self,
        me: NodeId,
        topic: &str,
        publisher: &str,
        strategy: SharedStrategy,
    ) -> Option<Matched> {
        let t = self.read();
        if t.groups == 0 && t.by_node.iter().all(|(n, r)| *n == me || r.is_empty()) {
            return None;
        }
        let mut out = Matched::default();
        t.trie.for_each_match(topic, |_, e| {
            out.direct.extend(e.direct.iter().copied());
            for (name, g) in &e.groups {
                if g.nodes.is_empty() {
                    continue;
                }
                out.groups.push((
                    e.filter.clone(),
                    name.clone(),
                    order(g, strategy, publisher, topic),
                ));
            }
        });
        Some(out)
    }
}

/// The nodes of a group, the one `strategy` picks first, then the rest in ring order.
fn order(g: &GroupNodes, strategy: SharedStrategy, publisher: &str, topic: &str) -> Candidates {
    let n = g.nodes.len();
    let first = match strategy {
        SharedStrategy::RoundRobin => g.next.fetch_add(1, Ordering::Relaxed) % n,
        SharedStrategy::Random => rand::rng().random_range(0..n),
        SharedStrategy::HashClientId => fnv(publisher) % n,
        SharedStrategy::HashTopic => fnv(topic) % n,
        SharedStrategy::Sticky => {
            let mut s = g.sticky.lock().unwrap_or_else(|e| e.into_inner());
            match s.and_then(|id| g.nodes.iter().position(|x| *x == id)) {
                Some(i) => i,
                None => {
                    let i = rand::rng().random_range(0..n);
                    *s = Some(g.nodes[i]);
                    i
                }
            }
        }
    };
    (0..n).map(|k| g.nodes[(first + k) % n]).collect()
}

fn fnv(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(f: &str, g: Option<&str>) -> WireRoute {
        (f.to_string(), g.map(str::to_string))
    }

    #[test]
    fn matches_give_one_entry_per_node_and_groups_rotate() {
        let t = RouteTable::default();
        t.apply(
            1,
            &[r("a/+", None), r("a/#", None), r("a/b", Some("g"))],
            &[],
        );
        t.apply(2, &[r("a/b", None), r("a/b", Some("g"))], &[]);
        t.apply(3, &[r("x", None)], &[]);
        let m = t
            .matches(0, "a/b", "p", SharedStrategy::RoundRobin)
            .unwrap();
        assert_eq!(m.direct, BTreeSet::from([1, 2]));
        assert_eq!(m.groups.len(), 1);
        let firsts: Vec<NodeId> = (0..4)
            .map(|_| {
                t.matches(0, "a/b", "p", SharedStrategy::RoundRobin)
                    .unwrap()
                    .groups[0]
                    .2[0]
            })
            .collect();
        assert_eq!(firsts, vec![2, 1, 2, 1]);
        let h1 = t
            .matches(0, "a/b", "pub-1", SharedStrategy::HashClientId)
            .unwrap()
            .groups[0]
            .2[0];
        for _ in 0..5 {
            assert_eq!(
                t.matches(0, "a/b", "pub-1", SharedStrategy::HashClientId)
                    .unwrap()
                    .groups[0]
                    .2[0],
                h1
            );
        }
    }

    #[test]
    fn replace_and_drop_node() {
        let t = RouteTable::default();
        t.apply(1, &[r("a", None), r("b", None)], &[]);
        t.replace(1, &[r("b", None), r("c", None)]);
        assert_eq!(t.routes_of(1), vec![r("b", None), r("c", None)]);
        assert!(
            t.matches(0, "a", "p", SharedStrategy::Random)
                .unwrap()
                .direct
                .is_empty()
        );
        assert_eq!(t.drop_node(1), 2);
        assert!(
            t.matches(0, "c", "p", SharedStrategy::Random).is_none(),
            "no route is left, not even for c"
        );
        assert!(t.routes_of(1).is_empty());
    }

    #[test]
    fn only_another_nodes_route_or_a_shared_group_concerns_the_cluster() {
        let t = RouteTable::default();
        let concerns = |me| t.matches(me, "s", "p", SharedStrategy::Random).is_some();
        assert!(!concerns(1));
        t.apply(1, &[r("a/+", None), r("b", None)], &[]);
        assert!(!concerns(1), "this node's direct routes are its router's");
        assert!(concerns(2), "node 2 must forward to node 1");
        t.apply(1, &[r("s", Some("g")), r("s", Some("h"))], &[]);
        assert!(concerns(1), "groups are dispatched cluster-wide");
        t.apply(1, &[], &[r("s", Some("g"))]);
        assert!(concerns(1));
        t.apply(1, &[], &[r("s", Some("h"))]);
        assert!(!concerns(1), "the last group is gone");
        t.apply(2, &[r("x", Some("g"))], &[]);
        t.apply(3, &[r("x", Some("g"))], &[]);
        t.drop_node(2);
        assert!(concerns(1));
        t.replace(3, &[r("y", None)]);
        assert!(concerns(1), "node 3 still has a direct route");
        t.drop_node(3);
        assert!(!concerns(1));
    }
}
