//! Sockets read in the order they became readable.
//!
//! MQTT orders messages per connection only, yet clients (and conformance suites) expect a broker
//! to handle what arrives on two connections a few microseconds apart in arrival order: client B's
//! SUBSCRIBE, then client A's PUBLISH to it, must deliver. tokio's scheduler runs the task woken
//! last first (its LIFO slot): when one poll of the I/O driver finds both sockets readable, A's
//! task is woken second and runs first, so the PUBLISH was routed before the SUBSCRIBE about a
//! quarter of the time. A single-threaded broker (Mosquitto) reads its ready list in order.
//!
//! [`Ordered`] wraps a connection's read half. The waker it gives the socket records, when the
//! driver wakes it, its place in the batch of wakes made on that thread with no read in between
//! (one driver poll). A task read-woken in place `n > 0` lets the tasks before it go first, by
//! yielding to the back of the run queue, until `n` of them have handled what they read, for at
//! most [`MAX_YIELDS`] turns (a member that never reads again cannot hold it up). The first of a
//! batch never waits, so a lone wake costs nothing but the bookkeeping.

use std::cell::Cell;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::{AsyncRead, ReadBuf};

/// Batches whose progress is kept; an older one counts as done.
const BATCHES: usize = 1024;
/// The most turns a read waits for the reads woken before it.
const MAX_YIELDS: u8 = 64;

/// Progress of recent batches: `PROGRESS[batch % BATCHES]` is `batch << 32 | reads handled`.
static PROGRESS: [AtomicU64; BATCHES] = [const { AtomicU64::new(0) }; BATCHES];
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
            PROGRESS[batch as usize % BATCHES].store(u64::from(batch) << 32, Ordering::Release);
            c.set((batch, 1, reads));
            u64::from(batch) << 32
        }
    })
}

/// Reads of `batch` handled so far; `u32::MAX` once its slot went to a newer batch.
fn handled(batch: u32) -> u32 {
    let v = PROGRESS[batch as usize % BATCHES].load(Ordering::Acquire);
    if (v >> 32) as u32 == batch {
        v as u32
    } else {
        u32::MAX
    }
}

fn mark_handled(batch: u32) {
    let slot = &PROGRESS[batch as usize % BATCHES];
    let mut v = slot.load(Ordering::Relaxed);
    while (v >> 32) as u32 == batch {
        match slot.compare_exchange_weak(v, v + 1, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => v = now,
        }
    }
}

/// The waker a socket's read readiness wakes: records the batch, then wakes the task. Also holds
/// the reader's own state (`handling`, `yields`: only its poll touches them), which fits the
/// allocation's size class for free where the connection's struct has no room to spare.
#[derive(Default)]
struct Tag {
    task: Mutex<Option<Waker>>,
    woken: AtomicU64,
    /// The batch whose count this read adds to once what it read is handled (0: none).
    handling: AtomicU32,
    /// Turns yielded for the current wake.
    yields: AtomicU8,
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

    fn finish_handling(&self) {
        let batch = self.tag.handling.swap(0, Ordering::Relaxed);
        if batch != 0 {
            mark_handled(batch);
        }
    }

    /// Not reading for now (reads paused by a rate limit, or the connection ends): the reads
    /// woken after this one in its batch need not wait for it.
    pub(crate) fn pass(&mut self) {
        self.finish_handling();
        let woken = self.tag.woken.swap(0, Ordering::AcqRel);
        if woken != 0 {
            mark_handled((woken >> 32) as u32);
        }
    }
}

impl<R> Drop for Ordered<R> {
    fn drop(&mut self) {
        self.pass();
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Ordered<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        READS.with(|r| r.set(r.get().wrapping_add(1)));
        // Reading again: what the last read brought has been handled.
        this.finish_handling();
        let woken = this.tag.woken.swap(0, Ordering::AcqRel);
        if woken != 0 {
            let (batch, place) = ((woken >> 32) as u32, woken as u32);
            let yields = this.tag.yields.load(Ordering::Relaxed);
            if place > 0 && yields < MAX_YIELDS && handled(batch) < place {
                // Reads woken earlier in this batch go first: to the back of the run queue.
                this.tag.woken.store(woken, Ordering::Release);
                this.tag.yields.store(yields + 1, Ordering::Relaxed);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.tag.yields.store(0, Ordering::Relaxed);
            this.tag.handling.store(batch, Ordering::Relaxed);
        }
        {
            let mut task = this.tag.task.lock().unwrap_or_else(|e| e.into_inner());
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let waker = Waker::from(this.tag.clone());
        let r = Pin::new(&mut this.inner).poll_read(&mut Context::from_waker(&waker), buf);
        if r.is_pending() {
            // Nothing read: nothing for the later reads of the batch to wait for.
            this.finish_handling();
        }
        r
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
    fn a_batch_counts_handled_reads_until_its_slot_is_reused() {
        READS.with(|r| r.set(r.get() + 1));
        let batch = (join_batch() >> 32) as u32;
        assert_eq!(handled(batch), 0);
        mark_handled(batch);
        mark_handled(batch);
        assert_eq!(handled(batch), 2);
        // A newer batch in the same slot: the old one counts as done and is not counted into.
        let newer = batch.wrapping_add(BATCHES as u32);
        PROGRESS[batch as usize % BATCHES].store(u64::from(newer) << 32, Ordering::Release);
        assert_eq!(handled(batch), u32::MAX);
        mark_handled(batch);
        assert_eq!(handled(newer), 0);
    }
}
