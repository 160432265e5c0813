//! A session as plain data, for moving it to another node (cluster-wide takeover): subscriptions,
//! inflight and queued messages, inbound QoS 2 packet ids, expiry. No channels, no routes.

use std::time::Instant;

use super::inflight::Stage;
use super::{SessionState, SubRecord};
use crate::broker::Broker;
use crate::message::ClientId;
use crate::router::Delivery;

/// Everything a session holds, detached from this node.
#[derive(Debug, Clone)]
pub struct SessionSnapshot {
    pub client_id: ClientId,
    /// (filter as subscribed, incl. `$share/g/`, record).
    pub subscriptions: Vec<(String, SubRecord)>,
    /// Outbound QoS 1/2 messages sent and not acknowledged, oldest first, with their packet ids.
    pub inflight: Vec<(u16, Delivery, Stage)>,
    /// Messages waiting to be sent, oldest first.
    pub queued: Vec<Delivery>,
    /// Inbound QoS 2 packet ids awaiting PUBREL.
    pub awaiting_rel: Vec<u16>,
    pub expiry_interval: u32,
    pub created_at_ms: u64,
}

impl SessionState {
    /// Takes the session off this node: its routes are removed and everything it still owes
    /// (inflight, queue, undelivered channel contents) goes into the snapshot.
    pub fn export(mut self, broker: &Broker) -> SessionSnapshot {
        if let Some((handle, rx)) = self.channel.as_deref_mut() {
            for rec in self.subscriptions.iter().flat_map(|m| m.values()) {
                broker
                    .router
                    .unsubscribe(&rec.filter, rec.group.as_deref(), handle);
            }
            rx.close();
        }
        let inflight = self
            .inflight
            .all_for_resend(Instant::now())
            .into_iter()
            .map(|(pkid, e)| (pkid, e.delivery, e.stage))
            .collect();
        self.inflight.drain();
        let mut queued = self.mqueue.drain();
        if let Some((_, rx)) = self.channel.as_deref_mut() {
            while let Ok(d) = rx.try_recv() {
                queued.push(d);
            }
        }
        let mut subscriptions: Vec<(String, SubRecord)> = self
            .subscriptions
            .take()
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
        subscriptions.sort_by(|a, b| a.0.cmp(&b.0));
        let mut awaiting_rel: Vec<u16> = self.awaiting_rel.keys().copied().collect();
        awaiting_rel.sort_unstable();
        SessionSnapshot {
            client_id: self.client_id.clone(),
            subscriptions,
            inflight,
            queued,
            awaiting_rel,
            expiry_interval: self.expiry_interval,
            created_at_ms: self.created_at_ms,
        }
    }

    /// Rebuilds a session on this node from a snapshot: subscriptions routed here, inflight and
    /// queued messages restored in order (the caller resends inflight on resume).
    pub fn import(snap: SessionSnapshot, broker: &Broker) -> SessionState {
        let mut s = SessionState::new(snap.client_id, broker);
        s.created_at_ms = snap.created_at_ms;
        s.expiry_interval = snap.expiry_interval;
        for (filter, rec) in snap.subscriptions {
            let _ = s.subscribe(broker, &filter, rec.sub);
        }
        let now = Instant::now();
        for (pkid, d, stage) in snap.inflight {
            s.inflight.insert(pkid, d, stage, now);
            s.next_pkid = s.next_pkid.max(pkid);
        }
        for d in snap.queued {
            s.mqueue.push(d);
        }
        for pkid in snap.awaiting_rel {
            s.awaiting_rel.insert(pkid, now);
        }
        s
    }
}
