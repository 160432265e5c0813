//! State shared by the [`crate::Client`] handles and the connection's reader and writer tasks:
//! packet identifiers in use, the requests waiting for an acknowledgement, the server's Receive Maximum
//! as a semaphore, and the shutdown signal.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use linkmq_codec::{Packet, Protocol, PubResponse, ReasonCode, SubAck, UnsubAck};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::error::ClientError;
use crate::writer::Outgoing;

/// A request waiting for the server's answer, keyed by packet identifier.
pub(crate) enum Pending {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    PubAck(oneshot::Sender<ReasonCode>),
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    PubRec(oneshot::Sender<ReasonCode>),
    /// PUBREL sent, waiting for PUBCOMP; `pubrec` is what PUBREC said.
    PubComp {
        done: oneshot::Sender<ReasonCode>,
        pubrec: ReasonCode,
    },
    /// SUBSCRIBE sent.
    SubAck(oneshot::Sender<SubAck>),
    /// UNSUBSCRIBE sent.
    UnsubAck(oneshot::Sender<UnsubAck>),
}

/// What PUBREC means for the QoS 2 flow it answers.
pub(crate) enum PubRecOutcome {
    /// No QoS 2 publish waits under this identifier.
    Unknown,
    /// The server refused the message; the flow is over.
    Refused,
    /// Send PUBREL and wait for PUBCOMP.
    Release,
}

struct State {
    closed: bool,
    next_pkid: u16,
    pending: HashMap<u16, Pending>,
}

/// One connection's shared state.
pub(crate) struct Conn {
    /// Protocol version spoken on this connection.
    pub protocol: Protocol,
    /// The server's Maximum Packet Size from CONNACK.
    pub server_max_packet_size: Option<u32>,
    /// Queue to the writer task (bounded; senders wait when it is full).
    pub outbox: mpsc::Sender<Outgoing>,
    /// One permit per QoS 1/2 publish the server's Receive Maximum still allows.
    pub inflight: Semaphore,
    /// A PINGREQ went out and no PINGRESP came back yet.
    pub ping_outstanding: AtomicBool,
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
}

impl Conn {
    /// Fresh state for a connection that has just received CONNACK.
    pub fn new(
        protocol: Protocol,
        server_max_packet_size: Option<u32>,
        receive_maximum: u16,
        outbox: mpsc::Sender<Outgoing>,
    ) -> Self {
        Conn {
            protocol,
            server_max_packet_size,
            outbox,
            inflight: Semaphore::new(usize::from(receive_maximum.max(1))),
            ping_outstanding: AtomicBool::new(false),
            state: Mutex::new(State {
                closed: false,
                next_pkid: 1,
                pending: HashMap::new(),
            }),
            shutdown: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the map consistent (every update is a single call).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the connection: fails every waiting request, wakes publishers waiting for a slot and
    /// tells both tasks to drop the socket. Idempotent.
    pub fn close(&self) {
        let pending = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.pending)
        };
        drop(pending);
        self.inflight.close();
        self.shutdown.send_replace(true);
    }

    /// True once [`Conn::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Err(ConnectionClosed) once the connection is closed.
    pub fn check_open(&self) -> Result<(), ClientError> {
        if self.is_closed() {
            Err(ClientError::ConnectionClosed)
        } else {
            Ok(())
        }
    }

    /// A receiver that sees `true` once the connection is closing.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Checks the packet against the encoder and the server's Maximum Packet Size.
    pub fn check_size(&self, packet: &Packet) -> Result<(), ClientError> {
        let size = linkmq_codec::encoded_len(packet, self.protocol)?;
        match self.server_max_packet_size {
            Some(max) if size > max as usize => Err(ClientError::PacketTooLarge { size, max }),
            _ => Ok(()),
        }
    }

    /// Queues a packet for the writer, waiting while the queue is full.
    pub async fn send(&self, outgoing: Outgoing) -> Result<(), ClientError> {
        self.outbox
            .send(outgoing)
            .await
            .map_err(|_| ClientError::ConnectionClosed)
    }

    /// Allocates a free packet identifier (skipping the ones in use) for `pending`.
    pub fn register(&self, pending: Pending) -> Result<u16, ClientError> {
        let mut state = self.lock();
        if state.closed {
            return Err(ClientError::ConnectionClosed);
        }
        if state.pending.len() >= usize::from(u16::MAX) {
            return Err(ClientError::PacketIdsExhausted);
        }
        let mut pkid = state.next_pkid;
        while state.pending.contains_key(&pkid) {
            pkid = pkid.checked_add(1).unwrap_or(1);
        }
        state.next_pkid = pkid.checked_add(1).unwrap_or(1);
        state.pending.insert(pkid, pending);
        Ok(pkid)
    }

    /// Drops the request under `pkid` (its caller went away before the packet was sent).
    pub fn unregister(&self, pkid: u16) -> bool {
        self.lock().pending.remove(&pkid).is_some()
    }

    /// Gives back one Receive Maximum slot.
    pub fn release_slot(&self) {
        self.inflight.add_permits(1);
    }

    /// Removes the entry under `pkid` if `matches` accepts it; a mismatching entry stays.
    fn take_if(&self, pkid: u16, matches: impl FnOnce(&Pending) -> bool) -> Option<Pending> {
        let mut state = self.lock();
        if state.pending.get(&pkid).is_some_and(matches) {
            state.pending.remove(&pkid)
        } else {
            None
        }
    }

    /// PUBACK arrived; false if no QoS 1 publish waited for it.
    pub fn on_puback(&self, ack: &PubResponse) -> bool {
        match self.take_if(ack.pkid, |p| matches!(p, Pending::PubAck(_))) {
            Some(Pending::PubAck(done)) => {
                let _ = done.send(ack.reason);
                self.release_slot();
                true
            }
            _ => false,
        }
    }

    /// PUBREC arrived: a failure ends the flow, a success moves it to waiting for PUBCOMP.
    pub fn on_pubrec(&self, ack: &PubResponse) -> PubRecOutcome {
        let mut state = self.lock();
        let done = match state.pending.remove(&ack.pkid) {
            Some(Pending::PubRec(done)) => done,
            Some(other) => {
                state.pending.insert(ack.pkid, other);
                return PubRecOutcome::Unknown;
            }
            None => return PubRecOutcome::Unknown,
        };
        if ack.reason.is_success() {
            // The transition happens under the lock so a concurrent close() cannot miss it.
            state.pending.insert(
                ack.pkid,
                Pending::PubComp {
                    done,
                    pubrec: ack.reason,
                },
            );
            PubRecOutcome::Release
        } else {
            drop(state);
            let _ = done.send(ack.reason);
            self.release_slot();
            PubRecOutcome::Refused
        }
    }

    /// PUBCOMP arrived; false if no PUBREL waited for it.
    pub fn on_pubcomp(&self, ack: &PubResponse) -> bool {
        match self.take_if(ack.pkid, |p| matches!(p, Pending::PubComp { .. })) {
            Some(Pending::PubComp { done, pubrec }) => {
                let _ = done.send(if ack.reason.is_success() {
                    pubrec
                } else {
                    ack.reason
                });
                self.release_slot();
                true
            }
            _ => false,
        }
    }

    /// SUBACK arrived; false if no SUBSCRIBE waited for it.
    pub fn on_suback(&self, ack: SubAck) -> bool {
        match self.take_if(ack.pkid, |p| matches!(p, Pending::SubAck(_))) {
            Some(Pending::SubAck(done)) => {
                let _ = done.send(ack);
                true
            }
            _ => false,
        }
    }

    /// UNSUBACK arrived; false if no UNSUBSCRIBE waited for it.
    pub fn on_unsuback(&self, ack: UnsubAck) -> bool {
        match self.take_if(ack.pkid, |p| matches!(p, Pending::UnsubAck(_))) {
            Some(Pending::UnsubAck(done)) => {
                let _ = done.send(ack);
                true
            }
            _ => false,
        }
    }

    /// Marks the PINGRESP as received.
    pub fn on_pingresp(&self) {
        self.ping_outstanding.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(receive_maximum: u16) -> Conn {
        let (outbox, _rx) = mpsc::channel(1);
        Conn::new(Protocol::V5, None, receive_maximum, outbox)
    }

    fn suback_pending() -> Pending {
        Pending::SubAck(oneshot::channel().0)
    }

    #[test]
    fn packet_ids_skip_the_ones_in_use_and_wrap_past_65535() {
        let conn = conn(10);
        assert_eq!(conn.register(suback_pending()).ok(), Some(1));
        assert_eq!(conn.register(suback_pending()).ok(), Some(2));
        assert_eq!(conn.register(suback_pending()).ok(), Some(3));
        assert!(conn.unregister(2));
        conn.lock().next_pkid = 1;
        assert_eq!(
            conn.register(suback_pending()).ok(),
            Some(2),
            "1 is in use, 2 was freed"
        );
        assert_eq!(conn.register(suback_pending()).ok(), Some(4), "3 is in use");
        conn.lock().next_pkid = u16::MAX;
        assert_eq!(conn.register(suback_pending()).ok(), Some(u16::MAX));
        assert_eq!(
            conn.register(suback_pending()).ok(),
            Some(5),
            "wraps to 1 and skips 1..=4"
        );
    }

    #[test]
    fn register_fails_once_closed() {
        let conn = conn(10);
        conn.close();
        assert!(matches!(
            conn.register(suback_pending()),
            Err(ClientError::ConnectionClosed)
        ));
        assert!(conn.is_closed());
    }

    #[test]
    fn acks_release_receive_maximum_slots_and_mismatches_are_ignored() {
        let conn = conn(1);
        let permit = conn.inflight.try_acquire().expect("one slot");
        permit.forget();
        assert!(conn.inflight.try_acquire().is_err());
        let (tx, mut rx) = oneshot::channel();
        let pkid = conn.register(Pending::PubRec(tx)).expect("pkid");
        let ack = PubResponse {
            pkid,
            reason: ReasonCode::Success,
            properties: Default::default(),
        };
        assert!(
            !conn.on_puback(&ack),
            "PUBACK does not answer a QoS 2 publish"
        );
        assert!(matches!(conn.on_pubrec(&ack), PubRecOutcome::Release));
        assert!(
            conn.inflight.try_acquire().is_err(),
            "slot held until PUBCOMP"
        );
        assert!(conn.on_pubcomp(&ack));
        assert_eq!(rx.try_recv().ok(), Some(ReasonCode::Success));
        assert!(conn.inflight.try_acquire().is_ok());
    }
}
