//! The session's message queue (EMQX `mqueue`): messages waiting for an inflight slot or for the client
//! to come back. Bounded; when full, a QoS 0 message is dropped first, else the oldest.

use std::collections::VecDeque;

use linkmq_codec::QoS;

use crate::router::Delivery;

/// Why a message was dropped on enqueue.
#[derive(Debug, Clone)]
pub enum Dropped {
    /// The queue was full and this QoS 0 message (new or queued) was dropped.
    Qos0(Box<Delivery>),
    /// The queue was full of QoS 1/2 messages: the oldest was dropped.
    Oldest(Box<Delivery>),
}

/// A bounded FIFO of deliveries. The queue itself is allocated with the first message: an idle
/// session holds one pointer.
#[derive(Debug)]
pub struct MQueue {
    // Boxed on purpose: an empty VecDeque is 32 bytes inline in every session, the box 8.
    #[allow(clippy::box_collection)]
    items: Option<Box<VecDeque<Delivery>>>,
    max_len: usize,
    store_qos0: bool,
    /// Messages dropped to stay within the bound (`mqueue_dropped`); in the struct's padding.
    dropped: u32,
}

impl MQueue {
    /// A queue holding at most `max_len` messages (0 = unbounded is NOT offered; use a large number).
    pub fn new(max_len: usize, store_qos0: bool) -> MQueue {
        MQueue {
            items: None,
            max_len: max_len.max(1),
            store_qos0,
            dropped: 0,
        }
    }

    /// Whether QoS 0 messages are queued while the client is offline.
    pub fn stores_qos0(&self) -> bool {
        self.store_qos0
    }

    /// Appends `d`; returns what had to be dropped to stay within the bound.
    pub fn push(&mut self, d: Delivery) -> Option<Dropped> {
        let dropped = self.push_inner(d);
        if dropped.is_some() {
            self.dropped = self.dropped.saturating_add(1);
        }
        dropped
    }

    /// Messages dropped so far to stay within the bound (saturating at `u32::MAX`).
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    fn push_inner(&mut self, d: Delivery) -> Option<Dropped> {
        let max_len = self.max_len;
        let items = self.items.get_or_insert_default();
        if items.len() < max_len {
            items.push_back(d);
            return None;
        }
        if d.qos == QoS::AtMostOnce {
            return Some(Dropped::Qos0(Box::new(d)));
        }
        if let Some(pos) = items.iter().position(|x| x.qos == QoS::AtMostOnce) {
            let old = items.remove(pos);
            items.push_back(d);
            return old.map(|o| Dropped::Qos0(Box::new(o)));
        }
        let old = items.pop_front();
        items.push_back(d);
        old.map(|o| Dropped::Oldest(Box::new(o)))
    }

    /// Puts a message back at the front (it could not be sent now).
    pub fn push_front(&mut self, d: Delivery) {
        self.items.get_or_insert_default().push_front(d);
    }

    /// Takes the oldest message.
    pub fn pop(&mut self) -> Option<Delivery> {
        self.items.as_mut()?.pop_front()
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.items.as_ref().map_or(0, |q| q.len())
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns everything (session end: shared messages get redispatched).
    pub fn drain(&mut self) -> Vec<Delivery> {
        self.items.take().map_or_else(Vec::new, |q| Vec::from(*q))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use linkmq_codec::Properties;

    use super::*;
    use crate::message::Message;

    fn d(qos: QoS, n: u8) -> Delivery {
        let m = Message::new(
            "p".into(),
            "t".into(),
            qos,
            false,
            Bytes::from(vec![n]),
            Properties::default(),
        );
        Delivery {
            msg: Arc::new(m),
            qos,
            retain: false,
            sub_ids: vec![],
            shared: None,
            hold: None,
        }
    }

    #[test]
    fn full_queue_drops_qos0_first_then_oldest() {
        let mut q = MQueue::new(3, true);
        assert!(q.push(d(QoS::AtLeastOnce, 1)).is_none());
        assert!(q.push(d(QoS::AtMostOnce, 2)).is_none());
        assert!(q.push(d(QoS::AtLeastOnce, 3)).is_none());
        // full: a new QoS 1 evicts the queued QoS 0
        match q.push(d(QoS::AtLeastOnce, 4)) {
            Some(Dropped::Qos0(x)) => assert_eq!(x.msg.payload[0], 2),
            other => panic!("unexpected {other:?}"),
        }
        // full of QoS 1: a new QoS 0 is itself dropped
        assert!(
            matches!(q.push(d(QoS::AtMostOnce, 5)), Some(Dropped::Qos0(x)) if x.msg.payload[0] == 5)
        );
        // a new QoS 1 drops the oldest
        assert!(
            matches!(q.push(d(QoS::AtLeastOnce, 6)), Some(Dropped::Oldest(x)) if x.msg.payload[0] == 1)
        );
        assert_eq!(q.dropped(), 3, "each drop is counted (mqueue_dropped)");
        let order: Vec<u8> = q.drain().iter().map(|x| x.msg.payload[0]).collect();
        assert_eq!(order, vec![3, 4, 6]);
        assert_eq!(q.dropped(), 3, "draining drops nothing");
    }
}
