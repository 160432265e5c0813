//! Limits against abuse, EMQX names: a listener's `max_conn_rate` (excess closed at accept and
//! counted), a client's `messages_rate` / `bytes_rate` (reading is throttled, nothing is dropped,
//! not even by a kick),
//! the CONNECT timeout (`mqtt.idle_timeout`) on TCP, TLS, WS and WSS, the TLS handshake timeout, and
//! `flapping_detect` banning a client id (CONNACK 0x8A in v5, return code 5 in v3).

use std::time::{Duration, Instant};

use linkmq::Node;
use linkmq_client::{
    Client, ClientError, ConnectOptions, Event, LastWill, Properties, Protocol, Publish, QoS,
    RawConnection, ReasonCode,
};
use linkmq_core::banned::FlappingDetect;
use linkmq_core::metrics::Counter;
use linkmq_core::registry::Control;
use linkmq_net::{ListenerOptions, Rate, TlsServer, Transport, WsOptions};
use linkmq_tests::pki::Pki;
use linkmq_tests::{TestBroker, TestDir, WAIT, listener};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn opts(b: &TestBroker, client_id: &str) -> ConnectOptions {
    ConnectOptions::new(b.addr(), client_id).connect_timeout(Duration::from_secs(5))
}

/// A broker whose only listener is TCP with these options.
async fn tcp_broker(
    f: impl FnOnce(&mut linkmq_core::MqttSettings),
    o: ListenerOptions,
) -> TestBroker {
    TestBroker::start_listeners(f, vec![listener("tcp:default", o)]).await
}

/// Receives `n` publishes; returns their payloads.
async fn collect(c: &Client, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match c.recv_timeout(WAIT).await {
            Some(Event::Publish(p)) => out.push(String::from_utf8_lossy(&p.payload).into_owned()),
            other => panic!("expected publish #{}, got {other:?}", out.len()),
        }
    }
    out
}

#[tokio::test]
async fn max_conn_rate_closes_connections_beyond_the_rate_at_accept_and_counts_them() {
    let b = tcp_broker(
        |_| {},
        ListenerOptions {
            max_conn_rate: Some(Rate {
                amount: 3,
                period: Duration::from_secs(30),
            }),
            ..Default::default()
        },
    )
    .await;
    let mut kept = Vec::new();
    for i in 0..3 {
        let (c, _) = Client::connect(opts(&b, &format!("ok-{i}")))
            .await
            .expect("within the rate");
        kept.push(c);
    }
    for _ in 0..2 {
        let mut raw = RawConnection::connect(&b.addr()).await.unwrap();
        assert!(
            raw.closed_within(WAIT).await,
            "a 4th connection within the period is closed at accept"
        );
    }
    assert_eq!(b.node.broker.metrics.get(Counter::ConnectionsRejected), 2);
    assert_eq!(b.node.broker.registry.len(), 3);
    b.node.shutdown().await;
}

#[tokio::test]
async fn messages_rate_throttles_a_publisher_without_dropping() {
    // 20 per second: the first 20 at once, the next 20 over about a second.
    let b = tcp_broker(
        |_| {},
        ListenerOptions {
            messages_rate: Some(Rate::per_second(20)),
            ..Default::default()
        },
    )
    .await;
    let (sub, _) = Client::connect(opts(&b, "sub")).await.unwrap();
    sub.subscribe("m/#", QoS::AtMostOnce).await.unwrap();
    let (publ, _) = Client::connect(opts(&b, "pub")).await.unwrap();
    let start = Instant::now();
    for i in 0..40 {
        publ.publish_nowait(Publish {
            topic: "m/t".into(),
            payload: i.to_string().into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let first = collect(&sub, 20).await;
    let burst = start.elapsed();
    let rest = collect(&sub, 20).await;
    let total = start.elapsed();
    let want: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!([first, rest].concat(), want, "all delivered, in order");
    assert!(
        burst < Duration::from_millis(900),
        "first period's worth at once: {burst:?}"
    );
    assert!(
        total >= Duration::from_millis(900),
        "20 more at 20/s take about a second: {total:?}"
    );
    assert!(total < Duration::from_secs(4), "{total:?}");
    b.node.shutdown().await;
}

#[tokio::test]
async fn bytes_rate_throttles_a_publisher_without_dropping() {
    // 10 KB per second; 40 KB of publishes (plus headers) need about 3 s beyond the first 10 KB.
    let b = tcp_broker(
        |_| {},
        ListenerOptions {
            bytes_rate: Some(Rate::per_second(10 * 1024)),
            ..Default::default()
        },
    )
    .await;
    let (sub, _) = Client::connect(opts(&b, "sub")).await.unwrap();
    sub.subscribe("b/#", QoS::AtMostOnce).await.unwrap();
    let (publ, _) = Client::connect(opts(&b, "pub")).await.unwrap();
    let start = Instant::now();
    let chunk = "z".repeat(4 * 1024);
    for _ in 0..10 {
        publ.publish_nowait(Publish {
            topic: "b/t".into(),
            payload: chunk.clone().into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let got = collect(&sub, 10).await;
    let total = start.elapsed();
    assert!(got.iter().all(|p| p.len() == 4 * 1024));
    // Unthrottled this takes milliseconds; at 10 KB/s the last read waits until about 30 KB of
    // debt less one read (a few KB) is paid off: about 2.5 to 3 s.
    assert!(total >= Duration::from_millis(2000), "throttled: {total:?}");
    assert!(total < Duration::from_secs(8), "{total:?}");
    b.node.shutdown().await;
}

#[tokio::test]
async fn rate_limits_apply_per_client_not_per_listener() {
    let b = tcp_broker(
        |_| {},
        ListenerOptions {
            messages_rate: Some(Rate {
                amount: 5,
                period: Duration::from_secs(30),
            }),
            ..Default::default()
        },
    )
    .await;
    let (sub, _) = Client::connect(opts(&b, "sub")).await.unwrap();
    sub.subscribe("p/#", QoS::AtMostOnce).await.unwrap();
    // Two publishers, 5 each: both within their own budget, all 10 arrive at once.
    let start = Instant::now();
    for name in ["a", "b"] {
        let (c, _) = Client::connect(opts(&b, name)).await.unwrap();
        for i in 0..5 {
            c.publish(
                &format!("p/{name}"),
                format!("{name}{i}"),
                QoS::AtMostOnce,
                false,
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(collect(&sub, 10).await.len(), 10);
    assert!(start.elapsed() < Duration::from_secs(2));
    b.node.shutdown().await;
}

/// An administrator's kick (what `DELETE /api/v5/clients/{clientid}` sends the connection) handles
/// first what the client sent before it: here PUBLISHes held back by `messages_rate` and a
/// DISCONNECT 0x00, all unread when the kick comes. The PUBLISHes are delivered and the will is not
/// published ([MQTT-3.1.2-10]); before, the kick was taken first: both PUBLISHes lost, the will out.
#[tokio::test]
async fn a_kick_first_handles_what_the_client_sent_before_it_even_when_held_back() {
    // Two PUBLISHes per 30 s: the 3rd, the 4th and the DISCONNECT wait unread for 15 s.
    let b = tcp_broker(
        |_| {},
        ListenerOptions {
            messages_rate: Some(Rate {
                amount: 2,
                period: Duration::from_secs(30),
            }),
            ..Default::default()
        },
    )
    .await;
    let (watcher, _) = Client::connect(opts(&b, "watcher")).await.unwrap();
    watcher.subscribe("k/#", QoS::AtMostOnce).await.unwrap();
    let mut o = opts(&b, "kicked");
    o.will = Some(LastWill {
        topic: "k/will".into(),
        payload: "will".into(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    let (c, _) = Client::connect(o).await.unwrap();
    for i in 0..4 {
        c.publish_nowait(Publish {
            topic: "k/p".into(),
            payload: i.to_string().into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(collect(&watcher, 2).await, ["0", "1"]);
    c.disconnect().await.unwrap();
    let entry = b
        .node
        .broker
        .registry
        .get("kicked")
        .expect("still connected: its DISCONNECT is unread");
    entry
        .ctl
        .try_send(Control::Kick {
            reason: ReasonCode::AdministrativeAction,
        })
        .expect("the kick is taken");
    assert_eq!(
        collect(&watcher, 2).await,
        ["2", "3"],
        "sent before the kick"
    );
    match watcher.recv_timeout(Duration::from_millis(500)).await {
        None => {}
        Some(e) => panic!("the DISCONNECT 0x00 discarded the will, got {e:?}"),
    }
    let until = Instant::now() + WAIT;
    while b.node.broker.registry.get("kicked").is_some() {
        assert!(Instant::now() < until, "the kicked client is gone");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.node.shutdown().await;
}

/// True if the server closes the connection within `within`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(s: &mut S, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

const IDLE: Duration = Duration::from_millis(400);

fn short_idle(s: &mut linkmq_core::MqttSettings) {
    s.idle_timeout = IDLE;
}

/// Closed after the CONNECT timeout, not before.
async fn assert_closed_after_idle<S: tokio::io::AsyncRead + Unpin>(s: &mut S, since: Instant) {
    assert!(
        closed_within(s, Duration::from_secs(3)).await,
        "never closed"
    );
    let after = since.elapsed();
    assert!(
        after >= IDLE - Duration::from_millis(50),
        "closed too early: {after:?}"
    );
}

#[tokio::test]
async fn connect_timeout_closes_a_tcp_socket_that_never_sends_connect() {
    let b = tcp_broker(short_idle, ListenerOptions::default()).await;
    let start = Instant::now();
    let mut s = TcpStream::connect(b.addr()).await.unwrap();
    assert_closed_after_idle(&mut s, start).await;
    b.node.shutdown().await;
}

async fn tls_broker(pki: &Pki, handshake_timeout: Duration) -> TestBroker {
    let tls = TlsServer::from_options(&linkmq_net::TlsServerOptions {
        handshake_timeout,
        ..pki.server_options()
    })
    .unwrap();
    TestBroker::start_listeners(
        short_idle,
        vec![
            listener(
                "ssl:default",
                ListenerOptions {
                    transport: Transport::Tls(tls.clone()),
                    ..Default::default()
                },
            ),
            listener(
                "ws:default",
                ListenerOptions {
                    transport: Transport::Ws(WsOptions::default()),
                    ..Default::default()
                },
            ),
            listener(
                "wss:default",
                ListenerOptions {
                    transport: Transport::Wss(tls, WsOptions::default()),
                    ..Default::default()
                },
            ),
        ],
    )
    .await
}

async fn tls_connect(pki: &Pki, addr: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let config = pki.client_tls().client_config().unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

#[tokio::test]
async fn connect_timeout_applies_after_the_tls_handshake() {
    let pki = Pki::new();
    let b = tls_broker(&pki, Duration::from_secs(10)).await;
    let start = Instant::now();
    let mut s = tls_connect(&pki, &b.listener_addr("ssl:default")).await;
    assert_closed_after_idle(&mut s, start).await;
    b.node.shutdown().await;
}

#[tokio::test]
async fn tls_handshake_timeout_closes_a_socket_that_never_says_hello() {
    let pki = Pki::new();
    let b = tls_broker(&pki, Duration::from_millis(300)).await;
    let start = Instant::now();
    let mut s = TcpStream::connect(b.listener_addr("ssl:default"))
        .await
        .unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(3)).await);
    assert!(start.elapsed() >= Duration::from_millis(250));
    b.node.shutdown().await;
}

async fn ws_upgraded<S>(s: S, scheme: &str, addr: &str) -> tokio_tungstenite::WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
    let mut req = format!("{scheme}://{addr}/mqtt")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("mqtt"),
    );
    tokio_tungstenite::client_async(req, s).await.unwrap().0
}

/// True if the WebSocket is closed by the server within `within`.
async fn ws_closed_within<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    within: Duration,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                None
                | Some(Err(_))
                | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => {
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn connect_timeout_applies_to_websocket_before_and_after_the_upgrade() {
    let pki = Pki::new();
    let b = tls_broker(&pki, Duration::from_secs(10)).await;
    let ws_addr = b.listener_addr("ws:default");
    // No HTTP request at all.
    let start = Instant::now();
    let mut s = TcpStream::connect(&ws_addr).await.unwrap();
    assert_closed_after_idle(&mut s, start).await;
    // Upgraded, but no CONNECT.
    let start = Instant::now();
    let mut ws = ws_upgraded(TcpStream::connect(&ws_addr).await.unwrap(), "ws", &ws_addr).await;
    assert!(ws_closed_within(&mut ws, Duration::from_secs(3)).await);
    assert!(start.elapsed() >= IDLE - Duration::from_millis(50));
    // WSS: TLS and upgrade done, no CONNECT.
    let wss_addr = b.listener_addr("wss:default");
    let start = Instant::now();
    let mut wss = ws_upgraded(tls_connect(&pki, &wss_addr).await, "wss", &wss_addr).await;
    assert!(ws_closed_within(&mut wss, Duration::from_secs(3)).await);
    assert!(start.elapsed() >= IDLE - Duration::from_millis(50));
    b.node.shutdown().await;
}

fn flapping(
    max_count: u32,
    window: Duration,
    ban: Duration,
) -> impl FnOnce(&mut linkmq_core::MqttSettings) {
    move |s| {
        s.flapping_detect = FlappingDetect {
            enable: true,
            max_count,
            window_time: window,
            ban_time: ban,
        }
    }
}

fn refused(r: Result<(Client, linkmq_client::ConnAck), ClientError>) -> ReasonCode {
    match r {
        Err(ClientError::Refused(ack)) => ack.reason,
        Err(e) => panic!("expected a refusing CONNACK, got {e}"),
        Ok(_) => panic!("expected a refusing CONNACK, got a connection"),
    }
}

/// Connects and disconnects `client_id` `n` times.
async fn flap(b: &TestBroker, client_id: &str, n: usize) {
    for _ in 0..n {
        let (c, _) = Client::connect(opts(b, client_id)).await.expect("connects");
        c.disconnect().await.unwrap();
        // The server counts the disconnect when it has seen the socket go.
        let deadline = Instant::now() + WAIT;
        while b.node.broker.registry.get(client_id).is_some() {
            assert!(Instant::now() < deadline, "{client_id} still registered");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn flapping_client_id_is_banned_for_ban_time_with_0x8a_and_v3_return_code_5() {
    let b = tcp_broker(
        flapping(3, Duration::from_secs(30), Duration::from_millis(1200)),
        ListenerOptions::default(),
    )
    .await;
    flap(&b, "flappy", 3).await;
    let banned_at = Instant::now();
    assert_eq!(
        refused(Client::connect(opts(&b, "flappy")).await),
        ReasonCode::Banned
    );
    // v3.1.1: return code 5, which our client reads back as 0x87 Not authorized.
    let v3 = refused(Client::connect(opts(&b, "flappy").protocol(Protocol::V311)).await);
    assert_eq!(v3, ReasonCode::NotAuthorized);
    // Other client ids are not affected.
    Client::connect(opts(&b, "steady"))
        .await
        .expect("not banned");
    let bans = b.node.broker.banned.list();
    assert_eq!(bans.len(), 1);
    assert_eq!(
        (bans[0].client_id.as_str(), bans[0].by.as_str()),
        ("flappy", "flapping detector")
    );
    // After ban_time the client id may connect again.
    tokio::time::sleep(Duration::from_millis(1300).saturating_sub(banned_at.elapsed())).await;
    Client::connect(opts(&b, "flappy"))
        .await
        .expect("ban expired");
    b.node.shutdown().await;
}

#[tokio::test]
async fn disconnects_spread_over_more_than_window_time_do_not_ban() {
    let b = tcp_broker(
        flapping(2, Duration::from_millis(300), Duration::from_secs(60)),
        ListenerOptions::default(),
    )
    .await;
    flap(&b, "slow", 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    flap(&b, "slow", 1).await;
    Client::connect(opts(&b, "slow"))
        .await
        .expect("two disconnects, but not within 300 ms");
    assert!(b.node.broker.banned.list().is_empty());
    b.node.shutdown().await;
}

#[tokio::test]
async fn flapping_detection_is_off_by_default() {
    let b = tcp_broker(|_| {}, ListenerOptions::default()).await;
    flap(&b, "free", 20).await;
    Client::connect(opts(&b, "free"))
        .await
        .expect("never banned");
    b.node.shutdown().await;
}

#[tokio::test]
async fn limits_from_emqx_conf_reach_the_listener_and_the_broker() {
    let dir = TestDir::new("linkmq-abuse");
    let cfg = linkmq_config::parse_str(
        &format!(
            "node.data_dir = \"{}\"\nmqtt.idle_timeout = 400ms\nlisteners.tcp.default {{\n  bind = \"127.0.0.1:0\"\n  max_conn_rate = \"1/30s\"\n  messages_rate = \"100/s\"\n}}\nflapping_detect {{ enable = true, max_count = 4, window_time = 10s, ban_time = 2m }}\n",
            dir.display()
        ),
        "emqx.conf",
        &[],
    )
    .unwrap();
    let node = Node::start(&cfg).await.expect("node starts");
    let s = &node.broker.settings;
    assert_eq!(
        s.flapping_detect,
        FlappingDetect {
            enable: true,
            max_count: 4,
            window_time: Duration::from_secs(10),
            ban_time: Duration::from_secs(120),
        }
    );
    assert_eq!(s.idle_timeout, IDLE);
    let addr = node.mqtt_addr().to_string();
    let (c, _) = Client::connect(ConnectOptions::new(&addr, "first"))
        .await
        .expect("the one connection of the period");
    let mut raw = RawConnection::connect(&addr).await.unwrap();
    assert!(raw.closed_within(WAIT).await, "max_conn_rate 1/30s");
    assert_eq!(node.broker.metrics.get(Counter::ConnectionsRejected), 1);
    drop(c);
    node.shutdown().await;
}
