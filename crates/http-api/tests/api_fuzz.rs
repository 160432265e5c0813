//! Acceptance 4 (property): random JSON bodies thrown at every write endpoint, and random query
//! strings at every read endpoint, only ever get 2xx or 4xx with an EMQX error body, and the
//! server keeps answering. Fixed seed, so a failure reproduces.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Auth, TestApi};
use linkmq_acl::authn::hashing::HashAlgorithm;
use linkmq_acl::authn::{Provider, UserIdType};
use linkmq_acl::{AclEngine, Authn, AuthzSettings, UserStore};
use linkmq_http_api::{Access, route_table};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

/// Field names the endpoints know, so random objects often get past "unknown field".
const KEYS: &[&str] = &[
    "topic",
    "payload",
    "qos",
    "retain",
    "clientid",
    "payload_encoding",
    "properties",
    "user_properties",
    "message_expiry_interval",
    "content_type",
    "response_topic",
    "correlation_data",
    "payload_format_indicator",
    "name",
    "desc",
    "enable",
    "expired_at",
    "role",
    "username",
    "password",
    "description",
    "old_pwd",
    "new_pwd",
    "user_id",
    "is_superuser",
    "type",
    "rules",
    "mfa_token",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..4).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        "[a-z/#+$]{0,12}".prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("plain"),
            Just("base64"),
            Just("file"),
            Just("infinity"),
            Just("viewer"),
            Just("administrator"),
            Just("{allow, all}."),
            Just("{deny, all, subscribe, [\"#\"]}.\n{allow, all}."),
            Just("2030-01-01T00:00:00Z"),
            Just("aGVsbG8="),
        ]
        .prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        let key = prop_oneof![
            prop::sample::select(KEYS).prop_map(String::from),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((key, inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// A body: mostly JSON, sometimes arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(
            &[
                "page",
                "limit",
                "clientid",
                "username",
                "like_clientid",
                "conn_state",
                "ip_address",
                "clean_start",
                "proto_ver",
                "gte_connected_at",
                "topic",
                "qos",
                "share_group",
                "match_topic",
                "node",
                "aggregate",
                "activated",
                "like_user_id",
                "is_superuser",
                "format",
            ][..]
        )
        .prop_map(String::from),
        "[a-z]{1,6}",
    ];
    let val = prop_oneof!["-?[0-9]{0,25}", "[a-z/#+%=&]{0,10}", ".{0,8}"];
    prop::collection::vec((key, val), 0..5).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| format!("{k}={}", uri_safe(&v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// A valid body for a write route (`None`: the route takes no body).
fn template(method: &str, path: &str) -> Option<Value> {
    let publish = json!({"topic": "fuzz/t", "payload": "x", "qos": 1, "retain": false,
                         "properties": {"user_properties": {"a": "b"}}});
    Some(match (method, path) {
        ("POST", "/api/v5/login") => json!({"username": "admin", "password": "public"}),
        ("POST", "/api/v5/logout") => json!({"username": "admin"}),
        ("POST", "/api/v5/users") => {
            json!({"username": "fuzz", "password": "pw", "role": "viewer", "description": "d"})
        }
        ("PUT", "/api/v5/users/{username}") => json!({"role": "viewer", "description": "d"}),
        ("POST", "/api/v5/users/{username}/change_pwd") => {
            json!({"old_pwd": "pw", "new_pwd": "pw"})
        }
        ("POST", "/api/v5/api_key") => json!({"name": "fuzzkey", "desc": "d", "enable": true,
                                               "expired_at": "2030-01-01T00:00:00Z"}),
        ("PUT", "/api/v5/api_key/{name}") => json!({"desc": "d", "enable": true}),
        ("POST", "/api/v5/clients/kickout/bulk") => json!(["fuzz-client2"]),
        ("POST", "/api/v5/publish") => publish,
        ("POST", "/api/v5/publish/bulk") => json!([publish]),
        ("POST", "/api/v5/authentication/{id}/users") => {
            json!({"user_id": "fuzz", "password": "pw", "is_superuser": false})
        }
        ("PUT", "/api/v5/authentication/{id}/users/{user_id}") => {
            json!({"password": "pw2", "is_superuser": true})
        }
        ("PUT", "/api/v5/authorization/sources/file") => {
            json!({"type": "file", "enable": true, "rules": "{allow, all}."})
        }
        _ => return None,
    })
}

/// How to spoil a valid body: drop the n-th key, replace the n-th value, add a key.
#[derive(Debug, Clone)]
struct Mutation {
    drop: Option<usize>,
    replace: Option<(usize, Value)>,
    add: Option<(String, Value)>,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        prop::option::weighted(0.3, 0usize..8),
        prop::option::weighted(0.6, (0usize..8, json_value())),
        prop::option::weighted(0.2, ("[a-z_]{1,8}", leaf())),
    )
        .prop_map(|(drop, replace, add)| Mutation { drop, replace, add })
}

fn mutate(mut v: Value, m: &Mutation) -> Value {
    let obj = match &mut v {
        Value::Array(items) => match items.first_mut() {
            Some(Value::Object(o)) => o,
            Some(first) => {
                if let Some((_, new)) = &m.replace {
                    *first = new.clone();
                }
                return v;
            }
            None => return v,
        },
        Value::Object(o) => o,
        _ => return v,
    };
    let keys: Vec<String> = obj.keys().cloned().collect();
    if let Some((i, new)) = &m.replace
        && !keys.is_empty()
    {
        obj.insert(keys[i % keys.len()].clone(), new.clone());
    }
    if let Some(i) = m.drop
        && !keys.is_empty()
    {
        obj.remove(&keys[i % keys.len()]);
    }
    if let Some((k, new)) = &m.add {
        obj.insert(k.clone(), new.clone());
    }
    v
}

/// Percent-encodes what may not appear in a URI query, keeping a raw `%` (malformed escapes are
/// part of the test).
fn uri_safe(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~%/+=:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A concrete path for a route pattern, with values that reach the handlers.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{id}" => "password_based:built_in_database".to_string(),
            "{clientid}" => "fuzz-client".to_string(),
            "{node}" => common::NODE.to_string(),
            "{*topic}" => "fuzz%2Ft".to_string(),
            s if s.starts_with('{') => "fuzz".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn check(what: &str, r: &common::Resp) -> Result<(), TestCaseError> {
    // Without a link manager plugged in, the Cluster Linking routes say so with 503.
    let no_links = what.contains(" /api/v5/cluster/")
        && r.status == 503
        && r.text().contains("SERVICE_UNAVAILABLE");
    prop_assert!(
        (200..300).contains(&r.status) || (400..500).contains(&r.status) || no_links,
        "{what}: status {} body {}",
        r.status,
        r.text()
    );
    if r.status >= 400 {
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| TestCaseError::fail(format!("{what}: error body not JSON: {e}")))?;
        // EMQX's schema errors carry a structured message (`{"kind": ..., "reason": ...}`).
        prop_assert!(
            v["code"].is_string() && (v["message"].is_string() || v["message"].is_object()),
            "{what}: {v}"
        );
    }
    Ok(())
}

#[test]
fn random_json_at_write_endpoints_gets_only_2xx_or_4xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Spoiled login bodies are wrong passwords: keep them from locking the administrator out.
    let hocon = "dashboard.unsuccessful_login.max_attempts = 100000";
    let api = rt.block_on(TestApi::start_with(
        hocon,
        |_| {},
        |state| {
            let store = Arc::new(UserStore::in_memory(HashAlgorithm::default(), 64));
            let authn = Arc::new(Authn::new(
                vec![Provider::PasswordBased {
                    enable: true,
                    user_id_type: UserIdType::Username,
                }],
                store,
            ));
            let authz = AclEngine::new(AuthzSettings::default(), "{allow, all}.").unwrap();
            state.with_authn(authn).with_authz(authz)
        },
    ));
    let _client = rt.block_on(api.client("fuzz-client"));
    let routes = route_table();
    let writes: Vec<_> = routes
        .iter()
        .filter(|r| r.method != "GET")
        .cloned()
        .collect();
    let reads: Vec<_> = routes
        .iter()
        .filter(|r| r.method == "GET")
        .cloned()
        .collect();
    assert!(writes.len() >= 20, "{} write routes", writes.len());

    let config = Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = (
        0..writes.len(),
        prop_oneof![1 => Just(None), 2 => mutation().prop_map(Some)],
        body(),
        0..reads.len(),
        query(),
    );
    // Accepted non-DELETE writes: proof that random bodies get past validation sometimes.
    let accepted = AtomicUsize::new(0);
    runner
        .run(&strategy, |(w, spoil, random_body, r, q)| {
            rt.block_on(async {
                // A fresh token each case: a random body may have logged the last one out.
                let login = api
                    .request(
                        "POST",
                        "/api/v5/login",
                        Auth::None,
                        Some(br#"{"username":"admin","password":"public"}"#.to_vec()),
                    )
                    .await;
                prop_assert_eq!(login.status, 200);
                let token = login.json()["token"].as_str().unwrap().to_string();
                let route = &writes[w];
                let auth = match route.access {
                    Access::Public => Auth::None,
                    _ => Auth::Bearer(token.clone()),
                };
                let path = concrete(&route.path);
                // A spoiled valid body where there is one, else random bytes or JSON.
                let body = match (template(route.method.as_str(), &route.path), spoil) {
                    (Some(t), Some(m)) => mutate(t, &m).to_string().into_bytes(),
                    _ => random_body,
                };
                let what = format!(
                    "{} {path} {:?}",
                    route.method,
                    String::from_utf8_lossy(&body)
                );
                let resp = api
                    .request(route.method.as_str(), &path, auth, Some(body))
                    .await;
                check(&what, &resp)?;
                if route.method != "DELETE" && resp.status < 300 && route.path != "/api/v5/login" {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }

                let route = &reads[r];
                let path = format!("{}?{q}", concrete(&route.path));
                let resp = api.request("GET", &path, Auth::Bearer(token), None).await;
                check(&format!("GET {path}"), &resp)
            })
        })
        .unwrap();
    let accepted = accepted.into_inner();
    eprintln!("{accepted} random writes accepted");
    assert!(
        accepted >= 15,
        "only {accepted} random writes were accepted"
    );
    // Still serving.
    let r = rt.block_on(api.request("GET", "/status", Auth::None, None));
    assert_eq!(r.status, 200);
}
