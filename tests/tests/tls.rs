//! TLS and mutual TLS listeners (`listeners.ssl.<name>`), with certificates made by the test:
//! TLS 1.2 and 1.3, `versions` and `ciphers` honoured, `verify_peer` + `fail_if_no_peer_cert`,
//! client certificates from another CA refused, the certificate's CN/DN in `ClientInfo.peer_cert`,
//! and start-up failures that name the key and the file.

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use linkmq::Node;
use linkmq_client::{Client, ClientError, ConnectOptions, Packet, QoS, TlsOptions, TlsVersion};
use linkmq_core::registry::PeerCert;
use linkmq_net::TlsServerOptions;
use linkmq_tests::pki::{Ca, Pki};
use linkmq_tests::{BrokerProcess, TestBroker, expect_publish, linkmq_bin, payload_text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn opts(b: &TestBroker, client_id: &str, tls: TlsOptions) -> ConnectOptions {
    ConnectOptions::new(b.addr(), client_id)
        .tls(tls)
        .connect_timeout(Duration::from_secs(5))
}

/// A TLS connection made by the test itself, to look at what was negotiated.
async fn raw_tls(
    b: &TestBroker,
    tls: &TlsOptions,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let config = tls.client_config().expect("client config");
    let tcp = TcpStream::connect(b.addr()).await?;
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

/// CONNECT over an established stream; the CONNACK's reason, or the error.
async fn raw_mqtt_connect<S>(
    s: &mut S,
    client_id: &str,
) -> Result<linkmq_client::ReasonCode, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = BytesMut::new();
    let connect = ConnectOptions::new("", client_id).connect_packet();
    linkmq_client::codec::encode(
        &Packet::Connect(Box::new(connect)),
        linkmq_client::Protocol::V5,
        &mut buf,
    )
    .map_err(|e| e.to_string())?;
    s.write_all(&buf).await.map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())?;
    buf.clear();
    loop {
        match linkmq_client::codec::decode(&mut buf, linkmq_client::Protocol::V5, 1 << 20) {
            Ok(Some(Packet::ConnAck(a))) => return Ok(a.reason),
            Ok(Some(p)) => return Err(format!("unexpected {p:?}")),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read_buf(&mut buf))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
    }
}

/// A refused client: the handshake fails or the server closes before CONNACK; never a CONNACK.
fn assert_refused_by_tls(r: Result<(Client, linkmq_client::ConnAck), ClientError>) {
    match r {
        Err(ClientError::Io(_) | ClientError::ConnectionClosed) => {}
        Err(other) => panic!("expected a TLS refusal (i/o error or close), got {other:?}"),
        Ok((_, ack)) => panic!("expected a TLS refusal, got CONNACK {ack:?}"),
    }
}

#[tokio::test]
async fn tls_1_3_and_tls_1_2_clients_connect_and_exchange_messages() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.server_options()).await;
    let (sub, _) = Client::connect(opts(
        &b,
        "sub13",
        pki.client_tls().versions(&[TlsVersion::V1_3]),
    ))
    .await
    .expect("TLS 1.3 client connects");
    sub.subscribe("tls/#", QoS::AtLeastOnce).await.unwrap();
    let (publ, _) = Client::connect(opts(
        &b,
        "pub12",
        pki.client_tls().versions(&[TlsVersion::V1_2]),
    ))
    .await
    .expect("TLS 1.2 client connects");
    publ.publish("tls/x", "over 1.2", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let p = expect_publish(&sub).await;
    assert_eq!(
        (p.topic.as_str(), payload_text(&p).as_str()),
        ("tls/x", "over 1.2")
    );
    assert_eq!(
        b.node
            .broker
            .registry
            .get("sub13")
            .unwrap()
            .info
            .listener
            .as_ref(),
        "ssl:default"
    );
    // Without a client certificate there is no peer identity.
    assert_eq!(
        b.node.broker.registry.get("pub12").unwrap().info.peer_cert,
        None
    );

    // The versions really negotiated.
    for (v, want) in [
        (TlsVersion::V1_3, rustls::ProtocolVersion::TLSv1_3),
        (TlsVersion::V1_2, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let mut s = raw_tls(&b, &pki.client_tls().versions(&[v])).await.unwrap();
        assert_eq!(s.get_ref().1.protocol_version(), Some(want));
        assert_eq!(
            raw_mqtt_connect(&mut s, &format!("raw-{v:?}")).await,
            Ok(linkmq_client::ReasonCode::Success)
        );
    }
    b.node.shutdown().await;
}

#[tokio::test]
async fn server_versions_are_honoured_tlsv1_3_only_refuses_tls_1_2() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&TlsServerOptions {
        versions: vec![linkmq_net::TlsVersion::V1_3],
        ..pki.server_options()
    })
    .await;
    assert_refused_by_tls(
        Client::connect(opts(
            &b,
            "old",
            pki.client_tls().versions(&[TlsVersion::V1_2]),
        ))
        .await,
    );
    Client::connect(opts(&b, "new", pki.client_tls()))
        .await
        .expect("TLS 1.3 client connects");
    b.node.shutdown().await;
}

#[tokio::test]
async fn ciphers_restrict_the_negotiated_suite() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&TlsServerOptions {
        versions: vec![linkmq_net::TlsVersion::V1_2],
        ciphers: vec!["ECDHE-ECDSA-CHACHA20-POLY1305".into()],
        ..pki.server_options()
    })
    .await;
    let s = raw_tls(&b, &pki.client_tls()).await.unwrap();
    assert_eq!(
        s.get_ref().1.negotiated_cipher_suite().map(|c| c.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
    b.node.shutdown().await;
}

#[tokio::test]
async fn mtls_client_certificate_cn_and_dn_reach_client_info() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.mtls_options(true)).await;
    let (cert, key) = pki.client("device", "device-42", Some("acme"), None);
    let (c, _) = Client::connect(opts(
        &b,
        "dev",
        pki.client_tls().client_cert_files(cert, key),
    ))
    .await
    .expect("client with a certificate from the CA connects");
    let info = b.node.broker.registry.get("dev").unwrap().info;
    assert_eq!(
        info.peer_cert,
        Some(Box::new(PeerCert {
            common_name: Some("device-42".into()),
            subject_dn: Some("CN=device-42,O=acme".into()),
        }))
    );
    c.disconnect().await.unwrap();
    b.node.shutdown().await;
}

#[tokio::test]
async fn mtls_fail_if_no_peer_cert_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.mtls_options(true)).await;
    assert_refused_by_tls(Client::connect(opts(&b, "anon", pki.client_tls())).await);
    assert!(b.node.broker.registry.get("anon").is_none());
    b.node.shutdown().await;
}

#[tokio::test]
async fn mtls_refuses_a_client_certificate_from_another_ca() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.mtls_options(true)).await;
    let rogue_ca = Ca::new("rogue CA");
    let (cert, key) = pki.client("rogue", "device-42", None, Some(&rogue_ca));
    assert_refused_by_tls(
        Client::connect(opts(
            &b,
            "rogue",
            pki.client_tls().client_cert_files(cert, key),
        ))
        .await,
    );
    assert!(b.node.broker.registry.get("rogue").is_none());
    b.node.shutdown().await;
}

#[tokio::test]
async fn verify_peer_without_fail_if_no_peer_cert_lets_clients_without_a_certificate_in() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.mtls_options(false)).await;
    Client::connect(opts(&b, "anon", pki.client_tls()))
        .await
        .expect("no certificate is fine");
    assert_eq!(
        b.node.broker.registry.get("anon").unwrap().info.peer_cert,
        None
    );
    let (cert, key) = pki.client("c", "with-cert", None, None);
    Client::connect(opts(
        &b,
        "certified",
        pki.client_tls().client_cert_files(cert, key),
    ))
    .await
    .expect("certificate from the CA");
    let cn = b
        .node
        .broker
        .registry
        .get("certified")
        .unwrap()
        .info
        .peer_cert
        .clone();
    assert_eq!(cn.and_then(|p| p.common_name).as_deref(), Some("with-cert"));
    // A certificate that is presented is still checked.
    let rogue_ca = Ca::new("rogue CA");
    let (cert, key) = pki.client("rogue", "rogue", None, Some(&rogue_ca));
    assert_refused_by_tls(
        Client::connect(opts(
            &b,
            "rogue",
            pki.client_tls().client_cert_files(cert, key),
        ))
        .await,
    );
    b.node.shutdown().await;
}

#[tokio::test]
async fn verify_none_listener_asks_for_no_client_certificate() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.server_options()).await;
    let rogue_ca = Ca::new("rogue CA");
    let (cert, key) = pki.client("c", "ignored", None, Some(&rogue_ca));
    Client::connect(opts(&b, "c", pki.client_tls().client_cert_files(cert, key)))
        .await
        .expect("certificate not requested, so not checked");
    assert_eq!(
        b.node.broker.registry.get("c").unwrap().info.peer_cert,
        None
    );
    b.node.shutdown().await;
}

#[tokio::test]
async fn client_verify_peer_checks_the_server_chain_and_name() {
    let pki = Pki::new();
    let b = TestBroker::start_tls(&pki.server_options()).await;
    // A CA that did not sign the server certificate.
    let other = Ca::new("other CA");
    let r = Client::connect(opts(&b, "a", TlsOptions::new().ca_pem(other.pem()))).await;
    assert!(matches!(r, Err(ClientError::Io(_))), "{r:?}");
    // The right CA, but a name the certificate does not carry.
    let r = Client::connect(opts(
        &b,
        "b",
        pki.client_tls().server_name("elsewhere.example"),
    ))
    .await;
    assert!(matches!(r, Err(ClientError::Io(_))), "{r:?}");
    // A name it carries; and SNI off (checked against the address, 127.0.0.1).
    Client::connect(opts(&b, "c", pki.client_tls().server_name("localhost")))
        .await
        .expect("localhost is in the certificate");
    Client::connect(opts(&b, "d", pki.client_tls().no_sni()))
        .await
        .expect("127.0.0.1 is in the certificate");
    // verify_none accepts the unknown chain; in-memory CA PEM works like a file.
    Client::connect(opts(&b, "e", TlsOptions::insecure()))
        .await
        .expect("verify_none");
    Client::connect(opts(&b, "f", TlsOptions::new().ca_pem(pki.ca.pem())))
        .await
        .expect("CA from memory");
    b.node.shutdown().await;
}

/// The `listeners.ssl.default` section for `pki`'s files.
fn ssl_section(certfile: &str, keyfile: &str, extra: &str) -> String {
    format!(
        "listeners.ssl.default {{\n  bind = \"127.0.0.1:0\"\n  ssl_options {{\n    certfile = \"{certfile}\"\n    keyfile = \"{keyfile}\"\n{extra}  }}\n}}\n"
    )
}

async fn start_error(hocon: &str) -> String {
    let cfg = linkmq_config::parse_str(
        &format!("listeners.tcp.default.bind = \"127.0.0.1:0\"\n{hocon}"),
        "emqx.conf",
        &[],
    )
    .expect("config parses");
    match Node::start(&cfg).await {
        Ok(_) => panic!("node started with {hocon}"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn bad_certificate_or_key_fails_node_start_naming_the_key_and_file() {
    let pki = Pki::new();
    let cert = pki.path("server.pem").display().to_string();
    let key = pki.path("server.key").display().to_string();
    let missing = pki.path("missing.pem").display().to_string();

    let e = start_error(&ssl_section(&missing, &key, "")).await;
    assert!(
        e.starts_with(&format!(
            "listeners.ssl.default.ssl_options.certfile: cannot read \"{missing}\": "
        )),
        "{e}"
    );

    let garbage = pki
        .write("garbage.pem", "this is not PEM\n")
        .display()
        .to_string();
    let e = start_error(&ssl_section(&cert, &garbage, "")).await;
    assert_eq!(
        e,
        format!(
            "listeners.ssl.default.ssl_options.keyfile: \"{garbage}\" is not usable PEM: no PRIVATE KEY section found"
        )
    );
    let e = start_error(&ssl_section(&key, &key, "")).await;
    assert_eq!(
        e,
        format!(
            "listeners.ssl.default.ssl_options.certfile: \"{key}\" is not usable PEM: no CERTIFICATE section found"
        )
    );

    // A key that belongs to another certificate.
    let (_, other_key) = pki.ca.client("x", None);
    let other_key = pki.write("other.key", &other_key).display().to_string();
    let e = start_error(&ssl_section(&cert, &other_key, "")).await;
    assert!(
        e.starts_with(&format!(
            "listeners.ssl.default.ssl_options.keyfile: \"{other_key}\" is not usable PEM: does not match certfile"
        )),
        "{e}"
    );

    let e = start_error(&ssl_section(&cert, &key, "    verify = verify_peer\n")).await;
    assert_eq!(
        e,
        "listeners.ssl.default.ssl_options.cacertfile: verify = verify_peer needs a cacertfile"
    );
    let e = start_error(&ssl_section(
        &cert,
        &key,
        &format!("    verify = verify_peer\n    cacertfile = \"{missing}\"\n"),
    ))
    .await;
    assert!(
        e.starts_with(&format!(
            "listeners.ssl.default.ssl_options.cacertfile: cannot read \"{missing}\": "
        )),
        "{e}"
    );
    // Bad files on a wss listener are reported under its own key.
    let e = start_error(&ssl_section(&missing, &key, "").replace("listeners.ssl", "listeners.wss"))
        .await;
    assert!(
        e.starts_with("listeners.wss.default.ssl_options.certfile: cannot read"),
        "{e}"
    );
}

#[test]
fn binary_exits_with_a_message_naming_the_bad_certfile() {
    let pki = Pki::new();
    let missing = pki.path("nope.pem").display().to_string();
    let key = pki.path("server.key").display().to_string();
    let conf = pki.write(
        "emqx.conf",
        &format!(
            "node.data_dir = \"{}\"\nlisteners.tcp.default.bind = \"127.0.0.1:0\"\n{}",
            pki.path("data").display(),
            ssl_section(&missing, &key, "")
        ),
    );
    let out = Command::new(linkmq_bin())
        .args(["start", "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .output()
        .expect("run linkmq");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "listeners.ssl.default.ssl_options.certfile: cannot read \"{missing}\""
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn binary_serves_mqtt_over_tls_from_the_config_file() {
    let pki = Pki::new();
    let port = linkmq_tests::free_port();
    let mut p = BrokerProcess::start(&format!(
        "listeners.ssl.default {{\n  bind = \"127.0.0.1:{port}\"\n  ssl_options {{ certfile = \"{}\", keyfile = \"{}\", cacertfile = \"{}\", verify = verify_peer, fail_if_no_peer_cert = true }}\n}}\n",
        pki.path("server.pem").display(),
        pki.path("server.key").display(),
        pki.path("ca.pem").display(),
    ));
    let (cert, key) = pki.client("c", "bin-client", None, None);
    let addr = format!("127.0.0.1:{port}");
    let (c, _) = Client::connect(
        ConnectOptions::new(&addr, "over-tls")
            .tls(pki.client_tls().client_cert_files(cert, key))
            .connect_timeout(Duration::from_secs(5)),
    )
    .await
    .expect("mTLS client connects to the binary");
    c.subscribe("t", QoS::AtMostOnce).await.unwrap();
    c.publish("t", "hello", QoS::AtMostOnce, false)
        .await
        .unwrap();
    assert_eq!(payload_text(&expect_publish(&c).await), "hello");
    let r = Client::connect(
        ConnectOptions::new(&addr, "no-cert")
            .tls(pki.client_tls())
            .connect_timeout(Duration::from_secs(5)),
    )
    .await;
    assert_refused_by_tls(r);
    drop(c);
    assert!(p.terminate().success());
}
