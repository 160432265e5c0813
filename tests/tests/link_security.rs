//! Cluster Linking with security on: links over mutual TLS (both directions), and a receiving
//! cluster whose ACL is the seed's (`{allow, {clientid, {re, "^clink-us-east"}}, all, ["$LINK/#"]}`
//! then `{deny, all, all, ["$LINK/#"]}`): the link works, ordinary clients can neither publish nor
//! subscribe under `$LINK/`.

mod link_support;

use std::time::Duration;

use link_support::{Cluster, await_route, collect, link_with, port, texts};
use linkmq_client::{QoS, ReasonCode};
use linkmq_tests::pki::Pki;

const UP: Duration = Duration::from_secs(10);

/// A `listeners.ssl.default` that demands a client certificate from `pki`'s CA.
fn mtls_listener(pki: &Pki, port: u16) -> String {
    format!(
        "listeners.ssl.default {{\n  bind = \"127.0.0.1:{port}\"\n  ssl_options {{ certfile = \"{}\", keyfile = \"{}\", cacertfile = \"{}\", verify = verify_peer, fail_if_no_peer_cert = true }}\n}}\n",
        pki.path("server.pem").display(),
        pki.path("server.key").display(),
        pki.path("ca.pem").display(),
    )
}

/// A link's `ssl` section with verify_peer, our CA and a client certificate.
fn link_ssl(pki: &Pki, cert: &str) -> String {
    format!(
        "ssl {{ enable = true, verify = verify_peer, cacertfile = \"{}\", certfile = \"{}\", keyfile = \"{}\", server_name_indication = \"localhost\" }}",
        pki.path("ca.pem").display(),
        pki.path(&format!("{cert}.pem")).display(),
        pki.path(&format!("{cert}.key")).display(),
    )
}

#[tokio::test]
async fn links_over_mutual_tls_both_directions() {
    let pki = Pki::new();
    pki.client("east-link", "east", None, None);
    pki.client("west-link", "west", None, None);
    let (east_tls, west_tls) = (port(), port());
    let mut east = Cluster::new("east").with_extra(&mtls_listener(&pki, east_tls));
    let mut west = Cluster::new("west").with_extra(&mtls_listener(&pki, west_tls));
    east.launch(&[link_with(
        "west",
        west_tls,
        &["t/#"],
        &link_ssl(&pki, "east-link"),
    )]);
    west.launch(&[link_with(
        "east",
        east_tls,
        &[],
        &link_ssl(&pki, "west-link"),
    )]);
    let s = east.client("s").await;
    s.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    // Routes went east → west over TLS, the message west → east over TLS.
    await_route(&p, "t/1", UP).await;
    p.publish("t/1", "secret", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert!(got.contains(&"secret".to_string()), "{got:?}");
}

#[tokio::test]
async fn a_link_without_a_client_certificate_is_refused_by_an_mtls_remote() {
    let pki = Pki::new();
    let west_tls = port();
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west").with_extra(&mtls_listener(&pki, west_tls));
    let no_cert = format!(
        "ssl {{ enable = true, verify = verify_peer, cacertfile = \"{}\", server_name_indication = \"localhost\" }}",
        pki.path("ca.pem").display()
    );
    east.launch(&[link_with("west", west_tls, &["t/#"], &no_cert)]);
    west.launch(&[link_with("east", east.port, &[], "")]);
    let s = east.client("s").await;
    s.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    link_support::eventually("east logs the failed connection", UP, || {
        east.log().contains("cannot connect to 127.0.0.1:")
    })
    .await;
    assert_eq!(
        p.publish("t/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
}

#[tokio::test]
async fn seed_acl_on_the_receiver_link_works_ordinary_clients_cannot_use_link_topics() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    let acl = west.dir.join("acl.conf");
    std::fs::write(
        &acl,
        "{allow, {clientid, {re, \"^clink-us-east\"}}, all, [\"$LINK/#\"]}.\n\
         {deny, all, all, [\"$LINK/#\"]}.\n\
         {allow, all}.\n",
    )
    .unwrap();
    west = west.with_extra(&format!(
        "authorization {{\n  no_match = deny\n  sources = [{{ type = file, enable = true, path = \"{}\" }}]\n}}\n",
        acl.display()
    ));
    // east's link clients are named clink-us-east:...
    east.launch(&[link_with(
        "west",
        west.port,
        &["t/#"],
        "clientid = \"clink-us-east\"",
    )]);
    west.launch(&[link_with("east", east.port, &[], "")]);
    let s = east.client("s").await;
    s.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    await_route(&p, "t/1", UP).await;
    p.publish("t/1", "allowed", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert!(got.contains(&"allowed".to_string()), "{got:?}");

    // An ordinary client on west: no publish, no subscribe under $LINK/.
    let intruder = west.client("intruder").await;
    let rc = intruder
        .publish("$LINK/cluster/route/east", "x", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::NotAuthorized);
    let rc = intruder
        .publish("$LINK/cluster/msg/east", "x", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::NotAuthorized);
    let ack = intruder
        .subscribe("$LINK/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(ack.reasons, vec![ReasonCode::NotAuthorized]);
    // The link keeps working.
    p.publish("t/1", "still", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = texts(&collect(&s, usize::MAX, Duration::from_millis(500)).await);
    assert!(got.contains(&"still".to_string()), "{got:?}");
}
