//! MQTT over WebSocket (`listeners.ws`, path `/mqtt`, subprotocol `mqtt`) and over WebSocket over
//! TLS (`listeners.wss`): paho-mqtt (python, `transport="websockets"`) and our own client publish and
//! subscribe; the upgrade is checked (path, subprotocol, origin); packets may span frames.
//! python3 with paho-mqtt 2.x is required (`.ci/run` installs it).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use linkmq_client::{Client, ConnectOptions, Packet, Protocol, QoS, ReasonCode};
use linkmq_net::{ListenerOptions, TlsServer, Transport, WsOptions};
use linkmq_tests::pki::Pki;
use linkmq_tests::{BrokerProcess, TestBroker, expect_publish, free_port, listener, payload_text};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// A broker with `tcp:default` first, then `ws:default` and, with a PKI, `wss:default`.
async fn broker(pki: Option<&Pki>, ws: WsOptions) -> TestBroker {
    let mut listeners = vec![
        listener("tcp:default", ListenerOptions::default()),
        listener(
            "ws:default",
            ListenerOptions {
                transport: Transport::Ws(ws.clone()),
                ..Default::default()
            },
        ),
    ];
    if let Some(pki) = pki {
        let tls = TlsServer::from_options(&pki.server_options()).expect("TLS setup");
        listeners.push(listener(
            "wss:default",
            ListenerOptions {
                transport: Transport::Wss(tls, ws),
                ..Default::default()
            },
        ));
    }
    TestBroker::start_listeners(|_| {}, listeners).await
}

fn port_of(addr: &str) -> String {
    addr.rsplit(':').next().unwrap().to_string()
}

/// Runs tests/interop/paho_ws.py; stdout lines after asserting exit 0 and a final "DONE".
async fn paho_ws(
    port: &str,
    version: &str,
    transport: &str,
    cafile: Option<PathBuf>,
) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/paho_ws.py");
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg("-u").arg(script).args([port, version, transport]);
    if let Some(ca) = cafile {
        cmd.arg(ca);
    }
    let run = cmd.stdin(Stdio::null()).kill_on_drop(true).output();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .expect("paho_ws.py finishes")
        .expect("python3 runs (paho-mqtt 2.x needed: `python3 -m pip install paho-mqtt`)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "paho_ws {transport} v{version} failed:\n--- stdout\n{stdout}--- stderr\n{stderr}"
    );
    let mut lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(lines.pop().as_deref(), Some("DONE"), "{stdout}{stderr}");
    // paho hands a QoS 2 message to the application only once PUBREL is through, so its order
    // relative to the big QoS 1 message published after it is not defined: compare those two as a set.
    let q2 = lines.iter().position(|l| l.starts_with("ws/q2 "));
    let big = lines.iter().position(|l| l.starts_with("ws/big "));
    if let (Some(q2), Some(big)) = (q2, big)
        && big < q2
    {
        lines.swap(q2, big);
    }
    lines
}

fn expected_paho_lines() -> Vec<String> {
    [
        "suback [2]",
        "ws/q0 qos0 zero",
        "ws/q1 qos1 one",
        "ws/q2 qos2 two",
        "ws/big qos1 300000 bytes",
        "live ws/retained retain=0 kept",
        "late ws/retained retain=1 kept",
    ]
    .map(String::from)
    .to_vec()
}

/// A TCP subscriber sees what the WebSocket clients publish.
async fn tcp_watcher(b: &TestBroker) -> Client {
    let (c, _) = Client::connect(ConnectOptions::new(
        b.listener_addr("tcp:default"),
        "watcher",
    ))
    .await
    .unwrap();
    c.subscribe("ws/q1", QoS::AtLeastOnce).await.unwrap();
    c
}

#[tokio::test]
async fn paho_over_websocket_publishes_and_subscribes_v311_and_v5() {
    let b = broker(None, WsOptions::default()).await;
    let watcher = tcp_watcher(&b).await;
    let port = port_of(&b.listener_addr("ws:default"));
    for version in ["311", "5"] {
        assert_eq!(
            paho_ws(&port, version, "ws", None).await,
            expected_paho_lines(),
            "v{version}"
        );
        assert_eq!(payload_text(&expect_publish(&watcher).await), "one");
    }
    b.node.shutdown().await;
}

#[tokio::test]
async fn paho_over_secure_websocket_publishes_and_subscribes() {
    let pki = Pki::new();
    let b = broker(Some(&pki), WsOptions::default()).await;
    let watcher = tcp_watcher(&b).await;
    let port = port_of(&b.listener_addr("wss:default"));
    for version in ["311", "5"] {
        assert_eq!(
            paho_ws(&port, version, "wss", Some(pki.path("ca.pem"))).await,
            expected_paho_lines(),
            "v{version}"
        );
        assert_eq!(payload_text(&expect_publish(&watcher).await), "one");
    }
    b.node.shutdown().await;
}

#[tokio::test]
async fn linkmq_client_over_ws_and_wss_talks_to_tcp_clients() {
    let pki = Pki::new();
    let b = broker(Some(&pki), WsOptions::default()).await;
    let (ws, _) =
        Client::connect(ConnectOptions::new(b.listener_addr("ws:default"), "over-ws").ws("/mqtt"))
            .await
            .expect("ws client connects");
    let (wss, _) = Client::connect(
        ConnectOptions::new(b.listener_addr("wss:default"), "over-wss")
            .wss(pki.client_tls(), "/mqtt")
            .protocol(Protocol::V311),
    )
    .await
    .expect("wss client connects");
    let (tcp, _) = Client::connect(ConnectOptions::new(
        b.listener_addr("tcp:default"),
        "over-tcp",
    ))
    .await
    .unwrap();
    for c in [&ws, &wss, &tcp] {
        c.subscribe("mix/#", QoS::ExactlyOnce).await.unwrap();
    }
    let big = "y".repeat(200_000);
    ws.publish("mix/ws", "from ws", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    wss.publish("mix/wss", big.clone(), QoS::AtLeastOnce, false)
        .await
        .unwrap();
    tcp.publish("mix/tcp", "from tcp", QoS::AtMostOnce, false)
        .await
        .unwrap();
    for c in [&ws, &wss, &tcp] {
        let got: Vec<(String, usize)> = [
            expect_publish(c).await,
            expect_publish(c).await,
            expect_publish(c).await,
        ]
        .iter()
        .map(|p| (p.topic.clone(), p.payload.len()))
        .collect();
        assert_eq!(
            got,
            vec![
                ("mix/ws".to_string(), 7),
                ("mix/wss".to_string(), 200_000),
                ("mix/tcp".to_string(), 8)
            ]
        );
    }
    let info = b.node.broker.registry.get("over-wss").unwrap().info;
    assert_eq!(info.listener.as_ref(), "wss:default");
    assert_eq!(info.protocol, Protocol::V311);
    b.node.shutdown().await;
}

/// The upgrade request for `path` with these subprotocols (and origin).
async fn upgrade(
    addr: &str,
    path: &str,
    subprotocols: Option<&str>,
    origin: Option<&str>,
) -> Result<(WebSocketStream<TcpStream>, Option<String>), WsError> {
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    if let Some(p) = subprotocols {
        req.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(p).unwrap(),
        );
    }
    if let Some(o) = origin {
        req.headers_mut()
            .insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, resp) = tokio_tungstenite::client_async(req, tcp).await?;
    let chosen = resp
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .map(|v| v.to_str().unwrap().to_string());
    Ok((ws, chosen))
}

fn http_status(r: Result<(WebSocketStream<TcpStream>, Option<String>), WsError>) -> u16 {
    match r {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
    }
}

#[tokio::test]
async fn upgrade_checks_path_subprotocol_and_origin() {
    let b = broker(
        None,
        WsOptions {
            check_origins: Some(vec!["http://good.example".into()]),
            allow_origin_absence: true,
            ..WsOptions::default()
        },
    )
    .await;
    let addr = b.listener_addr("ws:default");
    // The client's first supported subprotocol is chosen and echoed.
    let (_, chosen) = upgrade(&addr, "/mqtt", Some("chat, mqtt"), None)
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("mqtt"));
    let (_, chosen) = upgrade(&addr, "/mqtt", Some("mqtt-v5"), Some("http://good.example"))
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("mqtt-v5"));
    assert_eq!(
        http_status(upgrade(&addr, "/other", Some("mqtt"), None).await),
        404
    );
    assert_eq!(http_status(upgrade(&addr, "/mqtt", None, None).await), 400);
    assert_eq!(
        http_status(upgrade(&addr, "/mqtt", Some("chat"), None).await),
        400
    );
    assert_eq!(
        http_status(upgrade(&addr, "/mqtt", Some("mqtt"), Some("http://evil.example")).await),
        403
    );
    b.node.shutdown().await;
}

#[tokio::test]
async fn mqtt_path_and_optional_subprotocol_are_configurable() {
    let b = broker(
        None,
        WsOptions {
            path: "/custom".into(),
            fail_if_no_subprotocol: false,
            ..WsOptions::default()
        },
    )
    .await;
    let addr = b.listener_addr("ws:default");
    assert_eq!(
        http_status(upgrade(&addr, "/mqtt", Some("mqtt"), None).await),
        404
    );
    let (_, chosen) = upgrade(&addr, "/custom", None, None).await.unwrap();
    assert_eq!(chosen, None);
    Client::connect(ConnectOptions::new(&addr, "custom").ws("/custom"))
        .await
        .expect("client on the configured path");
    b.node.shutdown().await;
}

fn encode(p: &Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    linkmq_client::codec::encode(p, Protocol::V5, &mut buf).unwrap();
    buf.to_vec()
}

/// The next MQTT packet from binary frames (payloads concatenated).
async fn next_packet(ws: &mut WebSocketStream<TcpStream>, buf: &mut BytesMut) -> Packet {
    loop {
        if let Some(p) = linkmq_client::codec::decode(buf, Protocol::V5, 1 << 20).unwrap() {
            return p;
        }
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => buf.extend_from_slice(&b),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn mqtt_6_0_0_2_packets_may_span_frames_and_share_them() {
    let b = broker(None, WsOptions::default()).await;
    let (mut ws, _) = upgrade(&b.listener_addr("ws:default"), "/mqtt", Some("mqtt"), None)
        .await
        .unwrap();
    let connect = encode(&Packet::Connect(Box::new(
        ConnectOptions::new("", "framed").connect_packet(),
    )));
    // CONNECT in three frames.
    let (a, rest) = connect.split_at(1);
    let (bb, c) = rest.split_at(rest.len() / 2);
    for part in [a, bb, c] {
        ws.send(Message::Binary(Bytes::copy_from_slice(part)))
            .await
            .unwrap();
    }
    let mut buf = BytesMut::new();
    match next_packet(&mut ws, &mut buf).await {
        Packet::ConnAck(ack) => assert_eq!(ack.reason, ReasonCode::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // SUBSCRIBE + PINGREQ in one frame.
    let mut two = encode(&Packet::Subscribe(linkmq_client::codec::Subscribe {
        pkid: 7,
        filters: vec![linkmq_client::SubscribeFilter {
            filter: "f/#".into(),
            options: Default::default(),
        }],
        properties: Default::default(),
    }));
    two.extend(encode(&Packet::PingReq));
    ws.send(Message::Binary(two.into())).await.unwrap();
    match next_packet(&mut ws, &mut buf).await {
        Packet::SubAck(s) => assert_eq!(s.pkid, 7),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    assert_eq!(next_packet(&mut ws, &mut buf).await, Packet::PingResp);
    b.node.shutdown().await;
}

#[tokio::test]
async fn mqtt_6_0_0_1_a_text_frame_closes_the_connection() {
    let b = broker(None, WsOptions::default()).await;
    let (mut ws, _) = upgrade(&b.listener_addr("ws:default"), "/mqtt", Some("mqtt"), None)
        .await
        .unwrap();
    let connect = encode(&Packet::Connect(Box::new(
        ConnectOptions::new("", "texter").connect_packet(),
    )));
    ws.send(Message::Binary(connect.into())).await.unwrap();
    let mut buf = BytesMut::new();
    assert!(matches!(
        next_packet(&mut ws, &mut buf).await,
        Packet::ConnAck(_)
    ));
    ws.send(Message::Text("hello".into())).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
    assert!(
        b.node
            .broker
            .registry
            .get("texter")
            .is_none_or(|e| !e.connected)
    );
    b.node.shutdown().await;
}

#[tokio::test]
async fn binary_serves_ws_and_wss_listeners_from_the_config_file() {
    let pki = Pki::new();
    let (ws_port, wss_port) = (free_port(), free_port());
    let p = BrokerProcess::start(&format!(
        "listeners.ws.default {{ bind = \"127.0.0.1:{ws_port}\" }}\nlisteners.wss.default {{\n  bind = \"127.0.0.1:{wss_port}\"\n  ssl_options {{ certfile = \"{}\", keyfile = \"{}\" }}\n}}\n",
        pki.path("server.pem").display(),
        pki.path("server.key").display(),
    ));
    let (ws, _) =
        Client::connect(ConnectOptions::new(format!("127.0.0.1:{ws_port}"), "bin-ws").ws("/mqtt"))
            .await
            .expect("ws listener from emqx.conf");
    ws.subscribe("b/#", QoS::AtLeastOnce).await.unwrap();
    let (wss, _) = Client::connect(
        ConnectOptions::new(format!("127.0.0.1:{wss_port}"), "bin-wss")
            .wss(pki.client_tls(), "/mqtt"),
    )
    .await
    .expect("wss listener from emqx.conf");
    wss.publish("b/1", "via wss", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload_text(&expect_publish(&ws).await), "via wss");
    drop(p);
}
