//! Server → client: incoming publishes (auto-ack, manual ack, topic aliases) and how the event stream ends.

mod common;

use bytes::Bytes;
use common::{FakeServer, ServerConn, WAIT, resp};
use linkmq_client::{
    Client, ClientError, ConnAck, ConnectOptions, Disconnect, Event, Packet, Protocol, Publish,
    QoS, ReasonCode,
};

async fn connected(opts: impl FnOnce(ConnectOptions) -> ConnectOptions) -> (Client, ServerConn) {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(opts(ConnectOptions::new(
        &server.addr,
        "c1",
    ))));
    let (conn, _) = server.accept_ok(Protocol::V5, ConnAck::default()).await;
    let (client, _) = client.await.expect("join").expect("connect");
    (client, conn)
}

fn publish(topic: &str, qos: QoS, pkid: u16) -> Publish {
    Publish {
        qos,
        pkid,
        topic: topic.into(),
        payload: Bytes::from_static(b"m"),
        ..Default::default()
    }
}

async fn next_publish(client: &Client) -> Publish {
    match client.recv_timeout(WAIT).await {
        Some(Event::Publish(p)) => p,
        other => panic!("expected a publish event, got {other:?}"),
    }
}

#[tokio::test]
async fn incoming_qos1_and_qos2_are_acknowledged_automatically() {
    let (client, mut conn) = connected(|o| o).await;
    conn.send(Packet::Publish(publish("a", QoS::AtLeastOnce, 7)))
        .await;
    assert_eq!(next_publish(&client).await.pkid, 7);
    match conn.recv().await {
        Packet::PubAck(ack) => assert_eq!((ack.pkid, ack.reason), (7, ReasonCode::Success)),
        other => panic!("expected PUBACK, got {other:?}"),
    }

    conn.send(Packet::Publish(publish("b", QoS::ExactlyOnce, 8)))
        .await;
    let p = next_publish(&client).await;
    assert_eq!(
        (p.topic.as_str(), p.qos, p.pkid),
        ("b", QoS::ExactlyOnce, 8)
    );
    match conn.recv().await {
        Packet::PubRec(rec) => assert_eq!(rec.pkid, 8),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    conn.send(Packet::PubRel(resp(8, ReasonCode::Success)))
        .await;
    match conn.recv().await {
        Packet::PubComp(comp) => assert_eq!((comp.pkid, comp.reason), (8, ReasonCode::Success)),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
}

#[tokio::test]
async fn incoming_publish_keeps_dup_flag_and_properties() {
    let (client, mut conn) = connected(|o| o).await;
    let mut p = publish("a", QoS::AtLeastOnce, 3);
    p.dup = true;
    p.properties.subscription_identifiers = vec![4, 5];
    p.properties.content_type = Some("text/plain".into());
    conn.send(Packet::Publish(p.clone())).await;
    assert_eq!(next_publish(&client).await, p);
}

#[tokio::test]
async fn manual_ack_sends_puback_and_pubrec_only_when_asked() {
    let (client, mut conn) = connected(|o| o.auto_ack(false)).await;
    conn.send(Packet::Publish(publish("a", QoS::AtLeastOnce, 1)))
        .await;
    conn.send(Packet::Publish(publish("b", QoS::ExactlyOnce, 2)))
        .await;
    let first = next_publish(&client).await;
    let second = next_publish(&client).await;
    conn.expect_silence().await;

    client.ack(&first).await.expect("ack qos1");
    match conn.recv().await {
        Packet::PubAck(ack) => assert_eq!(ack.pkid, 1),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    client.ack(&second).await.expect("ack qos2");
    match conn.recv().await {
        Packet::PubRec(rec) => assert_eq!(rec.pkid, 2),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    conn.send(Packet::PubRel(resp(2, ReasonCode::Success)))
        .await;
    match conn.recv().await {
        Packet::PubComp(comp) => assert_eq!(comp.pkid, 2),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
}

#[tokio::test]
async fn incoming_topic_alias_is_resolved_and_can_be_remapped() {
    let (client, mut conn) = connected(|o| o.topic_alias_maximum(10)).await;
    let mut first = publish("x/y", QoS::AtMostOnce, 0);
    first.properties.topic_alias = Some(1);
    conn.send(Packet::Publish(first)).await;
    let mut by_alias = publish("", QoS::AtMostOnce, 0);
    by_alias.properties.topic_alias = Some(1);
    conn.send(Packet::Publish(by_alias.clone())).await;
    let mut remap = publish("z", QoS::AtMostOnce, 0);
    remap.properties.topic_alias = Some(1);
    conn.send(Packet::Publish(remap)).await;
    conn.send(Packet::Publish(by_alias)).await;

    let topics: Vec<(String, Option<u16>)> = {
        let mut out = Vec::new();
        for _ in 0..4 {
            let p = next_publish(&client).await;
            out.push((p.topic, p.properties.topic_alias));
        }
        out
    };
    let expected =
        [("x/y", 1), ("x/y", 1), ("z", 1), ("z", 1)].map(|(t, a)| (t.to_owned(), Some(a)));
    assert_eq!(topics, expected);
}

#[tokio::test]
async fn unknown_topic_alias_is_a_protocol_error() {
    let (client, mut conn) = connected(|o| o.topic_alias_maximum(10)).await;
    let mut p = publish("", QoS::AtMostOnce, 0);
    p.properties.topic_alias = Some(2);
    conn.send(Packet::Publish(p)).await;
    match conn.recv().await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::ProtocolError),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert_eq!(client.recv_timeout(WAIT).await, Some(Event::Closed));
    assert_eq!(client.recv_timeout(WAIT).await, None);
}

#[tokio::test]
async fn topic_alias_above_our_maximum_is_refused_with_0x94() {
    let (client, mut conn) = connected(|o| o.topic_alias_maximum(2)).await;
    let mut p = publish("t", QoS::AtMostOnce, 0);
    p.properties.topic_alias = Some(3);
    conn.send(Packet::Publish(p)).await;
    match conn.recv().await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::TopicAliasInvalid),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert_eq!(client.recv_timeout(WAIT).await, Some(Event::Closed));
}

#[tokio::test]
async fn server_disconnect_is_the_last_event() {
    let (client, mut conn) = connected(|o| o).await;
    conn.send(Packet::Publish(publish("a", QoS::AtMostOnce, 0)))
        .await;
    let d = Disconnect {
        reason: ReasonCode::SessionTakenOver,
        properties: Default::default(),
    };
    conn.send(Packet::Disconnect(d.clone())).await;
    assert_eq!(next_publish(&client).await.topic, "a");
    assert_eq!(client.recv_timeout(WAIT).await, Some(Event::Disconnect(d)));
    assert_eq!(client.recv_timeout(WAIT).await, None);
    assert!(client.is_closed());
}

#[tokio::test]
async fn server_eof_yields_closed_and_fails_waiting_requests() {
    let (client, mut conn) = connected(|o| o).await;
    let publishing = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "x", QoS::AtLeastOnce, false).await }
    });
    let Packet::Publish(_) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    drop(conn);
    assert_eq!(client.recv_timeout(WAIT).await, Some(Event::Closed));
    assert_eq!(client.recv_timeout(WAIT).await, None);
    assert!(matches!(
        publishing.await.expect("join"),
        Err(ClientError::ConnectionClosed)
    ));
    assert!(matches!(
        client.subscribe("a", QoS::AtMostOnce).await,
        Err(ClientError::ConnectionClosed)
    ));
}

#[tokio::test]
async fn packet_larger_than_our_maximum_closes_with_0x95() {
    let (client, mut conn) = connected(|o| o.max_packet_size(64)).await;
    let mut p = publish("t", QoS::AtMostOnce, 0);
    p.payload = Bytes::from(vec![1u8; 100]);
    conn.send(Packet::Publish(p)).await;
    match conn.recv().await {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::PacketTooLarge),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert_eq!(client.recv_timeout(WAIT).await, Some(Event::Closed));
}
