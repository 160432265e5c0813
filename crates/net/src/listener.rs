//! The accept loop: connection rate and count limits checked at accept, one task per connection
//! (TLS handshake and WebSocket upgrade run there, never in the loop), graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;

use linkmq_core::Broker;
use linkmq_core::metrics::Counter;
use linkmq_core::registry::PeerCert;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::connection::Connection;
use crate::limiter::{InboundLimiter, Rate, TokenBucket};
use crate::tls::TlsServer;
use crate::ws::{self, WsOptions};

/// One listener's settings (`listeners.<type>.<name>`).
#[derive(Debug, Clone)]
pub struct TcpListenerConfig {
    /// The listener's name, e.g. `tcp:default`.
    pub name: String,
    pub bind: SocketAddr,
    /// Connections beyond this are closed right after accept (and counted in `connections.rejected`).
    pub max_connections: usize,
}

/// What runs on top of TCP.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// MQTT over TCP (`listeners.tcp`).
    #[default]
    Tcp,
    /// MQTT over TLS (`listeners.ssl`).
    Tls(TlsServer),
    /// MQTT over WebSocket (`listeners.ws`).
    Ws(WsOptions),
    /// MQTT over WebSocket over TLS (`listeners.wss`).
    Wss(TlsServer, WsOptions),
}

impl Transport {
    fn label(&self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls(_) => "ssl",
            Transport::Ws(_) => "ws",
            Transport::Wss(..) => "wss",
        }
    }
}

/// A listener's transport and limits beyond [`TcpListenerConfig`]. The default is plain TCP with no
/// rate limits.
#[derive(Debug, Clone, Default)]
pub struct ListenerOptions {
    pub transport: Transport,
    /// `max_conn_rate`: connections accepted per period; the excess is closed at accept and counted
    /// in `connections.rejected`.
    pub max_conn_rate: Option<Rate>,
    /// `messages_rate`: PUBLISH packets read per period, per client (reading pauses beyond it).
    pub messages_rate: Option<Rate>,
    /// `bytes_rate`: bytes read per period, per client (reading pauses beyond it).
    pub bytes_rate: Option<Rate>,
    /// `enable_authn = false`: clients of this listener skip authentication (EMQX's per-listener
    /// anonymous access); authorization still applies.
    pub skip_authn: bool,
}

/// Connections the kernel queues for `accept` (EMQX's `acceptors` backlog).
const BACKLOG: u32 = 1024;

/// A bound listener, ready to run.
#[derive(Debug)]
pub struct Listener {
    config: TcpListenerConfig,
    options: ListenerOptions,
    socket: TcpListener,
}

impl Listener {
    /// Binds a plain TCP listener (so the caller learns the real port before serving).
    pub async fn bind(config: TcpListenerConfig) -> std::io::Result<Listener> {
        Listener::bind_with(config, ListenerOptions::default()).await
    }

    /// Binds a listener with a transport (TLS, WebSocket) and limits.
    pub async fn bind_with(
        config: TcpListenerConfig,
        options: ListenerOptions,
    ) -> std::io::Result<Listener> {
        let socket = bind(config.bind)?;
        Ok(Listener {
            config,
            options,
            socket,
        })
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
        let mut conn_rate = self.options.max_conn_rate.map(TokenBucket::new);
        let name: Arc<str> = self.config.name.as_str().into();
        // Whether accepted sockets have TCP_NODELAY from the listening socket (Linux does so):
        // learnt from the first one, then no setsockopt per connection.
        let mut nodelay_inherited = None;
        info!(listener = %name, transport = self.options.transport.label(), bind = %self.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listener started");
        loop {
            let accepted = tokio::select! {
                _ = broker.shutdown.cancelled() => break,
                r = self.socket.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Some(bucket) = &mut conn_rate
                && !bucket.try_take_one()
            {
                broker.metrics.inc(Counter::ConnectionsRejected);
                debug!(listener = %name, %peer, "max_conn_rate exceeded, closing");
                drop(stream);
                continue;
            }
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                broker.metrics.inc(Counter::ConnectionsRejected);
                debug!(listener = %name, %peer, "max_connections reached, closing");
                drop(stream);
                continue;
            };
            let inherited =
                *nodelay_inherited.get_or_insert_with(|| stream.nodelay().unwrap_or(false));
            if !inherited {
                let _ = stream.set_nodelay(true);
            }
            let limiter = InboundLimiter::new(self.options.messages_rate, self.options.bytes_rate);
            if let Transport::Tcp = &self.options.transport {
                // A plain TCP connection is built here and its run() future is the whole task:
                // nothing of the accept loop (options, names, the socket before the split) is
                // carried for the connection's life. The permit goes when the connection does.
                let (r, w) = stream.into_split();
                let mut conn = Box::new(Connection::new(r, w, peer, broker.clone(), name.clone()));
                conn.limiter = limiter;
                conn.skip_authn = self.options.skip_authn;
                conn.permit = Some(permit);
                tracker.spawn(conn.run());
                continue;
            }
            let broker = broker.clone();
            let name = name.clone();
            let options = self.options.clone();
            tracker.spawn(async move {
                serve_upgraded(stream, peer, &options, limiter, broker, name).await;
                drop(permit);
            });
        }
        info!(listener = %name, "listener stopped");
    }
}

/// A listening socket with TCP_NODELAY set, so the sockets it accepts may have it from the start.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As TcpListener::bind does: a restarted broker rebinds at once.
    socket.set_reuseaddr(true)?;
    let _ = socket.set_nodelay(true);
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// A TLS or WebSocket socket: transport handshakes (bounded in time and by shutdown), then MQTT.
async fn serve_upgraded(
    stream: TcpStream,
    peer: SocketAddr,
    options: &ListenerOptions,
    limiter: InboundLimiter,
    broker: Arc<Broker>,
    name: Arc<str>,
) {
    // Boxed: the connection's future is not stored next to this one's handshake state.
    Box::pin(async move {
        let shutdown = broker.shutdown.clone();
        let upgraded = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = upgrade(stream, peer, &options.transport, &broker, &name) => r,
        };
        let Some((r, w, peer_cert)) = upgraded else {
            return;
        };
        let mut conn = Box::new(Connection::new(r, w, peer, broker, name));
        conn.peer_cert = peer_cert.map(Box::new);
        conn.limiter = limiter;
        conn.skip_authn = options.skip_authn;
        conn.run().await;
    })
    .await;
}

/// TLS handshake and/or WebSocket upgrade; `None` (logged) when it fails or times out.
async fn upgrade(
    stream: TcpStream,
    peer: SocketAddr,
    transport: &Transport,
    broker: &Broker,
    name: &str,
) -> Option<(BoxRead, BoxWrite, Option<PeerCert>)> {
    match transport {
        Transport::Tcp => {
            let (r, w) = stream.into_split();
            Some((Box::new(r), Box::new(w), None))
        }
        Transport::Tls(tls) => {
            let (s, cert) = tls_handshake(stream, peer, tls, name).await?;
            let (r, w) = tokio::io::split(s);
            Some((Box::new(r), Box::new(w), cert))
        }
        Transport::Ws(o) => {
            let s = ws_upgrade(stream, peer, o, broker, name).await?;
            let (r, w) = tokio::io::split(s);
            Some((Box::new(r), Box::new(w), None))
        }
        Transport::Wss(tls, o) => {
            let (s, cert) = tls_handshake(stream, peer, tls, name).await?;
            let s = ws_upgrade(s, peer, o, broker, name).await?;
            let (r, w) = tokio::io::split(s);
            Some((Box::new(r), Box::new(w), cert))
        }
    }
}

async fn tls_handshake(
    stream: TcpStream,
    peer: SocketAddr,
    tls: &TlsServer,
    name: &str,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Option<PeerCert>)> {
    match tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream)).await {
        Ok(Ok(s)) => {
            let cert = crate::tls::peer_cert(s.get_ref().1);
            Some((s, cert))
        }
        Ok(Err(e)) => {
            debug!(listener = %name, %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            debug!(listener = %name, %peer, "TLS handshake timed out");
            None
        }
    }
}

/// The WebSocket upgrade must come within the CONNECT timeout (`mqtt.idle_timeout`).
async fn ws_upgrade<S>(
    stream: S,
    peer: SocketAddr,
    o: &WsOptions,
    broker: &Broker,
    name: &str,
) -> Option<ws::WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(broker.settings.idle_timeout, ws::accept(stream, o)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            debug!(listener = %name, %peer, error = %e, "WebSocket upgrade failed");
            None
        }
        Err(_) => {
            debug!(listener = %name, %peer, "WebSocket upgrade timed out");
            None
        }
    }
}
