//! Retained messages: set, replace and clear; delivery on subscribe with RETAIN=1; Retain Handling
//! 0/1/2; Retain As Published; the v3.1.1 RETAIN flag on normal deliveries; message expiry.

use std::time::Duration;

use linkmq_client::Client;
use linkmq_codec::{
    Properties, Protocol, Publish, QoS, ReasonCode, RetainHandling, SubOptions, SubscribeFilter,
};
use linkmq_tests::{TestBroker, expect_publish, expect_quiet};

const PROTOCOLS: [Protocol; 2] = [Protocol::V5, Protocol::V311];

async fn connect(b: &TestBroker, proto: Protocol, id: &str) -> Client {
    Client::connect(b.opts(id).protocol(proto)).await.unwrap().0
}

fn payload(p: &Publish) -> &str {
    std::str::from_utf8(&p.payload).unwrap()
}

async fn subscribe_opts(c: &Client, filter: &str, options: SubOptions) -> ReasonCode {
    let ack = c
        .subscribe_with(
            vec![SubscribeFilter {
                filter: filter.into(),
                options,
            }],
            Properties::default(),
        )
        .await
        .unwrap();
    assert_eq!(ack.reasons.len(), 1);
    ack.reasons[0]
}

fn rh(retain_handling: RetainHandling) -> SubOptions {
    SubOptions {
        qos: QoS::AtLeastOnce,
        retain_handling,
        ..Default::default()
    }
}

/// [MQTT-3.3.1-5]: a retained message is stored, sent to new subscribers with RETAIN=1 (3.1.1
/// [MQTT-3.3.1-8]) and replaced by a newer one; [MQTT-3.3.1-6], [MQTT-3.3.1-7]: an empty retained
/// payload clears it and is not stored itself.
#[tokio::test]
async fn mqtt_3_3_1_5_retained_set_replace_and_clear_by_empty_payload() {
    let b = TestBroker::start().await;
    for proto in PROTOCOLS {
        let topic = format!("ret/{proto:?}/a");
        let publ = connect(&b, proto, &format!("ret-pub-{proto:?}")).await;
        publ.publish(&topic, "v1", QoS::AtLeastOnce, true)
            .await
            .unwrap();

        let s1 = connect(&b, proto, &format!("ret-s1-{proto:?}")).await;
        s1.subscribe(&topic, QoS::ExactlyOnce).await.unwrap();
        let p = expect_publish(&s1).await;
        assert_eq!(p.topic, topic);
        assert_eq!(payload(&p), "v1");
        assert!(p.retain, "retained delivery on subscribe has RETAIN=1");
        assert_eq!(p.qos, QoS::AtLeastOnce);
        expect_quiet(&s1).await;

        // Replace.
        publ.publish(&topic, "v2", QoS::AtMostOnce, true)
            .await
            .unwrap();
        let live = expect_publish(&s1).await;
        assert_eq!(payload(&live), "v2");
        let s2 = connect(&b, proto, &format!("ret-s2-{proto:?}")).await;
        s2.subscribe(&topic, QoS::ExactlyOnce).await.unwrap();
        let p = expect_publish(&s2).await;
        assert_eq!(payload(&p), "v2");
        assert!(p.retain);
        assert_eq!(p.qos, QoS::AtMostOnce, "QoS of the replacing message");
        expect_quiet(&s2).await;

        // Clear: the empty message is delivered to current subscribers but not stored.
        publ.publish(&topic, "", QoS::AtLeastOnce, true)
            .await
            .unwrap();
        let p = expect_publish(&s1).await;
        assert_eq!(payload(&p), "");
        let s3 = connect(&b, proto, &format!("ret-s3-{proto:?}")).await;
        s3.subscribe(&topic, QoS::ExactlyOnce).await.unwrap();
        expect_quiet(&s3).await;
        assert!(b.node.broker.retained.get(&topic).is_none());
    }
}

/// [MQTT-3.3.1-8] (v5): a non-retained publish neither stores nor replaces the retained message.
#[tokio::test]
async fn non_retained_publish_does_not_replace_retained() {
    let b = TestBroker::start().await;
    let publ = b.client("nr-pub").await;
    publ.publish("nr/t", "kept", QoS::AtMostOnce, true)
        .await
        .unwrap();
    publ.publish("nr/t", "live", QoS::AtMostOnce, false)
        .await
        .unwrap();
    let s = b.client("nr-sub").await;
    s.subscribe("nr/#", QoS::AtMostOnce).await.unwrap();
    let p = expect_publish(&s).await;
    assert_eq!(payload(&p), "kept");
    assert!(p.retain);
    expect_quiet(&s).await;
}

/// A wildcard subscription gets every matching retained message, at min(message, subscription) QoS.
#[tokio::test]
async fn wildcard_subscribe_gets_all_matching_retained_at_min_qos() {
    let b = TestBroker::start().await;
    let publ = b.client("wc-pub").await;
    for (t, q) in [
        ("wc/a", QoS::AtMostOnce),
        ("wc/b", QoS::AtLeastOnce),
        ("wc/c/d", QoS::ExactlyOnce),
        ("other/x", QoS::AtLeastOnce),
    ] {
        publ.publish(t, t, q, true).await.unwrap();
    }
    for proto in PROTOCOLS {
        let s = connect(&b, proto, &format!("wc-sub-{proto:?}")).await;
        s.subscribe("wc/#", QoS::AtLeastOnce).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let p = expect_publish(&s).await;
            assert!(p.retain);
            assert_eq!(payload(&p), p.topic);
            got.push((p.topic.clone(), p.qos));
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                ("wc/a".to_string(), QoS::AtMostOnce),
                ("wc/b".to_string(), QoS::AtLeastOnce),
                ("wc/c/d".to_string(), QoS::AtLeastOnce),
            ]
        );
        expect_quiet(&s).await;
    }
}

/// Retain Handling 0 ([MQTT-3.3.1-9]): retained messages on every SUBSCRIBE, also a re-subscribe.
#[tokio::test]
async fn retain_handling_0_sends_on_every_subscribe() {
    let b = TestBroker::start().await;
    b.client("rh0-pub")
        .await
        .publish("rh0/t", "r", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    let s = b.client("rh0-sub").await;
    for round in 0..2 {
        assert_eq!(
            subscribe_opts(&s, "rh0/t", rh(RetainHandling::OnSubscribe)).await,
            ReasonCode::GrantedQoS1
        );
        let p = expect_publish(&s).await;
        assert_eq!(payload(&p), "r", "round {round}");
        assert!(p.retain);
        expect_quiet(&s).await;
    }
}

/// Retain Handling 1 ([MQTT-3.3.1-10]): retained messages only if the subscription did not exist.
#[tokio::test]
async fn retain_handling_1_sends_only_on_new_subscription() {
    let b = TestBroker::start().await;
    b.client("rh1-pub")
        .await
        .publish("rh1/t", "r", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    let s = b.client("rh1-sub").await;
    subscribe_opts(&s, "rh1/t", rh(RetainHandling::OnNewSubscribe)).await;
    let p = expect_publish(&s).await;
    assert_eq!(payload(&p), "r");
    assert!(p.retain);
    // Re-subscribe: the subscription exists, nothing is sent.
    subscribe_opts(&s, "rh1/t", rh(RetainHandling::OnNewSubscribe)).await;
    expect_quiet(&s).await;
    // After unsubscribing it is new again.
    s.unsubscribe(&["rh1/t"]).await.unwrap();
    subscribe_opts(&s, "rh1/t", rh(RetainHandling::OnNewSubscribe)).await;
    let p = expect_publish(&s).await;
    assert_eq!(payload(&p), "r");
    expect_quiet(&s).await;
}

/// Retain Handling 2 ([MQTT-3.3.1-11]): retained messages are never sent on subscribe; live
/// messages still flow.
#[tokio::test]
async fn retain_handling_2_never_sends_retained() {
    let b = TestBroker::start().await;
    let publ = b.client("rh2-pub").await;
    publ.publish("rh2/t", "r", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    let s = b.client("rh2-sub").await;
    assert_eq!(
        subscribe_opts(&s, "rh2/t", rh(RetainHandling::DoNotSend)).await,
        ReasonCode::GrantedQoS1
    );
    expect_quiet(&s).await;
    publ.publish("rh2/t", "live", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let p = expect_publish(&s).await;
    assert_eq!(payload(&p), "live");
    assert!(!p.retain);
}

/// Retain As Published ([MQTT-3.3.1-12], [MQTT-3.3.1-13]): a normal delivery of a retained publish
/// keeps RETAIN=1 only with RAP=1; v3.1.1 normal deliveries always have RETAIN=0 (3.1.1 [MQTT-3.3.1-9]).
#[tokio::test]
async fn mqtt_3_3_1_12_retain_as_published_and_v311_normal_delivery_clears_retain() {
    let b = TestBroker::start().await;
    let rap = b.client("rap-1").await;
    subscribe_opts(
        &rap,
        "rap/t",
        SubOptions {
            qos: QoS::AtLeastOnce,
            retain_as_published: true,
            ..Default::default()
        },
    )
    .await;
    let norap = b.client("rap-0").await;
    subscribe_opts(&norap, "rap/t", rh(RetainHandling::OnSubscribe)).await;
    let v3 = connect(&b, Protocol::V311, "rap-v3").await;
    v3.subscribe("rap/t", QoS::AtLeastOnce).await.unwrap();

    let publ = b.client("rap-pub").await;
    publ.publish("rap/t", "retained", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    publ.publish("rap/t", "plain", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let flags = |c: Client| async move {
        let a = expect_publish(&c).await;
        let b = expect_publish(&c).await;
        assert_eq!((payload(&a), payload(&b)), ("retained", "plain"));
        expect_quiet(&c).await;
        (a.retain, b.retain)
    };
    assert_eq!(flags(rap).await, (true, false));
    assert_eq!(flags(norap).await, (false, false));
    assert_eq!(flags(v3).await, (false, false));

    // The retained copy still arrives with RETAIN=1 on subscribe in v3.1.1 [MQTT-3.3.1-8].
    let v3b = connect(&b, Protocol::V311, "rap-v3b").await;
    v3b.subscribe("rap/t", QoS::AtLeastOnce).await.unwrap();
    let p = expect_publish(&v3b).await;
    assert_eq!(payload(&p), "retained");
    assert!(p.retain);
}

/// A retained message with Message Expiry Interval is sent with the remaining interval while it
/// lives, and not at all after it expired ([MQTT-3.3.2-5]).
#[tokio::test]
async fn retained_message_is_not_delivered_after_expiry() {
    let b = TestBroker::start().await;
    let publ = b.client("exp-pub").await;
    publ.publish_with(Publish {
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: "exp/t".into(),
        payload: "short-lived".into(),
        properties: Properties::from(linkmq_codec::PropertyValues {
            message_expiry_interval: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    publ.publish_with(Publish {
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: "exp/long".into(),
        payload: "long-lived".into(),
        properties: Properties::from(linkmq_codec::PropertyValues {
            message_expiry_interval: Some(60),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();

    let early = b.client("exp-early").await;
    early.subscribe("exp/t", QoS::AtLeastOnce).await.unwrap();
    let p = expect_publish(&early).await;
    assert_eq!(payload(&p), "short-lived");
    assert!(p.retain);
    assert_eq!(p.properties.message_expiry_interval, Some(1));

    tokio::time::sleep(Duration::from_millis(1200)).await;
    for proto in PROTOCOLS {
        let late = connect(&b, proto, &format!("exp-late-{proto:?}")).await;
        late.subscribe("exp/#", QoS::AtLeastOnce).await.unwrap();
        let p = expect_publish(&late).await;
        assert_eq!(payload(&p), "long-lived", "only the unexpired message");
        if proto.is_v5() {
            let left = p.properties.message_expiry_interval.unwrap();
            assert!((58..=59).contains(&left), "remaining expiry {left}");
        }
        expect_quiet(&late).await;
    }
}
