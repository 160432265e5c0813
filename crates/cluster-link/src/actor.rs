//! The route-replication actor of one link on this node (spec §4).
//!
//! States: connecting → handshaking → bootstrapping → online, and disconnected between attempts
//! (a new attempt starts `reconnect` after the previous one). The actor's client
//! `<base>:routesync:<h8>` subscribes to `$LINK/cluster/resp/<local>/<actor>`, sends `actor_init` and
//! waits `handshake_timeout` for the ack. The first session of an incarnation always bootstraps (adds
//! for every current local route); later sessions bootstrap only when the remote asks for it. Route
//! changes accumulate in a stash (last op per (filter, route id) wins), are coalesced for
//! `batch_delay` and sent in batches of at most [`MAX_ROUTE_OPS`]; a failed batch goes back into the
//! stash. A heartbeat goes out every `heartbeat` while online.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use linkmq_client::{Client, Event};
use linkmq_codec::{Properties, Publish, QoS};
use linkmq_core::Broker;
use linkmq_core::hooks::RouteKey;
use linkmq_core::message::now_ms;
use linkmq_core::topic::intersect_all;
use linkmq_etf::link::{
    ActorInit, ControlMessage, Heartbeat, MAX_ROUTE_OPS, PROTO_VER, RouteBatch, RouteOp,
};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::pool::closed_reason;
use crate::runtime::LinkRuntime;
use crate::stash::{RouteStash, to_ops};
use crate::status::{ActorState, remote_disconnect_reason};

/// A strictly increasing millisecond timestamp: every actor start gets a newer incarnation.
pub(crate) fn next_incarnation() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// What the route listener and the actor task share.
pub(crate) struct ActorShared {
    topics: Vec<String>,
    stash: Mutex<RouteStash>,
    notify: Notify,
}

impl ActorShared {
    pub fn new(topics: Vec<String>) -> ActorShared {
        ActorShared {
            topics,
            stash: Mutex::new(RouteStash::default()),
            notify: Notify::new(),
        }
    }

    fn stash(&self) -> std::sync::MutexGuard<'_, RouteStash> {
        self.stash.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A local route appeared or went: stash an op for each of its intersections with the topics.
    pub fn on_route(&self, route: &RouteKey, add: bool) {
        let found = intersect_all(&route.filter, &self.topics);
        if found.is_empty() {
            return;
        }
        let id = route.route_id();
        {
            let mut s = self.stash();
            for f in found {
                s.push(f, id.clone(), add);
            }
        }
        self.notify.notify_one();
    }

    /// The ops that replicate every current local route (bootstrap).
    fn bootstrap_ops(&self, broker: &Broker) -> Vec<RouteOp> {
        let mut seen = HashSet::new();
        let mut ops = Vec::new();
        for route in broker.router.routes() {
            let id = route.route_id();
            for filter in intersect_all(&route.filter, &self.topics) {
                if seen.insert((filter.clone(), id.clone())) {
                    ops.push(RouteOp::Add {
                        filter,
                        route_id: id.clone(),
                    });
                }
            }
        }
        ops
    }
}

/// Why a session ended.
enum Exit {
    Cancelled,
    Lost(String),
}

/// One link's route-replication actor (actor name = node name).
pub(crate) struct RouteActor {
    pub rt: Arc<LinkRuntime>,
    pub shared: Arc<ActorShared>,
    pub broker: Arc<Broker>,
    pub incarnation: u64,
    bootstrapped: bool,
    /// The reason of the last disconnect logged, so that a retry failing the same way is quiet.
    last_logged: Mutex<Option<String>>,
}

impl RouteActor {
    pub fn new(
        rt: Arc<LinkRuntime>,
        shared: Arc<ActorShared>,
        broker: Arc<Broker>,
        incarnation: u64,
    ) -> RouteActor {
        RouteActor {
            rt,
            shared,
            broker,
            incarnation,
            bootstrapped: false,
            last_logged: Mutex::new(None),
        }
    }

    fn set(&self, state: ActorState, reason: Option<String>) {
        let (prev, changed) = self.rt.status.set_actor(state, reason.clone());
        if !changed {
            return;
        }
        let link = &*self.rt.config.name;
        let actor = &*self.rt.node;
        // Every change is an event; a failure repeating the previous one is not a new warning.
        let repeated = {
            let mut last = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
            match (state, &reason) {
                (ActorState::Disconnected, Some(r)) => {
                    let same = last.as_deref() == Some(r.as_str());
                    *last = Some(r.clone());
                    same
                }
                (ActorState::Online, _) => {
                    *last = None;
                    false
                }
                _ => false,
            }
        };
        if repeated {
            info!(
                link = %link,
                actor = %actor,
                incarnation = self.incarnation,
                from = %prev.as_str(),
                to = %state.as_str(),
                reason = reason.as_deref().unwrap_or(""),
                "cluster link actor state changed"
            );
            return;
        }
        match (state, reason) {
            (ActorState::Disconnected, Some(reason)) => warn!(
                link = %link,
                actor = %actor,
                incarnation = self.incarnation,
                from = %prev.as_str(),
                to = %state.as_str(),
                reason = %reason,
                "cluster link actor state changed"
            ),
            _ => info!(
                link = %link,
                actor = %actor,
                incarnation = self.incarnation,
                from = %prev.as_str(),
                to = %state.as_str(),
                "cluster link actor state changed"
            ),
        }
    }

    pub async fn run(mut self) {
        let cancel = self.rt.cancel.clone();
        let mut last_attempt: Option<Instant> = None;
        loop {
            if let Some(t) = last_attempt {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(t + self.rt.timers.reconnect) => {}
                }
            }
            if cancel.is_cancelled() {
                break;
            }
            last_attempt = Some(Instant::now());
            self.set(ActorState::Connecting, None);
            let client = tokio::select! {
                _ = cancel.cancelled() => break,
                c = self.rt.connect(self.rt.routesync_client_id()) => c,
            };
            let client = match client {
                Ok(c) => c,
                Err(reason) => {
                    self.set(ActorState::Disconnected, Some(reason));
                    continue;
                }
            };
            match self.session(&client).await {
                Exit::Cancelled => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), client.disconnect()).await;
                    break;
                }
                Exit::Lost(reason) => {
                    client.abort();
                    self.set(ActorState::Disconnected, Some(reason));
                }
            }
        }
        self.set(ActorState::Stopped, None);
    }

    async fn session(&mut self, client: &Client) -> Exit {
        self.set(ActorState::Handshaking, None);
        let handshake =
            tokio::time::timeout(self.rt.timers.handshake_timeout, self.handshake(client));
        let need_bootstrap = tokio::select! {
            _ = self.rt.cancel.cancelled() => return Exit::Cancelled,
            r = handshake => match r {
                Err(_) => return Exit::Lost("handshake timeout: no actor_init_ack".into()),
                Ok(Err(exit)) => return exit,
                Ok(Ok(nb)) => nb,
            },
        };
        if !self.bootstrapped || need_bootstrap {
            self.set(ActorState::Bootstrapping, None);
            if let Err(exit) = self.bootstrap(client).await {
                return exit;
            }
            self.bootstrapped = true;
        }
        self.set(ActorState::Online, None);
        self.online(client).await
    }

    /// `actor_init` and its ack; Ok(need_bootstrap).
    async fn handshake(&self, client: &Client) -> Result<bool, Exit> {
        let resp_topic = format!(
            "{}{}/{}",
            crate::receiver::RESP_TOPIC_PREFIX,
            self.rt.local_cluster,
            self.rt.node
        );
        match client.subscribe(&resp_topic, QoS::AtLeastOnce).await {
            Ok(ack) if ack.reasons.first().is_some_and(|r| (*r as u8) < 0x80) => {}
            Ok(ack) => {
                return Err(Exit::Lost(format!(
                    "subscription to {resp_topic} refused: {:?}",
                    ack.reasons
                )));
            }
            Err(_) => return Err(Exit::Lost(closed_reason(client).await)),
        }
        let corr: String = (0..16)
            .map(|_| char::from_digit(rand::random_range(0..16), 16).unwrap_or('0'))
            .collect();
        let init = ActorInit {
            actor: self.rt.node.to_string(),
            incarnation: self.incarnation,
            target_cluster: self.rt.config.name.clone(),
            proto_ver: PROTO_VER,
        };
        let publish = Publish {
            topic: self.rt.route_topic(),
            qos: QoS::AtLeastOnce,
            payload: Bytes::from(ControlMessage::from(init).encode()),
            properties: Properties::from(linkmq_codec::PropertyValues {
                response_topic: Some(resp_topic.clone()),
                correlation_data: Some(Bytes::from(corr.clone())),
                ..Default::default()
            }),
            ..Publish::default()
        };
        match client.publish_with(publish).await {
            Ok(rc) if (rc as u8) < 0x80 => {}
            Ok(rc) => {
                return Err(Exit::Lost(format!(
                    "actor_init refused by the remote with 0x{:02X} ({})",
                    rc as u8,
                    crate::status::reason_name(rc)
                )));
            }
            Err(_) => return Err(Exit::Lost(closed_reason(client).await)),
        }
        loop {
            match client.recv().await {
                Some(Event::Publish(p))
                    if p.topic == resp_topic
                        && p.properties.correlation_data.as_deref() == Some(corr.as_bytes()) =>
                {
                    let ack = match ControlMessage::decode(&p.payload) {
                        Ok(ControlMessage::ActorInitAck(ack)) => ack,
                        Ok(other) => {
                            return Err(Exit::Lost(format!("unexpected reply {other:?}")));
                        }
                        Err(e) => return Err(Exit::Lost(format!("bad actor_init_ack: {e}"))),
                    };
                    return match ack.result {
                        Ok(()) => Ok(ack.need_bootstrap.unwrap_or(true)),
                        Err(reason) => {
                            let text = format!("handshake rejected: {reason}");
                            let again = self
                                .last_logged
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .as_deref()
                                == Some(text.as_str());
                            if !again {
                                warn!(
                                    link = %self.rt.config.name,
                                    actor = %self.rt.node,
                                    reason = %reason,
                                    "cluster link handshake rejected by the remote"
                                );
                            }
                            Err(Exit::Lost(text))
                        }
                    };
                }
                Some(Event::Publish(_)) => {}
                Some(Event::Disconnect(d)) => {
                    return Err(Exit::Lost(remote_disconnect_reason(d.reason)));
                }
                Some(Event::Closed) | None => {
                    return Err(Exit::Lost("connection closed".into()));
                }
            }
        }
    }

    async fn send_batch(&self, client: &Client, ops: Vec<RouteOp>) -> Result<(), Exit> {
        let batch = RouteBatch {
            actor: self.rt.node.to_string(),
            incarnation: self.incarnation,
            ops,
        };
        let publish = Publish {
            topic: self.rt.route_topic(),
            qos: QoS::AtLeastOnce,
            payload: Bytes::from(ControlMessage::from(batch).encode()),
            ..Publish::default()
        };
        let sent = tokio::select! {
            _ = self.rt.cancel.cancelled() => return Err(Exit::Cancelled),
            r = client.publish_with(publish) => r,
        };
        match sent {
            Ok(rc) if (rc as u8) < 0x80 => Ok(()),
            Ok(rc) => Err(Exit::Lost(format!(
                "route batch refused by the remote with 0x{:02X} ({})",
                rc as u8,
                crate::status::reason_name(rc)
            ))),
            Err(_) => Err(Exit::Lost(closed_reason(client).await)),
        }
    }

    async fn heartbeat(&self, client: &Client) -> Result<(), Exit> {
        let hb = Heartbeat {
            actor: self.rt.node.to_string(),
            incarnation: self.incarnation,
        };
        let payload = Bytes::from(ControlMessage::from(hb).encode());
        match client
            .publish(&self.rt.route_topic(), payload, QoS::AtMostOnce, false)
            .await
        {
            Ok(_) => Ok(()),
            Err(_) => Err(Exit::Lost(closed_reason(client).await)),
        }
    }

    async fn bootstrap(&self, client: &Client) -> Result<(), Exit> {
        // The remote holds nothing of this incarnation: pending ops are superseded by the snapshot,
        // and every change after the snapshot lands in the stash (the listener runs under the
        // router's lock, the snapshot is taken after clearing).
        self.shared.stash().clear();
        let ops = self.shared.bootstrap_ops(&self.broker);
        let total = ops.len();
        let mut last_hb = Instant::now();
        for chunk in ops.chunks(MAX_ROUTE_OPS) {
            self.send_batch(client, chunk.to_vec()).await?;
            if last_hb.elapsed() >= self.rt.timers.heartbeat {
                self.heartbeat(client).await?;
                last_hb = Instant::now();
            }
        }
        info!(link = %self.rt.config.name, actor = %self.rt.node, routes = total, "cluster link routes bootstrapped");
        Ok(())
    }

    async fn online(&self, client: &Client) -> Exit {
        let timers = self.rt.timers;
        let mut next_hb = Instant::now() + timers.heartbeat;
        loop {
            if !self.shared.stash().is_empty() {
                tokio::select! {
                    _ = self.rt.cancel.cancelled() => return Exit::Cancelled,
                    _ = tokio::time::sleep(timers.batch_delay) => {}
                }
                let taken = self.shared.stash().take(MAX_ROUTE_OPS);
                let ops = to_ops(&taken);
                if let Err(exit) = self.send_batch(client, ops).await {
                    self.shared.stash().restore(taken);
                    return exit;
                }
                continue;
            }
            tokio::select! {
                _ = self.rt.cancel.cancelled() => return Exit::Cancelled,
                _ = self.shared.notify.notified() => {}
                _ = tokio::time::sleep_until(next_hb) => {
                    if let Err(exit) = self.heartbeat(client).await {
                        return exit;
                    }
                    next_hb = Instant::now() + timers.heartbeat;
                }
                ev = client.recv() => match ev {
                    Some(Event::Publish(_)) => {}
                    Some(Event::Disconnect(d)) => return Exit::Lost(remote_disconnect_reason(d.reason)),
                    Some(Event::Closed) | None => return Exit::Lost("connection closed".into()),
                },
            }
        }
    }
}
