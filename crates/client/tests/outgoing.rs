//! Client → server flows: CONNECT/CONNACK, PUBLISH at each QoS, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT.

mod common;

use bytes::Bytes;
use common::{FakeServer, resp};
use linkmq_client::{
    Client, ClientError, ConnAck, ConnectOptions, LastWill, Packet, Properties, Protocol, Publish,
    QoS, ReasonCode, SubAck, SubOptions, SubscribeFilter, UnsubAck,
};

fn connack() -> ConnAck {
    ConnAck::default()
}

#[tokio::test]
async fn connect_sends_options_and_returns_the_connack() {
    let server = FakeServer::bind().await;
    let opts = ConnectOptions::new(&server.addr, "c1")
        .clean_start(false)
        .keep_alive(30)
        .credentials("user", Bytes::from_static(b"pw"))
        .session_expiry(120)
        .receive_maximum(10)
        .topic_alias_maximum(5)
        .user_property("k", "v")
        .will(LastWill {
            topic: "will/t".into(),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        });
    let client = tokio::spawn(Client::connect(opts));
    let (mut conn, connect) = server.accept(Protocol::V5).await;
    assert_eq!(connect.client_id, "c1");
    assert!(!connect.clean_start);
    assert_eq!(connect.keep_alive, 30);
    assert_eq!(connect.username.as_deref(), Some("user"));
    assert_eq!(connect.password.as_deref(), Some(&b"pw"[..]));
    assert_eq!(connect.properties.session_expiry_interval, Some(120));
    assert_eq!(connect.properties.receive_maximum, Some(10));
    assert_eq!(connect.properties.topic_alias_maximum, Some(5));
    assert_eq!(
        connect.properties.user_properties,
        vec![("k".to_owned(), "v".to_owned())]
    );
    assert_eq!(
        connect.will.as_ref().map(|w| w.topic.as_str()),
        Some("will/t")
    );

    let mut ack = connack();
    ack.session_present = true;
    ack.properties.assigned_client_identifier = Some("assigned".into());
    conn.send(Packet::ConnAck(ack.clone())).await;
    let (_client, got) = client.await.expect("join").expect("connect");
    assert_eq!(got, ack);
}

#[tokio::test]
async fn refused_connack_is_an_error_carrying_it() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept(Protocol::V5).await;
    conn.send(Packet::ConnAck(ConnAck {
        reason: ReasonCode::NotAuthorized,
        ..connack()
    }))
    .await;
    match client.await.expect("join") {
        Err(ClientError::Refused(ack)) => assert_eq!(ack.reason, ReasonCode::NotAuthorized),
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_times_out_without_connack() {
    let server = FakeServer::bind().await;
    let opts = ConnectOptions::new(&server.addr, "c1")
        .connect_timeout(std::time::Duration::from_millis(200));
    let client = tokio::spawn(Client::connect(opts));
    let (_conn, _) = server.accept(Protocol::V5).await;
    assert!(matches!(
        client.await.expect("join"),
        Err(ClientError::Timeout)
    ));
}

#[tokio::test]
async fn qos0_publish_returns_once_written() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let reason = client
        .publish("a/b", "hello", QoS::AtMostOnce, true)
        .await
        .expect("publish");
    assert_eq!(reason, ReasonCode::Success);
    match conn.recv().await {
        Packet::Publish(p) => {
            assert_eq!(
                (p.topic.as_str(), &p.payload[..], p.qos, p.retain, p.pkid),
                ("a/b", &b"hello"[..], QoS::AtMostOnce, true, 0)
            );
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

#[tokio::test]
async fn qos1_publish_waits_for_puback_and_returns_its_reason() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let publishing = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "x", QoS::AtLeastOnce, false).await }
    });
    let Packet::Publish(p) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert_ne!(p.pkid, 0);
    assert!(!publishing.is_finished());
    conn.send(Packet::PubAck(resp(
        p.pkid,
        ReasonCode::NoMatchingSubscribers,
    )))
    .await;
    assert_eq!(
        publishing.await.expect("join").expect("publish"),
        ReasonCode::NoMatchingSubscribers
    );
}

#[tokio::test]
async fn qos2_publish_sends_pubrel_after_pubrec_and_completes_on_pubcomp() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let publishing = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "x", QoS::ExactlyOnce, false).await }
    });
    let Packet::Publish(p) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    assert_eq!(p.qos, QoS::ExactlyOnce);
    conn.send(Packet::PubRec(resp(p.pkid, ReasonCode::Success)))
        .await;
    match conn.recv().await {
        Packet::PubRel(rel) => assert_eq!((rel.pkid, rel.reason), (p.pkid, ReasonCode::Success)),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    assert!(!publishing.is_finished());
    conn.send(Packet::PubComp(resp(p.pkid, ReasonCode::Success)))
        .await;
    assert_eq!(
        publishing.await.expect("join").expect("publish"),
        ReasonCode::Success
    );
}

#[tokio::test]
async fn qos2_refused_by_pubrec_ends_without_pubrel() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let publishing = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "x", QoS::ExactlyOnce, false).await }
    });
    let Packet::Publish(p) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    conn.send(Packet::PubRec(resp(p.pkid, ReasonCode::QuotaExceeded)))
        .await;
    assert_eq!(
        publishing.await.expect("join").expect("publish"),
        ReasonCode::QuotaExceeded
    );
    conn.expect_silence().await;
}

#[tokio::test]
async fn qos2_failed_pubcomp_reason_is_returned() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let publishing = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "x", QoS::ExactlyOnce, false).await }
    });
    let Packet::Publish(p) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    conn.send(Packet::PubRec(resp(
        p.pkid,
        ReasonCode::NoMatchingSubscribers,
    )))
    .await;
    let Packet::PubRel(_) = conn.recv().await else {
        panic!("expected PUBREL")
    };
    conn.send(Packet::PubComp(resp(
        p.pkid,
        ReasonCode::PacketIdentifierNotFound,
    )))
    .await;
    assert_eq!(
        publishing.await.expect("join").expect("publish"),
        ReasonCode::PacketIdentifierNotFound
    );
}

#[tokio::test]
async fn concurrent_publishes_get_distinct_packet_ids() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let mut tasks = Vec::new();
    for i in 0..5 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
                .await
        }));
    }
    let mut pkids = Vec::new();
    for _ in 0..5 {
        let Packet::Publish(p) = conn.recv().await else {
            panic!("expected PUBLISH")
        };
        pkids.push(p.pkid);
    }
    let mut unique = pkids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 5, "packet ids {pkids:?}");
    for pkid in pkids {
        conn.send(Packet::PubAck(resp(pkid, ReasonCode::Success)))
            .await;
    }
    for task in tasks {
        assert_eq!(
            task.await.expect("join").expect("publish"),
            ReasonCode::Success
        );
    }
}

#[tokio::test]
async fn publish_larger_than_server_maximum_packet_size_is_refused_locally() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let mut ack = connack();
    ack.properties.maximum_packet_size = Some(100);
    let (mut conn, _) = server.accept_ok(Protocol::V5, ack).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let err = client
        .publish("t", vec![0u8; 200], QoS::AtLeastOnce, false)
        .await
        .expect_err("too large");
    assert!(
        matches!(err, ClientError::PacketTooLarge { max: 100, .. }),
        "{err:?}"
    );
    client
        .publish("t", "small", QoS::AtMostOnce, false)
        .await
        .expect("small publish");
    let Packet::Publish(p) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    assert_eq!(&p.payload[..], b"small");
}

#[tokio::test]
async fn publish_with_keeps_properties_and_topic_alias() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    let mut publish = Publish {
        topic: String::new(),
        payload: Bytes::from_static(b"p"),
        ..Default::default()
    };
    publish.properties.topic_alias = Some(3);
    publish
        .properties
        .user_properties
        .push(("a".into(), "b".into()));
    client.publish_with(publish.clone()).await.expect("publish");
    let Packet::Publish(p) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    assert_eq!(p, publish);
}

#[tokio::test]
async fn subscribe_and_unsubscribe_return_their_acks() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");

    let subscribing = tokio::spawn({
        let client = client.clone();
        async move {
            let filters = vec![
                SubscribeFilter {
                    filter: "a/#".into(),
                    options: SubOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        ..Default::default()
                    },
                },
                SubscribeFilter {
                    filter: "b".into(),
                    options: SubOptions::default(),
                },
            ];
            let props = Properties::from(linkmq_codec::PropertyValues {
                subscription_identifiers: vec![7],
                ..Default::default()
            });
            client.subscribe_with(filters, props).await
        }
    });
    let Packet::Subscribe(sub) = conn.recv().await else {
        panic!("expected SUBSCRIBE")
    };
    assert_eq!(sub.filters.len(), 2);
    assert!(sub.filters[0].options.no_local);
    assert_eq!(sub.properties.subscription_identifiers, vec![7]);
    let suback = SubAck {
        pkid: sub.pkid,
        reasons: vec![ReasonCode::GrantedQoS2, ReasonCode::NotAuthorized],
        properties: Properties::default(),
    };
    conn.send(Packet::SubAck(suback.clone())).await;
    assert_eq!(subscribing.await.expect("join").expect("subscribe"), suback);

    let unsubscribing = tokio::spawn({
        let client = client.clone();
        async move { client.unsubscribe(&["a/#", "b"]).await }
    });
    let Packet::Unsubscribe(unsub) = conn.recv().await else {
        panic!("expected UNSUBSCRIBE")
    };
    assert_eq!(unsub.filters, vec!["a/#".to_owned(), "b".to_owned()]);
    let unsuback = UnsubAck {
        pkid: unsub.pkid,
        reasons: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
        properties: Properties::default(),
    };
    conn.send(Packet::UnsubAck(unsuback.clone())).await;
    assert_eq!(
        unsubscribing.await.expect("join").expect("unsubscribe"),
        unsuback
    );
}

#[tokio::test]
async fn disconnect_sends_reason_then_closes() {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(ConnectOptions::new(&server.addr, "c1")));
    let (mut conn, _) = server.accept_ok(Protocol::V5, connack()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    client
        .disconnect_with(ReasonCode::DisconnectWithWillMessage, Properties::default())
        .await
        .expect("disconnect");
    assert!(client.is_closed());
    match conn.recv().await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::DisconnectWithWillMessage),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert!(conn.raw.closed_within(common::WAIT).await);
    assert!(matches!(
        client.publish("t", "x", QoS::AtMostOnce, false).await,
        Err(ClientError::ConnectionClosed)
    ));
}

#[tokio::test]
async fn v311_publish_and_subscribe() {
    let server = FakeServer::bind().await;
    let opts = ConnectOptions::new(&server.addr, "c1")
        .protocol(Protocol::V311)
        .session_expiry(10);
    let client = tokio::spawn(Client::connect(opts));
    let (mut conn, connect) = server.accept_ok(Protocol::V311, connack()).await;
    assert_eq!(connect.protocol, Protocol::V311);
    assert!(
        connect.properties.is_empty(),
        "v3 CONNECT carries no properties"
    );
    let (client, _) = client.await.expect("join").expect("connect");

    let publishing = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "x", QoS::AtLeastOnce, false).await }
    });
    let Packet::Publish(p) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    conn.send(Packet::PubAck(resp(p.pkid, ReasonCode::Success)))
        .await;
    assert_eq!(
        publishing.await.expect("join").expect("publish"),
        ReasonCode::Success
    );

    let subscribing = tokio::spawn({
        let client = client.clone();
        async move { client.subscribe("a/+", QoS::AtLeastOnce).await }
    });
    let Packet::Subscribe(sub) = conn.recv().await else {
        panic!("expected SUBSCRIBE")
    };
    conn.send(Packet::SubAck(SubAck {
        pkid: sub.pkid,
        reasons: vec![ReasonCode::GrantedQoS1],
        properties: Properties::default(),
    }))
    .await;
    assert_eq!(
        subscribing.await.expect("join").expect("subscribe").reasons,
        vec![ReasonCode::GrantedQoS1]
    );
}
