//! The subscription trie: filter → value, keyed by filter levels, read on every publish.
//!
//! Literal levels live in a per-node hash map; `+` and a trailing `#` have dedicated slots, so
//! matching a topic walks only the branches that can match, splitting the topic on `/` as it
//! goes without allocating. Each value node stores its full filter once, for the visitor.
//!
//! Filters are expected to be valid ([`crate::topic::validate_filter`]); an invalid one is stored
//! with its odd levels taken literally and never panics. Matching recursion is bounded by the
//! depth of the stored filters (the broker limits it with `max_topic_levels`); dropping and
//! pruning are iterative, so a deep filter cannot overflow the stack there.
//!
//! The level maps hash with foldhash (seeded per process, as hashbrown's default): several times
//! faster than SipHash on short levels, which every publish pays at each level, while a client
//! still cannot predict the seed to aim colliding filters at one bucket.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::fmt;
use std::str::Split;

/// A stored filter and its value.
struct Entry<V> {
    filter: Box<str>,
    value: V,
}

/// One level of the trie: the prefix of filters leading here.
struct Node<V> {
    /// Literal next levels.
    children: HashMap<Box<str>, Node<V>, RandomState>,
    /// The `+` next level.
    plus: Option<Box<Node<V>>>,
    /// The filter `<prefix>/#` (`#` at the root).
    hash: Option<Entry<V>>,
    /// The filter that ends exactly at this prefix.
    value: Option<Entry<V>>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node {
            children: HashMap::default(),
            plus: None,
            hash: None,
            value: None,
        }
    }
}

impl<V> Node<V> {
    fn child(&self, level: &str) -> Option<&Node<V>> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.children.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<V>> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.children.get_mut(level)
        }
    }

    fn child_or_insert(&mut self, level: &str) -> &mut Node<V> {
        if level == "+" {
            self.plus.get_or_insert_with(Box::default)
        } else {
            self.children.entry(level.into()).or_default()
        }
    }

    /// Detaches the child reached by `level`.
    fn take_child(&mut self, level: &str) -> Option<Node<V>> {
        if level == "+" {
            self.plus.take().map(|b| *b)
        } else {
            self.children.remove(level)
        }
    }

    fn slot(&self, slot: Slot) -> &Option<Entry<V>> {
        match slot {
            Slot::Value => &self.value,
            Slot::Hash => &self.hash,
        }
    }

    fn slot_mut(&mut self, slot: Slot) -> &mut Option<Entry<V>> {
        match slot {
            Slot::Value => &mut self.value,
            Slot::Hash => &mut self.hash,
        }
    }

    /// Number of next-level nodes.
    fn child_count(&self) -> usize {
        self.children.len() + usize::from(self.plus.is_some())
    }
}

/// Where a filter's value sits in its node.
#[derive(Clone, Copy)]
enum Slot {
    Value,
    Hash,
}

/// Splits a filter into the levels leading to its node and the slot holding it.
fn locate(filter: &str) -> (impl Iterator<Item = &str> + Clone, Slot) {
    let (path, slot) = if filter == "#" {
        (None, Slot::Hash)
    } else if let Some(prefix) = filter.strip_suffix("/#") {
        (Some(prefix), Slot::Hash)
    } else {
        (Some(filter), Slot::Value)
    };
    (path.into_iter().flat_map(|p| p.split('/')), slot)
}

/// Drops a detached subtree without recursion.
fn dispose<V>(node: Node<V>) {
    let mut stack = vec![node];
    while let Some(mut n) = stack.pop() {
        stack.extend(n.children.drain().map(|(_, c)| c));
        if let Some(p) = n.plus.take() {
            stack.push(*p);
        }
    }
}

/// Subscription filters mapped to values, matched against topics with MQTT rules.
pub struct TopicTrie<V> {
    root: Node<V>,
    len: usize,
}

impl<V> Default for TopicTrie<V> {
    fn default() -> Self {
        TopicTrie {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<V> Drop for TopicTrie<V> {
    fn drop(&mut self) {
        dispose(std::mem::take(&mut self.root));
    }
}

impl<V: fmt::Debug> fmt::Debug for TopicTrie<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> TopicTrie<V> {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored filters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no filter is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value stored for exactly `filter`.
    pub fn get(&self, filter: &str) -> Option<&V> {
        let (levels, slot) = locate(filter);
        let mut node = &self.root;
        for level in levels {
            node = node.child(level)?;
        }
        node.slot(slot).as_ref().map(|e| &e.value)
    }

    /// The value stored for exactly `filter`, mutably.
    pub fn get_mut(&mut self, filter: &str) -> Option<&mut V> {
        let (levels, slot) = locate(filter);
        let mut node = &mut self.root;
        for level in levels {
            node = node.child_mut(level)?;
        }
        node.slot_mut(slot).as_mut().map(|e| &mut e.value)
    }

    /// The value of `filter`, inserting `f()` first when absent.
    pub fn get_or_insert_with(&mut self, filter: &str, f: impl FnOnce() -> V) -> &mut V {
        let (levels, slot) = locate(filter);
        let mut node = &mut self.root;
        for level in levels {
            node = node.child_or_insert(level);
        }
        let entry = node.slot_mut(slot);
        if entry.is_none() {
            self.len += 1;
        }
        &mut entry
            .get_or_insert_with(|| Entry {
                filter: filter.into(),
                value: f(),
            })
            .value
    }

    /// Removes `filter` and returns its value, pruning nodes left empty.
    pub fn remove(&mut self, filter: &str) -> Option<V> {
        let (levels, slot) = locate(filter);
        let mut node = &mut self.root;
        for level in levels.clone() {
            node = node.child_mut(level)?;
        }
        let entry = node.slot_mut(slot).take()?;
        self.len -= 1;
        self.prune(levels);
        Some(entry.value)
    }

    /// Cuts the deepest chain of nodes along `levels` that holds nothing but the path itself.
    fn prune<'f>(&mut self, levels: impl Iterator<Item = &'f str> + Clone) {
        // Depth of the deepest node on the path that must stay (the root always stays).
        let mut keep_depth = 0;
        let mut depth = 0;
        let mut node = &self.root;
        let mut path = levels.clone().peekable();
        while let Some(level) = path.next() {
            let Some(next) = node.child(level) else {
                return;
            };
            node = next;
            depth += 1;
            let path_children = usize::from(path.peek().is_some());
            if node.value.is_some() || node.hash.is_some() || node.child_count() > path_children {
                keep_depth = depth;
            }
        }
        if keep_depth == depth {
            return;
        }
        let mut levels = levels;
        let mut node = &mut self.root;
        for _ in 0..keep_depth {
            let Some(level) = levels.next() else { return };
            let Some(next) = node.child_mut(level) else {
                return;
            };
            node = next;
        }
        if let Some(cut) = levels.next().and_then(|level| node.take_child(level)) {
            dispose(cut);
        }
    }

    /// Calls `visit(filter, value)` for every stored filter matching `topic` (with the $-rule), each at most once.
    pub fn for_each_match<'a>(&'a self, topic: &str, mut visit: impl FnMut(&'a str, &'a V)) {
        walk(
            &self.root,
            topic.split('/'),
            topic.starts_with('$'),
            &mut visit,
        );
    }

    /// All stored filters and their values, in no particular order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            stack: vec![&self.root],
            pending: None,
        }
    }
}

/// Visits the entries under `node` matching the remaining topic levels `rest`;
/// `no_wildcards` skips `+` and `#` here (the first level of a `$` topic).
fn walk<'a, V, F: FnMut(&'a str, &'a V)>(
    node: &'a Node<V>,
    mut rest: Split<'_, char>,
    no_wildcards: bool,
    visit: &mut F,
) {
    if !no_wildcards && let Some(e) = &node.hash {
        visit(&e.filter, &e.value);
    }
    match rest.next() {
        None => {
            if let Some(e) = &node.value {
                visit(&e.filter, &e.value);
            }
        }
        Some(level) => {
            if let Some(child) = node.children.get(level) {
                walk(child, rest.clone(), false, visit);
            }
            if !no_wildcards && let Some(plus) = &node.plus {
                walk(plus, rest, false, visit);
            }
        }
    }
}

/// Iterator over the stored filters of a [`TopicTrie`].
pub struct Iter<'a, V> {
    stack: Vec<&'a Node<V>>,
    pending: Option<&'a Entry<V>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a str, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.pending.take() {
                return Some((&e.filter, &e.value));
            }
            let node = self.stack.pop()?;
            self.stack.extend(node.children.values());
            self.stack.extend(node.plus.as_deref());
            self.pending = node.hash.as_ref();
            if let Some(e) = &node.value {
                return Some((&e.filter, &e.value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(trie: &TopicTrie<u32>, topic: &str) -> Vec<String> {
        let mut out = Vec::new();
        trie.for_each_match(topic, |f, _| out.push(f.to_string()));
        out.sort();
        out
    }

    fn trie_of(filters: &[&str]) -> TopicTrie<u32> {
        let mut t = TopicTrie::new();
        for (i, f) in filters.iter().enumerate() {
            *t.get_or_insert_with(f, || 0) = i as u32;
        }
        t
    }

    /// Number of nodes below the root, to check pruning.
    fn node_count<V>(t: &TopicTrie<V>) -> usize {
        let mut stack = vec![&t.root];
        let mut n = 0;
        while let Some(node) = stack.pop() {
            n += 1;
            stack.extend(node.children.values());
            stack.extend(node.plus.as_deref());
        }
        n - 1
    }

    #[test]
    fn insert_get_remove() {
        let mut t = TopicTrie::new();
        assert!(t.is_empty());
        *t.get_or_insert_with("a/+/c", || 1) += 10;
        assert_eq!(t.get("a/+/c"), Some(&11));
        assert_eq!(t.get_or_insert_with("a/+/c", || 99), &mut 11);
        assert_eq!(t.get("a/+"), None);
        assert_eq!(t.get("a/b/c"), None);
        assert_eq!(t.len(), 1);
        if let Some(v) = t.get_mut("a/+/c") {
            *v = 5;
        }
        assert_eq!(t.remove("a/+/c"), Some(5));
        assert_eq!(t.remove("a/+/c"), None);
        assert!(t.is_empty());
        assert_eq!(node_count(&t), 0);
    }

    #[test]
    fn hash_and_value_share_a_node() {
        let mut t = trie_of(&["a", "a/#", "#", "/#", "/"]);
        assert_eq!(t.len(), 5);
        assert_eq!(t.get("a/#"), Some(&1));
        assert_eq!(t.get("#"), Some(&2));
        assert_eq!(t.get("/#"), Some(&3));
        assert_eq!(t.remove("a"), Some(0));
        assert_eq!(t.get("a/#"), Some(&1));
        assert_eq!(matched(&t, "a"), ["#", "a/#"]);
        assert_eq!(matched(&t, "/"), ["#", "/", "/#"]);
    }

    #[test]
    fn matching_rules() {
        let t = trie_of(&["a/b", "a/+", "a/#", "+/+", "#", "+/b/#", "a/b/c"]);
        assert_eq!(
            matched(&t, "a/b"),
            ["#", "+/+", "+/b/#", "a/#", "a/+", "a/b"]
        );
        assert_eq!(matched(&t, "a"), ["#", "a/#"]);
        assert_eq!(matched(&t, "x/b"), ["#", "+/+", "+/b/#"]);
        assert_eq!(matched(&t, "a/b/c"), ["#", "+/b/#", "a/#", "a/b/c"]);
        assert_eq!(matched(&t, "a/"), ["#", "+/+", "a/#", "a/+"]);
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_skip_leading_wildcards() {
        let t = trie_of(&["#", "+/x", "$SYS/#", "$SYS/+", "+/#", "$SYS/x/+"]);
        assert_eq!(matched(&t, "$SYS/x"), ["$SYS/#", "$SYS/+"]);
        assert_eq!(matched(&t, "$SYS"), ["$SYS/#"]);
        assert_eq!(matched(&t, "$SYS/x/$y"), ["$SYS/#", "$SYS/x/+"]);
        assert_eq!(matched(&t, "a/x"), ["#", "+/#", "+/x"]);
    }

    #[test]
    fn remove_prunes_only_empty_branches() {
        let mut t = trie_of(&["a/b/c/d", "a/b", "a/+/#"]);
        let before = node_count(&t);
        assert_eq!(t.remove("a/b/c/d"), Some(0));
        assert_eq!(node_count(&t), before - 2);
        assert_eq!(t.get("a/b"), Some(&1));
        assert_eq!(t.remove("a/b"), Some(1));
        assert_eq!(matched(&t, "a/z/q"), ["a/+/#"]);
        assert_eq!(t.remove("a/+/#"), Some(2));
        assert_eq!(node_count(&t), 0);
        assert_eq!(t.remove("x/y"), None);
    }

    #[test]
    fn iter_lists_every_filter_once() {
        let filters = ["a", "a/#", "#", "+", "+/+/#", "a/b/c", "/"];
        let t = trie_of(&filters);
        let mut listed: Vec<(String, u32)> = t.iter().map(|(f, v)| (f.to_string(), *v)).collect();
        listed.sort();
        let mut want: Vec<(String, u32)> = filters
            .iter()
            .enumerate()
            .map(|(i, f)| (f.to_string(), i as u32))
            .collect();
        want.sort();
        assert_eq!(listed, want);
    }

    #[test]
    fn deep_filters_drop_without_overflow() {
        let deep = vec!["a"; 50_000].join("/");
        let mut t = TopicTrie::new();
        t.get_or_insert_with(&deep, || 1);
        t.get_or_insert_with("a/a", || 2);
        assert_eq!(t.remove(&deep), Some(1));
        assert_eq!(node_count(&t), 2);
        t.get_or_insert_with(&deep, || 3);
        drop(t);
    }
}
