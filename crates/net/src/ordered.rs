//! Sockets read in the order they became readable.
//!
//! MQTT orders messages per connection only, yet clients (and conformance suites) expect a broker
//! to handle what arrives on two connections a few microseconds apart in arrival order: client B's
//! SUBSCRIBE, then client A's PUBLISH to it, must deliver. tokio's scheduler runs the task woken
//! last first (its LIFO slot), the others in the order they were woken: when one poll of the I/O
//! driver finds both sockets readable, A's task is woken second and runs first, so the PUBLISH was
//! routed before the SUBSCRIBE about a quarter of the time. A single-threaded broker (Mosquitto)
//! reads its ready list in order.
//!
//! [`Ordered`] wraps a connection's read half. The waker it gives the socket records, when the
//! driver wakes it, its place in the batch of wakes made on that thread with no read in between
//! (one driver poll). A read polled first after its batch, on the thread that woke it, though it
//! was not woken first, is the LIFO slot's: it yields once, behind the reads woken before it. No
//! other read waits for anything (a read waiting for one that another worker runs would serialize
//! the workers), so a lone wake costs only the bookkeeping, and a batch one more task poll.

use std::cell::Cell;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::{AsyncRead, ReadBuf};

static NEXT_BATCH: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// The batch this thread's wakes join: (batch, wakes so far, `READS` when it began).
    static CURRENT: Cell<(u32, u32, u64)> = const { Cell::new((0, 0, 0)) };
    /// Reads polled on this thread; one between two wakes ends a batch.
    static READS: Cell<u64> = const { Cell::new(0) };
}

/// Where a wake falls: (batch, place in it), packed as `batch << 32 | place`; 0 = none.
fn join_batch() -> u64 {
    let reads = READS.with(Cell::get);
    CURRENT.with(|c| {
        let (batch, size, began) = c.get();
        if batch != 0 && began == reads {
            c.set((batch, size + 1, began));
            u64::from(batch) << 32 | u64::from(size)
        } else {
            let mut batch = NEXT_BATCH.fetch_add(1, Ordering::Relaxed);
            if batch == 0 {
                batch = NEXT_BATCH.fetch_add(1, Ordering::Relaxed);
            }
            c.set((batch, 1, reads));
            u64::from(batch) << 32
        }
    })
}

/// Whether a read woken at `woken` and polled now, before this thread's read number `reads`, runs
/// out of turn: woken after others of its batch, yet the first read polled since the batch.
fn out_of_turn(woken: u64, reads: u64) -> bool {
    let (batch, place) = ((woken >> 32) as u32, woken as u32);
    let (current, _, began) = CURRENT.with(Cell::get);
    place > 0 && current == batch && began == reads
}

/// The waker a socket's read readiness wakes: records the batch, then wakes the task.
#[derive(Default)]
struct Tag {
    task: Mutex<Option<Waker>>,
    woken: AtomicU64,
}

impl Wake for Tag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(join_batch(), Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = task.as_ref() {
            w.wake_by_ref();
        }
    }
}

/// A read half whose reads keep the order in which sockets became readable (module docs).
pub(crate) struct Ordered<R> {
    inner: R,
    tag: Arc<Tag>,
}

impl<R> Ordered<R> {
    pub(crate) fn new(inner: R) -> Self {
        Ordered {
            inner,
            tag: Arc::default(),
        }
    }

    /// Forgets the last wake: the next read reads at once, even out of turn (a connection being
    /// taken over reads what its client sent before, polled once, without waiting).
    pub(crate) fn pass(&mut self) {
        self.tag.woken.store(0, Ordering::Relaxed);
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Ordered<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let reads = READS.with(|r| r.replace(r.get().wrapping_add(1)));
        let woken = this.tag.woken.swap(0, Ordering::AcqRel);
        if woken != 0 && out_of_turn(woken, reads) {
            // Once, behind the reads woken before this one: a task that wakes itself while it
            // runs goes to the back of its worker's queue. (`tokio::task::yield_now` would defer
            // the wake until the worker runs out of work or every 61st task, which under load
            // held reads back for milliseconds.)
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        {
            let mut task = this.tag.task.lock().unwrap_or_else(|e| e.into_inner());
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let waker = Waker::from(this.tag.clone());
        Pin::new(&mut this.inner).poll_read(&mut Context::from_waker(&waker), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_with_no_read_between_share_a_batch_in_order() {
        let a = join_batch();
        let b = join_batch();
        let c = join_batch();
        assert_eq!(a >> 32, b >> 32);
        assert_eq!(b >> 32, c >> 32);
        assert_eq!([a as u32, b as u32, c as u32], [0, 1, 2]);
        READS.with(|r| r.set(r.get() + 1));
        let d = join_batch();
        assert_ne!(d >> 32, a >> 32, "a read ends the batch");
        assert_eq!(d as u32, 0);
    }

    #[test]
    fn only_a_later_wake_polled_first_after_its_batch_is_out_of_turn() {
        READS.with(|r| r.set(r.get() + 1));
        let reads = READS.with(Cell::get);
        let first = join_batch();
        let last = join_batch();
        // The LIFO slot's task (woken last) polled before any other read: out of turn.
        assert!(out_of_turn(last, reads));
        // The first woken never is.
        assert!(!out_of_turn(first, reads));
        // Once another read has been polled on this thread, the order is kept: it reads.
        assert!(!out_of_turn(last, reads + 1));
        // A newer batch here (or another thread's): not this batch's turn to judge.
        READS.with(|r| r.set(r.get() + 1));
        let _newer = join_batch();
        assert!(!out_of_turn(last, READS.with(Cell::get)));
    }
}
