//! Acceptance 3 (EMQX error bodies; malformed input is 400/413, never 500) and the OpenAPI
//! document: every served route is documented and every documented operation is served.

mod common;

use std::collections::BTreeSet;

use common::{Auth, TestApi};
use linkmq_http_api::openapi::openapi_path;
use linkmq_http_api::{Access, route_table};
use serde_json::{Value, json};

#[tokio::test]
async fn malformed_json_wrong_types_and_unknown_fields_are_400_bad_request() {
    let api = TestApi::start().await;
    let cases: &[(&str, &[u8], &str)] = &[
        ("/api/v5/publish", b"{\"topic\": ", "EOF"),
        ("/api/v5/publish", b"not json at all", "expected"),
        ("/api/v5/publish", b"", "empty"),
        ("/api/v5/publish", br#"{"topic": 1, "payload": "x"}"#, "topic"),
        ("/api/v5/publish", br#"{"topic": "t", "payload": "x", "qos": "one"}"#, "qos"),
        ("/api/v5/publish", br#"{"topic": "t", "payload": "x", "qos": -1}"#, "qos"),
        ("/api/v5/publish", br#"{"topic": "t", "payload": "x", "retain": "yes"}"#, "retain"),
        ("/api/v5/publish", br#"{"topic": "t", "payload": "x", "colour": 1}"#, "colour"),
        ("/api/v5/publish", br#"{"payload": "x"}"#, "topic"),
        (
            "/api/v5/publish",
            br#"{"topic": "t", "payload": "x", "properties": {"user_properties": {"a": 1}}}"#,
            "properties.user_properties.a",
        ),
        (
            "/api/v5/publish",
            br#"{"topic": "t", "payload": "x", "properties": {"message_expiry_interval": 99999999999}}"#,
            "message_expiry_interval",
        ),
        ("/api/v5/publish/bulk", br#"{"topic": "t", "payload": "x"}"#, "sequence"),
        ("/api/v5/publish/bulk", br#"[{"topic": "t"}]"#, "payload"),
        ("/api/v5/api_key", br#"{"name": "k", "enable": "on"}"#, "enable"),
        ("/api/v5/users", br#"{"username": "u"}"#, "password"),
        ("/api/v5/clients/kickout/bulk", br#"["a", 2]"#, "[1]"),
        ("/api/v5/login", br#"["admin", "public"]"#, "expected"),
    ];
    for (path, body, mentions) in cases {
        let auth = if *path == "/api/v5/login" {
            Auth::None
        } else {
            Auth::Bearer(api.token.clone())
        };
        let r = api.request("POST", path, auth, Some(body.to_vec())).await;
        r.assert_error(400, "BAD_REQUEST");
        let msg = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains(mentions),
            "{path} {:?}: message {msg:?} should mention {mentions:?}",
            String::from_utf8_lossy(body)
        );
    }
    // PUT bodies too.
    api.put("/api/v5/api_key/x", json!({"nope": true}))
        .await
        .assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn a_json_body_is_read_whatever_the_content_type() {
    let api = TestApi::start().await;
    for ct in [Some("text/plain"), None] {
        let r = api
            .request_ct(
                "POST",
                "/api/v5/publish",
                Auth::Bearer(api.token.clone()),
                Some(br#"{"topic":"t","payload":"x"}"#.to_vec()),
                ct,
            )
            .await;
        assert_eq!(r.status, 202, "content type {ct:?}: {}", r.text());
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_payload_too_large() {
    let api = TestApi::start_with("", |s| s.max_packet_size = 1024, |s| s).await;
    assert_eq!(api.state.max_body, 1024 * 1024);
    let big = format!(
        r#"{{"topic":"t","payload":"{}"}}"#,
        "x".repeat(api.state.max_body + 1)
    );
    api.post_raw("/api/v5/publish", big.as_bytes())
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // The server still answers afterwards.
    assert_eq!(api.get("/api/v5/stats").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_emqx_error_bodies() {
    let api = TestApi::start().await;
    api.get("/api/v5/no/such/thing")
        .await
        .assert_error(404, "NOT_FOUND");
    api.request("GET", "/api/v5/nope", Auth::None, None)
        .await
        .assert_error(404, "NOT_FOUND");
    api.delete("/api/v5/publish")
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    api.request(
        "PATCH",
        "/api/v5/clients",
        Auth::Bearer(api.token.clone()),
        None,
    )
    .await
    .assert_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn malformed_query_strings_and_paths_are_400() {
    let api = TestApi::start().await;
    api.get("/api/v5/clients?page=%ZZ&limit=1")
        .await
        .assert_error(400, "INVALID_PARAMETER");
    api.get("/api/v5/clients?limit=-1")
        .await
        .assert_error(400, "INVALID_PARAMETER");
    api.get("/api/v5/clients?limit=99999999999999999999999")
        .await
        .assert_error(400, "INVALID_PARAMETER");
    api.get("/api/v5/clients/%FF%FE")
        .await
        .assert_error(400, "BAD_REQUEST");
}

fn doc_ops(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_and_nothing_else() {
    let api = TestApi::start().await;
    let r = api.get("/api-docs/swagger.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.0.0");
    let documented = doc_ops(&doc);
    let routes = route_table();
    let served: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.method.to_string(), openapi_path(&r.path)))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    for path in [
        "/api/v5/login",
        "/api/v5/clients/{clientid}",
        "/api/v5/publish/bulk",
        "/api/v5/mqtt/retainer/message/{topic}",
        "/api/v5/authentication/{id}/users/{user_id}",
        "/api/v5/authorization/sources/file",
        "/api/v5/prometheus/stats",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }

    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for route in &routes {
        let op = &doc["paths"][openapi_path(&route.path)][route.method.as_str().to_lowercase()];
        let what = format!("{} {}", route.method, route.path);
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}"
        );
        assert!(op["tags"][0].is_string(), "{what}");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{what}: no success response"
        );
        // Security matches what the server enforces.
        let security = op["security"].as_array().unwrap();
        match route.access {
            Access::Public => assert!(security.is_empty(), "{what}"),
            Access::Any => assert_eq!(security.len(), 2, "{what}"),
            Access::BearerOnly => {
                assert_eq!(security, &vec![json!({"bearerAuth": []})], "{what}")
            }
        }
        if route.access != Access::Public {
            assert!(responses.contains_key("401"), "{what}");
        }
        // Path parameters are declared.
        for seg in openapi_path(&route.path).split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{what}: path parameter {name} undeclared"
                );
            }
        }
        // Every $ref resolves.
        let text = op.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "{what}: dangling $ref {name}");
        }
    }
}
