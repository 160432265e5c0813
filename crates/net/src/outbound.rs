//! What goes to the client: queued messages pulled into the write buffer under the outbound window,
//! PUBLISH built per client (topic alias, remaining expiry, subscription ids, maximum packet size),
//! re-sends on resume and on `retry_interval`.

use std::sync::Arc;
use std::time::Instant;

use linkmq_codec::{Packet, Properties, PublishRef, QoS, ReasonCode};
use linkmq_core::metrics::Counter;
use linkmq_core::router::Delivery;
use linkmq_core::session::inflight::{InflightEntry, Stage};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::channel::Channel;
use crate::connection::{Connection, WRITE_HIGH_WATER, WRITE_HIGH_WATER_SHARED};
use crate::inbound::ack;

impl Channel {
    /// Moves queued messages into the write buffer while the window and the buffer allow.
    pub(crate) fn pump<R, W>(&mut self, conn: &mut Connection<R, W>)
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        while conn.wbuf.copied_len() < WRITE_HIGH_WATER && conn.wbuf.len() < WRITE_HIGH_WATER_SHARED
        {
            let Some((d, pkid)) = self
                .session
                .next_to_send(&self.broker, usize::from(self.window))
            else {
                break;
            };
            if !self.send_publish(conn, &d, pkid, false) && pkid != 0 {
                // Too large for the client: act as if delivered [MQTT-3.1.2-25].
                let stage = if d.qos == QoS::AtLeastOnce {
                    Stage::AwaitPubAck
                } else {
                    Stage::AwaitPubRec
                };
                self.session.inflight.complete(pkid, stage);
            }
        }
    }

    /// Re-sends every unacknowledged message after a session resumes ([MQTT-4.4.0-1]): PUBLISH with
    /// DUP set, or PUBREL for those already received.
    pub(crate) fn resend_inflight<R, W>(&mut self, conn: &mut Connection<R, W>)
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let entries = self.session.inflight.all_for_resend(Instant::now());
        self.resend(conn, entries);
    }

    /// Re-sends what has waited longer than `retry_interval`.
    pub(crate) fn retry_due<R, W>(&mut self, conn: &mut Connection<R, W>)
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let entries = self
            .session
            .inflight
            .due_for_retry(Instant::now(), self.broker.settings.retry_interval);
        self.resend(conn, entries);
    }

    fn resend<R, W>(&mut self, conn: &mut Connection<R, W>, entries: Vec<(u16, InflightEntry)>)
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let v5 = conn.protocol.is_v5();
        for (pkid, e) in entries {
            match e.stage {
                Stage::AwaitPubComp => {
                    conn.queue(&Packet::PubRel(ack(pkid, ReasonCode::Success, v5)));
                }
                Stage::AwaitPubAck | Stage::AwaitPubRec => {
                    if !self.send_publish(conn, &e.delivery, pkid, true) {
                        self.session.inflight.complete(pkid, e.stage);
                    }
                }
            }
        }
    }

    /// Builds and queues one PUBLISH. False when it could not be sent (too large, or expired).
    fn send_publish<R, W>(
        &mut self,
        conn: &mut Connection<R, W>,
        d: &Delivery,
        pkid: u16,
        dup: bool,
    ) -> bool
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let msg = &d.msg;
        let v5 = conn.protocol.is_v5();
        // Most deliveries send the message's properties as they are; only an expiry, subscription
        // ids or a topic alias need a copy for this client.
        let aliasing = v5 && self.peer_alias_max > 0;
        let mut own =
            (v5 && (msg.expiry.is_some() || !d.sub_ids.is_empty() || aliasing)).then(|| {
                // A message's own properties never hold an expiry or subscription ids (see
                // `Message::new`): each is written only when there is one, so a copy made for a
                // topic alias alone allocates for the alias only.
                let mut p: Properties = msg.properties.clone();
                // The clock is read only for a message with an expiry.
                if let Some(left) = msg
                    .expiry
                    .and_then(|_| msg.remaining_expiry(Instant::now()))
                {
                    p.message_expiry_interval = Some(left);
                }
                if !d.sub_ids.is_empty() {
                    p.subscription_identifiers = d.sub_ids.clone();
                }
                p
            });
        fn publish<'a>(
            d: &'a Delivery,
            dup: bool,
            pkid: u16,
            topic: &'a str,
            properties: &'a Properties,
        ) -> PublishRef<'a> {
            PublishRef {
                dup,
                qos: d.qos,
                retain: d.retain,
                topic,
                pkid,
                properties,
                payload: &d.msg.payload,
            }
        }
        if conn.peer_max_packet != u32::MAX {
            let fits = publish(
                d,
                dup,
                pkid,
                &msg.topic,
                own.as_ref().unwrap_or(&msg.properties),
            )
            .encoded_len(conn.protocol)
            .is_ok_and(|n| n <= conn.peer_max_packet as usize);
            if !fits {
                self.broker.metrics.inc(Counter::DeliveryDropped);
                self.broker.metrics.inc(Counter::DeliveryDroppedTooLarge);
                return false;
            }
        }
        let mut topic: &str = &msg.topic;
        if aliasing && let Some(p) = own.as_mut() {
            let (alias, known) = self.alias_for(&msg.topic);
            p.topic_alias = alias;
            if known {
                topic = "";
            }
        }
        let publish = publish(d, dup, pkid, topic, own.as_ref().unwrap_or(&msg.properties));
        if !conn.queue_publish(&publish, &d.msg.payload) {
            self.broker.metrics.inc(Counter::DeliveryDropped);
            self.broker.metrics.inc(Counter::DeliveryDroppedTooLarge);
            return false;
        }
        let metrics = &self.broker.metrics;
        metrics.inc(Counter::PacketsPublishSent);
        metrics.inc(Counter::MessagesSent);
        metrics.inc(Counter::MessagesDelivered);
        metrics.inc(match d.qos {
            QoS::AtMostOnce => Counter::MessagesQos0Sent,
            QoS::AtLeastOnce => Counter::MessagesQos1Sent,
            QoS::ExactlyOnce => Counter::MessagesQos2Sent,
        });
        true
    }

    /// Server → client topic alias: (alias, whether the client knows it already so the topic may be
    /// left empty). Reuses a known alias or assigns the next free one; none when all are taken.
    fn alias_for(&mut self, topic: &Arc<str>) -> (Option<u16>, bool) {
        let max = usize::from(self.peer_alias_max);
        let known = &mut self.aliases_mut().outbound;
        if let Some(alias) = known.get(topic) {
            (Some(*alias), true)
        } else if known.len() < max {
            let alias = known.len() as u16 + 1;
            known.insert(topic.clone(), alias);
            (Some(alias), false)
        } else {
            (None, false)
        }
    }
}
