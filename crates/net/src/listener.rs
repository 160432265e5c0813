//! The TCP accept loop: a connection limit checked at accept, one task per connection, graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;

use linkmq_core::Broker;
use linkmq_core::metrics::Counter;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::connection::Connection;

/// One TCP listener's settings (`listeners.tcp.<name>`).
#[derive(Debug, Clone)]
pub struct TcpListenerConfig {
    /// The listener's name, e.g. `tcp:default`.
    pub name: String,
    pub bind: SocketAddr,
    /// Connections beyond this are closed right after accept (and counted in `connections.rejected`).
    pub max_connections: usize,
}

/// A bound listener, ready to run.
#[derive(Debug)]
pub struct Listener {
    config: TcpListenerConfig,
    socket: TcpListener,
}

impl Listener {
    /// Binds the socket (so the caller learns the real port before serving).
    pub async fn bind(config: TcpListenerConfig) -> std::io::Result<Listener> {
        let socket = TcpListener::bind(config.bind).await?;
        Ok(Listener { config, socket })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Accepts until `broker.shutdown` is cancelled; connection tasks are spawned on `tracker` so the
    /// caller can wait for them to finish.
    pub async fn run(self, broker: Arc<Broker>, tracker: TaskTracker) {
        let limit = Arc::new(Semaphore::new(
            self.config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        info!(listener = %self.config.name, bind = %self.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listener started");
        loop {
            let accepted = tokio::select! {
                _ = broker.shutdown.cancelled() => break,
                r = self.socket.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    warn!(listener = %self.config.name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                broker.metrics.inc(Counter::ConnectionsRejected);
                debug!(listener = %self.config.name, %peer, "max_connections reached, closing");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let broker = broker.clone();
            let name: Arc<str> = self.config.name.as_str().into();
            tracker.spawn(async move {
                let (r, w) = stream.into_split();
                Connection::new(r, w, peer, broker, name).run().await;
                drop(permit);
            });
        }
        info!(listener = %self.config.name, "listener stopped");
    }
}
