//! Will messages: published on an abnormal close and on DISCONNECT 0x04, not on a normal
//! DISCONNECT; Will Delay Interval (sent after the delay, cancelled by a resuming reconnect, capped
//! by session expiry); will retain and will QoS.

use std::time::Duration;

use linkmq_client::{Client, Event};
use linkmq_codec::{LastWill, Properties, Protocol, Publish, QoS, ReasonCode};
use linkmq_tests::TestBroker;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);
const PROTOCOLS: [Protocol; 2] = [Protocol::V5, Protocol::V311];

fn will(
    topic: &str,
    payload: &'static str,
    qos: QoS,
    retain: bool,
    delay: Option<u32>,
) -> LastWill {
    LastWill {
        topic: topic.into(),
        payload: payload.into(),
        qos,
        retain,
        properties: Properties::from(linkmq_codec::PropertyValues {
            will_delay_interval: delay,
            ..Default::default()
        }),
    }
}

/// A v5 client subscribed to `filter` at QoS 2.
async fn watcher(b: &TestBroker, id: &str, filter: &str) -> Client {
    let c = b.client(id).await;
    c.subscribe(filter, QoS::ExactlyOnce).await.unwrap();
    c
}

async fn expect_publish(c: &Client, within: Duration) -> Publish {
    match c.recv_timeout(within).await {
        Some(Event::Publish(p)) => p,
        other => panic!("expected a publish, got {other:?}"),
    }
}

async fn assert_quiet(c: &Client, for_: Duration) {
    if let Some(e) = c.recv_timeout(for_).await {
        panic!("expected nothing, got {e:?}");
    }
}

#[tokio::test]
async fn will_is_published_on_abnormal_close() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let topic = format!("will/abort/{proto:?}");
        let w = watcher(&b, &format!("w-abort-{proto:?}"), &topic).await;
        let (c, _) = Client::connect(
            b.opts(&format!("c-abort-{proto:?}"))
                .protocol(proto)
                .will(will(&topic, "gone", QoS::AtLeastOnce, false, None)),
        )
        .await
        .unwrap();
        assert_quiet(&w, QUIET).await;
        c.abort();
        let p = expect_publish(&w, WAIT).await;
        assert_eq!(p.topic, topic);
        assert_eq!(&p.payload[..], b"gone");
        assert_eq!(p.qos, QoS::AtLeastOnce);
        assert!(!p.retain);
        assert_quiet(&w, QUIET).await;
    }
}

/// v5 DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will.
#[tokio::test]
async fn will_is_published_on_disconnect_0x04() {
    let b = TestBroker::start().await;
    let w = watcher(&b, "w-04", "will/04").await;
    let (c, _) = Client::connect(b.opts("c-04").will(will(
        "will/04",
        "asked",
        QoS::AtMostOnce,
        false,
        None,
    )))
    .await
    .unwrap();
    c.disconnect_with(ReasonCode::DisconnectWithWillMessage, Properties::default())
        .await
        .unwrap();
    let p = expect_publish(&w, WAIT).await;
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("will/04", &b"asked"[..])
    );
}

/// [MQTT-3.1.2-8], [MQTT-3.14.4-3]: a normal DISCONNECT (v5 reason 0x00, or v3.1.1 DISCONNECT)
/// discards the will.
#[tokio::test]
async fn mqtt_3_14_4_3_will_is_not_published_on_normal_disconnect() {
    let b = TestBroker::start().await;
    let w = watcher(&b, "w-normal", "will/normal/#").await;
    for proto in PROTOCOLS {
        let (c, _) = Client::connect(b.opts(&format!("c-normal-{proto:?}")).protocol(proto).will(
            will(
                &format!("will/normal/{proto:?}"),
                "x",
                QoS::AtLeastOnce,
                false,
                None,
            ),
        ))
        .await
        .unwrap();
        c.disconnect().await.unwrap();
    }
    assert_quiet(&w, Duration::from_millis(600)).await;
    // Also with a session that outlives the connection (the will must not come at expiry either).
    let (c, _) = Client::connect(b.opts("c-normal-exp").session_expiry(1).will(will(
        "will/normal/exp",
        "x",
        QoS::AtLeastOnce,
        false,
        None,
    )))
    .await
    .unwrap();
    c.disconnect().await.unwrap();
    assert_quiet(&w, Duration::from_millis(1500)).await;
}

/// [MQTT-3.1.2-8]: with a Will Delay Interval the will is not sent before the delay has passed,
/// and is sent after it (without the Will Delay Interval property).
#[tokio::test]
async fn mqtt_3_1_2_8_will_delay_interval_holds_the_will() {
    let b = TestBroker::start().await;
    let w = watcher(&b, "w-delay", "will/delay").await;
    let (c, _) = Client::connect(b.opts("c-delay").session_expiry(30).will(will(
        "will/delay",
        "late",
        QoS::AtLeastOnce,
        false,
        Some(2),
    )))
    .await
    .unwrap();
    let closed = Instant::now();
    c.abort();
    assert_quiet(&w, Duration::from_millis(1500)).await;
    let p = expect_publish(&w, Duration::from_secs(3)).await;
    let after = closed.elapsed();
    assert_eq!(&p.payload[..], b"late");
    assert!(
        after >= Duration::from_millis(1900) && after < Duration::from_millis(3500),
        "will after {after:?}, delay 2 s"
    );
    assert_eq!(p.properties.will_delay_interval, None);
}

/// [MQTT-3.1.3-9]: a new connection resuming the session within the Will Delay Interval cancels
/// the will.
#[tokio::test]
async fn mqtt_3_1_3_9_reconnect_within_will_delay_cancels_the_will() {
    let b = TestBroker::start().await;
    let w = watcher(&b, "w-cancel", "will/cancel").await;
    let opts = b.opts("c-cancel").session_expiry(30).will(will(
        "will/cancel",
        "never",
        QoS::AtLeastOnce,
        false,
        Some(1),
    ));
    let (c, _) = Client::connect(opts.clone()).await.unwrap();
    c.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (c2, ack) = Client::connect(b.opts("c-cancel").clean_start(false).session_expiry(30))
        .await
        .unwrap();
    assert!(ack.session_present);
    assert_quiet(&w, Duration::from_millis(1800)).await;
    c2.disconnect().await.unwrap();
    assert_quiet(&w, QUIET).await;
}

/// A clean-start reconnect within the delay ends the old session, so its will is due at once.
#[tokio::test]
async fn clean_start_reconnect_within_will_delay_publishes_the_will() {
    let b = TestBroker::start().await;
    let w = watcher(&b, "w-clean", "will/clean").await;
    let (c, _) = Client::connect(b.opts("c-clean").session_expiry(30).will(will(
        "will/clean",
        "ended",
        QoS::AtLeastOnce,
        false,
        Some(5),
    )))
    .await
    .unwrap();
    c.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_c2, ack) = Client::connect(b.opts("c-clean")).await.unwrap();
    assert!(!ack.session_present);
    let p = expect_publish(&w, Duration::from_secs(2)).await;
    assert_eq!(&p.payload[..], b"ended");
}

/// [MQTT-3.1.2-8]: the will is sent when the session ends even if the delay is longer ("either the
/// Will Delay Interval has elapsed or the Session ends").
#[tokio::test]
async fn mqtt_3_1_2_8_will_delay_longer_than_session_expiry_is_sent_at_session_end() {
    let b = TestBroker::start().await;
    let w = watcher(&b, "w-short", "will/short").await;
    let (c, _) = Client::connect(b.opts("c-short").session_expiry(1).will(will(
        "will/short",
        "expired",
        QoS::AtLeastOnce,
        false,
        Some(60),
    )))
    .await
    .unwrap();
    let closed = Instant::now();
    c.abort();
    let p = expect_publish(&w, Duration::from_secs(3)).await;
    let after = closed.elapsed();
    assert_eq!(&p.payload[..], b"expired");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(2500),
        "will after {after:?}, session expiry 1 s"
    );
}

/// [MQTT-3.1.2-17]: Will Retain 1 stores the will as a retained message.
#[tokio::test]
async fn mqtt_3_1_2_17_will_retain_stores_the_will_as_retained() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let topic = format!("will/retain/{proto:?}");
        let (c, _) = Client::connect(
            b.opts(&format!("c-ret-{proto:?}"))
                .protocol(proto)
                .will(will(&topic, "stored", QoS::AtLeastOnce, true, None)),
        )
        .await
        .unwrap();
        c.abort();
        // Poll the store instead of sleeping a fixed time.
        let until = Instant::now() + WAIT;
        while b.node.broker.retained.get(&topic).is_none() {
            assert!(Instant::now() < until, "will was not retained");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let late = b.client(&format!("late-ret-{proto:?}")).await;
        late.subscribe(&topic, QoS::ExactlyOnce).await.unwrap();
        let p = expect_publish(&late, WAIT).await;
        assert_eq!(&p.payload[..], b"stored");
        assert!(
            p.retain,
            "retained will delivered on subscribe has RETAIN=1"
        );
        assert_eq!(p.qos, QoS::AtLeastOnce);
    }
}

/// Will QoS: the will is published at its QoS, downgraded to the
/// subscription QoS.
#[tokio::test]
async fn will_is_published_at_will_qos() {
    let b = TestBroker::start().await;
    let w2 = watcher(&b, "w-qos2", "will/qos/#").await;
    let w1 = b.client("w-qos1").await;
    w1.subscribe("will/qos/#", QoS::AtLeastOnce).await.unwrap();
    for (q, proto) in [
        (QoS::AtMostOnce, Protocol::V5),
        (QoS::AtLeastOnce, Protocol::V311),
        (QoS::ExactlyOnce, Protocol::V5),
        (QoS::ExactlyOnce, Protocol::V311),
    ] {
        let topic = format!("will/qos/{}/{proto:?}", q as u8);
        let (c, _) = Client::connect(
            b.opts(&format!("c-qos-{}-{proto:?}", q as u8))
                .protocol(proto)
                .will(will(&topic, "q", q, false, None)),
        )
        .await
        .unwrap();
        c.abort();
        let p = expect_publish(&w2, WAIT).await;
        assert_eq!((p.topic.as_str(), p.qos), (topic.as_str(), q));
        let p = expect_publish(&w1, WAIT).await;
        assert_eq!(
            (p.topic.as_str(), p.qos),
            (topic.as_str(), q.min(QoS::AtLeastOnce))
        );
    }
}

/// A session taken over by a new connection with the same client id closes the old connection
/// abnormally, so its will (no delay) is published.
#[tokio::test]
async fn takeover_publishes_will_without_delay() {
    let b = TestBroker::start().await;
    let w = watcher(&b, "w-take", "will/take").await;
    let (_old, _) = Client::connect(b.opts("c-take").session_expiry(30).will(will(
        "will/take",
        "taken",
        QoS::AtLeastOnce,
        false,
        None,
    )))
    .await
    .unwrap();
    let (_new, ack) = Client::connect(b.opts("c-take").clean_start(false).session_expiry(30))
        .await
        .unwrap();
    assert!(ack.session_present);
    let p = expect_publish(&w, WAIT).await;
    assert_eq!(&p.payload[..], b"taken");
    assert_quiet(&w, QUIET).await;
}
