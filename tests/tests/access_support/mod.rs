//! Shared by `authn.rs` and `authz.rs`: an in-process node started from HOCON text the way the
//! binary starts it (`Node::start`), in its own directory (`etc/`, `data/`), plus raw-socket helpers
//! to see exact CONNACK / SUBACK / PUBACK codes on the wire.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use linkmq::Node;
use linkmq_client::{Client, ClientError, ConnectOptions, RawConnection};
use linkmq_codec::{ConnAck, Connect, Packet, Properties, Protocol, QoS, ReasonCode};
use linkmq_tests::TestDir;

/// A node started from a configuration file in a temporary directory, removed when the
/// `ConfNode` is dropped (after the node).
pub struct ConfNode {
    pub node: Node,
    pub dir: TestDir,
}

/// A fresh temporary directory with `etc/`, removed when the returned guard is dropped.
pub fn temp_dir() -> TestDir {
    let dir = TestDir::new("linkmq-access");
    std::fs::create_dir_all(dir.join("etc")).expect("etc dir");
    dir
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("parent dir");
    }
    std::fs::write(&p, text).expect("write file");
    p
}

/// The configuration text: a loopback listener on an ephemeral port, `$SYS` quiet, no REST API,
/// data in `dir`.
pub fn conf_text(dir: &Path, extra: &str) -> String {
    format!(
        "node.data_dir = \"{}\"\nlisteners.tcp.default.bind = \"127.0.0.1:0\"\n\
         dashboard.listeners.http.bind = 0\n\
         sys_topics {{ sys_msg_interval = disabled, sys_heartbeat_interval = disabled }}\n{extra}\n",
        dir.join("data").display()
    )
}

/// Loads `dir/etc/emqx.conf` written from `extra` and starts the node like the binary does.
pub async fn try_start_in(dir: &Path, extra: &str) -> anyhow::Result<Node> {
    linkmq_tests::init_tracing();
    let conf = write(dir, "etc/emqx.conf", &conf_text(dir, extra));
    let config = linkmq_config::load_with_env(Some(&conf), &[])?;
    Node::start(&config).await
}

impl ConfNode {
    /// Starts a node in a new directory; `files` are written there first (e.g. `etc/acl.conf`).
    pub async fn start(extra: &str, files: &[(&str, &str)]) -> ConfNode {
        let dir = temp_dir();
        for (name, text) in files {
            write(&dir, name, text);
        }
        ConfNode::start_in(dir, extra).await
    }

    /// Starts (or restarts) a node in `dir`.
    pub async fn start_in(dir: TestDir, extra: &str) -> ConfNode {
        let node = try_start_in(&dir, extra).await.expect("node starts");
        ConfNode { node, dir }
    }

    /// "127.0.0.1:port" of the TCP listener.
    pub fn addr(&self) -> String {
        self.node.mqtt_addr().to_string()
    }

    /// v5 options for this node.
    pub fn opts(&self, client_id: &str) -> ConnectOptions {
        ConnectOptions::new(self.addr(), client_id)
    }

    /// Connects a v5 client (must succeed).
    pub async fn client(&self, client_id: &str) -> Client {
        Client::connect(self.opts(client_id))
            .await
            .unwrap_or_else(|e| panic!("{client_id} connects: {e}"))
            .0
    }

    /// Stops the node and hands back its directory, still there for a restart in it.
    pub async fn stop(self) -> TestDir {
        self.node.shutdown().await;
        self.dir
    }
}

/// The CONNACK reason a CONNECT with these options gets (0x00 when accepted).
pub async fn connack(opts: ConnectOptions) -> ReasonCode {
    match Client::connect(opts).await {
        Ok((c, ack)) => {
            c.abort();
            ack.reason
        }
        Err(ClientError::Refused(ack)) => ack.reason,
        Err(e) => panic!("connect failed without CONNACK: {e}"),
    }
}

/// A v3.1.1 CONNECT on a raw socket; returns the CONNACK's return code byte as sent.
pub async fn v3_return_code(
    addr: &str,
    client_id: &str,
    user: Option<&str>,
    pass: Option<&str>,
) -> u8 {
    let mut raw = RawConnection::connect(addr).await.expect("tcp connect");
    let connect = Connect {
        protocol: Protocol::V311,
        clean_start: true,
        keep_alive: 30,
        client_id: client_id.into(),
        will: None,
        username: user.map(str::to_string),
        password: pass.map(|p| bytes::Bytes::copy_from_slice(p.as_bytes())),
        properties: Properties::default(),
    };
    raw.send(&Packet::Connect(Box::new(connect)), Protocol::V311)
        .await
        .expect("send CONNECT");
    let mut buf = [0u8; 4];
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(
        Duration::from_secs(5),
        raw.stream_mut().read_exact(&mut buf),
    )
    .await
    .expect("CONNACK in time")
    .expect("read CONNACK");
    assert_eq!(&buf[..2], &[0x20, 0x02], "a v3.1.1 CONNACK");
    buf[3]
}

/// Options with username and password.
pub fn creds(opts: ConnectOptions, user: &str, pass: &str) -> ConnectOptions {
    opts.credentials(
        user.to_string(),
        bytes::Bytes::copy_from_slice(pass.as_bytes()),
    )
}

/// v3.1.1 options.
pub fn v3(opts: ConnectOptions) -> ConnectOptions {
    opts.protocol(Protocol::V311)
}

/// The reason codes of a SUBACK for `filters` (QoS 1 each).
pub async fn suback(c: &Client, filters: &[&str]) -> Vec<ReasonCode> {
    let f: Vec<(String, QoS)> = filters
        .iter()
        .map(|f| (f.to_string(), QoS::AtLeastOnce))
        .collect();
    let subs: Vec<linkmq_codec::SubscribeFilter> = f
        .into_iter()
        .map(|(filter, qos)| linkmq_codec::SubscribeFilter {
            filter,
            options: linkmq_codec::SubOptions {
                qos,
                ..Default::default()
            },
        })
        .collect();
    c.subscribe_with(subs, Properties::default())
        .await
        .expect("SUBACK")
        .reasons
}

/// Unused-import guard for the CONNACK type in helpers above.
pub fn _connack_type(_: ConnAck) {}
