//! Acceptance 2 (security endpoints): built-in database users CRUD
//! (`/authentication/{id}/users`) and the file authorization rules
//! (`GET|PUT /authorization/sources/file`), applied at once to MQTT clients.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestApi;
use linkmq_acl::authn::hashing::HashAlgorithm;
use linkmq_acl::authn::{Provider, UserIdType};
use linkmq_acl::{AclEngine, Authn, AuthzSettings, UserStore};
use linkmq_client::{Client, ConnectOptions, Event};
use linkmq_codec::{QoS, ReasonCode};
use serde_json::json;

const ID: &str = "password_based:built_in_database";

/// A broker whose MQTT clients must log in against the built-in database and obey `rules`; the
/// user store and the rules file are kept in the broker's own directory.
async fn secured(rules: &str) -> TestApi {
    let rules = rules.to_string();
    let node_dir = common::temp_dir();
    let dir = node_dir.path().to_path_buf();
    TestApi::start_in(
        node_dir,
        "",
        |_| {},
        move |state| {
            let store = UserStore::open(dir.join("users.json"), HashAlgorithm::default(), 4096)
                .expect("user store");
            let authn = Arc::new(Authn::new(
                vec![Provider::PasswordBased {
                    enable: true,
                    user_id_type: UserIdType::Username,
                }],
                Arc::new(store),
            ));
            let authz = AclEngine::new(AuthzSettings::default(), &rules)
                .expect("rules")
                .with_persist_path(dir.join("acl.conf"));
            state.broker.access.set_authenticator(authn.clone());
            state.broker.access.set_authorizer(Arc::new(authz.clone()));
            state.with_authn(authn).with_authz(authz)
        },
    )
    .await
}

async fn connect(api: &TestApi, id: &str, user: &str, pwd: &str) -> Result<Client, ReasonCode> {
    let mut o = ConnectOptions::new(api.mqtt.to_string(), id);
    o.username = Some(user.into());
    o.password = Some(pwd.as_bytes().to_vec().into());
    match Client::connect(o).await {
        Ok((c, _)) => Ok(c),
        Err(linkmq_client::ClientError::Refused(ack)) => Err(ack.reason),
        Err(e) => panic!("connect: {e:?}"),
    }
}

#[tokio::test]
async fn built_in_database_users_crud_and_mqtt_login() {
    let api = secured("{allow, all}.").await;
    let base = format!("/api/v5/authentication/{ID}/users");
    let r = api
        .post(
            &base,
            json!({"user_id": "dev1", "password": "pw-1", "is_superuser": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json(), json!({"user_id": "dev1", "is_superuser": false}));
    api.post(&base, json!({"user_id": "dev1", "password": "other"}))
        .await
        .assert_error(409, "ALREADY_EXISTS");
    api.post(
        &base,
        json!({"user_id": "admin2", "password": "pw-2", "is_superuser": true}),
    )
    .await;

    // The URL-encoded id works too, and lists are paged with filters.
    let list = api
        .get("/api/v5/authentication/password_based%3Abuilt_in_database/users")
        .await
        .json();
    assert_eq!(
        list,
        json!({"data": [{"user_id": "admin2", "is_superuser": true},
                        {"user_id": "dev1", "is_superuser": false}],
               "meta": {"page": 1, "limit": 100, "count": 2, "hasnext": false}})
    );
    let su = api.get(&format!("{base}?is_superuser=true")).await.json();
    assert_eq!(su["meta"]["count"], 1);
    let like = api
        .get(&format!("{base}?like_user_id=dev&limit=1"))
        .await
        .json();
    assert_eq!(like["data"][0]["user_id"], "dev1");

    // The new user logs in over MQTT; a wrong password does not.
    let c = connect(&api, "c1", "dev1", "pw-1")
        .await
        .expect("dev1 logs in");
    c.disconnect().await.unwrap();
    assert_eq!(
        connect(&api, "c2", "dev1", "nope").await.err(),
        Some(ReasonCode::BadUserNameOrPassword)
    );

    // Password change applies to the next login.
    let r = api
        .put(&format!("{base}/dev1"), json!({"password": "pw-new"}))
        .await;
    assert_eq!(r.json(), json!({"user_id": "dev1", "is_superuser": false}));
    assert!(connect(&api, "c3", "dev1", "pw-1").await.is_err());
    connect(&api, "c4", "dev1", "pw-new")
        .await
        .expect("new password works");
    let r = api
        .put(&format!("{base}/dev1"), json!({"is_superuser": true}))
        .await;
    assert_eq!(r.json()["is_superuser"], true);
    assert_eq!(
        api.get(&format!("{base}/dev1")).await.json(),
        json!({"user_id": "dev1", "is_superuser": true})
    );

    assert_eq!(api.delete(&format!("{base}/dev1")).await.status, 204);
    api.get(&format!("{base}/dev1"))
        .await
        .assert_error(404, "NOT_FOUND");
    api.delete(&format!("{base}/dev1"))
        .await
        .assert_error(404, "NOT_FOUND");
    api.put(&format!("{base}/dev1"), json!({"password": "x"}))
        .await
        .assert_error(404, "NOT_FOUND");
    assert!(connect(&api, "c5", "dev1", "pw-new").await.is_err());

    // Unknown authenticator; bad bodies.
    api.get("/api/v5/authentication/jwt/users")
        .await
        .assert_error(404, "NOT_FOUND");
    api.post(&base, json!({"user_id": "x", "password": ""}))
        .await
        .assert_error(400, "BAD_REQUEST");
    api.post(
        &base,
        json!({"user_id": "x", "password": "p", "role": "god"}),
    )
    .await
    .assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn file_rules_are_read_and_replaced_at_once() {
    let initial = "{allow, all}.\n";
    let api = secured(initial).await;
    let r = api.get("/api/v5/authorization/sources/file").await;
    assert_eq!(
        r.json(),
        json!({"type": "file", "enable": true, "rules": initial})
    );
    api.post(
        &format!("/api/v5/authentication/{ID}/users"),
        json!({"user_id": "u", "password": "p"}),
    )
    .await;
    let sub = connect(&api, "sub", "u", "p").await.unwrap();
    sub.subscribe("secret/#", QoS::AtLeastOnce).await.unwrap();
    let publisher = connect(&api, "pub", "u", "p").await.unwrap();
    assert_eq!(
        publisher
            .publish("secret/1", "before", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    match sub.recv_timeout(Duration::from_secs(5)).await {
        Some(Event::Publish(p)) => assert_eq!(&p.payload[..], b"before"),
        other => panic!("expected the message, got {other:?}"),
    }

    let rules = "{deny, all, publish, [\"secret/#\"]}.\n{allow, all}.\n";
    let r = api
        .put(
            "/api/v5/authorization/sources/file",
            json!({"type": "file", "enable": true, "rules": rules}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        api.get("/api/v5/authorization/sources/file").await.json()["rules"],
        rules
    );
    // The already-connected publisher is denied now (v5: PUBACK 0x87), nothing is delivered.
    assert_eq!(
        publisher
            .publish("secret/1", "after", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    assert!(sub.recv_timeout(Duration::from_millis(300)).await.is_none());

    // A rule text with an error is refused with its position; the rules in force stay.
    let r = api
        .put(
            "/api/v5/authorization/sources/file",
            json!({"type": "file", "rules": "{allow, all.\n"}),
        )
        .await;
    r.assert_error(400, "BAD_REQUEST");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("acl.conf:1:")
    );
    assert_eq!(
        api.get("/api/v5/authorization/sources/file").await.json()["rules"],
        rules
    );
    api.put(
        "/api/v5/authorization/sources/file",
        json!({"type": "http", "rules": ""}),
    )
    .await
    .assert_error(400, "BAD_REQUEST");
    api.put(
        "/api/v5/authorization/sources/file",
        json!({"rules": "{allow, all}."}),
    )
    .await
    .assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn without_acl_the_security_endpoints_are_404() {
    let api = TestApi::start().await;
    api.get(&format!("/api/v5/authentication/{ID}/users"))
        .await
        .assert_error(404, "NOT_FOUND");
    api.get("/api/v5/authorization/sources/file")
        .await
        .assert_error(404, "NOT_FOUND");
}
