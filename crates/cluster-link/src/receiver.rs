//! The receiving side (spec §5–§6): consumes `$LINK/cluster/route/<C>` and `$LINK/cluster/msg/<C>`
//! publishes after authorization and before routing; nothing else ever sees them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use linkmq_codec::{Properties, QoS, ReasonCode};
use linkmq_core::hooks::{Intercept, PublishInterceptor};
use linkmq_core::message::now_ms;
use linkmq_core::registry::Control;
use linkmq_core::{Broker, ClientId, Message, topic};
use linkmq_etf::link::{self, ActorInit, ActorInitAck, ControlMessage, ForwardedMessage};
use tracing::{debug, info, warn};

use crate::convert::from_forwarded;
use crate::extrouter::{ActorHandle, ExtRouter};
use crate::status::LinkMetrics;
use crate::table::LinkTable;

/// Topic prefix of route replication (`<prefix><sender cluster>`).
pub const ROUTE_TOPIC_PREFIX: &str = "$LINK/cluster/route/";
/// Topic prefix of forwarded messages.
pub const MSG_TOPIC_PREFIX: &str = "$LINK/cluster/msg/";
/// Topic prefix of `actor_init_ack` replies.
pub const RESP_TOPIC_PREFIX: &str = "$LINK/cluster/resp/";

/// Finds the metrics of a link by name.
pub(crate) type MetricsLookup = Arc<dyn Fn(&str) -> Option<Arc<LinkMetrics>> + Send + Sync>;

/// The actor a route-replication connection initialised.
#[derive(Debug, Clone)]
struct ConnActor {
    conn_id: u64,
    handle: ActorHandle,
}

/// The `$LINK` interceptor of this node.
pub struct LinkReceiver {
    broker: Weak<Broker>,
    local_cluster: Arc<str>,
    table: Arc<LinkTable>,
    extrouter: Arc<dyn ExtRouter>,
    metrics: MetricsLookup,
    conns: Mutex<HashMap<ClientId, ConnActor>>,
}

impl std::fmt::Debug for LinkReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkReceiver")
            .field("local_cluster", &self.local_cluster)
            .finish()
    }
}

impl LinkReceiver {
    pub(crate) fn new(
        broker: &Arc<Broker>,
        local_cluster: Arc<str>,
        table: Arc<LinkTable>,
        extrouter: Arc<dyn ExtRouter>,
        metrics: MetricsLookup,
    ) -> LinkReceiver {
        LinkReceiver {
            broker: Arc::downgrade(broker),
            local_cluster,
            table,
            extrouter,
            metrics,
            conns: Mutex::new(HashMap::new()),
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<ClientId, ConnActor>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets connections that are gone (called by the GC task).
    pub(crate) fn prune(&self) {
        let Some(broker) = self.broker.upgrade() else {
            return;
        };
        self.conns().retain(|client_id, c| {
            broker
                .registry
                .get(client_id)
                .is_some_and(|e| e.conn_id == c.conn_id && e.connected)
        });
    }

    fn current_conn_id(broker: &Broker, client_id: &str) -> Option<u64> {
        broker.registry.get(client_id).map(|e| e.conn_id)
    }

    /// Logs, forgets the connection's actor and disconnects the sender with 0x83 (spec §5).
    fn protocol_error(
        &self,
        broker: &Broker,
        cluster: &str,
        msg: &Message,
        error: &str,
    ) -> Intercept {
        warn!(
            link = %cluster,
            client_id = %msg.from,
            error = %error,
            "cluster link protocol error: disconnecting the sender with 0x83"
        );
        self.conns().remove(&msg.from);
        if let Some(entry) = broker.registry.get(&msg.from) {
            let _ = entry.ctl.try_send(Control::Kick {
                reason: ReasonCode::ImplementationSpecificError,
            });
        }
        Intercept::Consumed(ReasonCode::ImplementationSpecificError)
    }

    fn on_route(&self, broker: &Broker, cluster: &str, msg: &Message) -> Intercept {
        let control = match ControlMessage::decode(&msg.payload) {
            Ok(c) => c,
            Err(e) => return self.protocol_error(broker, cluster, msg, &e.to_string()),
        };
        match control {
            ControlMessage::ActorInit(init) => self.on_actor_init(broker, cluster, msg, init),
            ControlMessage::Route(batch) => {
                let Some(conn) = self.conn_actor(broker, cluster, msg) else {
                    return self.protocol_error(
                        broker,
                        cluster,
                        msg,
                        "route ops before a successful actor_init on this connection",
                    );
                };
                for op in &batch.ops {
                    if let Err(e) = self.extrouter.apply(&conn.handle, op) {
                        return self.protocol_error(broker, cluster, msg, &e.to_string());
                    }
                }
                debug!(link = cluster, actor = %conn.handle.actor, ops = batch.ops.len(), "route ops applied");
                Intercept::Consumed(ReasonCode::Success)
            }
            ControlMessage::Heartbeat(_) => {
                // Like EMQX: a heartbeat before actor_init on this connection is ignored.
                let Some(conn) = self.conn_actor(broker, cluster, msg) else {
                    return Intercept::Consumed(ReasonCode::Success);
                };
                match self.extrouter.heartbeat(&conn.handle, now_ms()) {
                    Ok(()) => Intercept::Consumed(ReasonCode::Success),
                    Err(e) => self.protocol_error(broker, cluster, msg, &e.to_string()),
                }
            }
            ControlMessage::ActorInitAck(_) => self.protocol_error(
                broker,
                cluster,
                msg,
                "actor_init_ack sent to the route topic",
            ),
        }
    }

    /// The actor this very connection initialised for `cluster`, if any.
    fn conn_actor(&self, broker: &Broker, cluster: &str, msg: &Message) -> Option<ConnActor> {
        let conn = self.conns().get(&msg.from).cloned()?;
        let live = Self::current_conn_id(broker, &msg.from) == Some(conn.conn_id);
        (live && &*conn.handle.cluster == cluster).then_some(conn)
    }

    fn on_actor_init(
        &self,
        broker: &Broker,
        cluster: &str,
        msg: &Message,
        init: ActorInit,
    ) -> Intercept {
        let (Some(resp_topic), Some(corr)) = (
            msg.properties.response_topic.clone(),
            msg.properties.correlation_data.clone(),
        ) else {
            return self.protocol_error(
                broker,
                cluster,
                msg,
                "actor_init without Response-Topic and Correlation-Data",
            );
        };
        let snapshot = self.table.snapshot();
        let rejection = match snapshot.links.get(cluster) {
            None => Some(link::reason::UNKNOWN_CLUSTER),
            Some(l) if !l.enable => Some(link::reason::CLUSTER_LINK_DISABLED),
            Some(_) if init.target_cluster != *self.local_cluster => {
                Some(link::reason::BAD_REMOTE_CLUSTER_LINK_NAME)
            }
            Some(_) => None,
        };
        let ack = match rejection {
            Some(reason) => {
                warn!(
                    link = %cluster,
                    actor = %init.actor,
                    reason = %reason,
                    local_name = %self.local_cluster,
                    remote_name = %init.target_cluster,
                    "cluster link handshake rejected"
                );
                ActorInitAck {
                    actor: init.actor.clone(),
                    proto_ver: link::PROTO_VER,
                    result: Err(reason.to_string()),
                    need_bootstrap: None,
                }
            }
            None => {
                let outcome = match self.extrouter.actor_init(
                    cluster,
                    &init.actor,
                    init.incarnation,
                    now_ms(),
                ) {
                    Ok(o) => o,
                    Err(e) => return self.protocol_error(broker, cluster, msg, &e.to_string()),
                };
                let Some(conn_id) = Self::current_conn_id(broker, &msg.from) else {
                    return Intercept::Consumed(ReasonCode::UnspecifiedError);
                };
                info!(
                    link = %cluster,
                    actor = %init.actor,
                    incarnation = init.incarnation,
                    need_bootstrap = outcome.need_bootstrap,
                    "cluster link actor initialised"
                );
                self.conns().insert(
                    msg.from.clone(),
                    ConnActor {
                        conn_id,
                        handle: outcome.handle,
                    },
                );
                ActorInitAck {
                    actor: init.actor.clone(),
                    proto_ver: link::PROTO_VER,
                    result: Ok(()),
                    need_bootstrap: Some(outcome.need_bootstrap),
                }
            }
        };
        let props = Properties::from(linkmq_codec::PropertyValues {
            correlation_data: Some(corr),
            ..Default::default()
        });
        let mut reply = Message::new(
            ClientId::from(""),
            resp_topic.into(),
            QoS::AtLeastOnce,
            false,
            Bytes::from(ControlMessage::from(ack).encode()),
            props,
        );
        reply.sys = true;
        broker.route(Arc::new(reply));
        Intercept::Consumed(ReasonCode::Success)
    }

    fn on_msg(&self, broker: &Broker, cluster: &str, msg: &Message) -> Intercept {
        let fwd = match ForwardedMessage::decode_bytes(&msg.payload) {
            Ok(f) => f,
            Err(e) => {
                // EMQX ignores such a payload (after logging it) and does not disconnect.
                warn!(link = cluster, client_id = %msg.from, error = %e, "unexpected cluster link forwarded message payload");
                return Intercept::Consumed(ReasonCode::NoMatchingSubscribers);
            }
        };
        let snapshot = self.table.snapshot();
        let accepted = snapshot
            .links
            .get(cluster)
            .is_some_and(|l| l.enable && l.topics.iter().any(|f| topic::matches(f, &fwd.topic)));
        if !accepted {
            debug!(link = cluster, topic = %fwd.topic, "forwarded message not accepted by the local link");
            return Intercept::Consumed(ReasonCode::NoMatchingSubscribers);
        }
        let outcome = broker.route(Arc::new(from_forwarded(fwd, cluster)));
        if let Some(m) = (self.metrics)(cluster) {
            LinkMetrics::inc(&m.received);
        }
        Intercept::Consumed(outcome.reason)
    }
}

impl PublishInterceptor for LinkReceiver {
    fn intercept(&self, msg: &Arc<Message>) -> Intercept {
        if !msg.topic.starts_with("$LINK/cluster/") {
            return Intercept::Continue;
        }
        let Some(broker) = self.broker.upgrade() else {
            return Intercept::Continue;
        };
        if let Some(cluster) = msg.topic.strip_prefix(ROUTE_TOPIC_PREFIX) {
            self.on_route(&broker, cluster, msg)
        } else if let Some(cluster) = msg.topic.strip_prefix(MSG_TOPIC_PREFIX) {
            self.on_msg(&broker, cluster, msg)
        } else {
            Intercept::Continue
        }
    }
}
