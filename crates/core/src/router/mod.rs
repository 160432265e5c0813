//! The subscription router: filter → subscribers, read on every publish.
//!
//! One `RwLock` around the trie: publishes take the read side (many at once, no global mutex on the
//! publish path); (un)subscribe take the write side briefly. Deliveries are `try_send`s into each
//! session's bounded channel, so a slow subscriber never stalls a publisher: a full channel drops the
//! delivery and counts it (`delivery.dropped.channel_full`).

pub mod trie;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use linkmq_codec::{QoS, SubOptions};
use smallvec::SmallVec;
use tokio::sync::mpsc;

use crate::ack_hold::AckHold;
use crate::hooks::{RouteKey, RouteListener};
use crate::message::{ClientId, Message};
use crate::metrics::{Counter, Metrics};
use crate::shared_sub::{GroupPicker, SharedStrategy};
use trie::TopicTrie;

/// One message on its way into one session, with the per-subscriber view of it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub msg: Arc<Message>,
    /// QoS to deliver with (already reduced to the subscription's maximum).
    pub qos: QoS,
    /// RETAIN flag to send (Retain As Published, or set for retained-on-subscribe).
    pub retain: bool,
    /// Subscription identifiers of every matching subscription of this session.
    pub sub_ids: Vec<u32>,
    /// Set when delivered through a shared subscription, so it can be redispatched.
    pub shared: Option<SharedRef>,
    /// The publisher's acknowledgements wait until the session takes this delivery (see
    /// [`crate::ack_hold`]); set only for a session whose mailbox was empty.
    pub hold: Option<AckHold>,
}

/// Which shared subscription a delivery came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRef {
    pub group: Arc<str>,
    pub filter: Arc<str>,
}

/// The sending side of a session's delivery channel.
pub type SessionTx = mpsc::Sender<Delivery>;

/// How the router reaches one session. Survives reconnects: the receiving end moves with the session.
#[derive(Debug, Clone)]
pub struct SubscriberHandle {
    pub client_id: ClientId,
    pub tx: SessionTx,
    /// True while a network connection is attached (shared dispatch prefers online members).
    pub online: Arc<AtomicBool>,
}

/// The options of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub options: SubOptions,
    pub sub_id: Option<u32>,
}

#[derive(Debug, Clone)]
struct Member {
    handle: SubscriberHandle,
    sub: Subscription,
}

#[derive(Debug)]
struct Group {
    name: Arc<str>,
    /// The group's filter, shared by every delivery through it (see [`SharedRef`]).
    filter: Arc<str>,
    picker: GroupPicker,
    members: Vec<Member>,
}

impl Group {
    /// This group, for a delivery through it: two reference counts, no allocation (the delivery
    /// is often dropped on another thread than the one that made it).
    fn shared_ref(&self) -> SharedRef {
        SharedRef {
            group: self.name.clone(),
            filter: self.filter.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct FilterEntry {
    direct: Vec<Member>,
    groups: Vec<Group>,
}

impl FilterEntry {
    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.groups.is_empty()
    }
}

/// The node's subscription table.
pub struct Router {
    trie: RwLock<TopicTrie<FilterEntry>>,
    listeners: RwLock<Vec<Arc<dyn RouteListener>>>,
    strategy: SharedStrategy,
    subscriptions: AtomicUsize,
    upgrade_qos: bool,
    ignore_loop_deliver: bool,
    /// Set when the cluster picks the member of every shared group cluster-wide (see
    /// [`Router::delegate_shared`]).
    shared_delegated: AtomicBool,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("subscriptions", &self.subscriptions)
            .finish()
    }
}

/// A read-only view of one subscription, for listing (`/api/v5/subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    pub client_id: ClientId,
    /// The filter without any `$share/<group>/` prefix.
    pub filter: Arc<str>,
    /// The shared-subscription group, if any.
    pub group: Option<Arc<str>>,
    pub sub: Subscription,
}

/// What one subscribe changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOutcome {
    /// The session already had this exact subscription (Retain Handling 1 skips retained then).
    pub existed: bool,
}

impl Router {
    /// An empty router with the given shared-subscription strategy.
    pub fn new(strategy: SharedStrategy, upgrade_qos: bool, ignore_loop_deliver: bool) -> Router {
        Router {
            trie: RwLock::new(TopicTrie::new()),
            listeners: RwLock::new(Vec::new()),
            strategy,
            subscriptions: AtomicUsize::new(0),
            upgrade_qos,
            ignore_loop_deliver,
            shared_delegated: AtomicBool::new(false),
        }
    }

    /// From now on [`Router::dispatch`] leaves shared groups alone: the cluster chooses one member
    /// node per group cluster-wide and calls [`Router::dispatch_shared`] on that node.
    pub fn delegate_shared(&self) {
        self.shared_delegated.store(true, Ordering::Relaxed);
    }

    /// Hands `msg` to one local member of the shared group `group` on `filter`; false when this node
    /// has no usable member (or its channel is full).
    pub fn dispatch_shared(
        &self,
        msg: &Arc<Message>,
        filter: &str,
        group: &str,
        metrics: &Metrics,
    ) -> bool {
        let trie = self.read();
        let Some(entry) = trie.get(filter) else {
            return false;
        };
        let Some(g) = entry.groups.iter().find(|g| &*g.name == group) else {
            return false;
        };
        match pick_member(g, msg, None) {
            Some(m) => send(
                &m.handle,
                self.delivery_for(msg, m, Some(g.shared_ref())),
                metrics,
            ),
            None => false,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, TopicTrie<FilterEntry>> {
        self.trie.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, TopicTrie<FilterEntry>> {
        self.trie.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a listener for route added/removed events; it first hears an add for every route held now.
    pub fn add_listener(&self, listener: Arc<dyn RouteListener>) {
        let trie = self.write();
        for route in routes_of(&trie) {
            listener.route_added(&route);
        }
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    fn notify(&self, route: RouteKey, added: bool) {
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        for l in listeners.iter() {
            if added {
                l.route_added(&route)
            } else {
                l.route_removed(&route)
            }
        }
    }

    /// Adds or replaces the subscription of `handle.client_id` to `filter` (shared when `group` is set).
    pub fn subscribe(
        &self,
        filter: &str,
        group: Option<&str>,
        handle: SubscriberHandle,
        sub: Subscription,
    ) -> SubscribeOutcome {
        let mut trie = self.write();
        let entry = trie.get_or_insert_with(filter, FilterEntry::default);
        let mut new_route = None;
        let members = match group {
            None => {
                if entry.direct.is_empty() {
                    new_route = Some(RouteKey {
                        filter: filter.into(),
                        group: None,
                    });
                }
                &mut entry.direct
            }
            Some(g) => {
                let idx = match entry.groups.iter().position(|x| &*x.name == g) {
                    Some(i) => i,
                    None => {
                        new_route = Some(RouteKey {
                            filter: filter.into(),
                            group: Some(g.into()),
                        });
                        entry.groups.push(Group {
                            name: g.into(),
                            filter: filter.into(),
                            picker: GroupPicker::new(self.strategy),
                            members: Vec::new(),
                        });
                        entry.groups.len() - 1
                    }
                };
                &mut entry.groups[idx].members
            }
        };
        let existed = match members
            .iter_mut()
            .find(|m| m.handle.client_id == handle.client_id)
        {
            Some(m) => {
                m.handle = handle;
                m.sub = sub;
                true
            }
            None => {
                members.push(Member { handle, sub });
                self.subscriptions.fetch_add(1, Ordering::Relaxed);
                false
            }
        };
        if let Some(route) = new_route {
            self.notify(route, true);
        }
        SubscribeOutcome { existed }
    }

    /// Removes the subscription; returns whether it existed.
    /// Only the member whose channel is `handle`'s is removed, so a dying session never removes the
    /// subscription of the session that replaced it.
    pub fn unsubscribe(
        &self,
        filter: &str,
        group: Option<&str>,
        handle: &SubscriberHandle,
    ) -> bool {
        let is_it = |m: &Member| {
            m.handle.client_id == handle.client_id && m.handle.tx.same_channel(&handle.tx)
        };
        let mut trie = self.write();
        let Some(entry) = trie.get_mut(filter) else {
            return false;
        };
        let mut removed_route = None;
        let found = match group {
            None => {
                let before = entry.direct.len();
                entry.direct.retain(|m| !is_it(m));
                let found = entry.direct.len() != before;
                if found && entry.direct.is_empty() {
                    removed_route = Some(RouteKey {
                        filter: filter.into(),
                        group: None,
                    });
                }
                found
            }
            Some(g) => match entry.groups.iter().position(|x| &*x.name == g) {
                None => false,
                Some(i) => {
                    let members = &mut entry.groups[i].members;
                    let before = members.len();
                    members.retain(|m| !is_it(m));
                    let found = members.len() != before;
                    if members.is_empty() {
                        entry.groups.remove(i);
                        removed_route = Some(RouteKey {
                            filter: filter.into(),
                            group: Some(g.into()),
                        });
                    }
                    found
                }
            },
        };
        if entry.is_empty() {
            trie.remove(filter);
        }
        if found {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(route) = removed_route {
            self.notify(route, false);
        }
        found
    }

    /// Routes `msg` to every matching local session: one delivery per session (overlapping
    /// subscriptions merged, all their subscription ids attached), one member per shared group.
    /// Returns the number of sessions the message was handed to.
    pub fn dispatch(&self, msg: &Arc<Message>, metrics: &Metrics) -> usize {
        self.dispatch_held(msg, metrics, None)
    }

    /// [`Router::dispatch`], with a share of `hold` on each delivery to a session whose mailbox is
    /// empty (one that has more to take first would keep the publisher's acks waiting).
    pub fn dispatch_held(
        &self,
        msg: &Arc<Message>,
        metrics: &Metrics,
        hold: Option<&AckHold>,
    ) -> usize {
        let trie = self.read();
        // On the stack up to 8 matching subscriptions: most publishes reach a few sessions.
        let mut direct: SmallVec<[&Member; 8]> = SmallVec::new();
        let mut delivered = 0;
        let groups = !self.shared_delegated.load(Ordering::Relaxed);
        trie.for_each_match(&msg.topic, |_, entry| {
            for m in &entry.direct {
                if (m.sub.options.no_local || self.ignore_loop_deliver)
                    && m.handle.client_id == msg.from
                {
                    metrics.inc(Counter::DeliveryDroppedNoLocal);
                    continue;
                }
                direct.push(m);
            }
            for g in entry.groups.iter().filter(|_| groups) {
                if let Some(m) = pick_member(g, msg, None) {
                    let mut d = self.delivery_for(msg, m, Some(g.shared_ref()));
                    d.hold = share(hold, &m.handle);
                    if send(&m.handle, d, metrics) {
                        delivered += 1;
                    }
                }
            }
        });
        if direct.len() > 1 {
            direct.sort_by(|a, b| a.handle.client_id.cmp(&b.handle.client_id));
        }
        let mut i = 0;
        while i < direct.len() {
            let first = direct[i];
            let mut d = self.delivery_for(msg, first, None);
            let mut j = i + 1;
            while j < direct.len() && direct[j].handle.client_id == first.handle.client_id {
                let other = self.delivery_for(msg, direct[j], None);
                d.qos = d.qos.max(other.qos);
                d.retain |= other.retain;
                d.sub_ids.extend(other.sub_ids);
                j += 1;
            }
            d.hold = share(hold, &first.handle);
            if send(&first.handle, d, metrics) {
                delivered += 1;
            }
            i = j;
        }
        delivered
    }

    /// Hands a shared-subscription delivery that `leaving` could not complete to another member of its
    /// group. Returns false (and the message is dropped) when no other member exists.
    pub fn redispatch_shared(&self, delivery: Delivery, leaving: &str, metrics: &Metrics) -> bool {
        let Some(shared) = delivery.shared.clone() else {
            return false;
        };
        let trie = self.read();
        let Some(entry) = trie.get(&shared.filter) else {
            return false;
        };
        let Some(group) = entry.groups.iter().find(|g| g.name == shared.group) else {
            return false;
        };
        match pick_member(group, &delivery.msg, Some(leaving)) {
            Some(m) => {
                let d = self.delivery_for(&delivery.msg, m, Some(shared));
                send(&m.handle, d, metrics)
            }
            None => false,
        }
    }

    fn delivery_for(&self, msg: &Arc<Message>, m: &Member, shared: Option<SharedRef>) -> Delivery {
        let qos = if self.upgrade_qos {
            m.sub.options.qos
        } else {
            msg.qos.min(m.sub.options.qos)
        };
        Delivery {
            msg: msg.clone(),
            qos,
            retain: msg.retain && m.sub.options.retain_as_published,
            sub_ids: m.sub.sub_id.into_iter().collect(),
            shared,
            hold: None,
        }
    }

    /// True when some local subscription matches `topic` (used for the 0x10 "no matching subscribers").
    pub fn has_match(&self, topic: &str) -> bool {
        let mut any = false;
        self.read().for_each_match(topic, |_, _| any = true);
        any
    }

    /// Number of subscriptions (session × filter).
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// Number of distinct filters.
    pub fn topic_count(&self) -> usize {
        self.read().len()
    }

    /// Every route this node holds (filter, and group for shared ones), sorted.
    pub fn routes(&self) -> Vec<RouteKey> {
        routes_of(&self.read())
    }

    /// Every subscription (session × filter), sorted by client id, then filter, then group; for the
    /// management API. `client_id` narrows it to one session.
    pub fn subscriptions(&self, client_id: Option<&str>) -> Vec<SubscriptionView> {
        let trie = self.read();
        let mut out = Vec::new();
        let wanted = |m: &Member| client_id.is_none_or(|c| &*m.handle.client_id == c);
        for (filter, entry) in trie.iter() {
            let filter: Arc<str> = filter.into();
            for m in entry.direct.iter().filter(|m| wanted(m)) {
                out.push(SubscriptionView {
                    client_id: m.handle.client_id.clone(),
                    filter: filter.clone(),
                    group: None,
                    sub: m.sub,
                });
            }
            for g in &entry.groups {
                for m in g.members.iter().filter(|m| wanted(m)) {
                    out.push(SubscriptionView {
                        client_id: m.handle.client_id.clone(),
                        filter: filter.clone(),
                        group: Some(g.name.clone()),
                        sub: m.sub,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.client_id, &a.filter, &a.group).cmp(&(&b.client_id, &b.filter, &b.group))
        });
        out
    }
}

fn routes_of(trie: &TopicTrie<FilterEntry>) -> Vec<RouteKey> {
    let mut out = Vec::new();
    for (filter, entry) in trie.iter() {
        if !entry.direct.is_empty() {
            out.push(RouteKey {
                filter: filter.into(),
                group: None,
            });
        }
        for g in &entry.groups {
            out.push(RouteKey {
                filter: filter.into(),
                group: Some(g.name.clone()),
            });
        }
    }
    out.sort();
    out
}

/// Picks a group member: online ones first, then any whose session still exists.
fn pick_member<'a>(g: &'a Group, msg: &Message, exclude: Option<&str>) -> Option<&'a Member> {
    let ids: Vec<&str> = g.members.iter().map(|m| &*m.handle.client_id).collect();
    let usable = |i: usize, need_online: bool| {
        let m = &g.members[i];
        Some(&*m.handle.client_id) != exclude
            && !m.handle.tx.is_closed()
            && (!need_online || m.handle.online.load(Ordering::Relaxed))
    };
    let idx = g
        .picker
        .pick(&ids, &msg.from, &msg.topic, |i| usable(i, true))
        .or_else(|| {
            g.picker
                .pick(&ids, &msg.from, &msg.topic, |i| usable(i, false))
        })?;
    g.members.get(idx)
}

/// A share of `hold` for a delivery to `handle`, when its mailbox is empty.
fn share(hold: Option<&AckHold>, handle: &SubscriberHandle) -> Option<AckHold> {
    hold.filter(|_| handle.tx.capacity() == handle.tx.max_capacity())
        .cloned()
}

fn send(handle: &SubscriberHandle, d: Delivery, metrics: &Metrics) -> bool {
    match handle.tx.try_send(d) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics.inc(Counter::DeliveryDropped);
            metrics.inc(Counter::DeliveryDroppedChannelFull);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}
