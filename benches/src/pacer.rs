//! A timer with microsecond precision for open-loop pacing.
//!
//! tokio's timer wheel ticks in milliseconds and rounds every deadline up to the next tick, so a
//! publisher paced at 1,000 msg/s woke every 2-3 ms and sent its messages in bursts of 2-3. A
//! Linux `timerfd` wakes the runtime when the next message is due, so up to 1,000 msg/s per
//! publisher each message goes on its own, when due. Wake-ups stay at least [`MIN_GAP`] apart: a
//! faster publisher sends what has fallen due once per millisecond (10 messages at 10,000 msg/s),
//! as before, so that the generator does not pay a wake-up per message and outgrow the broker.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The least time between two wake-ups of one publisher.
pub const MIN_GAP: Duration = Duration::from_millis(1);

/// A one-shot `timerfd` on `CLOCK_MONOTONIC` (the clock `Instant` reads), registered with tokio.
pub struct Pacer {
    fd: AsyncFd<OwnedFd>,
    /// When the last wait was due to end.
    last: Option<Instant>,
}

impl Pacer {
    pub fn new() -> io::Result<Pacer> {
        // SAFETY: plain system call; the result is checked before use.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the `OwnedFd` is moved into the `AsyncFd` and returns its one descriptor until
        // the `AsyncFd` drops it.
        let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Pacer { fd, last: None })
    }

    /// Waits until `at`, or [`MIN_GAP`] after the last wait's end if that is later; at once if
    /// that has passed.
    pub async fn sleep_until(&mut self, at: Instant) -> io::Result<()> {
        let at = self.last.map_or(at, |last| at.max(last + MIN_GAP));
        let now = Instant::now();
        if at <= now {
            self.last = Some(at);
            return Ok(());
        }
        let wait = at - now;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            },
        };
        arm(self.fd.as_raw_fd(), &spec)?;
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into a buffer of 8.
            let n = unsafe {
                libc::read(
                    guard.get_inner().as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                // Drained, and one-shot: nothing more can come until it is armed again, so the
                // next wait goes straight to the poller instead of a read that would block.
                guard.clear_ready();
                self.last = Some(at);
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            return Err(e);
        }
    }
}

fn arm(fd: RawFd, spec: &libc::itimerspec) -> io::Result<()> {
    // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
    let r = unsafe { libc::timerfd_settime(fd, 0, spec, std::ptr::null_mut()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn waits_end_when_due_and_at_least_min_gap_apart() {
        rt().block_on(async {
            let mut p = Pacer::new().unwrap();
            let t0 = Instant::now();
            p.sleep_until(t0 + Duration::from_micros(300))
                .await
                .unwrap();
            assert!(t0.elapsed() >= Duration::from_micros(300));
            // Due already, but the last wait ended less than MIN_GAP ago.
            p.sleep_until(t0).await.unwrap();
            assert!(t0.elapsed() >= Duration::from_micros(300) + MIN_GAP);
            // Due later than the gap: the due time counts.
            let t1 = Instant::now();
            p.sleep_until(t1 + 3 * MIN_GAP).await.unwrap();
            assert!(t1.elapsed() >= 3 * MIN_GAP);
        });
    }

    #[test]
    fn a_cancelled_wait_does_not_push_the_next_one_back() {
        rt().block_on(async {
            let mut p = Pacer::new().unwrap();
            let t0 = Instant::now();
            // Far enough off that the 1 ms timeout ends first even on a loaded machine.
            let due = t0 + 200 * MIN_GAP;
            // Armed, then dropped when the timeout (rounded to tokio's 1 ms tick) ends first.
            let cut = tokio::time::timeout(MIN_GAP, p.sleep_until(due)).await;
            assert!(cut.is_err(), "not due yet");
            assert!(p.last.is_none(), "a wait that did not end sets no gap");
            p.sleep_until(due).await.unwrap();
            assert!(Instant::now() >= due);
            assert_eq!(p.last, Some(due));
        });
    }
}
