//! Session state: subscriptions, outbound inflight window, message queue, inbound QoS 2 state.
//!
//! A `SessionState` is owned by exactly one task (the connection task, which keeps running detached
//! while a session with expiry outlives its socket). It moves whole to a new connection on takeover,
//! together with the receiving end of its delivery channel, so routes never need rewriting.

pub mod inflight;
pub mod mqueue;
pub mod snapshot;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use linkmq_codec::{QoS, ReasonCode};
use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::message::ClientId;
use crate::metrics::Counter;
use crate::registry::SessionInfo;
use crate::router::{Delivery, SubscriberHandle, Subscription};
use crate::topic;
use inflight::{Inflight, Stage};
use mqueue::{Dropped, MQueue};

/// One subscription as the session remembers it (the filter as the client sent it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubRecord {
    /// Inner filter (without `$share/<group>/`).
    pub filter: String,
    pub group: Option<String>,
    pub sub: Subscription,
}

/// A map keyed by packet id. Its hasher has no per-map keys (16 bytes less per map than
/// `RandomState`, and every session has two of these): the keys are `u16` and the maps small and
/// bounded (`max_inflight`, `max_awaiting_rel`), so there is nothing to flood.
pub type PkidMap<V> = HashMap<u16, V, BuildHasherDefault<DefaultHasher>>;

/// A session's delivery channel: how the router reaches it, and the receiving end.
type DeliveryChannel = (SubscriberHandle, mpsc::Receiver<Delivery>);

/// The state of one MQTT session.
#[derive(Debug)]
pub struct SessionState {
    pub client_id: ClientId,
    /// Keyed by the filter exactly as subscribed (incl. `$share/g/`). Made with the first
    /// subscription: boxed, an idle session holds 8 bytes instead of an empty map's 48.
    #[allow(clippy::box_collection)]
    pub subscriptions: Option<Box<HashMap<String, SubRecord>>>,
    pub inflight: Inflight,
    pub mqueue: MQueue,
    /// Inbound QoS 2 packet ids received and not yet released (PUBREL), with arrival time.
    pub awaiting_rel: PkidMap<Instant>,
    /// Session Expiry Interval in seconds currently in force.
    pub expiry_interval: u32,
    pub created_at_ms: u64,
    next_pkid: u16,
    /// The delivery channel, made with the first subscription: a session that subscribes to nothing
    /// (a publish-only or idle client) never allocates one.
    channel: Option<Box<DeliveryChannel>>,
    channel_capacity: u32,
    /// Whether a network connection is attached; copied into the channel's shared flag.
    online: AtomicBool,
}

impl SessionState {
    /// A fresh session (its delivery channel comes with the first subscription).
    pub fn new(client_id: ClientId, broker: &Broker) -> SessionState {
        let s = &broker.settings;
        broker.metrics.inc(Counter::SessionCreated);
        SessionState {
            channel: None,
            channel_capacity: u32::try_from(s.session_channel_capacity.max(1)).unwrap_or(u32::MAX),
            online: AtomicBool::new(true),
            client_id,
            subscriptions: None,
            inflight: Inflight::default(),
            mqueue: MQueue::new(s.max_mqueue_len, s.mqueue_store_qos0),
            awaiting_rel: PkidMap::default(),
            expiry_interval: 0,
            created_at_ms: crate::message::now_ms(),
            next_pkid: 0,
        }
    }

    /// How the router reaches this session; makes the delivery channel if there is none yet.
    fn handle(&mut self) -> &SubscriberHandle {
        let (client_id, capacity) = (&self.client_id, self.channel_capacity);
        let online = self.online.load(Ordering::Relaxed);
        &self
            .channel
            .get_or_insert_with(|| {
                let (tx, rx) = mpsc::channel(capacity as usize);
                let handle = SubscriberHandle {
                    client_id: client_id.clone(),
                    tx,
                    online: Arc::new(AtomicBool::new(online)),
                };
                Box::new((handle, rx))
            })
            .0
    }

    /// The live state the REST API shows; `disconnected_at_ms` when no connection is attached.
    pub fn info(&self, disconnected_at_ms: Option<u64>) -> SessionInfo {
        SessionInfo {
            inflight_cnt: self.inflight.len(),
            mqueue_len: self.mqueue.len(),
            awaiting_rel_cnt: self.awaiting_rel.len(),
            expiry_interval: self.expiry_interval,
            created_at_ms: self.created_at_ms,
            disconnected_at_ms,
            mqueue_dropped: u64::from(self.mqueue.dropped()),
            conn: None,
        }
    }

    /// The delivery channel's receiving end, made if there is none yet.
    pub fn receiver(&mut self) -> &mut mpsc::Receiver<Delivery> {
        self.handle();
        &mut self.channel.as_mut().expect("made above").1
    }

    /// The delivery channel's receiving end if the session has one (the owning task selects on it;
    /// without one nothing can arrive).
    pub fn deliveries(&mut self) -> Option<&mut mpsc::Receiver<Delivery>> {
        self.channel.as_deref_mut().map(|(_, rx)| rx)
    }

    /// Marks a network connection attached or not (shared dispatch prefers online members).
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Relaxed);
        if let Some((handle, _)) = self.channel.as_deref() {
            handle.online.store(online, Ordering::Relaxed);
        }
    }

    /// Adds or replaces a subscription; `filter` is as received (maybe `$share/g/f`). Returns whether
    /// it existed before (for Retain Handling 1).
    pub fn subscribe(
        &mut self,
        broker: &Broker,
        filter: &str,
        sub: Subscription,
    ) -> Result<bool, ReasonCode> {
        let (group, inner) = match topic::parse_shared(filter) {
            Ok(Some((g, f))) => (Some(g.to_string()), f.to_string()),
            Ok(None) => (None, filter.to_string()),
            Err(_) => return Err(ReasonCode::TopicFilterInvalid),
        };
        let out = broker
            .router
            .subscribe(&inner, group.as_deref(), self.handle().clone(), sub);
        self.subscriptions.get_or_insert_default().insert(
            filter.to_string(),
            SubRecord {
                filter: inner,
                group,
                sub,
            },
        );
        Ok(out.existed)
    }

    /// Removes a subscription; false if there was none.
    pub fn unsubscribe(&mut self, broker: &Broker, filter: &str) -> bool {
        let removed = self.subscriptions.as_mut().and_then(|m| m.remove(filter));
        match (removed, self.channel.as_deref()) {
            (Some(rec), Some((handle, _))) => {
                broker
                    .router
                    .unsubscribe(&rec.filter, rec.group.as_deref(), handle)
            }
            _ => false,
        }
    }

    /// Queues a delivery for sending; drops expired messages and applies the queue bound (counted).
    pub fn enqueue(&mut self, broker: &Broker, mut d: Delivery, online: bool) {
        // A connection takes the share before this, to let go of it after its write; any other
        // taker (a detached session) writes nothing, so the publisher need not wait.
        d.hold = None;
        if d.msg.is_expired_now() {
            broker.metrics.inc(Counter::DeliveryDropped);
            broker.metrics.inc(Counter::DeliveryDroppedExpired);
            return;
        }
        if !online && d.qos == QoS::AtMostOnce && !self.mqueue.stores_qos0() {
            broker.metrics.inc(Counter::DeliveryDropped);
            broker.metrics.inc(Counter::DeliveryDroppedQos0Msg);
            return;
        }
        if let Some(dropped) = self.mqueue.push(d) {
            broker.metrics.inc(Counter::DeliveryDropped);
            broker.metrics.inc(Counter::DeliveryDroppedQueueFull);
            if let Dropped::Qos0(_) = dropped {
                broker.metrics.inc(Counter::DeliveryDroppedQos0Msg);
            }
        }
    }

    /// Allocates the next free packet id for an outbound message (never 0, skips ids in flight).
    pub fn alloc_pkid(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            self.next_pkid = self.next_pkid.wrapping_add(1);
            if self.next_pkid == 0 {
                self.next_pkid = 1;
            }
            if !self.inflight.contains(self.next_pkid) {
                return Some(self.next_pkid);
            }
        }
        None
    }

    /// Takes the next queued delivery that may be sent now, given the outbound window. QoS 0 messages
    /// need no window. Expired ones are dropped on the way. Returns the delivery and, for QoS 1/2,
    /// the packet id it was registered under in the inflight window.
    pub fn next_to_send(&mut self, broker: &Broker, window: usize) -> Option<(Delivery, u16)> {
        loop {
            let d = self.mqueue.pop()?;
            if d.msg.is_expired_now() {
                broker.metrics.inc(Counter::DeliveryDropped);
                broker.metrics.inc(Counter::DeliveryDroppedExpired);
                continue;
            }
            if d.qos == QoS::AtMostOnce {
                return Some((d, 0));
            }
            if self.inflight.len() >= window {
                self.mqueue.push_front(d);
                return None;
            }
            let Some(pkid) = self.alloc_pkid() else {
                self.mqueue.push_front(d);
                return None;
            };
            let stage = if d.qos == QoS::AtLeastOnce {
                Stage::AwaitPubAck
            } else {
                Stage::AwaitPubRec
            };
            self.inflight.insert(pkid, d.clone(), stage, Instant::now());
            return Some((d, pkid));
        }
    }

    /// Everything a session still owes when it ends: inflight and queued messages (for shared redispatch).
    pub fn drain_pending(&mut self) -> Vec<Delivery> {
        let mut out: Vec<Delivery> = self
            .inflight
            .drain()
            .into_iter()
            .filter(|e| e.stage != Stage::AwaitPubComp)
            .map(|e| e.delivery)
            .collect();
        out.extend(self.mqueue.drain());
        if let Some((_, rx)) = self.channel.as_deref_mut() {
            while let Ok(d) = rx.try_recv() {
                out.push(d);
            }
        }
        out
    }

    /// Ends the session: removes its routes and redispatches undelivered shared-subscription messages
    /// to other group members.
    pub fn terminate(mut self, broker: &Broker) {
        if let Some((handle, rx)) = self.channel.as_deref_mut() {
            rx.close();
            for rec in self.subscriptions.iter().flat_map(|m| m.values()) {
                broker
                    .router
                    .unsubscribe(&rec.filter, rec.group.as_deref(), handle);
            }
        }
        for d in self.drain_pending() {
            if d.shared.is_some() && d.qos != QoS::AtMostOnce {
                broker
                    .router
                    .redispatch_shared(d, &self.client_id, &broker.metrics);
            }
        }
        broker.metrics.inc(Counter::SessionTerminated);
    }
}
