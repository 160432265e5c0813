//! Connection-level behaviour: keep-alive, Receive Maximum, abort, batching, and [`RawConnection`].

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{FakeServer, ServerConn, WAIT, resp};
use linkmq_client::{
    Client, ClientError, ConnAck, ConnectOptions, Event, Packet, Protocol, Publish, QoS,
    RawConnection, ReasonCode,
};
use tokio::time::Instant;

async fn connected(
    opts: impl FnOnce(ConnectOptions) -> ConnectOptions,
    ack: ConnAck,
) -> (Client, ServerConn) {
    let server = FakeServer::bind().await;
    let client = tokio::spawn(Client::connect(opts(ConnectOptions::new(
        &server.addr,
        "c1",
    ))));
    let (conn, _) = server.accept_ok(Protocol::V5, ack).await;
    let (client, _) = client.await.expect("join").expect("connect");
    (client, conn)
}

#[tokio::test]
async fn pingreq_is_sent_when_idle_for_the_keep_alive() {
    let (client, mut conn) = connected(|o| o.keep_alive(1), ConnAck::default()).await;
    let start = Instant::now();
    for _ in 0..2 {
        assert_eq!(conn.recv().await, Packet::PingReq);
        conn.send(Packet::PingResp).await;
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900),
        "two pings after {elapsed:?}"
    );
    assert!(!client.is_closed());
}

#[tokio::test]
async fn server_keep_alive_overrides_ours() {
    let mut ack = ConnAck::default();
    ack.properties.server_keep_alive = Some(1);
    let (_client, mut conn) = connected(|o| o.keep_alive(600), ack).await;
    assert_eq!(conn.recv().await, Packet::PingReq);
}

#[tokio::test]
async fn missing_pingresp_closes_the_connection() {
    let (client, mut conn) = connected(|o| o.keep_alive(1), ConnAck::default()).await;
    assert_eq!(conn.recv().await, Packet::PingReq);
    assert!(conn.raw.closed_within(WAIT).await);
    assert_eq!(client.recv_timeout(WAIT).await, Some(Event::Closed));
}

#[tokio::test]
async fn receive_maximum_limits_outstanding_publishes() {
    let mut ack = ConnAck::default();
    ack.properties.receive_maximum = Some(2);
    let (client, mut conn) = connected(|o| o, ack).await;
    let mut tasks = Vec::new();
    for qos in [
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
        QoS::AtLeastOnce,
        QoS::AtLeastOnce,
    ] {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.publish("t", "x", qos, false).await
        }));
    }
    let mut outstanding = Vec::new();
    for _ in 0..2 {
        let Packet::Publish(p) = conn.recv().await else {
            panic!("expected PUBLISH")
        };
        outstanding.push(p);
    }
    conn.expect_silence().await;

    // Completing one flow frees exactly one slot.
    let first = outstanding.remove(0);
    complete(&mut conn, &first).await;
    let Packet::Publish(third) = conn.recv().await else {
        panic!("expected the third PUBLISH")
    };
    conn.expect_silence().await;
    outstanding.push(third);

    for p in outstanding.drain(..) {
        complete(&mut conn, &p).await;
    }
    let Packet::Publish(fourth) = conn.recv().await else {
        panic!("expected the fourth PUBLISH")
    };
    complete(&mut conn, &fourth).await;
    for task in tasks {
        assert_eq!(
            task.await.expect("join").expect("publish"),
            ReasonCode::Success
        );
    }
}

/// Acknowledges an outgoing publish as a server would (PUBACK, or PUBREC + wait PUBREL + PUBCOMP).
async fn complete(conn: &mut ServerConn, p: &Publish) {
    match p.qos {
        QoS::AtLeastOnce => {
            conn.send(Packet::PubAck(resp(p.pkid, ReasonCode::Success)))
                .await
        }
        QoS::ExactlyOnce => {
            conn.send(Packet::PubRec(resp(p.pkid, ReasonCode::Success)))
                .await;
            match conn.recv().await {
                Packet::PubRel(rel) => assert_eq!(rel.pkid, p.pkid),
                other => panic!("expected PUBREL, got {other:?}"),
            }
            conn.send(Packet::PubComp(resp(p.pkid, ReasonCode::Success)))
                .await;
        }
        QoS::AtMostOnce => {}
    }
}

#[tokio::test]
async fn cancelled_publish_waiting_for_a_slot_does_not_leak_it() {
    let mut ack = ConnAck::default();
    ack.properties.receive_maximum = Some(1);
    let (client, mut conn) = connected(|o| o, ack).await;
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "1", QoS::AtLeastOnce, false).await }
    });
    let Packet::Publish(p1) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    let waited = tokio::time::timeout(
        Duration::from_millis(100),
        client.publish("t", "2", QoS::AtLeastOnce, false),
    )
    .await;
    assert!(waited.is_err(), "second publish must wait for the slot");
    conn.send(Packet::PubAck(resp(p1.pkid, ReasonCode::Success)))
        .await;
    first.await.expect("join").expect("publish");
    let third = tokio::spawn({
        let client = client.clone();
        async move { client.publish("t", "3", QoS::AtLeastOnce, false).await }
    });
    let Packet::Publish(p3) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    assert_eq!(&p3.payload[..], b"3");
    conn.send(Packet::PubAck(resp(p3.pkid, ReasonCode::Success)))
        .await;
    third.await.expect("join").expect("publish");
}

#[tokio::test]
async fn abort_closes_the_socket_without_disconnect() {
    let (client, mut conn) = connected(|o| o, ConnAck::default()).await;
    client.abort();
    match conn.raw.recv(Protocol::V5, WAIT).await {
        Ok(None) => {}
        other => panic!("expected EOF without DISCONNECT, got {other:?}"),
    }
    assert_eq!(client.recv_timeout(WAIT).await, Some(Event::Closed));
    assert!(matches!(
        client.publish("t", "x", QoS::AtMostOnce, false).await,
        Err(ClientError::ConnectionClosed)
    ));
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_socket() {
    let (client, mut conn) = connected(|o| o, ConnAck::default()).await;
    let other = client.clone();
    drop(client);
    conn.expect_silence().await;
    drop(other);
    assert!(matches!(conn.raw.recv(Protocol::V5, WAIT).await, Ok(None)));
}

#[tokio::test]
async fn many_queued_qos0_publishes_arrive_in_order() {
    const N: usize = 20_000;
    let (client, mut conn) = connected(|o| o, ConnAck::default()).await;
    let publisher = tokio::spawn({
        let client = client.clone();
        async move {
            for i in 0..N {
                let publish = Publish {
                    topic: "bench".into(),
                    payload: Bytes::from(i.to_string()),
                    ..Default::default()
                };
                client.publish_nowait(publish).await?;
            }
            client.publish("bench", "end", QoS::AtMostOnce, false).await
        }
    });
    for i in 0..N {
        let Packet::Publish(p) = conn.recv().await else {
            panic!("expected PUBLISH")
        };
        assert_eq!(p.payload, Bytes::from(i.to_string()));
    }
    let Packet::Publish(end) = conn.recv().await else {
        panic!("expected PUBLISH")
    };
    assert_eq!(&end.payload[..], b"end");
    publisher.await.expect("join").expect("publish");
}

#[tokio::test]
async fn publish_nowait_rejects_qos1() {
    let (client, _conn) = connected(|o| o, ConnAck::default()).await;
    let publish = Publish {
        qos: QoS::AtLeastOnce,
        topic: "t".into(),
        ..Default::default()
    };
    assert!(matches!(
        client.publish_nowait(publish).await,
        Err(ClientError::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn raw_connection_sends_packets_and_bytes_and_sees_eof() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut raw = RawConnection::connect(&addr).await.expect("connect");
    let (stream, _) = listener.accept().await.expect("accept");
    let mut server = RawConnection::from_stream(stream);

    raw.send(&Packet::PingReq, Protocol::V5)
        .await
        .expect("send");
    assert_eq!(
        server.recv(Protocol::V5, WAIT).await.expect("recv"),
        Some(Packet::PingReq)
    );
    raw.send_bytes(&[0xD0, 0x00]).await.expect("send bytes"); // PINGRESP
    assert_eq!(
        server.recv(Protocol::V5, WAIT).await.expect("recv"),
        Some(Packet::PingResp)
    );

    assert!(matches!(
        raw.recv(Protocol::V5, Duration::from_millis(100)).await,
        Err(ClientError::Timeout)
    ));
    assert!(!raw.closed_within(Duration::from_millis(100)).await);

    raw.send_bytes(&[0xF0, 0x00]).await.expect("send bytes"); // packet type 15 is AUTH, which v3.1.1 lacks
    assert!(matches!(
        server.recv(Protocol::V311, WAIT).await,
        Err(ClientError::Decode(_))
    ));

    server
        .send(&Packet::PingResp, Protocol::V5)
        .await
        .expect("send");
    drop(server);
    assert_eq!(
        raw.recv(Protocol::V5, WAIT).await.expect("recv"),
        Some(Packet::PingResp)
    );
    assert_eq!(raw.recv(Protocol::V5, WAIT).await.expect("recv"), None);
}

#[tokio::test]
async fn raw_closed_within_discards_data_until_eof() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut raw = RawConnection::connect(&addr).await.expect("connect");
    let (stream, _) = listener.accept().await.expect("accept");
    let mut server = RawConnection::from_stream(stream);
    server.send_bytes(b"garbage").await.expect("send");
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(server);
    });
    assert!(raw.closed_within(WAIT).await);
}
