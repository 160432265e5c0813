//! The REST API as `Node::start` runs it from `emqx.conf`: bound on
//! `dashboard.listeners.http.bind`, the default administrator from `dashboard.default_password`,
//! the node's access control and Cluster Linking plugged in; port 0 turns it off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use linkmq::Node;
use linkmq_tests::TestDir;

/// One HTTP/1.1 request with `Connection: close`: (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read answer");
    let status = out[9..12].parse().expect("status code");
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// The configuration, with `node.data_dir` in a directory that lives as long as the returned guard.
fn config(extra: &str) -> (linkmq_config::Config, TestDir) {
    let dir = TestDir::new("linkmq-api-node");
    let text = format!(
        "node.name = \"api@127.0.0.1\"\nnode.data_dir = \"{}\"\n\
         listeners.tcp.default.bind = \"127.0.0.1:0\"\n{extra}\n",
        dir.join("data").display()
    );
    let c = linkmq_config::parse_str(&text, "test.conf", &[]).expect("config");
    (c, dir)
}

#[tokio::test]
async fn node_start_serves_the_api_on_dashboard_listeners_http_bind() {
    let port = linkmq_tests::free_port();
    let (cfg, _dir) = config(&format!(
        "dashboard {{ listeners.http.bind = \"127.0.0.1:{port}\", default_password = \"n0de-pass\" }}"
    ));
    let node = Node::start(&cfg).await.expect("node starts");
    let addr = node.api.expect("API bound");
    assert_eq!(addr.port(), port);
    let (status, body) = tokio::task::spawn_blocking(move || {
        let (s, b) = http(
            addr,
            "POST",
            "/api/v5/login",
            None,
            r#"{"username":"admin","password":"n0de-pass"}"#,
        );
        assert_eq!(s, 200, "{b}");
        let token = b
            .split("\"token\":\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .expect("token")
            .to_string();
        let (s, nodes) = http(addr, "GET", "/api/v5/nodes", Some(&token), "");
        assert_eq!(s, 200);
        assert!(nodes.contains("\"node\":\"api@127.0.0.1\""), "{nodes}");
        // The Cluster Linking manager is plugged in: an empty list, not 503.
        let (s, links) = http(addr, "GET", "/api/v5/cluster/links", Some(&token), "");
        assert_eq!((s, links.as_str()), (200, "[]"));
        // The node's authorization rules are served.
        let (s, rules) = http(
            addr,
            "GET",
            "/api/v5/authorization/sources/file",
            Some(&token),
            "",
        );
        assert_eq!(s, 200, "{rules}");
        http(addr, "GET", "/api/v5/clients", None, "")
    })
    .await
    .unwrap();
    assert_eq!(status, 401);
    assert!(body.contains("AUTHORIZATION_HEADER_ERROR"));
    node.shutdown().await;
    assert!(
        TcpStream::connect(addr).is_err(),
        "the API stops with the node"
    );
}

#[tokio::test]
async fn port_0_turns_the_api_off() {
    let (cfg, _dir) = config("dashboard.listeners.http.bind = 0");
    let node = Node::start(&cfg).await.expect("node starts");
    assert_eq!(node.api, None);
    node.shutdown().await;
}
