//! Broker-wide counters with stable EMQX names (`messages.received`, `delivery.dropped.queue_full`, ...).
//! Lock-free: one relaxed atomic per counter.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $variant:ident => $name:literal ),* $(,)?) => {
        /// A named counter.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Counter { $( $variant ),* }

        impl Counter {
            /// Every counter, in a stable order.
            pub const ALL: &'static [Counter] = &[ $( Counter::$variant ),* ];

            /// The EMQX metric name.
            pub fn name(self) -> &'static str {
                match self { $( Counter::$variant => $name ),* }
            }
        }
    };
}

counters! {
    BytesReceived => "bytes.received",
    BytesSent => "bytes.sent",
    PacketsReceived => "packets.received",
    PacketsSent => "packets.sent",
    PacketsConnectReceived => "packets.connect.received",
    PacketsConnackSent => "packets.connack.sent",
    PacketsConnackError => "packets.connack.error",
    PacketsPublishReceived => "packets.publish.received",
    PacketsPublishSent => "packets.publish.sent",
    PacketsPublishError => "packets.publish.error",
    PacketsPubackMissed => "packets.puback.missed",
    PacketsSubscribeReceived => "packets.subscribe.received",
    PacketsSubscribeError => "packets.subscribe.error",
    PacketsUnsubscribeReceived => "packets.unsubscribe.received",
    PacketsDisconnectReceived => "packets.disconnect.received",
    PacketsDisconnectSent => "packets.disconnect.sent",
    PacketsMalformed => "packets.malformed",
    PacketsTooLarge => "packets.too_large",
    MessagesReceived => "messages.received",
    MessagesSent => "messages.sent",
    MessagesQos0Received => "messages.qos0.received",
    MessagesQos1Received => "messages.qos1.received",
    MessagesQos2Received => "messages.qos2.received",
    MessagesQos0Sent => "messages.qos0.sent",
    MessagesQos1Sent => "messages.qos1.sent",
    MessagesQos2Sent => "messages.qos2.sent",
    MessagesPublish => "messages.publish",
    MessagesDelivered => "messages.delivered",
    MessagesAcked => "messages.acked",
    MessagesRetained => "messages.retained",
    MessagesDropped => "messages.dropped",
    MessagesDroppedNoSubscribers => "messages.dropped.no_subscribers",
    MessagesDroppedAwaitPubrelTimeout => "messages.dropped.await_pubrel_timeout",
    MessagesForward => "messages.forward",
    DeliveryDropped => "delivery.dropped",
    DeliveryDroppedQueueFull => "delivery.dropped.queue_full",
    DeliveryDroppedChannelFull => "delivery.dropped.channel_full",
    DeliveryDroppedQos0Msg => "delivery.dropped.qos0_msg",
    DeliveryDroppedExpired => "delivery.dropped.expired",
    DeliveryDroppedTooLarge => "delivery.dropped.too_large",
    DeliveryDroppedNoLocal => "delivery.dropped.no_local",
    ClientConnect => "client.connect",
    ClientConnected => "client.connected",
    ClientConnack => "client.connack",
    ClientDisconnected => "client.disconnected",
    ClientSubscribe => "client.subscribe",
    ClientUnsubscribe => "client.unsubscribe",
    ClientAuthorizeDenied => "authorization.deny",
    ClientAuthenticate => "client.authenticate",
    AuthenticationSuccess => "authentication.success",
    AuthenticationFailure => "authentication.failure",
    ClientAuthorize => "client.authorize",
    AuthorizationAllow => "authorization.allow",
    PacketsPublishAuthError => "packets.publish.auth_error",
    PacketsSubscribeAuthError => "packets.subscribe.auth_error",
    SessionCreated => "session.created",
    SessionResumed => "session.resumed",
    SessionTakenover => "session.takenover",
    SessionDiscarded => "session.discarded",
    SessionTerminated => "session.terminated",
    ConnectionsRejected => "connections.rejected",
}

/// The counter set of one node.
#[derive(Debug)]
pub struct Metrics {
    values: Vec<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            values: Counter::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Metrics {
    /// Adds one.
    #[inline]
    pub fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        if let Some(v) = self.values.get(c as usize) {
            v.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Current value.
    pub fn get(&self, c: Counter) -> u64 {
        self.values
            .get(c as usize)
            .map(|v| v.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Every counter with its name, in a stable order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Counter::ALL
            .iter()
            .map(|c| (c.name(), self.get(*c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_have_unique_names_and_count() {
        let m = Metrics::default();
        m.inc(Counter::MessagesReceived);
        m.add(Counter::MessagesReceived, 2);
        assert_eq!(m.get(Counter::MessagesReceived), 3);
        let mut names: Vec<_> = m.snapshot().into_iter().map(|(n, _)| n).collect();
        let len = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), len);
    }
}
