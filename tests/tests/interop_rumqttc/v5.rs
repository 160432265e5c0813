//! rumqttc's MQTT 5 API (`rumqttc::v5`): CONNACK, QoS, PUBLISH properties, request / response,
//! message expiry, subscription identifiers and topic aliases.

use std::time::Duration;

use bytes::Bytes;
use linkmq_tests::TestBroker;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    ConnAckProperties, ConnectReturnCode, Filter, PublishProperties, SubscribeReasonCode,
};
use rumqttc::v5::{ConnectionError, StateError};

use crate::harness::{Client5, opts5, text};

/// (topic, QoS, retain, payload) of a v5 PUBLISH, for exact comparisons.
pub(crate) fn seen(p: &rumqttc::v5::mqttbytes::v5::Publish) -> (String, QoS, bool, String) {
    (text(&p.topic), p.qos, p.retain, text(&p.payload))
}

pub(crate) fn exp(
    topic: &str,
    qos: QoS,
    retain: bool,
    payload: &str,
) -> (String, QoS, bool, String) {
    (topic.to_owned(), qos, retain, payload.to_owned())
}

/// A PUBLISH's properties, none sent being the same as all empty.
pub(crate) fn props(p: &rumqttc::v5::mqttbytes::v5::Publish) -> PublishProperties {
    p.properties.clone().unwrap_or_default()
}

pub(crate) fn persistent(b: &TestBroker, id: &str, expiry: u32) -> rumqttc::v5::MqttOptions {
    let mut o = opts5(b.addr, id);
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(expiry));
    o
}

// ---------------------------------------------------------------- CONNACK, QoS 0 / 1 / 2

/// CONNACK announces EMQX's defaults as rumqttc parsed them: Receive Maximum 32 (max_inflight),
/// Maximum Packet Size 1 MB, Topic Alias Maximum 65535, and nothing for the capabilities that are
/// available (QoS 2, retain, wildcards, subscription ids, shared subscriptions: absent means
/// available, 3.2.2.3). QoS 0/1/2 delivered at min(publish, granted) QoS; a PUBLISH nobody
/// subscribes to is acknowledged with 0x10 No matching subscribers (PUBACK and PUBREC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_connack_capabilities_and_pub_sub_at_qos_0_1_2() {
    let b = TestBroker::start().await;
    let t = "interop/rq/v5/pubsub";
    let mut high = Client5::connect(opts5(b.addr, "rq5-high")).await;
    assert_eq!(high.connack.code, ConnectReturnCode::Success);
    assert!(!high.connack.session_present);
    assert_eq!(
        high.connack.properties,
        Some(ConnAckProperties {
            session_expiry_interval: None,
            receive_max: Some(32),
            max_qos: None,
            retain_available: None,
            max_packet_size: Some(1024 * 1024),
            assigned_client_identifier: None,
            topic_alias_max: Some(65535),
            reason_string: None,
            user_properties: vec![],
            wildcard_subscription_available: None,
            subscription_identifiers_available: None,
            shared_subscription_available: None,
            server_keep_alive: None,
            response_information: None,
            server_reference: None,
            authentication_method: None,
            authentication_data: None,
        })
    );
    assert_eq!(
        high.subscribe(t, QoS::ExactlyOnce).await,
        [SubscribeReasonCode::Success(QoS::ExactlyOnce)]
    );
    let mut low = Client5::connect(opts5(b.addr, "rq5-low")).await;
    assert_eq!(
        low.subscribe(t, QoS::AtMostOnce).await,
        [SubscribeReasonCode::Success(QoS::AtMostOnce)]
    );
    let mut publ = Client5::connect(opts5(b.addr, "rq5-pub")).await;
    assert_eq!(publ.publish(t, QoS::AtMostOnce, false, "q0").await, None);
    assert_eq!(
        publ.publish(t, QoS::AtLeastOnce, false, "q1")
            .await
            .as_deref(),
        Some("Success")
    );
    assert_eq!(
        publ.publish(t, QoS::ExactlyOnce, false, "q2")
            .await
            .as_deref(),
        Some("Success")
    );
    for (who, granted) in [(&mut high, QoS::ExactlyOnce), (&mut low, QoS::AtMostOnce)] {
        let min = |q: QoS| {
            if (q as u8) < (granted as u8) {
                q
            } else {
                granted
            }
        };
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(seen(&who.recv().await));
        }
        assert_eq!(
            got,
            [
                exp(t, QoS::AtMostOnce, false, "q0"),
                exp(t, min(QoS::AtLeastOnce), false, "q1"),
                exp(t, min(QoS::ExactlyOnce), false, "q2"),
            ]
        );
        who.events.assert_no_publish().await;
    }
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        assert_eq!(
            publ.publish("interop/rq/v5/nobody", qos, false, "x")
                .await
                .as_deref(),
            Some("NoMatchingSubscribers"),
            "{qos:?}"
        );
    }
}

// ---------------------------------------------------------------- properties

/// PUBLISH properties reach the subscriber as sent ([MQTT-3.3.2-4] Payload Format Indicator,
/// [MQTT-3.3.2-20] Content Type, [MQTT-3.3.2-15] Response Topic, [MQTT-3.3.2-16] Correlation Data,
/// [MQTT-3.3.2-17] / [MQTT-3.3.2-18] User Properties in order, duplicates kept), Message Expiry
/// counted down ([MQTT-3.3.2-6]); a message sent without properties arrives without any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_publish_properties_reach_the_subscriber() {
    let b = TestBroker::start().await;
    let t = "interop/rq/v5/props";
    let mut sub = Client5::connect(opts5(b.addr, "rq5-props-sub")).await;
    sub.subscribe(t, QoS::AtLeastOnce).await;
    let mut publ = Client5::connect(opts5(b.addr, "rq5-props-pub")).await;
    let sent = PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(60),
        content_type: Some("application/json".into()),
        response_topic: Some("interop/rq/v5/props/reply".into()),
        correlation_data: Some(Bytes::from_static(b"corr-\x00\xff")),
        user_properties: vec![
            ("k1".into(), "v1".into()),
            ("k2".into(), "x".into()),
            ("k2".into(), "y".into()),
        ],
        ..Default::default()
    };
    publ.publish_with(t, QoS::AtLeastOnce, false, "{\"n\":1}", sent.clone())
        .await;
    publ.publish(t, QoS::AtLeastOnce, false, "bare").await;

    let p = sub.recv().await;
    assert_eq!(seen(&p), exp(t, QoS::AtLeastOnce, false, "{\"n\":1}"));
    let got = props(&p);
    let expiry = got.message_expiry_interval.expect("message expiry");
    assert!((58..=60).contains(&expiry), "expiry {expiry}");
    assert_eq!(
        got,
        PublishProperties {
            message_expiry_interval: Some(expiry),
            ..sent
        }
    );
    let p = sub.recv().await;
    assert_eq!(seen(&p), exp(t, QoS::AtLeastOnce, false, "bare"));
    assert_eq!(props(&p), PublishProperties::default());
}

/// Request / response: CONNACK carries Response Information when the client asks for it
/// (Request Response Information 1, 3.2.2.3.15); the responder answers on the request's Response
/// Topic with its Correlation Data, which the requester gets back unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_request_response_with_correlation_data() {
    let b = TestBroker::start_with(|s| s.response_information = "interop/rq/resp/".into()).await;
    let mut o = opts5(b.addr, "rq5-requester");
    o.set_request_response_info(Some(1));
    let mut req = Client5::connect(o).await;
    let info = req
        .connack
        .properties
        .as_ref()
        .and_then(|p| p.response_information.clone());
    assert_eq!(info.as_deref(), Some("interop/rq/resp/"));
    let reply_to = format!("{}rq5-requester", info.unwrap_or_default());
    req.subscribe(&reply_to, QoS::AtLeastOnce).await;

    let mut resp = Client5::connect(opts5(b.addr, "rq5-responder")).await;
    resp.subscribe("interop/rq/v5/service", QoS::AtLeastOnce)
        .await;
    // Without asking, no Response Information.
    assert_eq!(
        resp.connack
            .properties
            .as_ref()
            .and_then(|p| p.response_information.clone()),
        None
    );

    for n in 1..=2u8 {
        let ask = PublishProperties {
            response_topic: Some(reply_to.clone()),
            correlation_data: Some(Bytes::from(vec![n, 0, 255])),
            ..Default::default()
        };
        req.publish_with(
            "interop/rq/v5/service",
            QoS::AtLeastOnce,
            false,
            format!("ping-{n}"),
            ask,
        )
        .await;
        let q = resp.recv().await;
        assert_eq!(text(&q.payload), format!("ping-{n}"));
        let qp = props(&q);
        let answer = PublishProperties {
            correlation_data: qp.correlation_data.clone(),
            ..Default::default()
        };
        let topic = qp.response_topic.expect("response topic");
        resp.publish_with(&topic, QoS::AtLeastOnce, false, format!("pong-{n}"), answer)
            .await;
        let r = req.recv().await;
        assert_eq!(
            seen(&r),
            exp(&reply_to, QoS::AtLeastOnce, false, &format!("pong-{n}"))
        );
        assert_eq!(
            props(&r).correlation_data,
            Some(Bytes::from(vec![n, 0, 255]))
        );
    }
}

// ---------------------------------------------------------------- message expiry

/// Message Expiry Interval: a retained message and a message queued for an offline session are
/// dropped once expired ([MQTT-3.3.2-5]); those still alive arrive with the interval counted down by
/// the time they waited ([MQTT-3.3.2-6]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_message_expiry_drops_retained_and_queued_messages() {
    let b = TestBroker::start().await;
    let queued = "interop/rq/v5/expiry/queued";
    let mut away = Client5::connect(persistent(&b, "rq5-expiry-away", 60)).await;
    away.subscribe(queued, QoS::AtLeastOnce).await;
    away.disconnect().await;

    let mut publ = Client5::connect(opts5(b.addr, "rq5-expiry-pub")).await;
    let expiring = |secs| PublishProperties {
        message_expiry_interval: Some(secs),
        ..Default::default()
    };
    for (topic, retain) in [("interop/rq/v5/expiry/retained", true), (queued, false)] {
        publ.publish_with(topic, QoS::AtLeastOnce, retain, "short", expiring(1))
            .await;
        publ.publish_with(topic, QoS::AtLeastOnce, retain, "long", expiring(30))
            .await;
    }
    // Retained messages are kept per topic: "long" replaced "short" there, so a second topic.
    publ.publish_with(
        "interop/rq/v5/expiry/retained2",
        QoS::AtLeastOnce,
        true,
        "short",
        expiring(1),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let mut back = Client5::connect(persistent(&b, "rq5-expiry-away", 60)).await;
    assert!(back.connack.session_present);
    let p = back.recv().await;
    assert_eq!(seen(&p), exp(queued, QoS::AtLeastOnce, false, "long"));
    let left = props(&p).message_expiry_interval.expect("expiry");
    assert!((26..=28).contains(&left), "30 s after ~2.1 s: {left}");
    back.events.assert_no_publish().await;

    let mut late = Client5::connect(opts5(b.addr, "rq5-expiry-late")).await;
    late.subscribe("interop/rq/v5/expiry/#", QoS::AtLeastOnce)
        .await;
    let p = late.recv().await;
    assert_eq!(
        seen(&p),
        exp(
            "interop/rq/v5/expiry/retained",
            QoS::AtLeastOnce,
            true,
            "long"
        )
    );
    let left = props(&p).message_expiry_interval.expect("expiry");
    assert!((26..=28).contains(&left), "30 s after ~2.1 s: {left}");
    late.events.assert_no_publish().await;
}

// ---------------------------------------------------------------- subscription identifiers

/// Subscription Identifiers come back with the messages they matched: a message matching two
/// subscriptions of one client is sent once with both identifiers ([MQTT-3.3.4-4], order not
/// significant), one matching a subscription without an identifier carries none, and a
/// re-subscription replaces the identifier ([MQTT-3.8.4-3] replaces the subscription).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_subscription_identifiers() {
    let b = TestBroker::start().await;
    let mut c = Client5::connect(opts5(b.addr, "rq5-subid")).await;
    for (filter, id) in [("interop/rq/v5/sid/+", 7), ("interop/rq/v5/sid/#", 9)] {
        let ack = c
            .subscribe_filter(Filter::new(filter, QoS::AtLeastOnce), Some(id))
            .await;
        assert_eq!(
            ack.return_codes,
            [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        );
    }
    c.subscribe("interop/rq/v5/plain", QoS::AtLeastOnce).await;
    let mut publ = Client5::connect(opts5(b.addr, "rq5-subid-pub")).await;

    let ids = |p: &rumqttc::v5::mqttbytes::v5::Publish| {
        let mut v = props(p).subscription_identifiers;
        v.sort_unstable();
        v
    };
    publ.publish("interop/rq/v5/sid/a", QoS::AtLeastOnce, false, "both")
        .await;
    let p = c.recv().await;
    assert_eq!((text(&p.payload), ids(&p)), ("both".into(), vec![7, 9]));
    c.events.assert_no_publish().await;

    publ.publish("interop/rq/v5/sid/a/deeper", QoS::AtLeastOnce, false, "one")
        .await;
    let p = c.recv().await;
    assert_eq!((text(&p.payload), ids(&p)), ("one".into(), vec![9]));

    publ.publish("interop/rq/v5/plain", QoS::AtLeastOnce, false, "none")
        .await;
    let p = c.recv().await;
    assert_eq!((text(&p.payload), ids(&p)), ("none".into(), vec![]));

    c.subscribe_filter(
        Filter::new("interop/rq/v5/sid/+", QoS::AtLeastOnce),
        Some(8),
    )
    .await;
    publ.publish("interop/rq/v5/sid/b", QoS::AtLeastOnce, false, "replaced")
        .await;
    let p = c.recv().await;
    assert_eq!((text(&p.payload), ids(&p)), ("replaced".into(), vec![8, 9]));
}

// ---------------------------------------------------------------- topic aliases

/// Topic aliases in both directions.
///
/// From rumqttc: an alias set with a topic, then used with an empty topic, then re-mapped to
/// another topic (3.3.2.3.4) reaches the subscriber under the full topic names, without the alias
/// (aliases are per connection, and the subscriber allowed none: [MQTT-3.1.2-27]); rumqttc checks
/// aliases against the broker's Topic Alias Maximum from CONNACK and refuses a larger one itself.
///
/// To rumqttc (it announced Topic Alias Maximum 4): the broker sends the topic with a new alias,
/// then the alias alone. rumqttc 0.25 records the mapping but hands the application the PUBLISH as
/// it came off the wire, with an empty topic (its event is a copy taken before the alias is
/// resolved), so the test resolves it as the specification requires of the receiver (3.3.2.3.4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_topic_aliases_both_ways() {
    let b = TestBroker::start_with(|s| s.max_topic_alias = 4).await;
    let mut sub = Client5::connect(opts5(b.addr, "rq5-alias-sub")).await;
    sub.subscribe("interop/rq/v5/alias/#", QoS::AtLeastOnce)
        .await;
    let mut publ = Client5::connect(opts5(b.addr, "rq5-alias-pub")).await;
    let topic_alias_max = publ
        .connack
        .properties
        .as_ref()
        .and_then(|p| p.topic_alias_max);
    assert_eq!(topic_alias_max, Some(4));
    let alias = |n| PublishProperties {
        topic_alias: Some(n),
        ..Default::default()
    };
    for (topic, payload) in [
        ("interop/rq/v5/alias/a", "set"),
        ("", "use"),
        ("interop/rq/v5/alias/b", "remap"),
        ("", "use-remapped"),
    ] {
        publ.publish_with(topic, QoS::AtLeastOnce, false, payload, alias(1))
            .await;
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        let p = sub.recv().await;
        assert_eq!(props(&p).topic_alias, None, "{p:?}");
        got.push((text(&p.topic), text(&p.payload)));
    }
    let pair = |t: &str, p: &str| (t.to_owned(), p.to_owned());
    assert_eq!(
        got,
        [
            pair("interop/rq/v5/alias/a", "set"),
            pair("interop/rq/v5/alias/a", "use"),
            pair("interop/rq/v5/alias/b", "remap"),
            pair("interop/rq/v5/alias/b", "use-remapped"),
        ]
    );

    // Broker -> rumqttc.
    let mut o = opts5(b.addr, "rq5-alias-in");
    o.set_topic_alias_max(Some(4));
    let mut inbound = Client5::connect(o).await;
    inbound
        .subscribe("interop/rq/v5/alias-in", QoS::AtLeastOnce)
        .await;
    for n in 1..=3 {
        publ.publish(
            "interop/rq/v5/alias-in",
            QoS::AtLeastOnce,
            false,
            format!("in-{n}"),
        )
        .await;
    }
    let mut known: std::collections::HashMap<u16, String> = Default::default();
    for n in 1..=3 {
        let p = inbound.recv().await;
        let a = props(&p).topic_alias.expect("the broker uses an alias");
        assert!((1..=4).contains(&a), "alias {a}");
        // The topic goes with the first use of the alias only.
        assert_eq!(p.topic.is_empty(), n > 1, "{p:?}");
        if !p.topic.is_empty() {
            known.insert(a, text(&p.topic));
        }
        assert_eq!(
            (known.get(&a).cloned(), text(&p.payload)),
            (Some("interop/rq/v5/alias-in".to_owned()), format!("in-{n}"))
        );
    }

    // An alias above the broker's maximum never leaves rumqttc.
    publ.client
        .publish_with_properties(
            "interop/rq/v5/alias/c",
            QoS::AtLeastOnce,
            false,
            "x",
            alias(5),
        )
        .await
        .expect("queue PUBLISH");
    match publ.events.error().await {
        ConnectionError::MqttState(StateError::InvalidAlias { alias: 5, max: 4 }) => {}
        other => panic!("expected rumqttc's InvalidAlias, got {other:?}"),
    }
    sub.events.assert_no_publish().await;
}
