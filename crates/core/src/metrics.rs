//! Broker-wide counters with stable EMQX names (`messages.received`, `delivery.dropped.queue_full`, ...).
//! Lock-free: one relaxed atomic per counter and shard. Each thread adds to its own shard (its own
//! cache lines), so connections on different worker threads never bounce a line on the publish path;
//! reads sum the shards.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
    ConnectionsSendTimeout => "connections.send_timeout",
}

/// Shards per counter set; threads beyond this share shards (still correct, only slower).
const SHARDS: usize = 16;
/// Counters per shard, rounded up to whole cache lines plus one spare line, so no two shards share one.
const STRIDE: usize = Counter::ALL.len().div_ceil(8) * 8 + 8;

thread_local! {
    /// This thread's shard, assigned round robin on first use.
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

/// The counter set of one node.
#[derive(Debug)]
pub struct Metrics {
    values: Box<[AtomicU64]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            values: (0..SHARDS * STRIDE).map(|_| AtomicU64::new(0)).collect(),
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
        let shard = SHARD.with(|s| *s);
        if let Some(v) = self.values.get(shard * STRIDE + c as usize) {
            v.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Current value (the sum over the shards).
    pub fn get(&self, c: Counter) -> u64 {
        (0..SHARDS)
            .filter_map(|s| self.values.get(s * STRIDE + c as usize))
            .map(|v| v.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
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

    #[test]
    fn adds_from_many_threads_are_summed() {
        let m = std::sync::Arc::new(Metrics::default());
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.inc(Counter::MessagesDelivered);
                    }
                    m.add(Counter::BytesSent, 7);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            m.get(Counter::MessagesDelivered),
            1000 * (SHARDS as u64 + 3)
        );
        assert_eq!(m.get(Counter::BytesSent), 7 * (SHARDS as u64 + 3));
        assert_eq!(m.get(Counter::MessagesDropped), 0);
    }
}
