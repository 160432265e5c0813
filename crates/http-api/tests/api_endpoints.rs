//! Acceptance 2 (endpoints): every `/api/v5` endpoint against a running broker with real MQTT
//! clients: nodes, stats, metrics, subscriptions, topics, publish, retainer, alarms, Prometheus
//! (the clients endpoints are in `api_clients.rs`).

mod common;

use std::time::Duration;

use base64::Engine;
use common::{Auth, NODE, TestApi, eventually};
use linkmq_client::Event;
use linkmq_codec::{QoS, RetainHandling, SubOptions, SubscribeFilter};
use serde_json::{Value, json};

async fn expect_publish(c: &linkmq_client::Client) -> linkmq_codec::Publish {
    match c.recv_timeout(Duration::from_secs(5)).await {
        Some(Event::Publish(p)) => p,
        other => panic!("expected a publish, got {other:?}"),
    }
}

#[tokio::test]
async fn nodes_list_and_get_this_node_and_404_others() {
    let api = TestApi::start().await;
    let _c = api.client("n1").await;
    let list = api.get("/api/v5/nodes").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let n = &list[0];
    assert_eq!(n["node"], NODE);
    assert_eq!(n["node_status"], "running");
    assert_eq!(n["version"], linkmq_core::sys::VERSION);
    assert_eq!(n["connections"], 1);
    assert_eq!(n["live_connections"], 1);
    assert!(n["uptime"].as_u64().is_some());
    let one = api.get(&format!("/api/v5/nodes/{NODE}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["node"], NODE);
    api.get("/api/v5/nodes/other@10.0.0.1")
        .await
        .assert_error(404, "NOT_FOUND");
    let m = api
        .get(&format!("/api/v5/nodes/{NODE}/metrics"))
        .await
        .json();
    assert_eq!(m["node"], NODE);
    assert_eq!(m["client.connected"], 1);
    let s = api.get(&format!("/api/v5/nodes/{NODE}/stats")).await.json();
    assert_eq!(s["connections.count"], 1);
    api.get("/api/v5/nodes/other@x/stats")
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn stats_count_connections_topics_subscriptions_and_retained_with_maxima() {
    let api = TestApi::start().await;
    let a = api.client("s1").await;
    let b = api.client("s2").await;
    a.subscribe("t/+", QoS::AtLeastOnce).await.unwrap();
    a.subscribe("$share/g/t/x", QoS::AtMostOnce).await.unwrap();
    b.publish("r/1", "kept", QoS::AtLeastOnce, true)
        .await
        .unwrap();
    let v = api.get("/api/v5/stats").await.json();
    let s = &v[0];
    assert_eq!(s["node"], NODE);
    assert_eq!(s["connections.count"], 2);
    assert_eq!(s["live_connections.count"], 2);
    assert_eq!(s["sessions.count"], 2);
    assert_eq!(s["topics.count"], 2);
    assert_eq!(s["subscriptions.count"], 2);
    assert_eq!(s["subscriptions.shared.count"], 1);
    assert_eq!(s["retained.count"], 1);
    b.disconnect().await.unwrap();
    eventually("s2 gone", || api.broker.registry.len() == 1).await;
    let agg = api.get("/api/v5/stats?aggregate=true").await.json();
    assert!(agg.get("node").is_none());
    assert_eq!(agg["connections.count"], 1);
    assert_eq!(agg["connections.max"], 2, "the maximum remembers s2");
    api.get("/api/v5/stats?aggregate=maybe")
        .await
        .assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn metrics_use_emqx_names_per_node_or_aggregated() {
    let api = TestApi::start().await;
    let c = api.client("m1").await;
    c.publish("a", "1", QoS::AtLeastOnce, false).await.unwrap();
    c.publish("a", "2", QoS::AtMostOnce, false).await.unwrap();
    eventually("2 received", || {
        api.broker
            .metrics
            .get(linkmq_core::metrics::Counter::MessagesReceived)
            == 2
    })
    .await;
    let v = api.get("/api/v5/metrics").await.json();
    assert_eq!(v[0]["node"], NODE);
    assert_eq!(v[0]["messages.received"], 2);
    assert_eq!(v[0]["messages.qos1.received"], 1);
    assert_eq!(v[0]["messages.dropped.no_subscribers"], 2);
    let agg = api.get("/api/v5/metrics?aggregate=true").await.json();
    assert_eq!(agg["messages.received"], 2);
    assert!(agg["bytes.received"].as_u64().unwrap() > 0);
    assert!(agg.get("node").is_none());
}

#[tokio::test]
async fn subscriptions_of_a_client_and_of_the_node_with_filters() {
    let api = TestApi::start().await;
    let a = api.client("sub-a").await;
    let b = api.client("sub-b").await;
    a.subscribe_with(
        vec![
            SubscribeFilter {
                filter: "sensors/+/temp".into(),
                options: SubOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            },
            SubscribeFilter {
                filter: "$share/grp/jobs/#".into(),
                options: SubOptions {
                    qos: QoS::ExactlyOnce,
                    ..Default::default()
                },
            },
        ],
        Default::default(),
    )
    .await
    .unwrap();
    b.subscribe("sensors/#", QoS::AtMostOnce).await.unwrap();

    let subs = api.get("/api/v5/clients/sub-a/subscriptions").await.json();
    assert_eq!(
        subs,
        json!([
            {"clientid": "sub-a", "topic": "$share/grp/jobs/#", "qos": 2, "nl": 0, "rap": 0,
             "rh": 0, "node": NODE, "durable": false},
            {"clientid": "sub-a", "topic": "sensors/+/temp", "qos": 1, "nl": 1, "rap": 1,
             "rh": 2, "node": NODE, "durable": false},
        ])
    );
    api.get("/api/v5/clients/ghost/subscriptions")
        .await
        .assert_error(404, "CLIENTID_NOT_FOUND");

    let topics = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["clientid"].as_str().unwrap(),
                    s["topic"].as_str().unwrap()
                )
            })
            .collect()
    };
    let all = api.get("/api/v5/subscriptions").await.json();
    assert_eq!(all["meta"]["count"], 3);
    assert_eq!(
        topics(&api.get("/api/v5/subscriptions?clientid=sub-b").await.json()),
        ["sub-b:sensors/#"]
    );
    assert_eq!(
        topics(&api.get("/api/v5/subscriptions?qos=2").await.json()),
        ["sub-a:$share/grp/jobs/#"]
    );
    assert_eq!(
        topics(
            &api.get("/api/v5/subscriptions?share_group=grp")
                .await
                .json()
        ),
        ["sub-a:$share/grp/jobs/#"]
    );
    assert_eq!(
        topics(
            &api.get("/api/v5/subscriptions?match_topic=sensors/k1/temp")
                .await
                .json()
        ),
        ["sub-a:sensors/+/temp", "sub-b:sensors/#"]
    );
    assert_eq!(
        topics(
            &api.get("/api/v5/subscriptions?topic=sensors%2F%23")
                .await
                .json()
        ),
        ["sub-b:sensors/#"]
    );
    let p = api.get("/api/v5/subscriptions?limit=1&page=3").await.json();
    assert_eq!(
        p["meta"],
        json!({"page": 3, "limit": 1, "count": 3, "hasnext": false})
    );
    api.get("/api/v5/subscriptions?qos=3")
        .await
        .assert_error(400, "INVALID_PARAMETER");
    api.get("/api/v5/subscriptions?match_topic=a/%23")
        .await
        .assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn topics_list_routes_and_look_one_up() {
    let api = TestApi::start().await;
    let a = api.client("t-a").await;
    let b = api.client("t-b").await;
    a.subscribe("x/+", QoS::AtMostOnce).await.unwrap();
    b.subscribe("x/+", QoS::AtMostOnce).await.unwrap();
    b.subscribe("$share/g/y", QoS::AtMostOnce).await.unwrap();
    let v = api.get("/api/v5/topics").await.json();
    assert_eq!(
        v,
        json!({"data": [{"topic": "x/+", "node": NODE}, {"topic": "$share/g/y", "node": NODE}],
               "meta": {"page": 1, "limit": 100, "count": 2, "hasnext": false}})
    );
    let f = api.get("/api/v5/topics?topic=x%2F%2B").await.json();
    assert_eq!(f["meta"]["count"], 1);
    let one = api.get("/api/v5/topics/x%2F%2B").await;
    assert_eq!(one.json(), json!([{"topic": "x/+", "node": NODE}]));
    api.get("/api/v5/topics/nope")
        .await
        .assert_error(404, "TOPIC_NOT_FOUND");
    api.get("/api/v5/topics?topic=a/%23/b")
        .await
        .assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn publish_delivers_with_properties_or_answers_202_without_subscribers() {
    let api = TestApi::start().await;
    let sub = api.client("p-sub").await;
    sub.subscribe("p/#", QoS::ExactlyOnce).await.unwrap();
    let r = api
        .post(
            "/api/v5/publish",
            json!({
                "topic": "p/1", "payload": "hello", "qos": 1, "retain": false,
                "properties": {
                    "user_properties": {"k": "v"}, "content_type": "text/plain",
                    "response_topic": "reply/1", "correlation_data": "c-1",
                    "payload_format_indicator": 1, "message_expiry_interval": 60,
                },
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    let p = expect_publish(&sub).await;
    assert_eq!(p.topic, "p/1");
    assert_eq!(&p.payload[..], b"hello");
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert_eq!(p.properties.user_properties, [("k".into(), "v".into())]);
    assert_eq!(p.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.properties.response_topic.as_deref(), Some("reply/1"));
    assert_eq!(p.properties.correlation_data.as_deref(), Some(&b"c-1"[..]));
    assert_eq!(p.properties.payload_format_indicator, Some(1));
    assert!(
        p.properties
            .message_expiry_interval
            .is_some_and(|e| (59..=60).contains(&e))
    );

    let b64 = base64::engine::general_purpose::STANDARD.encode([0u8, 1, 2, 255]);
    let r = api
        .post(
            "/api/v5/publish",
            json!({"topic": "p/bin", "payload": b64, "payload_encoding": "base64"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(&expect_publish(&sub).await.payload[..], &[0u8, 1, 2, 255]);

    let r = api
        .post(
            "/api/v5/publish",
            json!({"topic": "nobody/here", "payload": "x"}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        r.json(),
        json!({"reason_code": 16, "message": "no_matching_subscribers"})
    );

    let bad = api
        .post("/api/v5/publish", json!({"topic": "p/#", "payload": "x"}))
        .await;
    bad.assert_error(400, "BAD_REQUEST");
    assert_eq!(bad.json()["reason_code"], 144);
    assert_eq!(bad.json()["message"], "topic_name_invalid");
    let bad = api
        .post(
            "/api/v5/publish",
            json!({"topic": "p/1", "payload": "!!", "payload_encoding": "base64"}),
        )
        .await;
    bad.assert_error(400, "BAD_REQUEST");
    assert_eq!(bad.json()["reason_code"], 131);
    api.post(
        "/api/v5/publish",
        json!({"topic": "p/1", "payload": "x", "qos": 3}),
    )
    .await
    .assert_error(400, "BAD_REQUEST");
    api.post(
        "/api/v5/publish",
        json!({"topic": "p/1", "payload": "x", "payload_encoding": "hex"}),
    )
    .await
    .assert_error(400, "BAD_REQUEST");
    // Nothing of the rejected ones arrived.
    assert!(sub.recv_timeout(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn publish_honours_max_packet_size() {
    let api = TestApi::start_with("", |s| s.max_packet_size = 1024, |s| s).await;
    let r = api
        .post(
            "/api/v5/publish",
            json!({"topic": "big", "payload": "x".repeat(2000)}),
        )
        .await;
    r.assert_error(400, "BAD_REQUEST");
    assert_eq!(r.json()["reason_code"], 151);
    assert_eq!(r.json()["message"], "packet_too_large");
}

#[tokio::test]
async fn publish_bulk_reports_each_message() {
    let api = TestApi::start().await;
    let sub = api.client("b-sub").await;
    sub.subscribe("b/#", QoS::AtMostOnce).await.unwrap();
    let r = api
        .post(
            "/api/v5/publish/bulk",
            json!([{"topic": "b/1", "payload": "one"}, {"topic": "b/2", "payload": "two"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v[0]["id"].is_string() && v[1]["id"].is_string());
    assert_eq!(&expect_publish(&sub).await.payload[..], b"one");
    assert_eq!(&expect_publish(&sub).await.payload[..], b"two");

    let r = api
        .post(
            "/api/v5/publish/bulk",
            json!([{"topic": "b/3", "payload": "three"}, {"topic": "nowhere", "payload": "x"}]),
        )
        .await;
    assert_eq!(r.status, 202);
    let v = r.json();
    assert!(v[0]["id"].is_string());
    assert_eq!(v[1]["reason_code"], 16);

    // One bad message: nothing is published.
    let r = api
        .post(
            "/api/v5/publish/bulk",
            json!([{"topic": "b/4", "payload": "four"}, {"topic": "b/+", "payload": "x"}]),
        )
        .await;
    r.assert_error(400, "BAD_REQUEST");
    assert_eq!(&expect_publish(&sub).await.payload[..], b"three");
    assert!(sub.recv_timeout(Duration::from_millis(200)).await.is_none());
    api.post("/api/v5/publish/bulk", json!([]))
        .await
        .assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn retained_messages_are_listed_read_and_deleted() {
    let api = TestApi::start().await;
    for (t, p) in [("r/a", "A"), ("r/b", "B"), ("other", "O")] {
        let r = api
            .post(
                "/api/v5/publish",
                json!({"topic": t, "payload": p, "retain": true, "qos": 1}),
            )
            .await;
        assert_eq!(r.status, 202, "retained, no subscriber");
    }
    let c = api.client("r-pub").await;
    c.publish("r/c", "C", QoS::AtLeastOnce, true).await.unwrap();

    let v = api.get("/api/v5/mqtt/retainer/messages").await.json();
    assert_eq!(v["meta"]["count"], 4);
    let topics: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, ["other", "r/a", "r/b", "r/c"]);
    let rc = &v["data"][3];
    assert_eq!(rc["from_clientid"], "r-pub");
    assert_eq!(rc["qos"], 1);
    assert!(rc.get("payload").is_none());
    assert_eq!(rc["msgid"].as_str().unwrap().len(), 32);

    let f = api
        .get("/api/v5/mqtt/retainer/messages?topic=r%2F%2B&limit=2")
        .await
        .json();
    assert_eq!(
        f["meta"],
        json!({"page": 1, "limit": 2, "count": 3, "hasnext": true})
    );

    let one = api.get("/api/v5/mqtt/retainer/message/r%2Fa").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["topic"], "r/a");
    assert_eq!(one.json()["payload"], "QQ==");
    assert_eq!(one.json()["from_clientid"], "http_api");
    api.get("/api/v5/mqtt/retainer/message/r%2Fzzz")
        .await
        .assert_error(404, "NOT_FOUND");

    assert_eq!(
        api.delete("/api/v5/mqtt/retainer/message/r%2Fa")
            .await
            .status,
        204
    );
    api.get("/api/v5/mqtt/retainer/message/r%2Fa")
        .await
        .assert_error(404, "NOT_FOUND");
    api.delete("/api/v5/mqtt/retainer/message/r%2Fa")
        .await
        .assert_error(404, "NOT_FOUND");
    // A new subscriber no longer gets the deleted one.
    let s = api.client("r-sub").await;
    s.subscribe("r/a", QoS::AtMostOnce).await.unwrap();
    assert!(s.recv_timeout(Duration::from_millis(200)).await.is_none());

    assert_eq!(
        api.delete("/api/v5/mqtt/retainer/messages").await.status,
        204
    );
    assert_eq!(api.broker.retained.len(), 0);
    let settings = api.get("/api/v5/mqtt/retainer").await.json();
    assert_eq!(settings["enable"], true);
}

#[tokio::test]
async fn alarms_list_active_and_deactivated_and_clear_history() {
    let api = TestApi::start().await;
    let empty = api.get("/api/v5/alarms").await.json();
    assert_eq!(
        empty,
        json!({"data": [], "meta": {"page": 1, "limit": 100, "count": 0, "hasnext": false}})
    );
    api.state
        .alarms
        .activate("high_cpu_usage", "CPU is at 95%", json!({"usage": "95%"}));
    api.state
        .alarms
        .activate("too_many_processes", "x", json!({}));
    api.state.alarms.deactivate("too_many_processes");
    let act = api.get("/api/v5/alarms?activated=true").await.json();
    assert_eq!(act["meta"]["count"], 1);
    let a = &act["data"][0];
    assert_eq!(a["name"], "high_cpu_usage");
    assert_eq!(a["node"], NODE);
    assert_eq!(a["details"]["usage"], "95%");
    assert!(a.get("deactivate_at").is_none());
    let hist = api.get("/api/v5/alarms?activated=false").await.json();
    assert_eq!(hist["data"][0]["name"], "too_many_processes");
    assert!(hist["data"][0]["deactivate_at"].is_string());
    assert_eq!(api.get("/api/v5/alarms").await.json()["meta"]["count"], 2);
    assert_eq!(api.delete("/api/v5/alarms").await.status, 204);
    assert_eq!(api.get("/api/v5/alarms").await.json()["meta"]["count"], 1);
    api.get("/api/v5/alarms?activated=1")
        .await
        .assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn prometheus_stats_use_emqx_metric_names_in_text_format() {
    let api = TestApi::start().await;
    let c = api.client("prom").await;
    c.subscribe("q", QoS::AtMostOnce).await.unwrap();
    c.publish("q", "x", QoS::AtLeastOnce, false).await.unwrap();
    let _ = expect_publish(&c).await;
    let r = api.get("/api/v5/prometheus/stats").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    let value = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing in:\n{text}"));
        line.split(' ').nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(value("emqx_messages_received"), 1);
    assert_eq!(value("emqx_messages_qos1_received"), 1);
    assert_eq!(value("emqx_connections_count"), 1);
    assert_eq!(value("emqx_subscriptions_count"), 1);
    assert_eq!(value("emqx_topics_count"), 1);
    assert!(value("emqx_bytes_received") > 0);
    assert!(text.contains("# TYPE emqx_messages_received counter\n"));
    assert!(text.contains("# TYPE emqx_connections_count gauge\n"));
    for line in text.lines() {
        assert!(
            line.starts_with("# TYPE emqx_") || line.starts_with("emqx_"),
            "not exposition format: {line:?}"
        );
    }
    api.request("GET", "/api/v5/prometheus/stats", Auth::None, None)
        .await
        .assert_error(401, "AUTHORIZATION_HEADER_ERROR");

    let open = TestApi::start_with("prometheus.enable_basic_auth = false", |_| {}, |s| s).await;
    let r = open
        .request("GET", "/api/v5/prometheus/stats", Auth::None, None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("emqx_messages_received 0"));
    open.request("GET", "/api/v5/clients", Auth::None, None)
        .await
        .assert_error(401, "AUTHORIZATION_HEADER_ERROR");
}
