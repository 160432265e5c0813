//! The retained message store: the last retained message of each topic, looked up by filter
//! when a client subscribes.
//!
//! Topics are indexed level by level in a tree, so a filter walks only the branches it can
//! match: a literal level is one lookup, `+` visits the children of one node, `#` the subtree
//! below one node. Children are kept sorted, which gives the REST API a stable page order.
//! All walks are iterative, so a topic with very many levels cannot overflow the stack.

use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One topic level; holds the message of the topic that ends here, if any.
struct Node<M> {
    children: BTreeMap<Box<str>, Node<M>>,
    msg: Option<M>,
}

impl<M> Default for Node<M> {
    fn default() -> Self {
        Node {
            children: BTreeMap::new(),
            msg: None,
        }
    }
}

impl<M> Node<M> {
    fn find(&self, topic: &str) -> Option<&Node<M>> {
        topic
            .split('/')
            .try_fold(self, |node, level| node.children.get(level))
    }
}

/// Drops a detached subtree without recursion.
fn dispose<M>(node: Node<M>) {
    let mut stack = vec![node];
    while let Some(mut n) = stack.pop() {
        while let Some((_, child)) = n.children.pop_first() {
            stack.push(child);
        }
    }
}

/// The tree and its message count, behind the store's lock.
struct Inner<M> {
    root: Node<M>,
    len: usize,
}

impl<M> Drop for Inner<M> {
    fn drop(&mut self) {
        dispose(std::mem::take(&mut self.root));
    }
}

impl<M> Inner<M> {
    /// Removes the message of `topic` and prunes the nodes left empty.
    fn clear(&mut self, topic: &str) -> Option<M> {
        let mut node = &mut self.root;
        for level in topic.split('/') {
            node = node.children.get_mut(level)?;
        }
        let msg = node.msg.take()?;
        self.len -= 1;
        self.prune(topic);
        Some(msg)
    }

    /// Cuts the deepest chain of nodes along `topic` that holds nothing but the path itself.
    fn prune(&mut self, topic: &str) {
        let mut keep_depth = 0;
        let mut depth = 0;
        let mut node = &self.root;
        let mut path = topic.split('/').peekable();
        while let Some(level) = path.next() {
            let Some(next) = node.children.get(level) else {
                return;
            };
            node = next;
            depth += 1;
            let path_children = usize::from(path.peek().is_some());
            if node.msg.is_some() || node.children.len() > path_children {
                keep_depth = depth;
            }
        }
        if keep_depth == depth {
            return;
        }
        let mut levels = topic.split('/');
        let mut node = &mut self.root;
        for _ in 0..keep_depth {
            let Some(next) = levels.next().and_then(|l| node.children.get_mut(l)) else {
                return;
            };
            node = next;
        }
        if let Some(cut) = levels.next().and_then(|l| node.children.remove(l)) {
            dispose(cut);
        }
    }
}

/// Visits every node holding a message in topic order (parents before children), with its topic.
/// Stops early when `visit` returns false.
fn for_each_sorted<M>(root: &Node<M>, mut visit: impl FnMut(&[&str], &M) -> bool) {
    let mut path: Vec<&str> = Vec::new();
    // (node, depth, level name); children pushed in reverse so the smallest pops first.
    let mut stack: Vec<(&Node<M>, usize, &str)> = root
        .children
        .iter()
        .rev()
        .map(|(k, c)| (c, 1, &**k))
        .collect();
    while let Some((node, depth, name)) = stack.pop() {
        path.truncate(depth - 1);
        path.push(name);
        if let Some(msg) = &node.msg
            && !visit(&path, msg)
        {
            return;
        }
        stack.extend(
            node.children
                .iter()
                .rev()
                .map(|(k, c)| (c, depth + 1, &**k)),
        );
    }
}

/// Retained messages by topic; `&self` methods behind a `RwLock`, `Send + Sync` when `M` is.
pub struct RetainedStore<M: Clone> {
    inner: RwLock<Inner<M>>,
    max_messages: usize,
}

impl<M: Clone> std::fmt::Debug for RetainedStore<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetainedStore")
            .field("len", &self.len())
            .field("max_messages", &self.max_messages)
            .finish()
    }
}

impl<M: Clone> RetainedStore<M> {
    /// An empty store holding at most `max_messages` messages (0 = unlimited).
    pub fn new(max_messages: usize) -> Self {
        RetainedStore {
            inner: RwLock::new(Inner {
                root: Node::default(),
                len: 0,
            }),
            max_messages,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<M>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<M>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores (Some) or clears (None) the retained message of `topic`; returns false if refused because full.
    pub fn set(&self, topic: &str, msg: Option<M>) -> bool {
        let mut inner = self.write();
        let Some(msg) = msg else {
            inner.clear(topic);
            return true;
        };
        let replacing = inner.root.find(topic).is_some_and(|n| n.msg.is_some());
        if !replacing && self.max_messages > 0 && inner.len >= self.max_messages {
            return false;
        }
        let mut node = &mut inner.root;
        for level in topic.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        node.msg = Some(msg);
        if !replacing {
            inner.len += 1;
        }
        true
    }

    /// The retained message of exactly `topic`.
    pub fn get(&self, topic: &str) -> Option<M> {
        self.read().root.find(topic).and_then(|n| n.msg.clone())
    }

    /// All retained messages whose topic matches `filter` (with the $-rule), without scanning unrelated branches (index topics by level in a tree so '+'/'#' walk only what matches).
    pub fn matching(&self, filter: &str) -> Vec<M> {
        let levels: Vec<&str> = filter.split('/').collect();
        let inner = self.read();
        let mut out = Vec::new();
        let mut stack: Vec<(&Node<M>, usize)> = vec![(&inner.root, 0)];
        while let Some((node, i)) = stack.pop() {
            // A '$' first level is never matched by a wildcard [MQTT-4.7.2-1].
            let visible = |name: &str| i > 0 || !name.starts_with('$');
            match levels.get(i).copied() {
                None => out.extend(node.msg.clone()),
                Some("#") => {
                    // '#' matches the parent level too: `t/#` includes `t` [MQTT-4.7.1-1].
                    out.extend(node.msg.clone());
                    let mut below: Vec<&Node<M>> = node
                        .children
                        .iter()
                        .filter(|(k, _)| visible(k))
                        .map(|(_, c)| c)
                        .collect();
                    while let Some(n) = below.pop() {
                        out.extend(n.msg.clone());
                        below.extend(n.children.values());
                    }
                }
                Some("+") => stack.extend(
                    node.children
                        .iter()
                        .filter(|(k, _)| visible(k))
                        .map(|(_, c)| (c, i + 1)),
                ),
                Some(literal) => stack.extend(node.children.get(literal).map(|c| (c, i + 1))),
            }
        }
        out
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.read().len
    }

    /// True when no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every message for which `keep(&msg)` is false (e.g. expired ones); returns how many.
    pub fn retain_only(&self, keep: impl Fn(&M) -> bool) -> usize {
        let mut inner = self.write();
        let mut doomed: Vec<String> = Vec::new();
        for_each_sorted(&inner.root, |path, msg| {
            if !keep(msg) {
                doomed.push(path.join("/"));
            }
            true
        });
        doomed
            .iter()
            .filter(|topic| inner.clear(topic).is_some())
            .count()
    }

    /// A page of `(topic, message)` in stable order (sorted by topic level by level), for the REST API.
    pub fn topics(&self, offset: usize, limit: usize) -> Vec<(String, M)> {
        let inner = self.read();
        let mut out = Vec::new();
        let mut skip = offset;
        if limit == 0 {
            return out;
        }
        for_each_sorted(&inner.root, |path, msg| {
            if skip > 0 {
                skip -= 1;
                return true;
            }
            out.push((path.join("/"), msg.clone()));
            out.len() < limit
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(topics: &[&str]) -> RetainedStore<String> {
        let s = RetainedStore::new(0);
        for t in topics {
            assert!(s.set(t, Some(t.to_string())));
        }
        s
    }

    fn matching(s: &RetainedStore<String>, filter: &str) -> Vec<String> {
        let mut m = s.matching(filter);
        m.sort();
        m
    }

    fn node_count(s: &RetainedStore<String>) -> usize {
        let inner = s.read();
        let mut stack = vec![&inner.root];
        let mut n = 0;
        while let Some(node) = stack.pop() {
            n += 1;
            stack.extend(node.children.values());
        }
        n - 1
    }

    #[test]
    fn set_get_replace_clear() {
        let s = RetainedStore::new(0);
        assert!(s.is_empty());
        assert!(s.set("a/b", Some(1)));
        assert!(s.set("a/b", Some(2)));
        assert_eq!(s.get("a/b"), Some(2));
        assert_eq!(s.get("a"), None);
        assert_eq!(s.len(), 1);
        assert!(s.set("a/b", None));
        assert!(s.set("a/b", None));
        assert_eq!(s.get("a/b"), None);
        assert!(s.is_empty());
    }

    #[test]
    fn clearing_prunes_empty_levels() {
        let s = store(&["a/b/c/d", "a/b"]);
        assert_eq!(node_count(&s), 4);
        s.set("a/b/c/d", None);
        assert_eq!(node_count(&s), 2);
        assert_eq!(s.get("a/b").as_deref(), Some("a/b"));
        s.set("a/b", None);
        assert_eq!(node_count(&s), 0);
    }

    #[test]
    fn matching_plus_and_hash() {
        let s = store(&["a", "a/b", "a/c", "a/b/c", "b/b", "a//x", "/"]);
        assert_eq!(matching(&s, "a/b"), ["a/b"]);
        assert_eq!(matching(&s, "a/+"), ["a/b", "a/c"]);
        assert_eq!(matching(&s, "+/b"), ["a/b", "b/b"]);
        assert_eq!(matching(&s, "a/#"), ["a", "a//x", "a/b", "a/b/c", "a/c"]);
        assert_eq!(matching(&s, "a/+/#"), ["a//x", "a/b", "a/b/c", "a/c"]);
        assert_eq!(matching(&s, "+/+"), ["/", "a/b", "a/c", "b/b"]);
        assert_eq!(matching(&s, "a/+/x"), ["a//x"]);
        assert!(matching(&s, "c/#").is_empty());
        assert_eq!(matching(&s, "#").len(), 7);
    }

    #[test]
    fn mqtt_4_7_2_1_sys_topics_need_a_literal_first_level() {
        let s = store(&["$SYS/uptime", "$SYS/a/b", "x/$y"]);
        assert_eq!(matching(&s, "#"), ["x/$y"]);
        assert_eq!(matching(&s, "+/uptime"), Vec::<String>::new());
        assert_eq!(matching(&s, "x/+"), ["x/$y"]);
        assert_eq!(matching(&s, "$SYS/#"), ["$SYS/a/b", "$SYS/uptime"]);
        assert_eq!(matching(&s, "$SYS/+"), ["$SYS/uptime"]);
    }

    #[test]
    fn limit_refuses_new_topics_but_allows_replace_and_clear() {
        let s = RetainedStore::new(2);
        assert!(s.set("a", Some(1)));
        assert!(s.set("b", Some(2)));
        assert!(!s.set("c", Some(3)));
        assert_eq!(s.get("c"), None);
        assert!(s.set("a", Some(10)));
        assert_eq!(s.get("a"), Some(10));
        assert!(s.set("b", None));
        assert!(s.set("c", Some(3)));
        assert_eq!(s.len(), 2);
        // A refused deep topic leaves no empty levels behind.
        assert!(!s.set("d/e/f", Some(4)));
        assert!(s.matching("d/#").is_empty());
    }

    #[test]
    fn retain_only_drops_and_counts() {
        let s = RetainedStore::new(0);
        for (i, t) in ["a", "a/b", "a/b/c", "x", "$SYS/y"].iter().enumerate() {
            s.set(t, Some(i));
        }
        assert_eq!(s.retain_only(|&i| i % 2 == 0), 2);
        assert_eq!(s.len(), 3);
        assert_eq!(s.get("a/b"), None);
        assert_eq!(s.get("a/b/c"), Some(2));
        assert_eq!(s.get("x"), None);
        assert_eq!(s.retain_only(|_| true), 0);
        assert_eq!(s.retain_only(|_| false), 3);
        assert!(s.is_empty());
    }

    #[test]
    fn topics_pages_in_stable_order() {
        let s = store(&["b", "a/z", "a", "$SYS/x", "a/b/c"]);
        let all: Vec<String> = s.topics(0, 100).into_iter().map(|(t, _)| t).collect();
        assert_eq!(all, ["$SYS/x", "a", "a/b/c", "a/z", "b"]);
        let page: Vec<String> = s
            .topics(1, 2)
            .into_iter()
            .map(|(t, m)| {
                assert_eq!(t, m);
                t
            })
            .collect();
        assert_eq!(page, ["a", "a/b/c"]);
        assert!(s.topics(5, 10).is_empty());
        assert!(s.topics(0, 0).is_empty());
    }

    #[test]
    fn deep_topics_do_not_overflow() {
        let deep = vec!["a"; 50_000].join("/");
        let s = RetainedStore::new(0);
        assert!(s.set(&deep, Some("m".to_string())));
        assert_eq!(s.matching("a/#").len(), 1);
        assert_eq!(s.topics(0, 1).len(), 1);
        assert_eq!(s.retain_only(|_| false), 1);
        assert!(s.set(&deep, Some("m".to_string())));
        drop(s);
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<RetainedStore<std::sync::Arc<String>>>();
    }
}
