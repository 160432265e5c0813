//! Listener rate limits (`max_conn_rate`, `messages_rate`, `bytes_rate`), `flapping_detect`, and
//! what a TLS listener must name: typed values, EMQX defaults, file:line:col: key errors.

use std::time::Duration;

use linkmq_config::{FlappingDetectConfig, Rate};

mod common;
use common::{error, parse};

fn rate(amount: u64, secs: u64) -> Option<Rate> {
    Some(Rate {
        amount,
        period: Duration::from_secs(secs),
    })
}

#[test]
fn listener_rates_default_to_infinity() {
    let c = parse("");
    let tcp = &c.listeners.tcp["default"];
    assert_eq!(
        (tcp.max_conn_rate, tcp.messages_rate, tcp.bytes_rate),
        (None, None, None)
    );
}

#[test]
fn listener_rates_in_emqx_notation() {
    let c = parse(
        r#"
        listeners.tcp.default { bind = 1883, max_conn_rate = "1000/s", messages_rate = "100/10s", bytes_rate = "10KB/s" }
        listeners.ws.default { max_conn_rate = 50, messages_rate = infinity, bytes_rate = "1MB/m" }
        "#,
    );
    let tcp = &c.listeners.tcp["default"];
    assert_eq!(tcp.max_conn_rate, rate(1000, 1));
    assert_eq!(tcp.messages_rate, rate(100, 10));
    assert_eq!(tcp.bytes_rate, rate(10 * 1024, 1));
    let ws = &c.listeners.ws["default"];
    assert_eq!(ws.max_conn_rate, rate(50, 1));
    assert_eq!(ws.messages_rate, None);
    assert_eq!(ws.bytes_rate, rate(1024 * 1024, 60));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn bad_rate_names_file_line_column_and_key() {
    assert_eq!(
        error("listeners.tcp.default {\n  bind = 1883\n  messages_rate = \"lots/s\"\n}\n"),
        r#"etc/emqx.conf:3:3: listeners.tcp.default.messages_rate: expected a rate like "100/s", "10KB/s" or "1000/10s", found "lots/s""#
    );
    assert_eq!(
        error("listeners.tcp.default.max_conn_rate = \"0/s\"\n"),
        r#"etc/emqx.conf:1:1: listeners.tcp.default.max_conn_rate: a rate must be positive, found "0/s""#
    );
}

#[test]
fn flapping_detect_defaults_are_emqx_defaults() {
    let c = parse("");
    assert_eq!(
        c.flapping_detect,
        FlappingDetectConfig {
            enable: false,
            max_count: 15,
            window_time: Duration::from_secs(60),
            ban_time: Duration::from_secs(300),
        }
    );
}

#[test]
fn flapping_detect_section() {
    let c = parse(
        "flapping_detect {\n  enable = true\n  max_count = 3\n  window_time = 10s\n  ban_time = 2m\n}\n",
    );
    assert_eq!(
        c.flapping_detect,
        FlappingDetectConfig {
            enable: true,
            max_count: 3,
            window_time: Duration::from_secs(10),
            ban_time: Duration::from_secs(120),
        }
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn bad_flapping_values_name_file_line_column_and_key() {
    assert_eq!(
        error("flapping_detect {\n  enable = true\n  max_count = 0\n}\n"),
        "etc/emqx.conf:3:3: flapping_detect.max_count: expected an integer between 1 and 4294967295, found 0"
    );
    assert_eq!(
        error("flapping_detect.ban_time = forever\n"),
        r#"etc/emqx.conf:1:1: flapping_detect.ban_time: expected a duration like "15s", found "forever""#
    );
    let c = parse("flapping_detect { enable = true, max_cnt = 3 }\n");
    assert_eq!(
        c.warnings,
        vec!["etc/emqx.conf:1:34: flapping_detect.max_cnt: unknown key, ignored".to_string()]
    );
}

#[test]
fn an_enabled_tls_listener_must_name_certfile_and_keyfile() {
    assert_eq!(
        error("listeners.ssl.default {\n  bind = 8883\n  ssl_options { keyfile = \"k.pem\" }\n}\n"),
        "etc/emqx.conf:3:3: listeners.ssl.default.ssl_options.certfile: required for a TLS listener"
    );
    let c = parse("listeners.wss.default { enable = false }\n");
    assert!(!c.listeners.wss["default"].enable);
}
