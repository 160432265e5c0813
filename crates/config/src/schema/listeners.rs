//! `listeners.{tcp,ssl,ws,wss}.<name> { ... }`: named MQTT listeners.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::rate::{self, Rate};
use crate::reader::{self, Ctx, KeyPath, Section};
use crate::tls::{ListenerSslOptions, read_listener_ssl};

/// All MQTT listeners, by transport and then by name (usually `default`).
#[derive(Debug, Clone, PartialEq)]
pub struct ListenersConfig {
    /// MQTT over TCP.
    pub tcp: BTreeMap<String, ListenerConfig>,
    /// MQTT over TLS.
    pub ssl: BTreeMap<String, ListenerConfig>,
    /// MQTT over WebSocket.
    pub ws: BTreeMap<String, ListenerConfig>,
    /// MQTT over WebSocket over TLS.
    pub wss: BTreeMap<String, ListenerConfig>,
}

impl Default for ListenersConfig {
    /// Without a `listeners.tcp` section: one TCP listener `default` on `0.0.0.0:1883`.
    fn default() -> Self {
        let mut tcp = BTreeMap::new();
        tcp.insert(
            "default".to_string(),
            ListenerConfig::defaults(ListenerKind::Tcp),
        );
        ListenersConfig {
            tcp,
            ssl: BTreeMap::new(),
            ws: BTreeMap::new(),
            wss: BTreeMap::new(),
        }
    }
}

/// Transport of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// `listeners.tcp`.
    Tcp,
    /// `listeners.ssl`.
    Ssl,
    /// `listeners.ws`.
    Ws,
    /// `listeners.wss`.
    Wss,
}

impl ListenerKind {
    /// EMQX's default port for this transport.
    pub fn default_port(self) -> u16 {
        match self {
            ListenerKind::Tcp => 1883,
            ListenerKind::Ssl => 8883,
            ListenerKind::Ws => 8083,
            ListenerKind::Wss => 8084,
        }
    }

    fn has_tls(self) -> bool {
        matches!(self, ListenerKind::Ssl | ListenerKind::Wss)
    }

    fn has_websocket(self) -> bool {
        matches!(self, ListenerKind::Ws | ListenerKind::Wss)
    }
}

/// One MQTT listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    /// Whether it listens.
    pub enable: bool,
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Concurrent connections allowed; `None` is `infinity`.
    pub max_connections: Option<u64>,
    /// Number of accept loops.
    pub acceptors: u32,
    /// Expect a HAProxy PROXY protocol header first.
    pub proxy_protocol: bool,
    /// Time allowed for the PROXY header.
    pub proxy_protocol_timeout: Duration,
    /// Prefix added to every topic of clients of this listener (placeholders allowed).
    pub mountpoint: String,
    /// Whether clients of this listener are authenticated.
    pub enable_authn: bool,
    /// Socket options.
    pub tcp_options: TcpOptions,
    /// TLS settings (`ssl` and `wss` listeners only).
    pub ssl_options: Option<ListenerSslOptions>,
    /// WebSocket settings (`ws` and `wss` listeners only).
    pub websocket: Option<WebsocketOptions>,
    /// Connections accepted per period by this listener; `None` is `infinity`.
    pub max_conn_rate: Option<Rate>,
    /// PUBLISH packets read per period from each client; `None` is `infinity`.
    pub messages_rate: Option<Rate>,
    /// Bytes read per period from each client; `None` is `infinity`.
    pub bytes_rate: Option<Rate>,
}

/// `tcp_options` of a listener.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOptions {
    /// Listen backlog.
    pub backlog: u32,
    /// Give up a send that blocks this long.
    pub send_timeout: Duration,
    /// Close the connection when a send times out.
    pub send_timeout_close: bool,
    /// Disable Nagle's algorithm.
    pub nodelay: bool,
    /// Set SO_REUSEADDR.
    pub reuseaddr: bool,
    /// SO_RCVBUF in bytes; `None` leaves the OS default.
    pub recbuf: Option<u64>,
    /// SO_SNDBUF in bytes; `None` leaves the OS default.
    pub sndbuf: Option<u64>,
    /// TCP keepalive probes (`"Idle,Interval,Probes"`); `None` is `"none"`: off.
    pub keepalive: Option<TcpKeepalive>,
    /// linkmq's own `defer_accept` (not in EMQX): TCP_DEFER_ACCEPT, so the broker first hears of a
    /// connection when its first bytes (CONNECT, ClientHello, the WebSocket upgrade) arrive, not
    /// one wake-up earlier at the handshake's last ACK. A client silent this long is accepted
    /// anyway (then `mqtt.idle_timeout` applies). `None` is `disabled` (or `0s`): off.
    pub defer_accept: Option<Duration>,
}

/// `tcp_options.keepalive = "Idle,Interval,Probes"`: SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL
/// and TCP_KEEPCNT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Seconds of silence before the first probe.
    pub idle: u32,
    /// Seconds between probes.
    pub interval: u32,
    /// Unanswered probes before the connection is dropped.
    pub probes: u32,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            backlog: 1024,
            send_timeout: Duration::from_secs(15),
            send_timeout_close: true,
            nodelay: true,
            reuseaddr: true,
            recbuf: None,
            sndbuf: None,
            keepalive: None,
            defer_accept: Some(DEFAULT_DEFER_ACCEPT),
        }
    }
}

/// `tcp_options.defer_accept` unless set: every MQTT client speaks first, at once.
const DEFAULT_DEFER_ACCEPT: Duration = Duration::from_secs(1);
/// The longest `defer_accept` (Linux counts it in SYN-ACK retransmissions, at most 255).
const MAX_DEFER_ACCEPT: Duration = Duration::from_secs(600);

/// `websocket` options of a `ws`/`wss` listener.
#[derive(Debug, Clone, PartialEq)]
pub struct WebsocketOptions {
    /// HTTP path of the MQTT endpoint.
    pub mqtt_path: String,
    /// Largest WebSocket frame accepted; `None` is `infinity`.
    pub max_frame_size: Option<u64>,
    /// Close connections idle this long; `None` is `infinity`.
    pub idle_timeout: Option<Duration>,
    /// Refuse handshakes without a supported `Sec-WebSocket-Protocol`.
    pub fail_if_no_subprotocol: bool,
    /// Accepted subprotocols.
    pub supported_subprotocols: Vec<String>,
    /// Check the `Origin` header against `check_origins`.
    pub check_origin_enable: bool,
    /// Allow handshakes without an `Origin` header when checking.
    pub allow_origin_absence: bool,
    /// Allowed origins.
    pub check_origins: Vec<String>,
}

impl Default for WebsocketOptions {
    fn default() -> Self {
        WebsocketOptions {
            mqtt_path: "/mqtt".to_string(),
            max_frame_size: None,
            idle_timeout: Some(Duration::from_secs(7200)),
            fail_if_no_subprotocol: true,
            supported_subprotocols: ["mqtt", "mqtt-v3", "mqtt-v3.1.1", "mqtt-v5"]
                .map(String::from)
                .to_vec(),
            check_origin_enable: false,
            allow_origin_absence: true,
            check_origins: vec![
                "http://localhost:18083".to_string(),
                "http://127.0.0.1:18083".to_string(),
            ],
        }
    }
}

impl ListenerConfig {
    /// EMQX's defaults for a listener of `kind`.
    pub fn defaults(kind: ListenerKind) -> Self {
        ListenerConfig {
            enable: true,
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), kind.default_port()),
            max_connections: None,
            acceptors: 16,
            proxy_protocol: false,
            proxy_protocol_timeout: Duration::from_secs(3),
            mountpoint: String::new(),
            enable_authn: true,
            tcp_options: TcpOptions::default(),
            ssl_options: kind.has_tls().then(ListenerSslOptions::default),
            websocket: kind.has_websocket().then(WebsocketOptions::default),
            max_conn_rate: None,
            messages_rate: None,
            bytes_rate: None,
        }
    }
}

fn read_listener(mut sec: Section<'_>, ctx: &mut Ctx<'_>, kind: ListenerKind) -> ListenerConfig {
    let d = ListenerConfig::defaults(kind);
    let enable = sec.get(ctx, "enable", d.enable, reader::boolean);
    let bind = sec.get(ctx, "bind", d.bind, reader::bind);
    let max_connections = sec.get(
        ctx,
        "max_connections",
        d.max_connections,
        reader::int_or_infinity(1, u64::MAX),
    );
    let acceptors = sec.get(
        ctx,
        "acceptors",
        d.acceptors.into(),
        reader::int_in(1, 1024),
    ) as u32;
    let proxy_protocol = sec.get(ctx, "proxy_protocol", d.proxy_protocol, reader::boolean);
    let proxy_protocol_timeout = sec.get(
        ctx,
        "proxy_protocol_timeout",
        d.proxy_protocol_timeout,
        reader::duration,
    );
    let mountpoint = sec.get(ctx, "mountpoint", d.mountpoint, reader::string);
    let enable_authn = sec.get(ctx, "enable_authn", d.enable_authn, |v| {
        // EMQX also accepts `quick_deny_anonymous`, a stricter `true`.
        if reader::is_word(v, "quick_deny_anonymous") {
            Ok(true)
        } else {
            reader::boolean(v)
        }
    });
    let tcp_section = sec.section(ctx, "tcp_options");
    let tcp_options = read_tcp_options(tcp_section, ctx);
    let ssl_options = if kind.has_tls() {
        let s = sec.section(ctx, "ssl_options");
        let ssl_path = s.path().clone();
        let ssl = read_listener_ssl(s, ctx);
        if enable {
            // EMQX ships default certificates; linkmq has none, so a TLS listener must name its own
            // (a missing `cacertfile` with `verify_peer` is reported when the listener starts).
            for (key, missing) in [
                ("certfile", ssl.certfile.is_none()),
                ("keyfile", ssl.keyfile.is_none()),
            ] {
                if missing {
                    ctx.error(&ssl_path.key(key), "required for a TLS listener");
                }
            }
        }
        Some(ssl)
    } else {
        None
    };
    let websocket = if kind.has_websocket() {
        let s = sec.section(ctx, "websocket");
        Some(read_websocket(s, ctx))
    } else {
        None
    };
    let max_conn_rate = sec.get(ctx, "max_conn_rate", d.max_conn_rate, rate::rate);
    let messages_rate = sec.get(ctx, "messages_rate", d.messages_rate, rate::rate);
    let bytes_rate = sec.get(ctx, "bytes_rate", d.bytes_rate, rate::rate);
    sec.accept(&[
        "zone",
        "limiter",
        "access_rules",
        "authentication",
        "bind_to_device",
    ]);
    sec.finish(ctx);
    ListenerConfig {
        enable,
        bind,
        max_connections,
        acceptors,
        proxy_protocol,
        proxy_protocol_timeout,
        mountpoint,
        enable_authn,
        tcp_options,
        ssl_options,
        websocket,
        max_conn_rate,
        messages_rate,
        bytes_rate,
    }
}

fn read_tcp_options(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> TcpOptions {
    let d = TcpOptions::default();
    let out = TcpOptions {
        backlog: sec.get(ctx, "backlog", d.backlog.into(), reader::int_in(1, 1 << 20)) as u32,
        send_timeout: sec.get(ctx, "send_timeout", d.send_timeout, reader::duration),
        send_timeout_close: sec.get(
            ctx,
            "send_timeout_close",
            d.send_timeout_close,
            reader::boolean,
        ),
        nodelay: sec.get(ctx, "nodelay", d.nodelay, reader::boolean),
        reuseaddr: sec.get(ctx, "reuseaddr", d.reuseaddr, reader::boolean),
        recbuf: sec.opt(ctx, "recbuf", reader::size_in(1, MAX_SOCKET_BUFFER)),
        sndbuf: sec.opt(ctx, "sndbuf", reader::size_in(1, MAX_SOCKET_BUFFER)),
        keepalive: sec.get(ctx, "keepalive", d.keepalive, tcp_keepalive),
        defer_accept: sec.get(ctx, "defer_accept", d.defer_accept, defer_accept),
    };
    // Options of the Erlang VM's port driver: linkmq's sockets have no such layer.
    for key in ["active_n", "buffer", "high_watermark"] {
        if sec.has(key) {
            ctx.warn(
                &sec.path().key(key),
                "an Erlang VM port option, it has no effect in linkmq",
            );
        }
    }
    sec.accept(&["active_n", "buffer", "high_watermark"]);
    sec.finish(ctx);
    out
}

/// The largest `recbuf` / `sndbuf` (setsockopt takes an int; Linux caps it further at
/// `net.core.rmem_max` / `wmem_max` unless the process may override them).
const MAX_SOCKET_BUFFER: u64 = 1 << 30;

/// A duration up to [`MAX_DEFER_ACCEPT`], or `disabled`; `0s` is `disabled` too.
fn defer_accept(v: &Value) -> Result<Option<Duration>, String> {
    match reader::duration_or_disabled(v)? {
        Some(d) if d > MAX_DEFER_ACCEPT => Err(format!(
            "at most 600s (Linux counts it in SYN-ACK retransmissions), found {}",
            reader::describe(v)
        )),
        Some(d) if d.is_zero() => Ok(None),
        d => Ok(d),
    }
}

/// `"none"`, or `"Idle,Interval,Probes"` in seconds (e.g. `"240,30,5"`), each within Linux's limits.
fn tcp_keepalive(v: &Value) -> Result<Option<TcpKeepalive>, String> {
    if reader::is_word(v, "none") {
        return Ok(None);
    }
    let bad = || {
        format!(
            "expected \"none\" or \"Idle,Interval,Probes\" (seconds, seconds, count) like \"240,30,5\", found {}",
            reader::describe(v)
        )
    };
    let Value::String(s) = v else {
        return Err(bad());
    };
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [idle, interval, probes] = parts[..] else {
        return Err(bad());
    };
    let num = |p: &str, what: &str, max: u32| -> Result<u32, String> {
        match p.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "{what} must be an integer from 1 to {max}, found {p:?} in {}",
                reader::describe(v)
            )),
        }
    };
    Ok(Some(TcpKeepalive {
        idle: num(idle, "Idle", 32767)?,
        interval: num(interval, "Interval", 32767)?,
        probes: num(probes, "Probes", 127)?,
    }))
}

fn read_websocket(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> WebsocketOptions {
    let d = WebsocketOptions::default();
    let out = WebsocketOptions {
        mqtt_path: sec.get(ctx, "mqtt_path", d.mqtt_path, |v| {
            let p = reader::string(v)?;
            if p.starts_with('/') {
                Ok(p)
            } else {
                Err(format!(
                    "expected a path starting with '/', found {}",
                    reader::describe(v)
                ))
            }
        }),
        max_frame_size: sec.get(
            ctx,
            "max_frame_size",
            d.max_frame_size,
            reader::size_or_infinity,
        ),
        idle_timeout: sec.get(
            ctx,
            "idle_timeout",
            d.idle_timeout,
            reader::duration_or_infinity,
        ),
        fail_if_no_subprotocol: sec.get(
            ctx,
            "fail_if_no_subprotocol",
            d.fail_if_no_subprotocol,
            reader::boolean,
        ),
        supported_subprotocols: sec.get(
            ctx,
            "supported_subprotocols",
            d.supported_subprotocols,
            reader::string_list,
        ),
        check_origin_enable: sec.get(
            ctx,
            "check_origin_enable",
            d.check_origin_enable,
            reader::boolean,
        ),
        allow_origin_absence: sec.get(
            ctx,
            "allow_origin_absence",
            d.allow_origin_absence,
            reader::boolean,
        ),
        check_origins: sec.get(ctx, "check_origins", d.check_origins, reader::string_list),
    };
    sec.accept(&[
        "mqtt_piggyback",
        "compress",
        "deflate_opts",
        "proxy_address_header",
        "proxy_port_header",
        "validate_utf8",
    ]);
    sec.finish(ctx);
    out
}

fn read_kind(
    sec: &mut Section<'_>,
    ctx: &mut Ctx<'_>,
    key: &str,
    kind: ListenerKind,
) -> Option<BTreeMap<String, ListenerConfig>> {
    if !sec.has(key) {
        sec.accept(&[key]);
        return None;
    }
    let mut named = sec.section(ctx, key);
    let mut out = BTreeMap::new();
    let base: KeyPath = named.path().clone();
    for (name, value) in named.entries() {
        let path = base.key(&name);
        if let Err(e) = crate::link::validate_link_name(&name) {
            ctx.error(&path, format!("invalid listener name: {e}"));
            continue;
        }
        let listener = read_listener(Section::new(ctx, path, Some(value)), ctx, kind);
        out.insert(name, listener);
    }
    named.finish(ctx);
    Some(out)
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> ListenersConfig {
    let d = ListenersConfig::default();
    let out = ListenersConfig {
        tcp: read_kind(&mut sec, ctx, "tcp", ListenerKind::Tcp).unwrap_or(d.tcp),
        ssl: read_kind(&mut sec, ctx, "ssl", ListenerKind::Ssl).unwrap_or_default(),
        ws: read_kind(&mut sec, ctx, "ws", ListenerKind::Ws).unwrap_or_default(),
        wss: read_kind(&mut sec, ctx, "wss", ListenerKind::Wss).unwrap_or_default(),
    };
    sec.finish(ctx);
    out
}
