//! Per-connection traffic counts for the REST API's client view (EMQX's `recv_pkt`, `recv_msg`,
//! `recv_oct`, `send_pkt`, `send_msg`, `send_oct`), kept without costing an idle connection more
//! than a pointer.

use linkmq_core::registry::ConnStats;

/// A connection's packet and byte counts from its CONNACK on: the CONNECT, the CONNACK and any
/// AUTH exchange before it are not counted (EMQX counts them). Boxed and made with the first
/// packet counted, so an idle connection holds 8 bytes; there is no room for more in the
/// 2 KiB an idle connection may cost.
#[derive(Debug, Default)]
pub(crate) struct Traffic(Option<Box<ConnStats>>);

impl Traffic {
    /// The counts so far.
    pub(crate) fn snapshot(&self) -> ConnStats {
        self.0.as_deref().copied().unwrap_or_default()
    }

    /// A packet of `len` bytes received; `publish` if it is a PUBLISH.
    pub(crate) fn received(&mut self, len: usize, publish: bool) {
        let c = self.0.get_or_insert_default();
        c.recv_pkt += 1;
        c.recv_msg += u64::from(publish);
        c.recv_oct += len as u64;
    }

    /// A packet of `len` bytes queued to send; `publish` if it is a PUBLISH.
    pub(crate) fn sent(&mut self, len: usize, publish: bool) {
        let c = self.0.get_or_insert_default();
        c.send_pkt += 1;
        c.send_msg += u64::from(publish);
        c.send_oct += len as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_allocated_until_something_is_counted() {
        let t = Traffic::default();
        assert!(t.0.is_none());
        assert_eq!(t.snapshot(), ConnStats::default());
    }

    #[test]
    fn packets_messages_and_bytes_are_counted_each_way() {
        let mut t = Traffic::default();
        t.received(20, true); // PUBLISH
        t.received(20, true);
        t.sent(4, false); // PUBACK
        t.sent(70_000, true); // a large delivery
        assert_eq!(
            t.snapshot(),
            ConnStats {
                recv_pkt: 2,
                recv_msg: 2,
                recv_oct: 40,
                send_pkt: 2,
                send_msg: 1,
                send_oct: 70_004,
            }
        );
    }
}
