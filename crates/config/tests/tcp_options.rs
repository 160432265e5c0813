//! `listeners.<type>.<name>.tcp_options`: EMQX defaults, socket buffers, keepalive, and the Erlang
//! port options that only warn.

use std::time::Duration;

use linkmq_config::TcpOptions;

mod common;
use common::{error, parse};

#[test]
fn tcp_options_default_to_emqx_defaults() {
    let c = parse("listeners.ssl.default.ssl_options { certfile = c.pem, keyfile = k.pem }\n");
    for tcp in [&c.listeners.tcp["default"], &c.listeners.ssl["default"]] {
        let o = &tcp.tcp_options;
        assert_eq!(o, &TcpOptions::default());
        assert_eq!(
            (o.backlog, o.send_timeout, o.send_timeout_close),
            (1024, Duration::from_secs(15), true)
        );
        assert!(o.nodelay && o.reuseaddr);
        assert_eq!((o.recbuf, o.sndbuf, o.keepalive), (None, None, None));
        assert_eq!(o.defer_accept, Some(Duration::from_secs(1)), "linkmq's own");
    }
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn every_tcp_option_is_read() {
    let c = parse(
        r#"
        listeners.tcp.default.tcp_options {
          backlog = 128
          send_timeout = 1s
          send_timeout_close = false
          nodelay = false
          reuseaddr = false
          recbuf = 64KB
          sndbuf = "2MB"
          keepalive = "240, 30,5"
          defer_accept = 5s
        }
        listeners.ws.default.tcp_options { recbuf = 4096, keepalive = none, defer_accept = disabled }
        listeners.tcp.other { bind = 1884, tcp_options.defer_accept = 0s }
        "#,
    );
    let o = &c.listeners.tcp["default"].tcp_options;
    assert_eq!(o.backlog, 128);
    assert_eq!(o.send_timeout, Duration::from_secs(1));
    assert!(!o.send_timeout_close && !o.nodelay && !o.reuseaddr);
    assert_eq!((o.recbuf, o.sndbuf), (Some(64 * 1024), Some(2 << 20)));
    let k = o.keepalive.expect("keepalive");
    assert_eq!((k.idle, k.interval, k.probes), (240, 30, 5));
    assert_eq!(o.defer_accept, Some(Duration::from_secs(5)));
    let ws = &c.listeners.ws["default"].tcp_options;
    assert_eq!(ws.defer_accept, None);
    assert_eq!(c.listeners.tcp["other"].tcp_options.defer_accept, None);
    assert_eq!(
        (ws.recbuf, ws.sndbuf, ws.keepalive),
        (Some(4096), None, None)
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn bad_tcp_options_name_file_line_column_and_key() {
    assert_eq!(
        error("listeners.tcp.default.tcp_options {\n  keepalive = \"240,30\"\n}\n"),
        r#"etc/emqx.conf:2:3: listeners.tcp.default.tcp_options.keepalive: expected "none" or "Idle,Interval,Probes" (seconds, seconds, count) like "240,30,5", found "240,30""#
    );
    assert_eq!(
        error("listeners.tcp.default.tcp_options.keepalive = \"240,0,5\"\n"),
        r#"etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.keepalive: Interval must be an integer from 1 to 32767, found "0" in "240,0,5""#
    );
    assert_eq!(
        error("listeners.tcp.default.tcp_options.keepalive = \"240,30,500\"\n"),
        r#"etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.keepalive: Probes must be an integer from 1 to 127, found "500" in "240,30,500""#
    );
    assert_eq!(
        error("listeners.tcp.default.tcp_options.keepalive = true\n"),
        r#"etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.keepalive: expected "none" or "Idle,Interval,Probes" (seconds, seconds, count) like "240,30,5", found true"#
    );
    assert_eq!(
        error("listeners.tcp.default {\n  tcp_options { recbuf = lots }\n}\n"),
        r#"etc/emqx.conf:2:17: listeners.tcp.default.tcp_options.recbuf: expected a size like "1MB", found "lots""#
    );
    assert!(
        error("listeners.tcp.default.tcp_options.sndbuf = 0\n").starts_with(
            "etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.sndbuf: expected a size between"
        )
    );
    assert!(
        error("listeners.tcp.default.tcp_options.send_timeout = soon\n").starts_with(
            "etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.send_timeout: expected a duration"
        )
    );
    assert_eq!(
        error("listeners.tcp.default.tcp_options.defer_accept = 1h\n"),
        r#"etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.defer_accept: at most 600s (Linux counts it in SYN-ACK retransmissions), found "1h""#
    );
    assert!(
        error("listeners.tcp.default.tcp_options.defer_accept = later\n").starts_with(
            "etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.defer_accept: expected a duration"
        )
    );
    assert!(
        error("listeners.tcp.default.tcp_options.backlog = 0\n")
            .starts_with("etc/emqx.conf:1:1: listeners.tcp.default.tcp_options.backlog:")
    );
}

#[test]
fn erlang_port_options_are_accepted_with_a_warning() {
    let c = parse(
        "listeners.tcp.default.tcp_options {\n  active_n = 100\n  buffer = 4KB\n  high_watermark = 1MB\n}\n",
    );
    assert_eq!(
        c.listeners.tcp["default"].tcp_options,
        TcpOptions::default()
    );
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    for (w, key) in c
        .warnings
        .iter()
        .zip(["active_n", "buffer", "high_watermark"])
    {
        assert!(
            w.contains(&format!("listeners.tcp.default.tcp_options.{key}: "))
                && w.contains("no effect in linkmq"),
            "{w}"
        );
    }
}
