//! Outbound QoS 1/2 messages sent to the client and not yet acknowledged.

use std::time::{Duration, Instant};

use crate::router::Delivery;

/// Where an outbound QoS 1/2 message stands ([MQTT-4.3.2], [MQTT-4.3.3]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitPubRec,
    /// PUBREL sent, waiting for PUBCOMP.
    AwaitPubComp,
}

/// One unacknowledged outbound message.
#[derive(Debug, Clone)]
pub struct InflightEntry {
    pub delivery: Delivery,
    pub stage: Stage,
    pub sent_at: Instant,
    seq: u64,
}

/// The outbound window, keyed by packet id, re-sendable in the original order. Allocated with the
/// first QoS 1/2 message sent: an idle or QoS 0 session holds one pointer.
#[derive(Debug, Default)]
pub struct Inflight(Option<Box<Window>>);

#[derive(Debug, Default)]
struct Window {
    map: super::PkidMap<InflightEntry>,
    seq: u64,
}

impl Inflight {
    /// Number of messages in flight.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |w| w.map.len())
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `pkid` is in use.
    pub fn contains(&self, pkid: u16) -> bool {
        self.0.as_ref().is_some_and(|w| w.map.contains_key(&pkid))
    }

    /// Records a PUBLISH just sent.
    pub fn insert(&mut self, pkid: u16, delivery: Delivery, stage: Stage, now: Instant) {
        let w = self.0.get_or_insert_default();
        w.seq += 1;
        w.map.insert(
            pkid,
            InflightEntry {
                delivery,
                stage,
                sent_at: now,
                seq: w.seq,
            },
        );
    }

    /// The entry of `pkid`.
    pub fn get(&self, pkid: u16) -> Option<&InflightEntry> {
        self.0.as_ref()?.map.get(&pkid)
    }

    /// Completes `pkid` if it is at `stage`; returns the entry.
    pub fn complete(&mut self, pkid: u16, stage: Stage) -> Option<InflightEntry> {
        let w = self.0.as_mut()?;
        if w.map.get(&pkid).is_some_and(|e| e.stage == stage) {
            w.map.remove(&pkid)
        } else {
            None
        }
    }

    /// Moves a QoS 2 message from AwaitPubRec to AwaitPubComp (PUBREL is sent). False if unknown.
    pub fn released(&mut self, pkid: u16, now: Instant) -> bool {
        match self.0.as_mut().and_then(|w| w.map.get_mut(&pkid)) {
            Some(e) if e.stage == Stage::AwaitPubRec || e.stage == Stage::AwaitPubComp => {
                e.stage = Stage::AwaitPubComp;
                e.sent_at = now;
                true
            }
            _ => false,
        }
    }

    /// Every entry, oldest first, as (pkid, entry); marks them sent at `now` (resend on resume).
    pub fn all_for_resend(&mut self, now: Instant) -> Vec<(u16, InflightEntry)> {
        let Some(w) = self.0.as_mut() else {
            return Vec::new();
        };
        let mut v: Vec<(u16, InflightEntry)> = w
            .map
            .iter_mut()
            .map(|(k, e)| {
                e.sent_at = now;
                (*k, e.clone())
            })
            .collect();
        v.sort_by_key(|(_, e)| e.seq);
        v
    }

    /// Entries not acknowledged within `interval`, oldest first; marks them re-sent at `now`.
    pub fn due_for_retry(&mut self, now: Instant, interval: Duration) -> Vec<(u16, InflightEntry)> {
        let Some(w) = self.0.as_mut() else {
            return Vec::new();
        };
        let mut v: Vec<(u16, InflightEntry)> = w
            .map
            .iter_mut()
            .filter(|(_, e)| now.duration_since(e.sent_at) >= interval)
            .map(|(k, e)| {
                e.sent_at = now;
                (*k, e.clone())
            })
            .collect();
        v.sort_by_key(|(_, e)| e.seq);
        v
    }

    /// The earliest time a retry may be due.
    pub fn next_retry_at(&self, interval: Duration) -> Option<Instant> {
        self.0
            .as_ref()?
            .map
            .values()
            .map(|e| e.sent_at + interval)
            .min()
    }

    /// Removes everything (session end).
    pub fn drain(&mut self) -> Vec<InflightEntry> {
        let Some(w) = self.0.take() else {
            return Vec::new();
        };
        let mut v: Vec<InflightEntry> = w.map.into_values().collect();
        v.sort_by_key(|e| e.seq);
        v
    }
}
