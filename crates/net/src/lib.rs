//! MQTT listeners and the per-connection task.
//!
//! `listener` accepts sockets (bounded by `max_connections`) and spawns one task per connection;
//! `connection` turns bytes into packets and back; `connect` handles CONNECT, session takeover and
//! resume; `channel` runs the established connection (packets in, deliveries out, keep alive, retries,
//! flow control, topic aliases); `outbound` builds what is sent to the client; `tls` and `ws` are the
//! TLS and WebSocket transports, `limiter` the rate limits, `ordered` keeps reads in arrival order,
//! `traffic` counts each connection's packets and bytes. Knows the codec and core; knows nothing of
//! configuration files, the cluster or Cluster Linking.

mod access;
mod channel;
mod connect;
mod connection;
mod inbound;
mod limiter;
mod listener;
mod ordered;
mod outbound;
mod tls;
mod traffic;
mod ws;

pub use limiter::Rate;
pub use listener::{
    Listener, ListenerOptions, SocketOptions, TcpKeepalive, TcpListenerConfig, Transport,
};
pub use tls::{TlsServer, TlsServerOptions, TlsSetupError, TlsVersion};
pub use ws::WsOptions;
