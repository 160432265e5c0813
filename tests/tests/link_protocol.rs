//! The receiver's external route table over the wire, spec §9 scenario 6 (idempotency) and the
//! protocol errors of §5: the real `east` actor plus a second, hand-driven actor of cluster `east`
//! (as another east node would be) talking `$LINK` to a real `west` process.

mod link_support;

use std::time::Duration;

use bytes::Bytes;
use link_support::{Cluster, await_no_route, await_route, link};
use linkmq_client::{Client, ConnectOptions, Event, Properties, Publish, QoS, ReasonCode};
use linkmq_etf::link::{ActorInit, ControlMessage, Heartbeat, RouteBatch, RouteOp};

const UP: Duration = Duration::from_secs(10);
const ROUTE_TOPIC: &str = "$LINK/cluster/route/east";

/// A second route-replication actor of cluster `east`, driven by the test.
struct FakeActor {
    client: Client,
    actor: String,
    incarnation: u64,
}

impl FakeActor {
    async fn connect(west: &Cluster, actor: &str) -> Client {
        let (c, _) = Client::connect(ConnectOptions::new(
            west.addr(),
            format!("east:routesync:{actor}"),
        ))
        .await
        .unwrap();
        c
    }

    /// actor_init; returns need_bootstrap.
    async fn init(client: Client, actor: &str, incarnation: u64) -> (FakeActor, bool) {
        let resp = format!("$LINK/cluster/resp/east/{actor}");
        client.subscribe(&resp, QoS::AtLeastOnce).await.unwrap();
        let init = ActorInit {
            actor: actor.into(),
            incarnation,
            target_cluster: "west".into(),
            proto_ver: 1,
        };
        let publish = Publish {
            topic: ROUTE_TOPIC.into(),
            qos: QoS::AtLeastOnce,
            payload: Bytes::from(ControlMessage::from(init).encode()),
            properties: Properties::from(linkmq_codec::PropertyValues {
                response_topic: Some(resp.clone()),
                correlation_data: Some(Bytes::from_static(b"0123456789abcdef")),
                ..Default::default()
            }),
            ..Publish::default()
        };
        assert_eq!(
            client.publish_with(publish).await.unwrap(),
            ReasonCode::Success
        );
        let ack = loop {
            match client.recv_timeout(UP).await {
                Some(Event::Publish(p)) if p.topic == resp => {
                    assert_eq!(
                        p.properties.correlation_data.as_deref(),
                        Some(&b"0123456789abcdef"[..])
                    );
                    break p;
                }
                Some(Event::Publish(_)) => {}
                other => panic!("no actor_init_ack: {other:?}"),
            }
        };
        let ControlMessage::ActorInitAck(ack) = ControlMessage::decode(&ack.payload).unwrap()
        else {
            panic!("not an ack");
        };
        assert_eq!(ack.result, Ok(()));
        let a = FakeActor {
            client,
            actor: actor.into(),
            incarnation,
        };
        (a, ack.need_bootstrap.expect("ok acks say true or false"))
    }

    async fn send(&self, ops: Vec<RouteOp>) -> ReasonCode {
        let batch = RouteBatch {
            actor: self.actor.clone(),
            incarnation: self.incarnation,
            ops,
        };
        self.client
            .publish(
                ROUTE_TOPIC,
                ControlMessage::from(batch).encode(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .unwrap_or(ReasonCode::UnspecifiedError)
    }

    async fn heartbeat(&self) {
        let hb = Heartbeat {
            actor: self.actor.clone(),
            incarnation: self.incarnation,
        };
        let _ = self
            .client
            .publish(
                ROUTE_TOPIC,
                ControlMessage::from(hb).encode(),
                QoS::AtMostOnce,
                false,
            )
            .await;
    }
}

fn add(f: &str) -> RouteOp {
    RouteOp::Add {
        filter: f.into(),
        route_id: f.into(),
    }
}

fn del(f: &str) -> RouteOp {
    RouteOp::Delete {
        filter: f.into(),
        route_id: f.into(),
    }
}

async fn expect_disconnect_0x83(c: &Client) {
    loop {
        match c.recv_timeout(UP).await {
            Some(Event::Publish(_)) => {}
            Some(Event::Disconnect(d)) => {
                assert_eq!(d.reason, ReasonCode::ImplementationSpecificError);
                return;
            }
            other => panic!("expected DISCONNECT 0x83, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn spec_9_6_idempotent_ops_shared_routes_reincarnation_and_gc_over_the_wire() {
    let mut east = Cluster::new("east");
    let mut west = Cluster::new("west");
    east.launch(&[link("west", west.port, &["t/#"])]);
    west.launch(&[link("east", east.port, &[])]);
    let s = east.client("s").await;
    s.subscribe("t/shared", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    await_route(&p, "t/shared", UP).await;

    // A second actor of east: fresh → need_bootstrap; repeated adds are one route.
    let (fake, need) = FakeActor::init(
        FakeActor::connect(&west, "n2").await,
        "east-n2@127.0.0.1",
        1000,
    )
    .await;
    assert!(need);
    for _ in 0..3 {
        assert_eq!(
            fake.send(vec![add("t/shared"), add("t/fake")]).await,
            ReasonCode::Success
        );
    }
    await_route(&p, "t/fake", UP).await;
    // The shared route lives while any actor holds it.
    s.unsubscribe(&["t/shared"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        p.publish("t/shared", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    // Same incarnation again (a reconnect): routes kept, no bootstrap needed.
    let old = fake.client.clone();
    let (fake, need) = FakeActor::init(
        FakeActor::connect(&west, "n2").await,
        "east-n2@127.0.0.1",
        1000,
    )
    .await;
    assert!(!need);
    expect_taken_over(&old).await;
    assert_eq!(
        p.publish("t/fake", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    // A newer incarnation drops only that actor's routes.
    s.subscribe("t/real", QoS::AtLeastOnce).await.unwrap();
    await_route(&p, "t/real", UP).await;
    let stale = fake;
    let (fake, need) = FakeActor::init(
        FakeActor::connect(&west, "n2b").await,
        "east-n2@127.0.0.1",
        2000,
    )
    .await;
    assert!(need);
    await_no_route(&p, "t/fake", UP).await;
    await_no_route(&p, "t/shared", UP).await;
    assert_eq!(
        p.publish("t/real", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    // Ops from the old incarnation are a protocol error: DISCONNECT 0x83.
    assert_eq!(
        stale.send(vec![add("t/zombie")]).await,
        ReasonCode::ImplementationSpecificError
    );
    expect_disconnect_0x83(&stale.client).await;
    // An older incarnation's init is a protocol error too.
    let older = FakeActor::connect(&west, "n2c").await;
    let init = ActorInit {
        actor: "east-n2@127.0.0.1".into(),
        incarnation: 1500,
        target_cluster: "west".into(),
        proto_ver: 1,
    };
    let publish = Publish {
        topic: ROUTE_TOPIC.into(),
        qos: QoS::AtLeastOnce,
        payload: Bytes::from(ControlMessage::from(init).encode()),
        properties: Properties::from(linkmq_codec::PropertyValues {
            response_topic: Some("$LINK/cluster/resp/east/x".into()),
            correlation_data: Some(Bytes::from_static(b"0000000000000000")),
            ..Default::default()
        }),
        ..Publish::default()
    };
    let _ = older.publish_with(publish).await;
    expect_disconnect_0x83(&older).await;
    // Garbage on the route topic: protocol error.
    let junk = FakeActor::connect(&west, "n2d").await;
    let _ = junk
        .publish(ROUTE_TOPIC, "not a term", QoS::AtLeastOnce, false)
        .await;
    expect_disconnect_0x83(&junk).await;
    // Route ops without actor_init on this connection: protocol error.
    let fresh = FakeActor::connect(&west, "n2e").await;
    let rogue = FakeActor {
        client: fresh,
        actor: "east-n2@127.0.0.1".into(),
        incarnation: 2000,
    };
    rogue.send(vec![add("t/rogue")]).await;
    expect_disconnect_0x83(&rogue.client).await;

    // GC: the fake actor stops heartbeating; after the TTL (3 s) exactly its routes go.
    fake.heartbeat().await;
    assert_eq!(
        fake.send(vec![add("t/gc"), del("t/none")]).await,
        ReasonCode::Success
    );
    await_route(&p, "t/gc", UP).await;
    await_no_route(&p, "t/gc", Duration::from_secs(8)).await;
    assert_eq!(
        p.publish("t/real", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success,
        "the real actor heartbeats: its routes stay"
    );
    // Its heartbeat after GC is a protocol error.
    fake.heartbeat().await;
    expect_disconnect_0x83(&fake.client).await;
}

/// The connection replaced by a same-client-id reconnect ends with 0x8E, not 0x83.
async fn expect_taken_over(c: &Client) {
    loop {
        match c.recv_timeout(UP).await {
            Some(Event::Publish(_)) => {}
            Some(Event::Disconnect(d)) => {
                assert_eq!(d.reason, ReasonCode::SessionTakenOver);
                return;
            }
            other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
        }
    }
}
