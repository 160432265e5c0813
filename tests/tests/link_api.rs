//! The Cluster Linking REST API of a real `linkmq` process: spec §9 scenario 10 and §10 (CRUD codes
//! on the seed's and EMQX's paths, validation messages, password redaction, `PUT /cluster/links`
//! with an array or an object, eight concurrent DELETEs), metrics shape and reset, Prometheus, and
//! runtime changes persisted across a restart.

mod link_support;

use link_support::{Cluster, http};
use serde_json::{Value, json};

/// A link to nowhere reachable (connecting fails; the API does not care).
fn body(name: &str) -> Value {
    json!({
        "name": name,
        "server": "127.0.0.1:1",
        "password": "secret-pw",
        "clientid": "clink-us-east",
        "topics": ["t/test-topic", "t/test/#"],
        "pool_size": 1,
    })
}

fn validation_reason(resp: &(u16, Value)) -> Value {
    assert_eq!(resp.0, 400, "{resp:?}");
    assert_eq!(resp.1["code"], "BAD_REQUEST", "{resp:?}");
    assert_eq!(resp.1["message"]["kind"], "validation_error", "{resp:?}");
    resp.1["message"]["reason"].clone()
}

#[tokio::test]
async fn spec_9_10_crud_codes_validation_redaction_and_persistence() {
    let mut c = Cluster::new("api1").with_api();
    c.launch(&[]);
    assert_eq!(c.api("GET", "/cluster/links", None), (200, json!([])));
    let not_found = json!({"code": "NOT_FOUND", "message": "Cluster link not found"});
    for path in ["/cluster/links/a", "/cluster/links/link/a"] {
        assert_eq!(c.api("GET", path, None), (404, not_found.clone()));
        assert_eq!(c.api("DELETE", path, None), (404, not_found.clone()));
        assert_eq!(c.api("PUT", path, Some(&body("a"))).0, 404);
        assert_eq!(c.api("GET", &format!("{path}/metrics"), None).0, 404);
    }

    // Create: 201, every field with defaults, password redacted, status and node_status.
    let (status, link) = c.api("POST", "/cluster/links", Some(&body("a")));
    assert_eq!(status, 201, "{link}");
    assert_eq!(link["name"], "a");
    assert_eq!(link["password"], "******");
    assert_eq!(link["enable"], true);
    assert_eq!(link["server"], "127.0.0.1:1");
    assert_eq!(link["clientid"], "clink-us-east");
    assert_eq!(link["topics"], json!(["t/test-topic", "t/test/#"]));
    assert_eq!(link["pool_size"], 1);
    assert_eq!(link["retry_interval"], "15s");
    assert_eq!(link["max_inflight"], 32);
    assert_eq!(link["ssl"]["enable"], false);
    assert_eq!(link["resource_opts"]["request_ttl"], "45s");
    assert_eq!(link["resource_opts"]["inflight_window"], 100);
    assert!(link["resource_opts"]["max_buffer_bytes"].is_string());
    assert!(
        ["connecting", "disconnected"].contains(&link["status"].as_str().unwrap()),
        "{link}"
    );
    assert_eq!(link["node_status"][0]["node"], "api1@127.0.0.1");
    assert!(link["node_status"][0]["status"].is_string());

    // Again: ALREADY_EXISTS as EMQX does (400).
    assert_eq!(
        c.api("POST", "/cluster/links", Some(&body("a"))),
        (
            400,
            json!({"code": "ALREADY_EXISTS", "message": "Cluster link already exists"})
        )
    );

    // Name validation messages.
    let r = c.api("POST", "/cluster/links", Some(&body("")));
    assert_eq!(validation_reason(&r), "Name cannot be empty string");
    let r = c.api("POST", "/cluster/links", Some(&body(&"a".repeat(256))));
    assert_eq!(validation_reason(&r), "Name length must be less than 255");
    let r = c.api(
        "POST",
        "/cluster/links",
        Some(&body("~!@#$%^&*()_+{}:'<>?|")),
    );
    let reason = validation_reason(&r);
    assert!(
        reason.as_str().unwrap().starts_with("Invalid name format"),
        "{reason}"
    );
    // Redundant and duplicate topics.
    let mut b = body("r");
    b["topics"] = json!(["t/+", "t/1"]);
    let r = c.api("POST", "/cluster/links", Some(&b));
    assert_eq!(
        validation_reason(&r),
        json!({"reason": "redundant_topics", "topics": ["t/1"]})
    );
    b["topics"] = json!(["t", "t"]);
    let r = c.api("POST", "/cluster/links", Some(&b));
    assert_eq!(
        validation_reason(&r),
        json!({"reason": "redundant_topics", "topics": ["t"]})
    );
    b["topics"] = json!(["$LINK/cluster/#"]);
    validation_reason(&c.api("POST", "/cluster/links", Some(&b)));
    // Schema errors (missing server) are validation errors too.
    let mut b = body("s");
    b.as_object_mut().unwrap().remove("server");
    validation_reason(&c.api("POST", "/cluster/links", Some(&b)));

    // PUT .../{name}: full replacement without a name; "******" keeps the stored password.
    let mut upd = body("ignored");
    upd.as_object_mut().unwrap().remove("name");
    upd["password"] = json!("******");
    upd["pool_size"] = json!(2);
    let (status, link) = c.api("PUT", "/cluster/links/link/a", Some(&upd));
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["name"], "a");
    assert_eq!(link["pool_size"], 2);
    assert_eq!(link["password"], "******");
    let persisted = std::fs::read_to_string(c.dir.join("data/configs/cluster.hocon")).unwrap();
    assert!(
        persisted.contains("password = \"secret-pw\""),
        "{persisted}"
    );
    // The seed's path, and server is required.
    let mut no_server = upd.clone();
    no_server.as_object_mut().unwrap().remove("server");
    validation_reason(&c.api("PUT", "/cluster/links/a", Some(&no_server)));
    upd["pool_size"] = json!(3);
    assert_eq!(c.api("PUT", "/cluster/links/a", Some(&upd)).0, 200);
    assert_eq!(c.api("GET", "/cluster/links/a", None).1["pool_size"], 3);
    assert_eq!(
        c.api("GET", "/cluster/links/link/a", None).1["pool_size"],
        3
    );

    // PUT /cluster/links with one object: create (201) or update (200) by its name.
    let (status, b1) = c.api("PUT", "/cluster/links", Some(&body("b")));
    assert_eq!((status, b1["name"].clone()), (201, json!("b")));
    let mut b2 = body("b");
    b2["enable"] = json!(false);
    let (status, b2) = c.api("PUT", "/cluster/links", Some(&b2));
    assert_eq!(status, 200);
    assert_eq!(b2["enable"], false);
    assert_eq!(b2["status"], "stopped");
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&c.api("GET", "/cluster/links", None).1), ["a", "b"]);
    // With an array: the whole list is replaced (b goes, c comes; a keeps its password).
    let mut a = body("a");
    a["password"] = json!("******");
    let (status, list) = c.api("PUT", "/cluster/links", Some(&json!([a, body("c")])));
    assert_eq!(status, 200, "{list}");
    assert_eq!(names(&list), ["a", "c"]);
    assert_eq!(names(&c.api("GET", "/cluster/links", None).1), ["a", "c"]);

    // Metrics: shape, and reset.
    let (status, m) = c.api("GET", "/cluster/links/link/a/metrics", None);
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["metrics"]["routers"], 0);
    assert_eq!(m["metrics"]["router"]["routes"], 0);
    for key in [
        "matched",
        "success",
        "failed",
        "dropped",
        "retried",
        "queuing",
        "inflight",
        "rate",
        "rate_last5m",
        "rate_max",
    ] {
        assert!(
            m["metrics"]["forwarding"][key].is_number(),
            "forwarding.{key} in {m}"
        );
    }
    assert_eq!(m["node_metrics"][0]["node"], "api1@127.0.0.1");
    assert!(m["node_metrics"][0]["metrics"]["forwarding"].is_object());
    assert_eq!(c.api("GET", "/cluster/links/a/metrics", None).0, 200);
    assert_eq!(
        c.api("PUT", "/cluster/links/link/a/metrics/reset", None),
        (204, Value::Null)
    );
    assert_eq!(
        c.api("PUT", "/cluster/links/link/zz/metrics/reset", None).0,
        404
    );

    // Prometheus carries the link metrics.
    let (status, text) = c.api("GET", "/prometheus/stats", None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap_or_default().to_string();
    assert!(
        text.contains("emqx_cluster_link_routes{link=\"a\",node=\"api1@127.0.0.1\"} 0"),
        "{text}"
    );
    assert!(text.contains("emqx_cluster_link_matched{link=\"c\""));

    // Runtime changes survive a restart.
    c.restart();
    let list = c.api("GET", "/cluster/links", None).1;
    assert_eq!(names(&list), ["a", "c"]);
    assert_eq!(list[0]["pool_size"], 1);
    assert_eq!(list[0]["password"], "******");
    let persisted = std::fs::read_to_string(c.dir.join("data/configs/cluster.hocon")).unwrap();
    assert!(
        persisted.contains("password = \"secret-pw\""),
        "{persisted}"
    );

    // Delete: 204, then 404.
    assert_eq!(
        c.api("DELETE", "/cluster/links/a", None),
        (204, Value::Null)
    );
    assert_eq!(c.api("DELETE", "/cluster/links/link/a", None).0, 404);
    assert_eq!(names(&c.api("GET", "/cluster/links", None).1), ["c"]);
}

#[tokio::test]
async fn spec_9_10_eight_concurrent_deletes_one_204_seven_404() {
    let mut c = Cluster::new("api2").with_api();
    c.launch(&[]);
    assert_eq!(c.api("POST", "/cluster/links", Some(&body("d"))).0, 201);
    let token = c.token();
    let port = c.api_port;
    let mut threads = Vec::new();
    for _ in 0..8 {
        let token = token.clone();
        threads.push(std::thread::spawn(move || {
            http(
                port,
                "DELETE",
                "/api/v5/cluster/links/link/d",
                Some(&token),
                None,
            )
            .0
        }));
    }
    let mut codes: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, [204, 404, 404, 404, 404, 404, 404, 404]);
    assert_eq!(c.api("GET", "/cluster/links", None), (200, json!([])));
}
