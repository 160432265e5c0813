//! The shared broker state and the publish pipeline.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use linkmq_codec::{QoS, ReasonCode};
use tokio_util::sync::CancellationToken;

use crate::access::AccessHooks;
use crate::ack_hold::AckHold;
use crate::hooks::{Forwarder, Intercept, PublishInterceptor, RouteListener};
use crate::message::Message;
use crate::metrics::{Counter, Metrics};
use crate::registry::Registry;
use crate::retain::RetainedStore;
use crate::router::Router;
use crate::settings::MqttSettings;

/// The outcome of routing one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// 0x00, or 0x10 "No matching subscribers" when nothing anywhere wanted it, or an interceptor's code.
    pub reason: ReasonCode,
    /// Local sessions handed the message.
    pub local: usize,
    /// Remote destinations (nodes, clusters) that accepted it.
    pub remote: usize,
}

/// Everything the connections of one node share.
pub struct Broker {
    pub settings: MqttSettings,
    pub router: Router,
    pub retained: RetainedStore<Arc<Message>>,
    pub registry: Registry,
    pub metrics: Metrics,
    /// Banned client ids and the flapping detector's counters.
    pub banned: crate::banned::Banned,
    /// Authentication and authorization hooks (allow-all until something is installed).
    pub access: AccessHooks,
    /// Cancelled on shutdown; every task watches it.
    pub shutdown: CancellationToken,
    pub started_at: Instant,
    interceptors: RwLock<Vec<Arc<dyn PublishInterceptor>>>,
    forwarders: RwLock<Vec<Arc<dyn Forwarder>>>,
    connections: AtomicUsize,
    next_conn_id: AtomicU64,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("node", &self.settings.node_name)
            .finish()
    }
}

impl Broker {
    /// A broker with the given settings and no extensions.
    pub fn new(settings: MqttSettings) -> Arc<Broker> {
        Arc::new(Broker {
            router: Router::new(
                settings.shared_strategy,
                settings.upgrade_qos,
                settings.ignore_loop_deliver,
            ),
            retained: RetainedStore::new(settings.max_retained_messages),
            registry: Registry::default(),
            metrics: Metrics::default(),
            banned: crate::banned::Banned::default(),
            access: AccessHooks::default(),
            shutdown: CancellationToken::new(),
            started_at: Instant::now(),
            interceptors: RwLock::new(Vec::new()),
            forwarders: RwLock::new(Vec::new()),
            connections: AtomicUsize::new(0),
            next_conn_id: AtomicU64::new(1),
            settings,
        })
    }

    /// Adds a publish interceptor (e.g. the `$LINK` receiver).
    pub fn add_interceptor(&self, i: Arc<dyn PublishInterceptor>) {
        self.interceptors
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(i);
    }

    /// Adds a forwarder (other nodes, other clusters).
    pub fn add_forwarder(&self, f: Arc<dyn Forwarder>) {
        self.forwarders
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    /// Adds a route listener (see [`Router::add_listener`]).
    pub fn add_route_listener(&self, l: Arc<dyn RouteListener>) {
        self.router.add_listener(l);
    }

    /// A new unique connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a connection opened (returns the new count).
    pub fn connection_opened(&self) -> usize {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a connection closed.
    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Open network connections.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Seconds since start.
    pub fn uptime_secs(&self) -> u64 {
        self.started_at.elapsed().as_secs()
    }

    /// The pipeline for a client's PUBLISH (already authorized): interceptors, retained store, routing.
    pub fn publish(&self, msg: Arc<Message>) -> PublishOutcome {
        self.publish_held(msg, None)
    }

    /// [`Broker::publish`], the deliveries to idle local sessions holding a share of `hold`.
    pub fn publish_held(&self, msg: Arc<Message>, hold: Option<&AckHold>) -> PublishOutcome {
        self.metrics.inc(Counter::MessagesReceived);
        self.metrics.inc(match msg.qos {
            QoS::AtMostOnce => Counter::MessagesQos0Received,
            QoS::AtLeastOnce => Counter::MessagesQos1Received,
            QoS::ExactlyOnce => Counter::MessagesQos2Received,
        });
        {
            let interceptors = self.interceptors.read().unwrap_or_else(|e| e.into_inner());
            for i in interceptors.iter() {
                if let Intercept::Consumed(reason) = i.intercept(&msg) {
                    return PublishOutcome {
                        reason,
                        local: 0,
                        remote: 0,
                    };
                }
            }
        }
        if msg.retain && msg.origin.is_none() {
            self.store_retained(&msg);
        }
        self.route_held(msg, hold)
    }

    /// Routing only (no interceptors, no retained store): local sessions, then forwarders. Used for
    /// broker-made messages and for messages that arrived from another node or cluster.
    pub fn route(&self, msg: Arc<Message>) -> PublishOutcome {
        self.route_held(msg, None)
    }

    fn route_held(&self, msg: Arc<Message>, hold: Option<&AckHold>) -> PublishOutcome {
        self.metrics.inc(Counter::MessagesPublish);
        let local = self.router.dispatch_held(&msg, &self.metrics, hold);
        let mut remote = 0;
        {
            let forwarders = self.forwarders.read().unwrap_or_else(|e| e.into_inner());
            for f in forwarders.iter() {
                remote += f.forward(&msg);
            }
        }
        if remote > 0 {
            self.metrics.add(Counter::MessagesForward, remote as u64);
        }
        let reason = if local == 0 && remote == 0 && !self.router.has_match(&msg.topic) {
            self.metrics.inc(Counter::MessagesDropped);
            self.metrics.inc(Counter::MessagesDroppedNoSubscribers);
            ReasonCode::NoMatchingSubscribers
        } else {
            ReasonCode::Success
        };
        PublishOutcome {
            reason,
            local,
            remote,
        }
    }

    /// Sets or clears (empty payload) the retained message of the topic ([MQTT-3.3.1-5], [MQTT-3.3.1-6]).
    pub fn store_retained(&self, msg: &Arc<Message>) {
        if msg.payload.is_empty() {
            self.retained.set(&msg.topic, None);
        } else if self.retained.set(&msg.topic, Some(msg.clone())) {
            self.metrics.inc(Counter::MessagesRetained);
        }
    }

    /// Drops expired retained messages; returns how many.
    pub fn expire_retained(&self) -> usize {
        let now = Instant::now();
        self.retained.retain_only(|m| !m.is_expired(now))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use linkmq_codec::{Properties, SubOptions};

    use super::*;
    use crate::router::Subscription;
    use crate::session::SessionState;

    fn msg(topic: &str, qos: QoS, from: &str) -> Arc<Message> {
        Arc::new(Message::new(
            from.into(),
            topic.into(),
            qos,
            false,
            Bytes::from_static(b"x"),
            Properties::default(),
        ))
    }

    #[tokio::test]
    async fn overlapping_subscriptions_deliver_one_copy_with_all_ids_and_max_qos() {
        let b = Broker::new(MqttSettings::default());
        let mut s = SessionState::new("c1".into(), &b);
        let o = |q| SubOptions {
            qos: q,
            ..Default::default()
        };
        s.subscribe(
            &b,
            "a/+",
            Subscription {
                options: o(QoS::AtMostOnce),
                sub_id: Some(1),
            },
        )
        .unwrap();
        s.subscribe(
            &b,
            "a/#",
            Subscription {
                options: o(QoS::ExactlyOnce),
                sub_id: Some(2),
            },
        )
        .unwrap();
        let out = b.publish(msg("a/b", QoS::AtLeastOnce, "p"));
        assert_eq!(
            out,
            PublishOutcome {
                reason: ReasonCode::Success,
                local: 1,
                remote: 0
            }
        );
        let d = s.receiver().try_recv().unwrap();
        assert_eq!(d.qos, QoS::AtLeastOnce);
        let mut ids = d.sub_ids.clone();
        ids.sort();
        assert_eq!(ids, vec![1, 2]);
        assert!(s.receiver().try_recv().is_err());
    }

    #[tokio::test]
    async fn no_subscribers_gives_0x10_and_no_local_is_respected() {
        let b = Broker::new(MqttSettings::default());
        assert_eq!(
            b.publish(msg("x", QoS::AtLeastOnce, "p")).reason,
            ReasonCode::NoMatchingSubscribers
        );
        let mut s = SessionState::new("me".into(), &b);
        let opts = SubOptions {
            no_local: true,
            ..Default::default()
        };
        s.subscribe(
            &b,
            "x",
            Subscription {
                options: opts,
                sub_id: None,
            },
        )
        .unwrap();
        let out = b.publish(msg("x", QoS::AtMostOnce, "me"));
        assert_eq!(out.local, 0);
        assert!(s.receiver().try_recv().is_err());
        assert_eq!(b.publish(msg("x", QoS::AtMostOnce, "other")).local, 1);
    }

    #[tokio::test]
    async fn terminate_removes_routes_and_redispatches_shared() {
        let b = Broker::new(MqttSettings::default());
        let mut a = SessionState::new("a".into(), &b);
        let mut c = SessionState::new("c".into(), &b);
        let o = SubOptions {
            qos: QoS::AtLeastOnce,
            ..Default::default()
        };
        a.subscribe(
            &b,
            "$share/g/t",
            Subscription {
                options: o,
                sub_id: None,
            },
        )
        .unwrap();
        c.subscribe(
            &b,
            "$share/g/t",
            Subscription {
                options: o,
                sub_id: None,
            },
        )
        .unwrap();
        for _ in 0..4 {
            b.publish(msg("t", QoS::AtLeastOnce, "p"));
        }
        let mut got_a = 0;
        while let Ok(d) = a.receiver().try_recv() {
            a.enqueue(&b, d, true);
            got_a += 1;
        }
        let mut got_c = 0;
        while c.receiver().try_recv().is_ok() {
            got_c += 1;
        }
        assert_eq!(got_a + got_c, 4);
        assert!(got_a > 0, "round robin gives a its share");
        a.terminate(&b);
        let mut redelivered = 0;
        while c.receiver().try_recv().is_ok() {
            redelivered += 1;
        }
        assert_eq!(redelivered, got_a);
        assert_eq!(b.router.subscription_count(), 1);
    }
}
