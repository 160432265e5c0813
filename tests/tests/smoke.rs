//! The basic loop every other test relies on: connect, subscribe, publish at each QoS, receive.

use linkmq_client::Client;
use linkmq_codec::{Protocol, QoS, ReasonCode};
use linkmq_tests::{TestBroker, expect_publish};

#[tokio::test]
async fn pub_sub_at_each_qos_v5_and_v311() {
    let b = TestBroker::start().await;
    for proto in [Protocol::V5, Protocol::V311, Protocol::V31] {
        let (sub, _) = Client::connect(b.opts(&format!("sub-{proto:?}")).protocol(proto))
            .await
            .unwrap();
        let (publ, _) = Client::connect(b.opts(&format!("pub-{proto:?}")).protocol(proto))
            .await
            .unwrap();
        let ack = sub.subscribe("smoke/#", QoS::ExactlyOnce).await.unwrap();
        assert_eq!(ack.reasons, vec![ReasonCode::GrantedQoS2]);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let rc = publ
                .publish("smoke/a", format!("m{}", qos as u8), qos, false)
                .await
                .unwrap();
            assert_eq!(rc, ReasonCode::Success);
            let p = expect_publish(&sub).await;
            assert_eq!(p.topic, "smoke/a");
            assert_eq!(p.qos, qos);
            assert_eq!(&p.payload[..], format!("m{}", qos as u8).as_bytes());
        }
        sub.disconnect().await.unwrap();
        publ.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn publish_without_subscribers_is_acked_0x10_in_v5() {
    let b = TestBroker::start().await;
    let c = b.client("lonely").await;
    let rc = c
        .publish("nobody/home", "x", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::NoMatchingSubscribers);
}
