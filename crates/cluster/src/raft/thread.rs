//! The thread Raft runs on: a single-threaded tokio runtime of its own, apart from the runtime
//! that serves the clients.
//!
//! Two reasons. Raft's storage (redb) writes and syncs its file inside the log store's and the
//! state machine's async calls; on a thread of its own that blocking work never holds up a
//! client's connection. And openraft's timer wakes its tasks every 1.5 heartbeat intervals even on
//! a node alone in its cluster: on the clients' runtime, each such wake-up that met a client's
//! packet had tokio wake its other worker thread to share the work, which delayed that packet by
//! 30–100 µs.
//!
//! Everything openraft spawns (its core, timer, replication and state machine tasks) stays on this
//! thread. Its API is channels, so the rest of the cluster calls it from anywhere.

use std::future::Future;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// The Raft thread; see the module docs.
#[derive(Debug)]
pub(crate) struct RaftThread {
    handle: Handle,
    stopped: CancellationToken,
}

impl RaftThread {
    /// Starts the thread, from a task of the clients' runtime. The thread ends, dropping whatever
    /// still runs on it, when [`RaftThread::stop`] is called (or this handle is dropped), or when
    /// the runtime that started it is gone (an in-process test's runtime, say).
    pub(crate) fn start() -> std::io::Result<RaftThread> {
        Self::start_named("linkmq-raft")
    }

    fn start_named(name: &str) -> std::io::Result<RaftThread> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let stopped = CancellationToken::new();
        // Held by a task of the starting runtime: dropped when stopped, or with that runtime.
        let (alive, gone) = tokio::sync::oneshot::channel::<()>();
        let s = stopped.clone();
        tokio::spawn(async move {
            let _alive = alive;
            s.cancelled().await;
        });
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = gone.await;
                });
            })?;
        Ok(RaftThread { handle, stopped })
    }

    /// Runs `fut` on the Raft thread (what it spawns runs there too) and returns its output;
    /// `None` if the thread has ended.
    pub(crate) async fn run<F>(&self, fut: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut).await.ok()
    }

    /// Ends the thread (once Raft has been shut down: what still runs there is dropped).
    pub(crate) fn stop(&self) {
        self.stopped.cancel();
    }
}

impl Drop for RaftThread {
    fn drop(&mut self) {
        self.stopped.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name of this test's own (other tests of the crate start clusters, with their threads).
    const NAME: &str = "raft-unit-test";

    fn raft_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .map(|d| {
                d.flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|c| c.trim() == NAME)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits (blocking: the runtime's own workers go on) until `n` such threads run.
    fn wait_for_threads(n: usize, what: &str) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while raft_threads() != n {
            assert!(
                std::time::Instant::now() < until,
                "{what}: {} {NAME} threads, expected {n}",
                raft_threads()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    // One test function: the thread count is per process, and tests run in parallel.
    #[test]
    fn runs_work_on_its_own_thread_and_ends_when_stopped_or_when_its_runtime_goes() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let t = RaftThread::start_named(NAME).unwrap();
            wait_for_threads(1, "started");
            let name = t
                .run(async {
                    // What the work spawns runs on the same thread.
                    tokio::spawn(async { std::thread::current().name().map(str::to_string) })
                        .await
                        .ok()
                        .flatten()
                })
                .await
                .flatten();
            assert_eq!(name.as_deref(), Some(NAME));
            t.stop();
            wait_for_threads(0, "stopped");
            assert_eq!(t.run(async { 1 }).await, None, "ended: runs nothing");
        });
        // Never stopped: it ends with the runtime that started it.
        let t = rt.block_on(async { RaftThread::start_named(NAME).unwrap() });
        std::mem::forget(t);
        drop(rt);
        wait_for_threads(0, "the thread outlived its runtime");
    }
}
