//! Loading `emqx.conf`: defaults, the embedded file, includes, substitutions, the env overlay,
//! warnings and compiler-like error messages.

use std::net::SocketAddr;
use std::time::Duration;

use linkmq_config::{
    ClusterConfig, Config, ConfigError, DashboardConfig, DiscoveryStrategy, ListenerKind,
    ListenersConfig, LogConfig, LogLevel, MqttConfig, NodeConfig, SharedSubscriptionStrategy,
    SysTopicsConfig, load_with_env, parse_str,
};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(text: &str) -> Config {
    parse_str(text, "etc/emqx.conf", &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str, env_vars: &[(&str, &str)]) -> String {
    match parse_str(text, "etc/emqx.conf", &env(env_vars)) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn empty_file_gives_emqx_defaults() {
    let c = parse("");
    assert_eq!(c.node, NodeConfig::default());
    assert_eq!(c.node.name, "emqx@127.0.0.1");
    assert_eq!(c.node.data_dir.to_str(), Some("data"));
    assert_eq!(c.cluster, ClusterConfig::default());
    assert_eq!(c.cluster.name, "emqxcl");
    assert_eq!(c.cluster.discovery_strategy, DiscoveryStrategy::Manual);
    assert!(c.cluster.links.is_empty());
    assert_eq!(c.listeners, ListenersConfig::default());
    let tcp = &c.listeners.tcp["default"];
    assert_eq!(tcp.bind, addr("0.0.0.0:1883"));
    assert!(tcp.enable);
    assert_eq!(tcp.max_connections, None);
    assert_eq!(tcp.acceptors, 16);
    assert_eq!(c.mqtt, MqttConfig::default());
    let m = &c.mqtt;
    assert_eq!(m.max_packet_size, 1024 * 1024);
    assert_eq!(
        (
            m.max_clientid_len,
            m.max_topic_levels,
            m.max_qos_allowed,
            m.max_topic_alias
        ),
        (65535, 128, 2, 65535)
    );
    assert!(m.retain_available && m.wildcard_subscription && m.shared_subscription);
    assert!(
        !m.exclusive_subscription && !m.ignore_loop_deliver && !m.strict_mode && !m.upgrade_qos
    );
    assert_eq!(m.idle_timeout, Some(Duration::from_secs(15)));
    assert_eq!(m.max_inflight, 32);
    assert_eq!(m.retry_interval, Duration::from_secs(30));
    assert_eq!(m.max_awaiting_rel, Some(100));
    assert_eq!(m.await_rel_timeout, Duration::from_secs(300));
    assert_eq!(m.session_expiry_interval, Duration::from_secs(7200));
    assert_eq!(m.max_mqueue_len, Some(1000));
    assert!(m.mqueue_store_qos0);
    assert_eq!(m.mqueue_priorities, None);
    assert_eq!(m.keepalive_multiplier, 1.5);
    assert_eq!(m.keepalive_check_interval, Duration::from_secs(30));
    assert_eq!(m.server_keepalive, None);
    assert_eq!(
        m.shared_subscription_strategy,
        SharedSubscriptionStrategy::RoundRobin
    );
    assert_eq!(m.response_information, "");
    assert_eq!(c.log, LogConfig::default());
    assert!(c.log.console.enable);
    assert_eq!(c.log.console.level, LogLevel::Warning);
    assert_eq!(c.dashboard, DashboardConfig::default());
    assert_eq!(c.dashboard.http.bind, addr("0.0.0.0:18083"));
    assert_eq!(c.dashboard.default_username, "admin");
    assert_eq!(c.dashboard.default_password.expose(), "public");
    assert_eq!(c.dashboard.token_expired_time, Duration::from_secs(3600));
    assert_eq!(c.sys_topics, SysTopicsConfig::default());
    assert_eq!(c.sys_topics.sys_msg_interval, Some(Duration::from_secs(60)));
    assert_eq!(
        c.sys_topics.sys_heartbeat_interval,
        Some(Duration::from_secs(30))
    );
    assert!(c.warnings.is_empty());
    assert_eq!(c.source, None);
}

#[test]
fn embedded_default_file_loads() {
    let c = load_with_env(None, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.node.name, "linkmq@127.0.0.1");
    assert_eq!(c.cluster.name, "linkmq");
    assert!(c.cluster.links.is_empty());
    assert_eq!(c.listeners.tcp["default"].bind, addr("0.0.0.0:1883"));
    assert_eq!(c.dashboard.http.bind, addr("0.0.0.0:18083"));
    assert_eq!(c.log.console.level, LogLevel::Warning);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The file on disk is the same text.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/emqx.conf");
    let from_disk = load_with_env(Some(&path), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_disk.node, c.node);
    assert_eq!(from_disk.source.as_deref(), Some(path.as_path()));
}

#[test]
fn durations_sizes_and_special_words_in_a_file() {
    let c = parse(
        r#"
        mqtt {
          max_packet_size = 256KB
          idle_timeout = infinity
          retry_interval = "1h30m"
          await_rel_timeout = 100ms
          session_expiry_interval = 1d
          keepalive_check_interval = 5000
          max_mqueue_len = infinity
          max_awaiting_rel = 7
          server_keepalive = 60
          mqueue_priorities { "t/1" = 10, "t/2" = 255 }
          keepalive_multiplier = 2
          shared_subscription_strategy = hash_topic
        }
        sys_topics { sys_msg_interval = disabled, sys_heartbeat_interval = 5m }
        listeners.tcp.default { bind = ":1884", max_connections = 1000 }
        listeners.tcp.internal { bind = 11883 }
        log.file { level = info, rotation_size = 1gb }
        "#,
    );
    let m = &c.mqtt;
    assert_eq!(m.max_packet_size, 256 * 1024);
    assert_eq!(m.idle_timeout, None);
    assert_eq!(m.retry_interval, Duration::from_secs(5400));
    assert_eq!(m.await_rel_timeout, Duration::from_millis(100));
    assert_eq!(m.session_expiry_interval, Duration::from_secs(86_400));
    assert_eq!(m.keepalive_check_interval, Duration::from_secs(5));
    assert_eq!(m.max_mqueue_len, None);
    assert_eq!(m.max_awaiting_rel, Some(7));
    assert_eq!(m.server_keepalive, Some(60));
    assert_eq!(m.keepalive_multiplier, 2.0);
    assert_eq!(
        m.shared_subscription_strategy,
        SharedSubscriptionStrategy::HashTopic
    );
    let prio = m.mqueue_priorities.as_ref().unwrap();
    assert_eq!((prio["t/1"], prio["t/2"]), (10, 255));
    assert_eq!(c.sys_topics.sys_msg_interval, None);
    assert_eq!(
        c.sys_topics.sys_heartbeat_interval,
        Some(Duration::from_secs(300))
    );
    assert_eq!(c.listeners.tcp["default"].bind, addr("0.0.0.0:1884"));
    assert_eq!(c.listeners.tcp["default"].max_connections, Some(1000));
    assert_eq!(c.listeners.tcp["internal"].bind, addr("0.0.0.0:11883"));
    let file = &c.log.file["default"];
    assert_eq!(file.level, LogLevel::Info);
    assert_eq!(file.rotation_size, Some(1 << 30));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn ssl_ws_and_wss_listeners() {
    let c = parse(
        r#"
        listeners.ssl.default {
          bind = "0.0.0.0:8883"
          ssl_options { certfile = "etc/certs/cert.pem", keyfile = "etc/certs/key.pem", verify = verify_peer,
                        fail_if_no_peer_cert = true, versions = ["tlsv1.3"], ciphers = "TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256" }
        }
        listeners.ws.default { bind = "0.0.0.0:8083", websocket.mqtt_path = "/ws" }
        listeners.wss.default { enable = false }
        "#,
    );
    let ssl = &c.listeners.ssl["default"];
    let opts = ssl.ssl_options.as_ref().unwrap();
    assert_eq!(opts.certfile.as_deref(), Some("etc/certs/cert.pem"));
    assert_eq!(opts.verify, linkmq_config::SslVerify::VerifyPeer);
    assert!(opts.fail_if_no_peer_cert);
    assert_eq!(opts.versions, vec!["tlsv1.3"]);
    assert_eq!(opts.ciphers.len(), 2);
    assert!(ssl.websocket.is_none());
    assert_eq!(
        c.listeners.ws["default"]
            .websocket
            .as_ref()
            .unwrap()
            .mqtt_path,
        "/ws"
    );
    let wss = &c.listeners.wss["default"];
    assert!(!wss.enable);
    assert_eq!(wss.bind.port(), ListenerKind::Wss.default_port());
    assert_eq!(wss.websocket.as_ref().unwrap().mqtt_path, "/mqtt");
    assert!(wss.ssl_options.is_some());
    // The TCP default listener is still there because `listeners.tcp` was not written.
    assert!(c.listeners.tcp.contains_key("default"));
}

#[test]
fn env_overlay_sets_nested_keys_and_wins_over_the_file() {
    let text = "mqtt.max_packet_size = 1MB\nnode.name = \"a@h\"\n";
    let e = env(&[
        ("EMQX_MQTT__MAX_PACKET_SIZE", "2MB"),
        ("EMQX_NODE__NAME", "linkmq@10.0.0.1"),
        ("EMQX_LOG__CONSOLE__LEVEL", "debug"),
        ("EMQX_LISTENERS__TCP__DEFAULT__BIND", "0.0.0.0:1884"),
        ("EMQX_MQTT__RETAIN_AVAILABLE", "false"),
        ("EMQX_VERSION", "5.8.0"),
        ("HOME", "/root"),
    ]);
    let c = parse_str(text, "etc/emqx.conf", &e).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.mqtt.max_packet_size, 2 << 20);
    assert_eq!(c.node.name, "linkmq@10.0.0.1");
    assert_eq!(c.log.console.level, LogLevel::Debug);
    assert_eq!(c.listeners.tcp["default"].bind, addr("0.0.0.0:1884"));
    assert!(!c.mqtt.retain_available);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn env_overlay_sets_the_link_list() {
    let e = env(&[
        ("EMQX_CLUSTER__NAME", "us-east"),
        (
            "EMQX_CLUSTER__LINKS",
            r#"[{name = "eu-west", server = "eu.example.net:11883", topics = ["t/#"], pool_size = 2}]"#,
        ),
    ]);
    let c = load_with_env(None, &e).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.cluster.name, "us-east");
    assert_eq!(c.cluster.links.len(), 1);
    let l = &c.cluster.links[0];
    assert_eq!(
        (l.name.as_str(), l.server.host.as_str(), l.server.port),
        ("eu-west", "eu.example.net", 11883)
    );
    assert_eq!(l.topics, vec!["t/#"]);
    assert_eq!(l.pool_size, 2);
    assert_eq!(l.clientid_base(&c.cluster.name), "us-east");
}

#[test]
fn env_errors_name_the_variable() {
    let msg = error("", &[("EMQX_MQTT__MAX_PACKET_SIZE", "lots")]);
    assert_eq!(
        msg,
        r#"env EMQX_MQTT__MAX_PACKET_SIZE: mqtt.max_packet_size: expected a size like "1MB", found "lots""#
    );
    let msg = error(
        "",
        &[(
            "EMQX_CLUSTER__LINKS",
            r#"[{name = "-bad", server = "h", topics = []}]"#,
        )],
    );
    assert!(
        msg.starts_with("env EMQX_CLUSTER__LINKS: cluster.links[0].name: Invalid name format"),
        "{msg}"
    );
}

#[test]
fn include_and_substitution() {
    let tmp = tempfile::Builder::new()
        .prefix("linkmq-config-include-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("limits.conf"),
        "mqtt {\n  max_inflight = 5\n  max_qos_allowed = 1\n}\n",
    )
    .unwrap();
    let main = dir.join("emqx.conf");
    std::fs::write(
        &main,
        "include \"limits.conf\"\nmqtt.max_qos_allowed = 0\nnode.cookie = ${COOKIE}\nnode.data_dir = ${?LINKMQ_DATA}\n",
    )
    .unwrap();
    let c =
        load_with_env(Some(&main), &env(&[("COOKIE", "s3cret")])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.mqtt.max_inflight, 5);
    assert_eq!(
        c.mqtt.max_qos_allowed, 0,
        "later assignment wins over the include"
    );
    assert_eq!(c.node.cookie.expose(), "s3cret");
    assert_eq!(
        c.node.data_dir.to_str(),
        Some("data"),
        "unset ${{?VAR}} keeps the default"
    );

    // Errors in an included file name that file and line.
    std::fs::write(dir.join("limits.conf"), "mqtt {\n  max_inflight = 0\n}\n").unwrap();
    let err = load_with_env(Some(&main), &env(&[("COOKIE", "x")]))
        .unwrap_err()
        .to_string();
    let included = dir.join("limits.conf").display().to_string();
    assert_eq!(
        err,
        format!(
            "{included}:2:3: mqtt.max_inflight: expected an integer between 1 and 65535, found 0"
        )
    );

    // A required substitution that is unset points at its line.
    std::fs::write(dir.join("limits.conf"), "").unwrap();
    let err = load_with_env(Some(&main), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Resolve { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3:", main.display())),
        "{err}"
    );
}

#[test]
fn unknown_keys_warn_with_position_and_reserved_sections_do_not() {
    let c = parse(
        "mqtt {\n  max_inflight = 10\n  max_inflite = 11\n}\nfoo.bar = 1\nauthorization { no_match = deny, sources = [] }\nauthentication = []\n",
    );
    assert_eq!(c.mqtt.max_inflight, 10);
    assert_eq!(
        c.warnings,
        vec![
            "etc/emqx.conf:3:3: mqtt.max_inflite: unknown key, ignored".to_string(),
            "etc/emqx.conf:5:1: foo: unknown key, ignored".to_string(),
        ]
    );
    assert_eq!(
        c.section("authorization").and_then(|a| a.get("no_match")),
        Some(&serde_json::json!("deny"))
    );
    assert_eq!(c.raw["foo"]["bar"], serde_json::json!(1));
}

#[test]
fn bad_size_names_file_line_column_and_key() {
    let text = "node.name = \"a@b\"\n\nmqtt {\n  max_packet_size = lots\n}\n";
    assert_eq!(
        error(text, &[]),
        r#"etc/emqx.conf:4:3: mqtt.max_packet_size: expected a size like "1MB", found "lots""#
    );
}

#[test]
fn bad_enum_and_bad_bind_name_file_line_and_key() {
    assert_eq!(
        error("log.console.level = chatty\n", &[]),
        r#"etc/emqx.conf:1:1: log.console.level: expected one of all | debug | info | notice | warning | error | critical | alert | emergency, found "chatty""#
    );
    assert_eq!(
        error("listeners.tcp.default {\n  bind = \"localhost\"\n}\n", &[]),
        r#"etc/emqx.conf:2:3: listeners.tcp.default.bind: expected "ip:port" or a port number, found "localhost""#
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let msg = error(
        "mqtt {\n  max_qos_allowed = 3\n  retain_available = maybe\n}\n",
        &[],
    );
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(
        lines,
        vec![
            "etc/emqx.conf:2:3: mqtt.max_qos_allowed: expected an integer between 0 and 2, found 3",
            r#"etc/emqx.conf:3:3: mqtt.retain_available: expected true or false, found "maybe""#,
        ]
    );
}

#[test]
fn syntax_error_names_file_and_line() {
    let err = parse_str(
        "node {\n  name = \"a@b\"\n  cookie = [1, 2\n}\n",
        "etc/emqx.conf",
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }));
    let msg = err.to_string();
    assert!(msg.starts_with("etc/emqx.conf:"), "{msg}");
    assert!(msg.contains("syntax error"), "{msg}");
    let err = parse_str("node.name = emqx@127.0.0.1\n", "etc/emqx.conf", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "etc/emqx.conf:1:17: syntax error: unexpected character: '@' (quote values such as node names: name = \"emqx@127.0.0.1\")"
    );
    let err = parse_str("a = {\n  b = \n}\n", "x.conf", &[]).unwrap_err();
    assert_eq!(err.to_string(), "x.conf:3:1: syntax error: expected value");
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = load_with_env(Some(std::path::Path::new("/nonexistent/emqx.conf")), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(
        err.to_string().starts_with("/nonexistent/emqx.conf: "),
        "{err}"
    );
}
