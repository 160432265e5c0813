//! `listeners.{tcp,ssl,ws,wss}.<name>` onto the network layer's listener settings: TLS files are
//! read here, at start-up, so a bad path or PEM stops the node with a message naming key and file.

use anyhow::anyhow;
use linkmq_config::{ListenerConfig, SslVerify};
use linkmq_net::{
    ListenerOptions, Rate, SocketOptions, TcpKeepalive, TcpListenerConfig, TlsServer,
    TlsServerOptions, TlsVersion, Transport, WsOptions,
};

/// Every enabled listener, TCP first, then SSL, WS, WSS (each by name).
pub fn listener_specs(
    config: &linkmq_config::Config,
) -> anyhow::Result<Vec<(TcpListenerConfig, ListenerOptions)>> {
    let l = &config.listeners;
    let mut out = Vec::new();
    for (kind, map) in [
        ("tcp", &l.tcp),
        ("ssl", &l.ssl),
        ("ws", &l.ws),
        ("wss", &l.wss),
    ] {
        for (name, lc) in map.iter().filter(|(_, lc)| lc.enable) {
            out.push(spec(kind, name, lc)?);
        }
    }
    Ok(out)
}

fn rate(r: Option<linkmq_config::Rate>) -> Option<Rate> {
    r.map(|r| Rate {
        amount: r.amount,
        period: r.period,
    })
}

/// `tcp_options` onto the socket options (sizes were bounded when the file was read).
fn socket_options(key: &str, o: &linkmq_config::TcpOptions) -> SocketOptions {
    if o.send_timeout > SocketOptions::MAX_SEND_TIMEOUT {
        tracing::warn!(listener = %key, send_timeout = ?o.send_timeout, max = ?SocketOptions::MAX_SEND_TIMEOUT, "tcp_options.send_timeout is longer than linkmq keeps, cut to the maximum");
    }
    let size = |n: Option<u64>| n.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    SocketOptions {
        backlog: o.backlog,
        reuseaddr: o.reuseaddr,
        nodelay: o.nodelay,
        recbuf: size(o.recbuf),
        sndbuf: size(o.sndbuf),
        keepalive: o.keepalive.map(|k| TcpKeepalive {
            idle: k.idle,
            interval: k.interval,
            probes: k.probes,
        }),
        send_timeout: Some(o.send_timeout),
        send_timeout_close: o.send_timeout_close,
        defer_accept: o.defer_accept,
    }
}

fn spec(
    kind: &str,
    name: &str,
    lc: &ListenerConfig,
) -> anyhow::Result<(TcpListenerConfig, ListenerOptions)> {
    let key = format!("listeners.{kind}.{name}");
    let tls = || -> anyhow::Result<TlsServer> {
        let ssl = lc
            .ssl_options
            .as_ref()
            .ok_or_else(|| anyhow!("{key}.ssl_options: missing"))?;
        let certfile = ssl
            .certfile
            .as_ref()
            .ok_or_else(|| anyhow!("{key}.ssl_options.certfile: required for a TLS listener"))?;
        let keyfile = ssl
            .keyfile
            .as_ref()
            .ok_or_else(|| anyhow!("{key}.ssl_options.keyfile: required for a TLS listener"))?;
        let mut versions = Vec::new();
        for v in &ssl.versions {
            match TlsVersion::from_emqx(v) {
                Some(v) => versions.push(v),
                None => {
                    tracing::warn!(listener = %key, version = %v, "TLS version not supported by linkmq (TLS 1.2 and 1.3 only), skipped")
                }
            }
        }
        if versions.is_empty() {
            return Err(anyhow!(
                "{key}.ssl_options.versions: none of {:?} is supported (tlsv1.2, tlsv1.3)",
                ssl.versions
            ));
        }
        let o = TlsServerOptions {
            certfile: certfile.into(),
            keyfile: keyfile.into(),
            cacertfile: ssl.cacertfile.as_ref().map(Into::into),
            verify_peer: ssl.verify == SslVerify::VerifyPeer,
            fail_if_no_peer_cert: ssl.fail_if_no_peer_cert,
            versions,
            ciphers: ssl.ciphers.clone(),
            handshake_timeout: ssl.handshake_timeout,
        };
        TlsServer::from_options(&o).map_err(|e| anyhow!("{key}.{e}"))
    };
    let ws = || {
        let d = WsOptions::default();
        match &lc.websocket {
            None => d,
            Some(w) => WsOptions {
                path: w.mqtt_path.clone(),
                subprotocols: w.supported_subprotocols.clone(),
                fail_if_no_subprotocol: w.fail_if_no_subprotocol,
                check_origins: w.check_origin_enable.then(|| w.check_origins.clone()),
                allow_origin_absence: w.allow_origin_absence,
                max_frame_size: w.max_frame_size.map(|n| n.min(usize::MAX as u64) as usize),
            },
        }
    };
    let transport = match kind {
        "ssl" => Transport::Tls(tls()?),
        "ws" => Transport::Ws(ws()),
        "wss" => Transport::Wss(tls()?, ws()),
        _ => Transport::Tcp,
    };
    Ok((
        TcpListenerConfig {
            name: format!("{kind}:{name}"),
            bind: lc.bind,
            max_connections: lc
                .max_connections
                .map(|n| n.min(usize::MAX as u64) as usize)
                .unwrap_or(usize::MAX),
        },
        ListenerOptions {
            transport,
            max_conn_rate: rate(lc.max_conn_rate),
            messages_rate: rate(lc.messages_rate),
            bytes_rate: rate(lc.bytes_rate),
            skip_authn: !lc.enable_authn,
            tcp: socket_options(&key, &lc.tcp_options),
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn tcp_options_reach_every_listener() {
        let text = r#"
            listeners.tcp.default.tcp_options {
              backlog = 64, nodelay = false, reuseaddr = false, recbuf = 16KB, sndbuf = 32KB
              keepalive = "240,30,5", send_timeout = 2s, send_timeout_close = false
              defer_accept = disabled
            }
            listeners.ws.default.tcp_options.backlog = 10
        "#;
        let config = linkmq_config::parse_str(text, "etc/emqx.conf", &[]).unwrap();
        let specs = listener_specs(&config).unwrap();
        let tcp = &specs[0].1.tcp;
        assert_eq!(specs[0].0.name, "tcp:default");
        assert_eq!(
            tcp,
            &SocketOptions {
                backlog: 64,
                reuseaddr: false,
                nodelay: false,
                recbuf: Some(16 * 1024),
                sndbuf: Some(32 * 1024),
                keepalive: Some(TcpKeepalive {
                    idle: 240,
                    interval: 30,
                    probes: 5
                }),
                send_timeout: Some(Duration::from_secs(2)),
                send_timeout_close: false,
                defer_accept: None,
            }
        );
        assert_eq!(specs[1].0.name, "ws:default");
        assert_eq!(
            specs[1].1.tcp,
            SocketOptions {
                backlog: 10,
                ..SocketOptions::default()
            },
            "the rest are EMQX's defaults, as before"
        );
    }
}
