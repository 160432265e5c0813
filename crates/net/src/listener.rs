//! The accept loop: connection rate and count limits checked at accept, one task per connection
//! (TLS handshake and WebSocket upgrade run there, never in the loop), graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use linkmq_core::Broker;
use linkmq_core::metrics::Counter;
use linkmq_core::registry::PeerCert;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::connection::{Connection, SendTimeout};
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
    /// `tcp_options`: socket options and the send timeout.
    pub tcp: SocketOptions,
}

/// A listener's `tcp_options`. Everything but the send timeout is set on the listening socket,
/// before `listen`, and Linux gives it to the sockets accepted from it: nothing per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// Connections the kernel queues for `accept`.
    pub backlog: u32,
    /// SO_REUSEADDR: a restarted broker rebinds at once.
    pub reuseaddr: bool,
    /// TCP_NODELAY on accepted sockets (false: they keep Nagle's algorithm).
    pub nodelay: bool,
    /// SO_RCVBUF in bytes (Linux reports twice this); `None` keeps the OS default (autotuned).
    pub recbuf: Option<u32>,
    /// SO_SNDBUF in bytes (Linux reports twice this); `None` keeps the OS default (autotuned).
    pub sndbuf: Option<u32>,
    /// SO_KEEPALIVE with these probe settings; `None`: off.
    pub keepalive: Option<TcpKeepalive>,
    /// A client whose socket takes no byte of what is waiting for it this long has timed out;
    /// `None`: never. Kept in tenths of a second, rounded up, at most [`Self::MAX_SEND_TIMEOUT`].
    pub send_timeout: Option<Duration>,
    /// Close a connection whose send timed out (else it is logged and the broker keeps waiting).
    pub send_timeout_close: bool,
    /// TCP_DEFER_ACCEPT: the listener is woken once a connection's first bytes arrive, not at the
    /// handshake's last ACK, so a connection costs the broker one wake-up and no empty read (every
    /// MQTT client speaks first: CONNECT, a TLS ClientHello, an HTTP upgrade). A client silent for
    /// this long (whole seconds, rounded up) is accepted anyway. `None`: off.
    pub defer_accept: Option<Duration>,
}

impl SocketOptions {
    /// The longest `send_timeout` kept (a connection holds it in tenths of a second in two bytes);
    /// longer ones are cut to this.
    pub const MAX_SEND_TIMEOUT: Duration = Duration::from_millis(3_276_700);
}

impl Default for SocketOptions {
    /// EMQX's defaults: backlog 1024, TCP_NODELAY, SO_REUSEADDR, OS buffer sizes, no keepalive,
    /// close after 15 s without progress; and linkmq's deferred accept of 1 s.
    fn default() -> Self {
        SocketOptions {
            backlog: 1024,
            reuseaddr: true,
            nodelay: true,
            recbuf: None,
            sndbuf: None,
            keepalive: None,
            send_timeout: Some(Duration::from_secs(15)),
            send_timeout_close: true,
            defer_accept: Some(Duration::from_secs(1)),
        }
    }
}

/// TCP keepalive probes (`tcp_options.keepalive = "Idle,Interval,Probes"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// TCP_KEEPIDLE: seconds of silence before the first probe.
    pub idle: u32,
    /// TCP_KEEPINTVL: seconds between probes.
    pub interval: u32,
    /// TCP_KEEPCNT: unanswered probes before the connection is dropped.
    pub probes: u32,
}

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
        let socket = bind(config.bind, &options.tcp)?;
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
        let send_timeout = SendTimeout::new(
            self.options.tcp.send_timeout,
            self.options.tcp.send_timeout_close,
        );
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
            let Some(permit) = ConnSlot::take(&limit) else {
                broker.metrics.inc(Counter::ConnectionsRejected);
                debug!(listener = %name, %peer, "max_connections reached, closing");
                drop(stream);
                continue;
            };
            if self.options.tcp.nodelay {
                let inherited =
                    *nodelay_inherited.get_or_insert_with(|| stream.nodelay().unwrap_or(false));
                if !inherited {
                    let _ = stream.set_nodelay(true);
                }
            }
            let limiter = InboundLimiter::new(self.options.messages_rate, self.options.bytes_rate);
            if let Transport::Tcp = &self.options.transport {
                // A plain TCP connection is built here and its run() future is the whole task:
                // nothing of the accept loop (options, names, the socket before the split) is
                // carried for the connection's life. The permit goes when the connection does.
                let (r, w) = stream.into_split();
                let mut conn = Box::new(Connection::new(r, w, peer, broker.clone(), name.clone()));
                conn.limiter = limiter;
                conn.set_skip_authn(self.options.skip_authn);
                conn.send_timeout = send_timeout;
                conn.permit = Some(permit);
                tracker.spawn(conn.run());
                continue;
            }
            let broker = broker.clone();
            let name = name.clone();
            let options = self.options.clone();
            tracker.spawn(async move {
                serve_upgraded(stream, peer, &options, limiter, broker, name, permit).await;
            });
        }
        // Connections learn of the shutdown through their control mailboxes (each checks the token
        // once after registering, so none registered meanwhile is missed).
        broker.registry.shut_down_all();
        info!(listener = %name, "listener stopped");
    }
}

/// A listening socket with the listener's `tcp_options`, so the sockets it accepts have them from
/// the start (Linux copies TCP_NODELAY, the buffer sizes and the keepalive settings to them).
fn bind(addr: SocketAddr, o: &SocketOptions) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(o.reuseaddr)?;
    if o.nodelay {
        // Checked on the first accepted socket: set per socket if it was not inherited.
        let _ = socket.set_nodelay(true);
    }
    if let Some(n) = o.recbuf {
        socket.set_recv_buffer_size(n)?;
    }
    if let Some(n) = o.sndbuf {
        socket.set_send_buffer_size(n)?;
    }
    if let Some(k) = o.keepalive {
        socket.set_keepalive(true)?;
        set_keepalive_probes(&socket, k)?;
    }
    if let Some(d) = o.defer_accept {
        set_defer_accept(&socket, d)?;
    }
    socket.bind(addr)?;
    socket.listen(o.backlog)
}

/// TCP_DEFER_ACCEPT in whole seconds (rounded up; Linux turns it into SYN-ACK retransmissions).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_defer_accept(socket: &TcpSocket, d: Duration) -> std::io::Result<()> {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    set_tcp_int(socket, libc::TCP_DEFER_ACCEPT, secs)
}

/// Other systems have no deferred accept: connections are accepted at the handshake.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_defer_accept(_: &TcpSocket, _: Duration) -> std::io::Result<()> {
    Ok(())
}

/// TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (tokio sets only SO_KEEPALIVE).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_keepalive_probes(socket: &TcpSocket, k: TcpKeepalive) -> std::io::Result<()> {
    set_tcp_int(socket, libc::TCP_KEEPIDLE, k.idle.into())?;
    set_tcp_int(socket, libc::TCP_KEEPINTVL, k.interval.into())?;
    set_tcp_int(socket, libc::TCP_KEEPCNT, k.probes.into())
}

/// An integer option at the IPPROTO_TCP level.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_tcp_int(socket: &TcpSocket, opt: libc::c_int, value: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(value)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `socket` owns the open descriptor for the duration of the call, and the option
    // value is a c_int passed with its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            opt,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_keepalive_probes(_: &TcpSocket, _: TcpKeepalive) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "tcp_options.keepalive probe settings are supported on Linux only",
    ))
}

type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// One of a listener's `max_connections` slots, given back when dropped. 8 bytes, where tokio's
/// `OwnedSemaphorePermit` takes 16 (it also counts its permits), in every connection.
pub(crate) struct ConnSlot(Arc<Semaphore>);

impl ConnSlot {
    /// A slot of `limit`, if one is free.
    fn take(limit: &Arc<Semaphore>) -> Option<ConnSlot> {
        limit.try_acquire().ok()?.forget();
        Some(ConnSlot(limit.clone()))
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

/// A TLS or WebSocket socket: transport handshakes (bounded in time and by shutdown), then MQTT.
async fn serve_upgraded(
    stream: TcpStream,
    peer: SocketAddr,
    options: &ListenerOptions,
    limiter: InboundLimiter,
    broker: Arc<Broker>,
    name: Arc<str>,
    permit: ConnSlot,
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
        conn.set_skip_authn(options.skip_authn);
        conn.send_timeout =
            SendTimeout::new(options.tcp.send_timeout, options.tcp.send_timeout_close);
        // The permit goes when the socket does, not when a session kept after it ends.
        conn.permit = Some(permit);
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    use tokio::io::AsyncWriteExt;
    use tokio::time::timeout;

    use super::*;

    /// An integer socket option as the kernel reports it.
    fn sockopt(fd: &impl AsRawFd, level: libc::c_int, opt: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: an open socket, and a c_int with its length for the kernel to fill in.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                level,
                opt,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
        value
    }

    /// A listener with `tcp`, and a socket it accepted (as its accept loop does).
    async fn accepted(tcp: SocketOptions) -> (Listener, TcpStream) {
        let config = TcpListenerConfig {
            name: "tcp:test".into(),
            bind: "127.0.0.1:0".parse().unwrap(),
            max_connections: usize::MAX,
        };
        let options = ListenerOptions {
            tcp,
            ..Default::default()
        };
        let l = Listener::bind_with(config, options).await.unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        // A client speaks first (a deferred accept waits for it).
        client.write_all(&[0x10]).await.unwrap();
        let (stream, _) = l.socket.accept().await.unwrap();
        (l, stream)
    }

    #[tokio::test]
    async fn defer_accept_wakes_the_listener_at_a_connections_first_bytes() {
        let (l, _) = accepted(SocketOptions::default()).await;
        assert_eq!(
            sockopt(&l.socket, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
            1,
            "on by default, 1 s"
        );
        let addr = l.local_addr().unwrap();
        let connected = Instant::now();
        let silent = TcpStream::connect(addr).await.unwrap();
        let mut speaker = TcpStream::connect(addr).await.unwrap();
        speaker.write_all(&[0x10]).await.unwrap();
        let within = Duration::from_secs(10);
        let (_, first) = timeout(within, l.socket.accept()).await.unwrap().unwrap();
        assert_eq!(first, speaker.local_addr().unwrap(), "the one that spoke");
        // The silent one waits in the kernel for its first bytes until the period ends (Linux then
        // retransmits the SYN-ACK, and the client's ACK completes the accept).
        let (_, second) = timeout(within, l.socket.accept()).await.unwrap().unwrap();
        assert_eq!(second, silent.local_addr().unwrap());
        assert!(
            connected.elapsed() >= Duration::from_millis(900),
            "accepted after {:?}, before the deferral ended",
            connected.elapsed()
        );
    }

    #[tokio::test]
    async fn without_defer_accept_a_silent_connection_is_accepted_at_its_handshake() {
        let (l, _) = accepted(SocketOptions {
            defer_accept: None,
            ..Default::default()
        })
        .await;
        assert_eq!(
            sockopt(&l.socket, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
            0
        );
        let silent = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (_, from) = timeout(Duration::from_millis(800), l.socket.accept())
            .await
            .expect("accepted before any deferral could end")
            .unwrap();
        assert_eq!(from, silent.local_addr().unwrap());
    }

    #[tokio::test]
    async fn accepted_sockets_get_the_listeners_tcp_options() {
        let (l, s) = accepted(SocketOptions {
            reuseaddr: false,
            nodelay: false,
            recbuf: Some(32 * 1024),
            sndbuf: Some(48 * 1024),
            keepalive: Some(TcpKeepalive {
                idle: 240,
                interval: 30,
                probes: 5,
            }),
            ..Default::default()
        })
        .await;
        assert_eq!(sockopt(&l.socket, libc::SOL_SOCKET, libc::SO_REUSEADDR), 0);
        assert!(!s.nodelay().unwrap(), "nodelay = false: Nagle stays on");
        // Linux doubles the sizes asked for (room for its bookkeeping) and reports that.
        assert_eq!(
            sockopt(&s, libc::SOL_SOCKET, libc::SO_RCVBUF),
            2 * 32 * 1024
        );
        assert_eq!(
            sockopt(&s, libc::SOL_SOCKET, libc::SO_SNDBUF),
            2 * 48 * 1024
        );
        assert_eq!(sockopt(&s, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(sockopt(&s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 240);
        assert_eq!(sockopt(&s, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 30);
        assert_eq!(sockopt(&s, libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 5);
    }

    #[tokio::test]
    async fn default_tcp_options_are_todays_socket_options() {
        let (l, s) = accepted(SocketOptions::default()).await;
        assert_eq!(SocketOptions::default().backlog, 1024);
        assert_eq!(sockopt(&l.socket, libc::SOL_SOCKET, libc::SO_REUSEADDR), 1);
        assert!(
            s.nodelay().unwrap(),
            "TCP_NODELAY from the listening socket"
        );
        assert_eq!(sockopt(&s, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
        // Buffer sizes left to the kernel: not locked (autotuning stays on).
        let (_, fresh) = accepted(SocketOptions {
            recbuf: Some(8 * 1024),
            ..Default::default()
        })
        .await;
        assert_ne!(
            sockopt(&s, libc::SOL_SOCKET, libc::SO_RCVBUF),
            sockopt(&fresh, libc::SOL_SOCKET, libc::SO_RCVBUF)
        );
    }
}
