//! Extra single-threaded runtimes for the connection phase.
//!
//! On loopback a `connect` runs most of the TCP handshake in the caller (the SYN, the broker's
//! SYN-ACK and the last ACK are all processed in the connecting thread's system call), so one
//! generator thread pays more kernel time per connection than the broker does and becomes what
//! `idle10k` measures. Handshakes and idle connections are dealt round-robin over the run's own
//! runtime and these, each a current-thread runtime on its own OS thread: no work stealing, and a
//! connection stays on the runtime whose I/O driver registered it.

use std::future::Future;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The run's runtime plus `extra` others; dropped, the others stop (with their connections).
pub struct Shards {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
}

impl Shards {
    /// Starts `extra` runtimes, each on a thread of its own.
    pub fn start(extra: usize) -> anyhow::Result<Shards> {
        let mut handles = vec![Handle::current()];
        let mut stops = Vec::with_capacity(extra);
        for i in 0..extra {
            let rt = Builder::new_current_thread().enable_all().build()?;
            handles.push(rt.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("conn-shard-{}", i + 1))
                .spawn(move || {
                    // Runs the shard's tasks until the run ends; the runtime's drop closes them.
                    let _ = rt.block_on(stopped);
                })?;
            stops.push(stop);
        }
        Ok(Shards { handles, stops })
    }

    /// Spawns `fut` on the runtime that connection `index` belongs to.
    pub fn spawn<F>(&self, index: usize, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handles[index % self.handles.len()].spawn(fut)
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_are_dealt_round_robin_over_the_threads() {
        let shards = Shards::start(2).unwrap();
        let here = std::thread::current().id();
        let mut threads = Vec::new();
        for i in 0..6 {
            threads.push(
                shards
                    .spawn(i, async { std::thread::current().id() })
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(threads[0], here, "index 0 stays on the run's own runtime");
        assert_eq!(threads[0], threads[3]);
        assert_eq!(threads[1], threads[4]);
        assert_eq!(threads[2], threads[5]);
        assert!(threads[1] != here && threads[2] != here && threads[1] != threads[2]);
    }
}
