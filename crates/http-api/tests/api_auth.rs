//! Acceptance 1 (auth): login and bearer tokens, dashboard users on disk, API keys (bootstrap file
//! and `/api/v5/api_key`) as HTTP Basic, 401 on every protected route, rate-limited wrong
//! credentials, the viewer role, and the public health check.

mod common;

use std::time::Duration;

use common::{Auth, NODE, TestApi, temp_dir};
use linkmq_http_api::{Access, route_table};
use serde_json::json;

fn login_body(user: &str, pwd: &str) -> Option<Vec<u8>> {
    Some(
        json!({"username": user, "password": pwd})
            .to_string()
            .into_bytes(),
    )
}

/// A concrete path for a route pattern (`{x}` → `x`).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "x".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn login_returns_a_bearer_token_with_version_and_license() {
    let api = TestApi::start().await;
    let r = api
        .request(
            "POST",
            "/api/v5/login",
            Auth::None,
            login_body("admin", "public"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let token = v["token"].as_str().expect("token");
    assert!(token.len() >= 32);
    assert_eq!(v["version"], linkmq_core::sys::VERSION);
    assert_eq!(v["license"]["edition"], "opensource");
    assert_eq!(v["role"], "administrator");
    let r = api
        .request("GET", "/api/v5/nodes", Auth::Bearer(token.into()), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["node"], NODE);
}

#[tokio::test]
async fn login_with_a_wrong_password_or_unknown_user_is_401_bad_username_or_pwd() {
    let api = TestApi::start().await;
    for (u, p) in [("admin", "wrong"), ("nobody", "public")] {
        let r = api
            .request("POST", "/api/v5/login", Auth::None, login_body(u, p))
            .await;
        r.assert_error(401, "BAD_USERNAME_OR_PWD");
    }
}

#[tokio::test]
async fn the_default_password_comes_from_dashboard_default_password() {
    let api = TestApi::start_with(
        "dashboard.default_password = \"s3cret-pass\"",
        |_| {},
        |s| s,
    )
    .await;
    assert!(api.token.is_empty(), "\"public\" must not work");
    let r = api
        .request(
            "POST",
            "/api/v5/login",
            Auth::None,
            login_body("admin", "s3cret-pass"),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn dashboard_users_are_kept_on_disk_hashed_and_survive_a_restart() {
    let api = TestApi::start().await;
    let r = api
        .post(
            "/api/v5/users",
            json!({"username": "ops", "password": "ops-pass-1", "role": "viewer",
                   "description": "operations"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"username": "ops", "role": "viewer", "description": "operations",
               "backend": "local"})
    );
    api.post("/api/v5/users", json!({"username": "ops", "password": "x"}))
        .await
        .assert_error(400, "BAD_REQUEST");
    let users = api.get("/api/v5/users").await.json();
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "ops"]);
    let file = api.dir.path().join("data/dashboard/users.json");
    let text = std::fs::read_to_string(&file).expect("users.json");
    assert!(text.contains("\"ops\""));
    assert!(!text.contains("ops-pass-1") && !text.contains("\"public\""));

    let dir = api.stop().await;
    let api = TestApi::start_in(dir, "", |_| {}, |s| s).await;
    assert!(!api.token.is_empty(), "admin still logs in");
    let r = api
        .request(
            "POST",
            "/api/v5/login",
            Auth::None,
            login_body("ops", "ops-pass-1"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["role"], "viewer");

    // Password change: old one is checked, old tokens die, new password works.
    api.post(
        "/api/v5/users/ops/change_pwd",
        json!({"old_pwd": "nope", "new_pwd": "ops-pass-2"}),
    )
    .await
    .assert_error(400, "ERROR_PWD_NOT_MATCH");
    let r = api
        .post(
            "/api/v5/users/ops/change_pwd",
            json!({"old_pwd": "ops-pass-1", "new_pwd": "ops-pass-2"}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = api
        .request(
            "POST",
            "/api/v5/login",
            Auth::None,
            login_body("ops", "ops-pass-2"),
        )
        .await;
    assert_eq!(r.status, 200);

    // Update, delete; the default administrator is protected.
    let r = api
        .put(
            "/api/v5/users/ops",
            json!({"role": "administrator", "description": "now admin"}),
        )
        .await;
    assert_eq!(r.json()["role"], "administrator");
    api.delete("/api/v5/users/admin")
        .await
        .assert_error(400, "NOT_ALLOWED");
    assert_eq!(api.delete("/api/v5/users/ops").await.status, 204);
    api.delete("/api/v5/users/ops")
        .await
        .assert_error(404, "USER_NOT_FOUND");
    api.put("/api/v5/users/ops", json!({"description": "x"}))
        .await
        .assert_error(404, "USER_NOT_FOUND");
}

#[tokio::test]
async fn every_protected_route_answers_401_without_valid_credentials() {
    let api = TestApi::start_with(
        "dashboard.unsuccessful_login.max_attempts = 1000",
        |_| {},
        |s| s,
    )
    .await;
    let routes = route_table();
    assert!(routes.len() > 40, "{} routes", routes.len());
    let mut protected = 0;
    for r in routes.iter().filter(|r| r.access != Access::Public) {
        protected += 1;
        let path = concrete(&r.path);
        let body = (r.method != "GET" && r.method != "DELETE").then(|| b"{}".to_vec());
        let resp = api
            .request(r.method.as_str(), &path, Auth::None, body.clone())
            .await;
        resp.assert_error(401, "AUTHORIZATION_HEADER_ERROR");
        assert_eq!(
            resp.headers
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Basic Realm=\"emqx-dashboard\""),
            "{} {path}",
            r.method
        );
        api.request(
            r.method.as_str(),
            &path,
            Auth::Bearer("not-a-token".into()),
            body.clone(),
        )
        .await
        .assert_error(401, "BAD_TOKEN");
        let expected = if r.access == Access::BearerOnly {
            "API_KEY_NOT_ALLOW"
        } else {
            "BAD_API_KEY_OR_SECRET"
        };
        api.request(
            r.method.as_str(),
            &path,
            Auth::Basic("nokey".into(), "nosecret".into()),
            body.clone(),
        )
        .await
        .assert_error(401, expected);
        api.request(
            r.method.as_str(),
            &path,
            Auth::Raw("Digest abc".into()),
            body,
        )
        .await
        .assert_error(401, "AUTHORIZATION_HEADER_ERROR");
    }
    assert!(protected > 40);
    // The public ones answer without credentials.
    for path in ["/status", "/api/v5/status", "/"] {
        assert_eq!(api.request("GET", path, Auth::None, None).await.status, 200);
    }
}

#[tokio::test]
async fn api_keys_from_the_bootstrap_file_work_as_http_basic() {
    let dir = temp_dir();
    let file = dir.path().join("api_keys.txt");
    std::fs::write(&file, "ops-key:ops-secret\nro-key:ro-secret:viewer\n").unwrap();
    let api = TestApi::start_in(
        dir,
        &format!("api_key.bootstrap_file = \"{}\"", file.display()),
        |_| {},
        |s| s,
    )
    .await;
    let ok = api
        .request(
            "GET",
            "/api/v5/clients",
            Auth::Basic("ops-key".into(), "ops-secret".into()),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["meta"]["count"], 0);
    api.request(
        "GET",
        "/api/v5/clients",
        Auth::Basic("ops-key".into(), "wrong".into()),
        None,
    )
    .await
    .assert_error(401, "BAD_API_KEY_OR_SECRET");
    // A viewer key reads but does not write.
    let ro = Auth::Basic("ro-key".into(), "ro-secret".into());
    assert_eq!(
        api.request("GET", "/api/v5/stats", ro.clone(), None)
            .await
            .status,
        200
    );
    api.request(
        "POST",
        "/api/v5/publish",
        ro,
        Some(br#"{"topic":"t","payload":"x"}"#.to_vec()),
    )
    .await
    .assert_error(403, "UNAUTHORIZED_ROLE");
    let keys = api.get("/api/v5/api_key").await.json();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| {
        k["name"]
            .as_str()
            .unwrap()
            .starts_with("from_bootstrap_file_")
    }));
}

#[tokio::test]
async fn api_keys_are_created_used_disabled_and_deleted_through_the_api() {
    let api = TestApi::start().await;
    let r = api
        .post(
            "/api/v5/api_key",
            json!({"name": "ci-key", "desc": "CI", "enable": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let created = r.json();
    let key = created["api_key"].as_str().unwrap().to_string();
    let secret = created["api_secret"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "ci-key");
    assert_eq!(created["expired_at"], "infinity");
    assert_eq!(created["enable"], true);
    let basic = Auth::Basic(key.clone(), secret.clone());
    assert_eq!(
        api.request("GET", "/api/v5/metrics", basic.clone(), None)
            .await
            .status,
        200
    );
    // The secret is shown once only, and never stored in clear.
    let listed = api.get("/api/v5/api_key").await.json();
    assert!(listed[0].get("api_secret").is_none(), "{listed}");
    let one = api.get("/api/v5/api_key/ci-key").await.json();
    assert_eq!(one["api_key"], key.as_str());
    assert!(one.get("api_secret").is_none());
    let stored =
        std::fs::read_to_string(api.dir.path().join("data/dashboard/api_keys.json")).unwrap();
    assert!(stored.contains(&key) && !stored.contains(&secret));

    // Errors.
    api.post("/api/v5/api_key", json!({"name": "ci-key"}))
        .await
        .assert_error(400, "BAD_REQUEST");
    api.post("/api/v5/api_key", json!({"name": "1 bad name"}))
        .await
        .assert_error(400, "BAD_REQUEST");
    api.get("/api/v5/api_key/none")
        .await
        .assert_error(404, "NOT_FOUND");

    // API keys cannot manage API keys.
    api.request("GET", "/api/v5/api_key", basic.clone(), None)
        .await
        .assert_error(401, "API_KEY_NOT_ALLOW");

    // Disabled → 401; enabled again → 200; expired → 401.
    let r = api
        .put("/api/v5/api_key/ci-key", json!({"enable": false}))
        .await;
    assert_eq!(r.json()["enable"], false);
    api.request("GET", "/api/v5/metrics", basic.clone(), None)
        .await
        .assert_error(401, "BAD_API_KEY_OR_SECRET");
    api.put("/api/v5/api_key/ci-key", json!({"enable": true}))
        .await;
    assert_eq!(
        api.request("GET", "/api/v5/metrics", basic.clone(), None)
            .await
            .status,
        200
    );
    let r = api
        .put(
            "/api/v5/api_key/ci-key",
            json!({"expired_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.json()["expired"], true);
    assert_eq!(r.json()["expired_at"], "2001-01-01T00:00:00.000+00:00");
    api.request("GET", "/api/v5/metrics", basic.clone(), None)
        .await
        .assert_error(401, "BAD_API_KEY_OR_SECRET");
    api.put("/api/v5/api_key/ci-key", json!({"expired_at": "infinity"}))
        .await;

    // Kept across a restart.
    let dir = api.stop().await;
    let api = TestApi::start_in(dir, "", |_| {}, |s| s).await;
    assert_eq!(
        api.request("GET", "/api/v5/metrics", basic.clone(), None)
            .await
            .status,
        200
    );
    assert_eq!(api.delete("/api/v5/api_key/ci-key").await.status, 204);
    api.request("GET", "/api/v5/metrics", basic, None)
        .await
        .assert_error(401, "BAD_API_KEY_OR_SECRET");
    api.delete("/api/v5/api_key/ci-key")
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_user_for_lock_duration() {
    let api = TestApi::start_with(
        "dashboard.unsuccessful_login { max_attempts = 3, time_window = 60s, lock_duration = 400ms }",
        |_| {},
        |s| s,
    )
    .await;
    for _ in 0..3 {
        api.request(
            "POST",
            "/api/v5/login",
            Auth::None,
            login_body("admin", "bad"),
        )
        .await
        .assert_error(401, "BAD_USERNAME_OR_PWD");
    }
    api.request(
        "POST",
        "/api/v5/login",
        Auth::None,
        login_body("admin", "public"),
    )
    .await
    .assert_error(401, "LOGIN_LOCKED");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = api
        .request(
            "POST",
            "/api/v5/login",
            Auth::None,
            login_body("admin", "public"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn an_address_that_keeps_sending_wrong_credentials_gets_429() {
    // max_attempts 2 → 8 wrong credentials per address per time window.
    let api = TestApi::start_with(
        "dashboard.unsuccessful_login { max_attempts = 2, time_window = 60s }",
        |_| {},
        |s| s,
    )
    .await;
    // Wrong logins of different users count for the address too.
    for user in ["a", "b", "c", "d"] {
        api.request("POST", "/api/v5/login", Auth::None, login_body(user, "x"))
            .await
            .assert_error(401, "BAD_USERNAME_OR_PWD");
    }
    for _ in 0..4 {
        api.request(
            "GET",
            "/api/v5/clients",
            Auth::Basic("k".into(), "wrong".into()),
            None,
        )
        .await
        .assert_error(401, "BAD_API_KEY_OR_SECRET");
    }
    let r = api
        .request("GET", "/api/v5/clients", Auth::Bearer("guess".into()), None)
        .await;
    r.assert_error(429, "TOO_MANY_REQUESTS");
    api.request(
        "POST",
        "/api/v5/login",
        Auth::None,
        login_body("admin", "public"),
    )
    .await
    .assert_error(429, "TOO_MANY_REQUESTS");
    // Missing credentials are not counted as wrong ones, and stay 401.
    api.request("GET", "/api/v5/clients", Auth::None, None)
        .await
        .assert_error(401, "AUTHORIZATION_HEADER_ERROR");
}

#[tokio::test]
async fn tokens_expire_after_token_expired_time_and_logout_revokes_them() {
    let api = TestApi::start_with("dashboard.token_expired_time = 300ms", |_| {}, |s| s).await;
    let t = api.token.clone();
    assert_eq!(api.get("/api/v5/stats").await.status, 200);
    tokio::time::sleep(Duration::from_millis(350)).await;
    api.request("GET", "/api/v5/stats", Auth::Bearer(t), None)
        .await
        .assert_error(401, "TOKEN_TIME_OUT");

    let api = TestApi::start().await;
    api.request(
        "POST",
        "/api/v5/logout",
        Auth::Bearer(api.token.clone()),
        Some(br#"{"username":"someone-else"}"#.to_vec()),
    )
    .await
    .assert_error(401, "WRONG_TOKEN_OR_USERNAME");
    let r = api
        .post("/api/v5/logout", json!({"username": "admin"}))
        .await;
    assert_eq!(r.status, 204);
    api.get("/api/v5/stats")
        .await
        .assert_error(401, "BAD_TOKEN");
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_write() {
    let api = TestApi::start().await;
    api.post(
        "/api/v5/users",
        json!({"username": "viewer1", "password": "pw-123", "role": "viewer"}),
    )
    .await;
    let r = api
        .request(
            "POST",
            "/api/v5/login",
            Auth::None,
            login_body("viewer1", "pw-123"),
        )
        .await;
    let token = r.json()["token"].as_str().unwrap().to_string();
    let v = Auth::Bearer(token);
    assert_eq!(
        api.request("GET", "/api/v5/clients", v.clone(), None)
            .await
            .status,
        200
    );
    api.request(
        "POST",
        "/api/v5/publish",
        v.clone(),
        Some(br#"{"topic":"t","payload":"x"}"#.to_vec()),
    )
    .await
    .assert_error(403, "UNAUTHORIZED_ROLE");
    api.request("DELETE", "/api/v5/clients/c1", v, None)
        .await
        .assert_error(403, "UNAUTHORIZED_ROLE");
}

#[tokio::test]
async fn status_is_public_and_names_the_node() {
    let api = TestApi::start().await;
    let r = api.request("GET", "/status", Auth::None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("Node {NODE} is started\nemqx is running"));
    let r = api
        .request("GET", "/api/v5/status?format=json", Auth::None, None)
        .await;
    assert_eq!(
        r.json(),
        json!({"node_name": NODE, "rel_vsn": linkmq_core::sys::VERSION,
               "broker_status": "started", "app_status": "running"})
    );
    let r = api.request("GET", "/", Auth::None, None).await;
    assert!(r.text().contains("/api/v5"));
}
