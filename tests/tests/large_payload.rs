//! Large payloads (200 KB, above the size written by reference instead of copied) reach several
//! subscribers at once intact and in order, over TCP, TLS, WebSocket and WebSocket over TLS, with
//! small messages before and after them from the same publisher.

use std::time::Duration;

use bytes::Bytes;
use linkmq_client::{Client, ConnectOptions, QoS};
use linkmq_tests::pki::Pki;
use linkmq_tests::{TestBroker, expect_publish};

const LARGE: usize = 200 * 1024;

/// Options for a client of `id` on the listener `name`.
fn opts(b: &TestBroker, pki: &Pki, name: &str, id: &str) -> ConnectOptions {
    let o = ConnectOptions::new(b.listener_addr(name), id).connect_timeout(Duration::from_secs(5));
    match name {
        "ssl:default" => o.tls(pki.client_tls()),
        "ws:default" => o.ws("/mqtt"),
        "wss:default" => o.wss(pki.client_tls(), "/mqtt"),
        _ => o,
    }
}

/// A payload whose every byte depends on its position and on `seed` (a shifted or mixed-up
/// chunk would not compare equal).
fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test]
async fn a_200_kb_payload_reaches_subscribers_on_every_transport_intact() {
    let pki = Pki::new();
    let b = TestBroker::start_all_transports(&pki.server_options()).await;
    let transports = ["tcp:default", "ssl:default", "ws:default", "wss:default"];
    let mut subs = Vec::new();
    for name in transports {
        for n in 0..2 {
            let id = format!("sub-{}-{n}", name.replace(':', "-"));
            let (c, _) = Client::connect(opts(&b, &pki, name, &id))
                .await
                .unwrap_or_else(|e| panic!("{id} connects: {e:?}"));
            c.subscribe("big/#", QoS::AtLeastOnce).await.unwrap();
            subs.push((id, c));
        }
    }
    for (i, name) in transports.into_iter().enumerate() {
        let id = format!("pub-{}", name.replace(':', "-"));
        let (p, _) = Client::connect(opts(&b, &pki, name, &id)).await.unwrap();
        let seed = i as u8;
        let large0 = pattern(LARGE, seed);
        let large1 = pattern(LARGE + 1, seed.wrapping_add(100));
        let topic = format!("big/{i}");
        // Small, large, large, small: QoS 1 from one publisher arrives in this order.
        let sent = [
            Bytes::from_static(b"before"),
            large0,
            large1,
            Bytes::from_static(b"after"),
        ];
        for payload in &sent {
            p.publish(&topic, payload.clone(), QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
        for (sub_id, s) in &subs {
            for (k, payload) in sent.iter().enumerate() {
                let got = expect_publish(s).await;
                assert_eq!(got.topic, topic, "{sub_id} from {name}, message {k}");
                assert!(
                    got.payload == *payload,
                    "{sub_id} from {name}, message {k}: {} bytes, expected {}",
                    got.payload.len(),
                    payload.len()
                );
            }
        }
        p.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn large_and_small_qos0_messages_interleave_in_order_to_many_subscribers() {
    let pki = Pki::new();
    let b = TestBroker::start_all_transports(&pki.server_options()).await;
    let mut subs = Vec::new();
    for n in 0..5 {
        let (c, _) = Client::connect(opts(&b, &pki, "tcp:default", &format!("s{n}")))
            .await
            .unwrap();
        c.subscribe("mix", QoS::AtMostOnce).await.unwrap();
        subs.push(c);
    }
    let (p, _) = Client::connect(opts(&b, &pki, "tcp:default", "p"))
        .await
        .unwrap();
    // Sizes around the by-reference threshold and a few large ones, each with its own pattern.
    let sent: Vec<Bytes> = [10, 4095, 4096, 4097, LARGE, 3, 70_000, 70_000, 1, LARGE]
        .iter()
        .enumerate()
        .map(|(i, len)| pattern(*len, i as u8))
        .collect();
    for payload in &sent {
        p.publish("mix", payload.clone(), QoS::AtMostOnce, false)
            .await
            .unwrap();
    }
    for (n, s) in subs.iter().enumerate() {
        for (k, payload) in sent.iter().enumerate() {
            let got = expect_publish(s).await;
            assert!(
                got.payload == *payload,
                "s{n}, message {k}: {} bytes, expected {}",
                got.payload.len(),
                payload.len()
            );
        }
    }
}
