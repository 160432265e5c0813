//! Packets from the client: PUBLISH and its acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PING, DISCONNECT.

use std::sync::Arc;
use std::time::Instant;

use linkmq_codec::{
    Packet, Properties, PubResponse, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    UnsubAck, Unsubscribe,
};
use linkmq_core::ack_hold::AckHold;
use linkmq_core::message::Message;
use linkmq_core::metrics::Counter;
use linkmq_core::router::{Delivery, Subscription};
use linkmq_core::session::inflight::Stage;
use linkmq_core::topic;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use crate::channel::{Channel, Exit};
use crate::connection::Connection;

impl Channel {
    /// Handles one packet; `Some(exit)` ends the connected phase.
    pub(crate) fn handle_packet<R, W>(
        &mut self,
        conn: &mut Connection<R, W>,
        packet: Packet,
        turn: &mut Option<AckHold>,
    ) -> Option<Exit>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let v5 = conn.protocol.is_v5();
        match packet {
            Packet::Publish(p) => return self.on_publish(conn, p, turn),
            Packet::PubAck(a) => {
                if self
                    .session
                    .inflight
                    .complete(a.pkid, Stage::AwaitPubAck)
                    .is_some()
                {
                    self.broker.metrics.inc(Counter::MessagesAcked);
                } else {
                    self.broker.metrics.inc(Counter::PacketsPubackMissed);
                }
            }
            Packet::PubRec(a) => {
                if a.reason.is_success() {
                    let known = self.session.inflight.released(a.pkid, Instant::now());
                    let reason = if known {
                        ReasonCode::Success
                    } else {
                        ReasonCode::PacketIdentifierNotFound
                    };
                    conn.queue(&Packet::PubRel(ack(a.pkid, reason, v5)));
                } else {
                    // The receiver refused it: the flow ends here [MQTT-4.3.3].
                    self.session.inflight.complete(a.pkid, Stage::AwaitPubRec);
                }
            }
            Packet::PubComp(a) => {
                if self
                    .session
                    .inflight
                    .complete(a.pkid, Stage::AwaitPubComp)
                    .is_some()
                {
                    self.broker.metrics.inc(Counter::MessagesAcked);
                }
            }
            Packet::PubRel(a) => {
                let reason = if self.session.awaiting_rel.remove(&a.pkid).is_some() {
                    ReasonCode::Success
                } else {
                    ReasonCode::PacketIdentifierNotFound
                };
                conn.queue(&Packet::PubComp(ack(a.pkid, reason, v5)));
            }
            Packet::Subscribe(s) => {
                if let Some(exit) = self.subscribe_denied_disconnect(&s) {
                    return Some(exit);
                }
                self.on_subscribe(conn, s)
            }
            Packet::Unsubscribe(u) => self.on_unsubscribe(conn, u),
            Packet::PingReq => {
                conn.queue(&Packet::PingResp);
            }
            Packet::Disconnect(d) => {
                self.broker.metrics.inc(Counter::PacketsDisconnectReceived);
                if let Some(e) = d.properties.session_expiry_interval {
                    if self.session.expiry_interval == 0 && e != 0 {
                        return Some(Exit::Error(
                            ReasonCode::ProtocolError,
                            "[MQTT-3.14.2-2] Session Expiry Interval set on DISCONNECT after 0 in CONNECT".into(),
                        ));
                    }
                    let max = self
                        .broker
                        .settings
                        .session_expiry_interval
                        .as_secs()
                        .min(u64::from(u32::MAX)) as u32;
                    self.session.expiry_interval = e.min(max);
                }
                return Some(if d.reason == ReasonCode::DisconnectWithWillMessage {
                    Exit::Abnormal("DISCONNECT with will message")
                } else {
                    Exit::Normal
                });
            }
            Packet::Auth(_) => {
                return Some(Exit::Error(
                    ReasonCode::ProtocolError,
                    "AUTH without an authentication method".into(),
                ));
            }
            other => {
                return Some(Exit::Error(
                    ReasonCode::ProtocolError,
                    format!("[MQTT-3.1.0-2] unexpected {} from a client", other.name()),
                ));
            }
        }
        None
    }

    /// `turn`: the hold on this turn's acks, made here with its first QoS 1/2 PUBLISH.
    fn on_publish<R, W>(
        &mut self,
        conn: &mut Connection<R, W>,
        mut p: Publish,
        turn: &mut Option<AckHold>,
    ) -> Option<Exit>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let s = &self.broker.settings;
        let v5 = conn.protocol.is_v5();
        self.broker.metrics.inc(Counter::PacketsPublishReceived);
        if p.qos > s.max_qos_allowed {
            return Some(Exit::Error(
                ReasonCode::QoSNotSupported,
                "[MQTT-3.2.2-11] QoS above the maximum QoS".into(),
            ));
        }
        if p.retain && !s.retain_available {
            return Some(Exit::Error(
                ReasonCode::RetainNotSupported,
                "[MQTT-3.2.2-14] retain is not available".into(),
            ));
        }
        if !p.properties.subscription_identifiers.is_empty() {
            return Some(Exit::Error(
                ReasonCode::ProtocolError,
                "[MQTT-3.3.4-6] a client PUBLISH must not carry a Subscription Identifier".into(),
            ));
        }
        if p.properties
            .response_topic
            .as_deref()
            .is_some_and(|t| topic::validate_topic_name(t, 0).is_err())
        {
            return Some(Exit::Error(
                ReasonCode::ProtocolError,
                "[MQTT-3.3.2-14] Response Topic must be a topic name".into(),
            ));
        }
        // Topic alias (client → server) [MQTT-3.3.2-12].
        let alias = p.properties.values_mut().and_then(|v| v.topic_alias.take());
        let topic: Arc<str> = match alias {
            Some(alias) if alias == 0 || alias > s.max_topic_alias => {
                return Some(Exit::Error(
                    ReasonCode::TopicAliasInvalid,
                    "[MQTT-3.3.2-9] topic alias out of range".into(),
                ));
            }
            Some(alias) if p.topic.is_empty() => {
                match self.aliases.as_ref().and_then(|a| a.inbound.get(&alias)) {
                    Some(t) => t.clone(),
                    None => {
                        return Some(Exit::Error(
                            ReasonCode::ProtocolError,
                            "[MQTT-3.3.2-8] topic alias not known on this connection".into(),
                        ));
                    }
                }
            }
            Some(alias) => {
                let t: Arc<str> = p.topic.as_str().into();
                self.aliases
                    .get_or_insert_default()
                    .inbound
                    .insert(alias, t.clone());
                t
            }
            None if p.topic.is_empty() => {
                return Some(Exit::Error(
                    ReasonCode::ProtocolError,
                    "[MQTT-3.3.2-1] empty topic without alias".into(),
                ));
            }
            None => p.topic.as_str().into(),
        };
        if topic::validate_topic_name(&topic, s.max_topic_levels).is_err() {
            self.broker.metrics.inc(Counter::PacketsPublishError);
            return match (v5, p.qos) {
                (false, _) => Some(Exit::Abnormal("invalid topic name")),
                (true, QoS::AtMostOnce) => None,
                (true, q) => {
                    self.queue_pub_ack(conn, q, p.pkid, ReasonCode::TopicNameInvalid);
                    None
                }
            };
        }
        if let Some(denied) = crate::access::authorize_publish(
            self.authz.as_mut(),
            &self.broker,
            &self.session.client_id,
            conn,
            &topic,
            p.qos,
            p.retain,
            p.pkid,
        ) {
            return denied;
        }
        if p.qos == QoS::ExactlyOnce {
            if self.session.awaiting_rel.contains_key(&p.pkid) {
                // A re-sent QoS 2 PUBLISH: already routed once [MQTT-4.3.3-10].
                conn.queue(&Packet::PubRec(ack(p.pkid, ReasonCode::Success, v5)));
                return None;
            }
            // Our Receive Maximum for inbound QoS 2 is max_inflight.
            if v5 && self.session.awaiting_rel.len() >= usize::from(s.max_inflight.max(1)) {
                return Some(Exit::Error(
                    ReasonCode::ReceiveMaximumExceeded,
                    "[MQTT-3.3.4-9] more QoS 2 publishes in flight than Receive Maximum".into(),
                ));
            }
            if self.session.awaiting_rel.len() >= s.max_awaiting_rel.max(1) {
                // Like EMQX: drop it and disconnect with 0x93 (no PUBREC may carry 0x93).
                self.broker.metrics.inc(Counter::MessagesDropped);
                return Some(Exit::Error(
                    ReasonCode::ReceiveMaximumExceeded,
                    "more QoS 2 publishes awaiting PUBREL than max_awaiting_rel".into(),
                ));
            }
            self.session.awaiting_rel.insert(p.pkid, Instant::now());
        }
        let msg = Message::new(
            self.session.client_id.clone(),
            topic,
            p.qos,
            p.retain,
            p.payload,
            std::mem::take(&mut p.properties),
        );
        // A lone QoS 1/2 message's ack waits for its local deliveries (`linkmq_core::ack_hold`);
        // the second of a turn makes it a stream, whose acks do not wait.
        let hold = if p.qos == QoS::AtMostOnce {
            None
        } else if let Some(h) = turn {
            h.mark_stream();
            None
        } else {
            Some(&*turn.insert(AckHold::new()))
        };
        let outcome = self.broker.publish_held(Arc::new(msg), hold);
        if p.qos != QoS::AtMostOnce {
            self.queue_pub_ack(conn, p.qos, p.pkid, outcome.reason);
        }
        None
    }

    fn queue_pub_ack<R, W>(
        &mut self,
        conn: &mut Connection<R, W>,
        qos: QoS,
        pkid: u16,
        reason: ReasonCode,
    ) where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let v5 = conn.protocol.is_v5();
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                conn.queue(&Packet::PubAck(ack(pkid, reason, v5)));
            }
            QoS::ExactlyOnce => {
                if !reason.is_success() {
                    self.session.awaiting_rel.remove(&pkid);
                }
                conn.queue(&Packet::PubRec(ack(pkid, reason, v5)));
            }
        }
    }

    fn on_subscribe<R, W>(&mut self, conn: &mut Connection<R, W>, s: Subscribe)
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        self.broker.metrics.inc(Counter::PacketsSubscribeReceived);
        let settings = &self.broker.settings;
        let sub_id = s.properties.subscription_identifiers.first().copied();
        let mut reasons = Vec::with_capacity(s.filters.len());
        let mut retained = Vec::new();
        for f in &s.filters {
            let shared = topic::parse_shared(&f.filter);
            let inner = match &shared {
                Ok(Some((_, inner))) => *inner,
                _ => f.filter.as_str(),
            };
            let reason = if shared.is_err()
                || topic::validate_filter(&f.filter, settings.max_topic_levels).is_err()
            {
                ReasonCode::TopicFilterInvalid
            } else if matches!(shared, Ok(Some(_))) && !settings.shared_subscription {
                ReasonCode::SharedSubscriptionsNotSupported
            } else if topic::has_wildcard(inner) && !settings.wildcard_subscription {
                ReasonCode::WildcardSubscriptionsNotSupported
            } else if !crate::access::may_subscribe(
                self.authz.as_mut(),
                &self.broker,
                &self.session.client_id,
                &f.filter,
                f.options.qos,
            ) {
                ReasonCode::NotAuthorized
            } else {
                let mut options = f.options;
                options.qos = options.qos.min(settings.max_qos_allowed);
                match self.session.subscribe(
                    &self.broker,
                    &f.filter,
                    Subscription { options, sub_id },
                ) {
                    Ok(existed) => {
                        let is_shared = matches!(shared, Ok(Some(_)));
                        let send_retained = match options.retain_handling {
                            RetainHandling::OnSubscribe => true,
                            RetainHandling::OnNewSubscribe => !existed,
                            RetainHandling::DoNotSend => false,
                        };
                        if send_retained && !is_shared && settings.retain_available {
                            let now = Instant::now();
                            for m in self.broker.retained.matching(inner) {
                                if m.is_expired(now) {
                                    continue;
                                }
                                retained.push(Delivery {
                                    qos: m.qos.min(options.qos),
                                    msg: m,
                                    retain: true,
                                    sub_ids: sub_id.into_iter().collect(),
                                    shared: None,
                                    hold: None,
                                });
                            }
                        }
                        match options.qos {
                            QoS::AtMostOnce => ReasonCode::Success,
                            QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                            QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
                        }
                    }
                    Err(rc) => rc,
                }
            };
            if !reason.is_success() {
                self.broker.metrics.inc(Counter::PacketsSubscribeError);
                debug!(client_id = %self.session.client_id, filter = %f.filter, ?reason, "subscription refused");
            } else {
                self.broker.metrics.inc(Counter::ClientSubscribe);
            }
            reasons.push(reason);
        }
        conn.queue(&Packet::SubAck(SubAck {
            pkid: s.pkid,
            reasons,
            properties: Properties::default(),
        }));
        for d in retained {
            self.session.enqueue(&self.broker, d, true);
        }
    }

    fn on_unsubscribe<R, W>(&mut self, conn: &mut Connection<R, W>, u: Unsubscribe)
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        self.broker.metrics.inc(Counter::PacketsUnsubscribeReceived);
        let reasons = u
            .filters
            .iter()
            .map(|f| {
                if self.session.unsubscribe(&self.broker, f) {
                    self.broker.metrics.inc(Counter::ClientUnsubscribe);
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                }
            })
            .collect();
        conn.queue(&Packet::UnsubAck(UnsubAck {
            pkid: u.pkid,
            reasons,
            properties: Properties::default(),
        }));
    }
}

/// A PUBACK/PUBREC/PUBREL/PUBCOMP body; v3.x has no reason code (always success on the wire).
pub(crate) fn ack(pkid: u16, reason: ReasonCode, v5: bool) -> PubResponse {
    PubResponse {
        pkid,
        reason: if v5 { reason } else { ReasonCode::Success },
        properties: Properties::default(),
    }
}
