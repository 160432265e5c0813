//! A subscriber's hot path: every whole packet of one read taken in one pass over the buffer,
//! PUBLISH parsed without allocating, latency recorded once per run of equal send stamps (a
//! publisher stamps a whole write batch with one time), order checked per publisher, and the
//! acknowledgements queued for one write.

use bytes::BytesMut;

use crate::stats::Stats;
use crate::wire;

/// What one pass over the read buffer found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Bytes of whole packets, to drop from the front of the buffer.
    pub consumed: usize,
    /// PUBLISH packets counted as deliveries.
    pub delivered: u64,
    /// PUBLISH packets stamped by the skipped publisher (acknowledged, not counted).
    pub skipped: u64,
}

/// Per-connection state of a subscriber.
pub struct Deliveries {
    v5: bool,
    /// Messages from this publisher index are not deliveries (e.g. warm-up messages).
    skip_publisher: Option<u32>,
    /// The sequence number expected next from each publisher.
    next_seq: Vec<u32>,
    /// PUBACK / PUBREC / PUBCOMP to write after the pass.
    pub acks: BytesMut,
}

impl Deliveries {
    pub fn new(v5: bool, skip_publisher: Option<u32>) -> Deliveries {
        Deliveries {
            v5,
            skip_publisher,
            next_seq: Vec::new(),
            acks: BytesMut::with_capacity(4096),
        }
    }

    /// Takes every whole packet at the front of `buf`, received at `now` (ns since the epoch).
    pub fn take(&mut self, buf: &[u8], now: u64, stats: &Stats) -> Taken {
        let mut t = Taken::default();
        // The current run of messages with one send stamp: (stamp, length).
        let mut run = (0u64, 0u64);
        while let Some((first, header, len)) = frame_at(&buf[t.consumed..]) {
            let body = &buf[t.consumed + header..t.consumed + header + len];
            t.consumed += header + len;
            match first >> 4 {
                3 => {
                    let Some(r) = wire::parse_publish(first, body, self.v5) else {
                        continue;
                    };
                    match r.stamp {
                        Some(s) if Some(s.publisher) == self.skip_publisher => t.skipped += 1,
                        Some(s) => {
                            t.delivered += 1;
                            if s.sent_ns != run.0 {
                                if run.1 > 0 {
                                    stats.record_latency(now.saturating_sub(run.0), run.1);
                                }
                                run = (s.sent_ns, 0);
                            }
                            run.1 += 1;
                            self.check_order(s.publisher, s.seq, stats);
                        }
                        None => t.delivered += 1,
                    }
                    match r.qos {
                        1 => wire::put_ack(&mut self.acks, 4, r.pkid),
                        2 => wire::put_ack(&mut self.acks, 5, r.pkid),
                        _ => {}
                    }
                }
                6 if body.len() >= 2 => {
                    let pkid = u16::from_be_bytes([body[0], body[1]]);
                    wire::put_ack(&mut self.acks, 7, pkid);
                }
                _ => {}
            }
        }
        if run.1 > 0 {
            stats.record_latency(now.saturating_sub(run.0), run.1);
        }
        t
    }

    fn check_order(&mut self, publisher: u32, seq: u32, stats: &Stats) {
        let p = publisher as usize;
        if p >= self.next_seq.len() {
            self.next_seq.resize(p + 1, 0);
        }
        if seq < self.next_seq[p] {
            stats
                .out_of_order
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.next_seq[p] = seq.wrapping_add(1);
    }
}

/// (first byte, header length, body length) of the whole packet at the front of `buf`, if complete.
pub fn frame_at(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (len, n) = wire::read_varint(buf.get(1..)?)?;
    (buf.len() >= 1 + n + len).then_some((buf[0], 1 + n, len))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use linkmq_codec::QoS;

    use super::*;
    use crate::wire::{PublishTemplate, Stamp};

    #[test]
    fn a_read_with_runs_of_stamps_records_each_message_once() {
        let stats = Stats::default();
        let t = PublishTemplate::new("t", QoS::AtLeastOnce, false, 64, true);
        let mut buf = BytesMut::new();
        // Two batches (stamps 1000 and 2000), a warm-up message, a repeated sequence, half a packet.
        for (i, (sent_ns, publisher, seq)) in [
            (1000, 0, 0),
            (1000, 0, 1),
            (1000, 1, 0),
            (2000, 0, 2),
            (2000, u32::MAX, 0),
            (2000, 0, 2),
        ]
        .into_iter()
        .enumerate()
        {
            let stamp = Stamp {
                sent_ns,
                publisher,
                seq,
            };
            t.put(&mut buf, i as u16 + 1, stamp);
        }
        let whole = buf.len();
        t.put(&mut buf, 9, Stamp::default());
        buf.truncate(whole + 10);

        let mut d = Deliveries::new(true, Some(u32::MAX));
        let taken = d.take(&buf, 5000, &stats);
        assert_eq!(
            taken,
            Taken {
                consumed: whole,
                delivered: 5,
                skipped: 1
            }
        );
        let lat = stats.latency.snapshot(false);
        assert_eq!(lat.count(), 5);
        // Three messages 4 µs old, two 3 µs old.
        assert!((lat.mean() - 3600.0).abs() < 150.0, "{}", lat.mean());
        assert_eq!(stats.out_of_order.load(Relaxed), 1);
        // One PUBACK per message, warm-up included.
        assert_eq!(d.acks.len(), 6 * 4);
        assert_eq!(&d.acks[..4], &[0x40, 2, 0, 1]);
    }
}
