//! Acceptance 2 (endpoints), the clients: `GET /api/v5/clients` (filters, pagination, each
//! session's live state), `GET|DELETE /api/v5/clients/{clientid}` (the kick), offline sessions,
//! against a running broker with real MQTT clients.

mod common;

use std::time::Duration;

use common::{NODE, TestApi, eventually};
use linkmq_client::{ConnectOptions, Event, RawConnection};
use linkmq_codec::{
    Packet, Properties, Protocol, Publish, QoS, ReasonCode, SubOptions, Subscribe, SubscribeFilter,
};
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["clientid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn clients_are_listed_filtered_and_paged_like_emqx() {
    let api = TestApi::start().await;
    let mut o = ConnectOptions::new(api.mqtt.to_string(), "alpha-1");
    o.username = Some("u1".into());
    o.keep_alive = 30;
    let _a = api.client_with(o).await;
    let mut o = ConnectOptions::new(api.mqtt.to_string(), "alpha-2");
    o.username = Some("u2".into());
    let _b = api.client_with(o).await;
    let mut o = ConnectOptions::new(api.mqtt.to_string(), "beta-1");
    o.protocol = Protocol::V311;
    let _c = api.client_with(o).await;

    let all = api.get("/api/v5/clients").await.json();
    assert_eq!(ids(&all), ["alpha-1", "alpha-2", "beta-1"]);
    assert_eq!(
        all["meta"],
        json!({"page": 1, "limit": 100, "count": 3, "hasnext": false})
    );
    let a = &all["data"][0];
    assert_eq!(a["username"], "u1");
    assert_eq!(a["node"], NODE);
    assert_eq!(a["connected"], true);
    assert_eq!(a["keepalive"], 30);
    assert_eq!(a["proto_name"], "MQTT");
    assert_eq!(a["proto_ver"], 5);
    assert_eq!(a["clean_start"], true);
    assert_eq!(a["ip_address"], "127.0.0.1");
    assert_eq!(a["listener"], "tcp:default");
    assert_eq!(a["subscriptions_cnt"], 0);
    assert!(a["connected_at"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(all["data"][2]["proto_ver"], 4);
    assert_eq!(all["data"][2]["username"], Value::Null);

    let q = |s: &str| format!("/api/v5/clients?{s}");
    assert_eq!(
        ids(&api.get(&q("clientid=alpha-1&clientid=beta-1")).await.json()),
        ["alpha-1", "beta-1"]
    );
    assert_eq!(ids(&api.get(&q("username=u2")).await.json()), ["alpha-2"]);
    assert_eq!(
        ids(&api.get(&q("like_clientid=alpha")).await.json()),
        ["alpha-1", "alpha-2"]
    );
    assert_eq!(ids(&api.get(&q("like_username=u")).await.json()).len(), 2);
    assert_eq!(ids(&api.get(&q("proto_ver=4")).await.json()), ["beta-1"]);
    assert_eq!(
        ids(&api.get(&q("conn_state=connected")).await.json()).len(),
        3
    );
    assert!(ids(&api.get(&q("conn_state=disconnected")).await.json()).is_empty());
    assert_eq!(
        ids(&api.get(&q("ip_address=127.0.0.1")).await.json()).len(),
        3
    );
    assert!(ids(&api.get(&q("node=other@host")).await.json()).is_empty());
    assert_eq!(
        ids(&api
            .get(&q("gte_connected_at=2000-01-01T00:00:00Z"))
            .await
            .json())
        .len(),
        3
    );
    assert!(ids(&api.get(&q("lte_connected_at=946684800000")).await.json()).is_empty());

    let p1 = api.get(&q("limit=2&page=1")).await.json();
    assert_eq!(ids(&p1), ["alpha-1", "alpha-2"]);
    assert_eq!(
        p1["meta"],
        json!({"page": 1, "limit": 2, "count": 3, "hasnext": true})
    );
    let p2 = api.get(&q("limit=2&page=2")).await.json();
    assert_eq!(ids(&p2), ["beta-1"]);
    assert_eq!(p2["meta"]["hasnext"], false);
    assert!(ids(&api.get(&q("limit=2&page=9")).await.json()).is_empty());

    for bad in [
        "page=0",
        "limit=0",
        "limit=10001",
        "page=x",
        "conn_state=asleep",
        "proto_ver=five",
        "ip_address=nope",
        "clean_start=yes",
        "gte_connected_at=yesterday",
    ] {
        api.get(&q(bad))
            .await
            .assert_error(400, "INVALID_PARAMETER");
    }
}

#[tokio::test]
async fn get_and_kick_one_client() {
    let api = TestApi::start().await;
    let c = api.client("kick-me").await;
    c.subscribe("k/#", QoS::AtMostOnce).await.unwrap();
    let one = api.get("/api/v5/clients/kick-me").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["clientid"], "kick-me");
    assert_eq!(one.json()["subscriptions_cnt"], 1);
    api.get("/api/v5/clients/nobody")
        .await
        .assert_error(404, "CLIENTID_NOT_FOUND");

    assert_eq!(api.delete("/api/v5/clients/kick-me").await.status, 204);
    match c.recv_timeout(Duration::from_secs(5)).await {
        Some(Event::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::AdministrativeAction),
        other => panic!("expected DISCONNECT 0x98, got {other:?}"),
    }
    api.get("/api/v5/clients/kick-me")
        .await
        .assert_error(404, "CLIENTID_NOT_FOUND");
    assert_eq!(api.broker.router.subscription_count(), 0);
    api.delete("/api/v5/clients/kick-me")
        .await
        .assert_error(404, "CLIENTID_NOT_FOUND");

    // A client id with characters that need encoding.
    let _d = api.client("dev/1 x").await;
    assert_eq!(api.get("/api/v5/clients/dev%2F1%20x").await.status, 200);

    // Bulk kick-out.
    let _e = api.client("bulk-1").await;
    let _f = api.client("bulk-2").await;
    let r = api
        .post(
            "/api/v5/clients/kickout/bulk",
            json!(["bulk-1", "bulk-2", "ghost"]),
        )
        .await;
    assert_eq!(r.status, 204);
    let left = api.get("/api/v5/clients").await.json();
    assert_eq!(ids(&left), ["dev/1 x"]);
}

#[tokio::test]
async fn an_offline_session_is_listed_as_disconnected_and_can_be_discarded() {
    let api = TestApi::start().await;
    let mut o = ConnectOptions::new(api.mqtt.to_string(), "sleeper");
    o.clean_start = false;
    o.properties.session_expiry_interval = Some(60);
    let c = api.client_with(o).await;
    c.subscribe("s/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect().await.unwrap();
    eventually("detached", || api.broker.registry.connected_count() == 0).await;
    let v = api
        .get("/api/v5/clients?conn_state=disconnected")
        .await
        .json();
    assert_eq!(ids(&v), ["sleeper"]);
    assert_eq!(v["data"][0]["connected"], false);
    assert_eq!(api.delete("/api/v5/clients/sleeper").await.status, 204);
    assert_eq!(api.broker.registry.len(), 0);
    assert_eq!(api.broker.router.subscription_count(), 0);
}

/// `GET /clients/{clientid}` and `GET /clients` carry each session's live state under EMQX's
/// names: a session kept after its connection (queued messages, its expiry, `disconnected_at`), and
/// a connected client that acknowledges nothing (deliveries in flight, a QoS 2 PUBLISH waiting for
/// its PUBREL).
#[tokio::test]
async fn clients_show_their_sessions_live_state() {
    let api = TestApi::start().await;
    let addr = api.mqtt.to_string();
    // Kept without its connection before anything is published to it.
    kept_session(&api, "kept", "live/#").await;

    let v5 = Protocol::V5;
    let mut raw = RawConnection::connect(&addr).await.unwrap();
    let connect = ConnectOptions::new(addr.clone(), "raw")
        .keep_alive(0)
        .connect_packet();
    raw.send(&Packet::Connect(Box::new(connect)), v5)
        .await
        .unwrap();
    match raw.recv(v5, Duration::from_secs(5)).await {
        Ok(Some(Packet::ConnAck(a))) => assert_eq!(a.reason, ReasonCode::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let subscribe = Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![SubscribeFilter {
            filter: "live/#".into(),
            options: SubOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
        }],
        properties: Properties::default(),
    });
    raw.send(&subscribe, v5).await.unwrap();
    let qos2 = Packet::Publish(Publish {
        qos: QoS::ExactlyOnce,
        topic: "elsewhere".into(),
        pkid: 7,
        payload: "held".into(),
        ..Default::default()
    });
    raw.send(&qos2, v5).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match raw.recv(v5, Duration::from_secs(5)).await {
            Ok(Some(p)) => got.push(p),
            other => panic!("expected SUBACK and PUBREC, got {other:?}"),
        }
    }
    assert!(matches!(got[0], Packet::SubAck(_)), "{got:?}");
    assert!(matches!(got[1], Packet::PubRec(_)), "{got:?}");

    let publisher = api.client("publisher").await;
    for i in 0..3 {
        publisher
            .publish("live/t", format!("m{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    for _ in 0..3 {
        match raw.recv(v5, Duration::from_secs(5)).await {
            Ok(Some(Packet::Publish(p))) => assert_eq!(p.qos, QoS::AtLeastOnce),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    // The kept session queues what reaches it as its task gets to it.
    let k = client_until(&api, "kept", |k| k["mqueue_len"] == 3).await;
    assert_eq!(k["connected"], false, "{k}");
    assert_eq!(k["inflight_cnt"], 0, "{k}");
    assert_eq!(k["awaiting_rel_cnt"], 0, "{k}");
    assert_eq!(k["expiry_interval"], 300, "{k}");
    assert!(k["disconnected_at"].is_string(), "{k}");
    let r = api.get("/api/v5/clients/raw").await.json();
    assert_eq!(r["connected"], true, "{r}");
    assert_eq!(r["inflight_cnt"], 3, "{r}");
    assert_eq!(r["mqueue_len"], 0, "{r}");
    assert_eq!(r["awaiting_rel_cnt"], 1, "{r}");
    assert_eq!(r["expiry_interval"], 0, "{r}");
    assert!(r.get("disconnected_at").is_none(), "{r}");

    let list = api.get("/api/v5/clients").await.json();
    let row = |id: &str| {
        list["data"]
            .as_array()
            .and_then(|rows| rows.iter().find(|c| c["clientid"] == id).cloned())
            .unwrap_or_else(|| panic!("{id} listed: {list}"))
    };
    assert_eq!(row("kept")["mqueue_len"], 3);
    assert!(row("kept")["disconnected_at"].is_string());
    assert_eq!(row("raw")["inflight_cnt"], 3);
    assert_eq!(row("raw")["awaiting_rel_cnt"], 1);
    assert_eq!(row("publisher")["inflight_cnt"], 0);
}

/// `GET /api/v5/clients/{id}` polled every 10 ms until `cond` holds (for up to 5 s).
/// Client `id` subscribed to `filter` at QoS 1, then disconnected with a 300 s session expiry:
/// returns once the API lists its session as kept without a connection.
async fn kept_session(api: &TestApi, id: &str, filter: &str) {
    let mut o = ConnectOptions::new(api.mqtt.to_string(), id);
    o.properties.session_expiry_interval = Some(300);
    let client = api.client_with(o).await;
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    client.disconnect().await.unwrap();
    client_until(api, id, |k| k["connected"] == false).await;
}

async fn client_until(api: &TestApi, id: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v = api.get(&format!("/api/v5/clients/{id}")).await.json();
        if cond(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < until, "{id}: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The bytes `packet` takes on the wire in MQTT 5.
fn wire_len(packet: &Packet) -> u64 {
    let mut buf = bytes::BytesMut::new();
    linkmq_codec::encode(packet, Protocol::V5, &mut buf).expect("encodable");
    buf.len() as u64
}

#[tokio::test]
async fn clients_count_their_connections_traffic_and_their_queues_drops() {
    let api = TestApi::start_with("", |s| s.max_mqueue_len = 2, |s| s).await;
    let addr = api.mqtt.to_string();
    let v5 = Protocol::V5;
    let mut raw = RawConnection::connect(&addr).await.unwrap();
    let connect = Packet::Connect(Box::new(
        ConnectOptions::new(addr.clone(), "counted")
            .keep_alive(0)
            .connect_packet(),
    ));
    raw.send(&connect, v5).await.unwrap();
    let mut received = Vec::new();
    match raw.recv(v5, Duration::from_secs(5)).await {
        Ok(Some(p @ Packet::ConnAck(_))) => received.push(p),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // Counted from the CONNACK on: nothing yet.
    let c = client_until(&api, "counted", |c| c["recv_pkt"].is_u64()).await;
    for k in [
        "recv_pkt", "recv_msg", "recv_oct", "send_pkt", "send_msg", "send_oct",
    ] {
        assert_eq!(c[k], 0, "{k}: {c}");
    }

    let mut sent = vec![connect];
    sent.push(Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![SubscribeFilter {
            filter: "count/#".into(),
            options: SubOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
        }],
        properties: Properties::default(),
    }));
    for i in 0..2u16 {
        sent.push(Packet::Publish(Publish {
            qos: QoS::AtLeastOnce,
            topic: "count/me".into(),
            pkid: 10 + i,
            payload: format!("message {i}").into(),
            ..Default::default()
        }));
    }
    for p in &sent[1..] {
        raw.send(p, v5).await.unwrap();
    }
    // SUBACK, then per PUBLISH its PUBACK and its delivery back to this subscriber (in either order).
    while received.len() < 6 {
        match raw.recv(v5, Duration::from_secs(5)).await {
            Ok(Some(p)) => received.push(p),
            other => panic!("expected SUBACK, PUBACKs and deliveries, got {other:?}"),
        }
    }
    let deliveries = received
        .iter()
        .filter(|p| matches!(p, Packet::Publish(_)))
        .count();
    assert_eq!(deliveries, 2, "{received:?}");
    // Everything after the CONNECT and the CONNACK.
    let expect = json!({
        "recv_pkt": sent.len() - 1,
        "recv_msg": 2,
        "recv_oct": sent[1..].iter().map(wire_len).sum::<u64>(),
        "send_pkt": received.len() - 1,
        "send_msg": 2,
        "send_oct": received[1..].iter().map(wire_len).sum::<u64>(),
    });
    let c = api.get("/api/v5/clients/counted").await.json();
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&c[k], v, "{k}: {c}");
    }
    assert_eq!(c["mqueue_dropped"], 0, "{c}");
    let listed = api.get("/api/v5/clients").await.json();
    assert_eq!(listed["data"][0]["recv_msg"], 2, "{listed}");

    // A kept session with a queue of 2 that is sent 5 messages drops 3, and shows no traffic.
    kept_session(&api, "overflowing", "count/#").await;
    let publisher = api.client("publisher").await;
    for i in 0..5 {
        publisher
            .publish("count/q", format!("q{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    let k = client_until(&api, "overflowing", |k| k["mqueue_dropped"] == 3).await;
    assert_eq!(k["mqueue_len"], 2, "{k}");
    assert!(
        k.get("recv_pkt").is_none(),
        "a session without a connection: {k}"
    );
}
