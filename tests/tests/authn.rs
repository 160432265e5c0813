//! Authentication over real sockets (issue 4, item 1): the built-in database with users from
//! bootstrap files (bcrypt, PBKDF2, hashed and clear), CONNACK codes for v5 and v3.1.1, users kept
//! under `node.data_dir`, SCRAM-SHA-256 over v5 AUTH with a client written here, and
//! `peer_cert_as_username` / `peer_cert_as_clientid` on an mTLS listener.

mod access_support;

use std::time::Duration;

use access_support::{ConfNode, connack, creds, v3, v3_return_code, write};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use linkmq_acl::authn::hashing::{HashAlgorithm, MacFun};
use linkmq_client::{ConnectOptions, RawConnection};
use linkmq_codec::{Auth, Connect, Packet, Properties, Protocol, ReasonCode};
use sha2::{Digest, Sha256};

const PBKDF2: &str = r#"
authentication = [{
  mechanism = password_based
  backend = built_in_database
  password_hash_algorithm { name = pbkdf2, mac_fun = sha256, iterations = 1000 }
  bootstrap_file = "etc/users.csv"
  bootstrap_type = hash
}]
authorization.sources = []
"#;

/// A hash-type bootstrap CSV for the PBKDF2 config, made with EMQX's algorithm.
fn pbkdf2_csv() -> String {
    let a = HashAlgorithm::Pbkdf2 {
        mac_fun: MacFun::Sha256,
        iterations: 1000,
        dk_length: None,
    };
    let (h1, s1) = a.hash(b"alice-pw");
    let (h2, s2) = a.hash(b"root-pw");
    format!("user_id,password_hash,salt,is_superuser\nalice,{h1},{s1},false\nroot,{h2},{s2},true\n")
}

async fn pbkdf2_node() -> ConfNode {
    ConfNode::start(PBKDF2, &[("etc/users.csv", &pbkdf2_csv())]).await
}

#[tokio::test]
async fn without_authenticators_every_client_is_allowed() {
    let n = ConfNode::start("", &[]).await;
    assert_eq!(connack(n.opts("anon")).await, ReasonCode::Success);
    assert_eq!(
        connack(creds(n.opts("x"), "whoever", "whatever")).await,
        ReasonCode::Success
    );
    assert_eq!(v3_return_code(&n.addr(), "anon3", None, None).await, 0);
}

#[tokio::test]
async fn pbkdf2_users_from_a_hash_bootstrap_csv() {
    let n = pbkdf2_node().await;
    assert_eq!(
        connack(creds(n.opts("c1"), "alice", "alice-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(n.opts("c2"), "root", "root-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(n.opts("c3"), "alice", "wrong")).await,
        ReasonCode::BadUserNameOrPassword
    );
    assert_eq!(
        connack(creds(n.opts("c4"), "mallory", "alice-pw")).await,
        ReasonCode::BadUserNameOrPassword,
        "an unknown user is refused like a wrong password"
    );
    assert_eq!(
        connack(n.opts("c5")).await,
        ReasonCode::BadUserNameOrPassword,
        "no credentials at all"
    );
    let m = &n.node.broker.metrics;
    use linkmq_core::metrics::Counter;
    assert_eq!(m.get(Counter::ClientAuthenticate), 5);
    assert_eq!(m.get(Counter::AuthenticationSuccess), 2);
    assert_eq!(m.get(Counter::AuthenticationFailure), 3);
    let u = n
        .node
        .security
        .authn
        .as_ref()
        .unwrap()
        .store()
        .get("root")
        .unwrap();
    assert!(u.is_superuser);
}

#[tokio::test]
async fn v3_clients_get_return_code_4_for_bad_credentials() {
    let n = pbkdf2_node().await;
    let addr = n.addr();
    assert_eq!(
        v3_return_code(&addr, "v3a", Some("alice"), Some("alice-pw")).await,
        0
    );
    assert_eq!(
        v3_return_code(&addr, "v3b", Some("alice"), Some("nope")).await,
        4
    );
    assert_eq!(
        v3_return_code(&addr, "v3c", Some("nobody"), Some("x")).await,
        4
    );
    assert_eq!(v3_return_code(&addr, "v3d", None, None).await, 4);
    // And the client library sees the same through the codec's mapping.
    assert_eq!(
        connack(v3(creds(n.opts("v3e"), "alice", "nope"))).await,
        ReasonCode::BadUserNameOrPassword
    );
}

#[tokio::test]
async fn bcrypt_users_from_a_plain_json_bootstrap_file() {
    let users = r#"[
  {"user_id": "bob", "password": "bob-pw", "is_superuser": false},
  {"user_id": "carol", "password": "carol-pw", "is_superuser": true}
]"#;
    let n = ConfNode::start(
        r#"authentication = [{
  mechanism = password_based, backend = built_in_database
  password_hash_algorithm { name = bcrypt, salt_rounds = 5 }
  bootstrap_file = "etc/users.json", bootstrap_type = plain
}]"#,
        &[("etc/users.json", users)],
    )
    .await;
    let stored = n
        .node
        .security
        .authn
        .as_ref()
        .unwrap()
        .store()
        .get("bob")
        .unwrap();
    assert!(
        stored.password_hash.starts_with("$2b$05$"),
        "{}",
        stored.password_hash
    );
    assert_eq!(
        connack(creds(n.opts("b1"), "bob", "bob-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(n.opts("b2"), "carol", "carol-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(n.opts("b3"), "bob", "carol-pw")).await,
        ReasonCode::BadUserNameOrPassword
    );
}

#[tokio::test]
async fn user_id_type_clientid_checks_the_client_id() {
    let n = ConfNode::start(
        r#"authentication = [{
  mechanism = password_based, backend = built_in_database, user_id_type = clientid
  password_hash_algorithm { name = sha256, salt_position = suffix }
  bootstrap_file = "etc/users.csv"
}]"#,
        &[(
            "etc/users.csv",
            "user_id,password,is_superuser\ndevice-1,d1-secret,false\n",
        )],
    )
    .await;
    assert_eq!(
        connack(creds(n.opts("device-1"), "any-name", "d1-secret")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(n.opts("device-2"), "device-1", "d1-secret")).await,
        ReasonCode::BadUserNameOrPassword
    );
}

#[tokio::test]
async fn users_live_under_data_dir_and_survive_a_restart() {
    let conf = r#"authentication = [{
  mechanism = password_based, backend = built_in_database
  password_hash_algorithm { name = sha512, salt_position = prefix }
  bootstrap_file = "etc/users.csv"
}]"#;
    let n = ConfNode::start(
        conf,
        &[(
            "etc/users.csv",
            "user_id,password,is_superuser\nboot,boot-pw,false\n",
        )],
    )
    .await;
    let store = n.node.security.authn.as_ref().unwrap().store().clone();
    store.add_user("api-user", "api-pw", false).unwrap();
    store.update_user("boot", Some("changed-pw"), None).unwrap();
    assert_eq!(
        connack(creds(n.opts("a"), "api-user", "api-pw")).await,
        ReasonCode::Success
    );
    let users_file = n.dir.join("data/authn/users.json");
    let on_disk = std::fs::read_to_string(&users_file).unwrap();
    assert!(
        on_disk.contains("\"api-user\"") && !on_disk.contains("api-pw"),
        "{on_disk}"
    );

    // Restart on the same data dir: the runtime changes win over the bootstrap file.
    let dir = n.stop().await;
    let n = ConfNode::start_in(dir, conf).await;
    assert_eq!(
        connack(creds(n.opts("a"), "api-user", "api-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(n.opts("b"), "boot", "changed-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(n.opts("c"), "boot", "boot-pw")).await,
        ReasonCode::BadUserNameOrPassword
    );
    let store = n.node.security.authn.as_ref().unwrap().store().clone();
    store.delete_user("api-user").unwrap();
    assert_eq!(
        connack(creds(n.opts("d"), "api-user", "api-pw")).await,
        ReasonCode::BadUserNameOrPassword
    );
    let page = store.list_users(1, 10, None);
    assert_eq!(page.count, 1);
    assert_eq!(page.data[0].user_id, "boot");
}

#[tokio::test]
async fn a_malformed_bootstrap_file_stops_the_start_with_its_line() {
    let dir = access_support::temp_dir();
    write(&dir, "etc/users.csv", "user_id,password\nok,pw\nbroken\n");
    let err = access_support::try_start_in(
        &dir,
        r#"authentication = [{mechanism = password_based, backend = built_in_database, bootstrap_file = "etc/users.csv"}]"#,
    )
    .await
    .expect_err("start must fail");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("users.csv:3: expected 2 fields as in the header, found 1"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// SCRAM-SHA-256 (RFC 5802 / 7677) over MQTT v5 enhanced authentication, with a client written
// here from the RFC.

const SCRAM: &str = r#"
authentication = [
  { mechanism = password_based, backend = built_in_database, bootstrap_file = "etc/users.csv" }
  { mechanism = scram, backend = built_in_database, algorithm = sha256, iteration_count = 4096 }
]
"#;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

struct ScramOutcome {
    connack: linkmq_codec::ConnAck,
    expected_server_final: String,
    raw: RawConnection,
}

/// Runs the exchange as a client: CONNECT(client-first) → AUTH(server-first) →
/// AUTH(client-final) → CONNACK(server-final).
async fn scram_connect(addr: &str, user: &str, password: &str) -> ScramOutcome {
    let mut raw = RawConnection::connect(addr).await.unwrap();
    let cnonce = "rOprNGfwEbeRWgbNEkqO";
    let client_first_bare = format!("n={user},r={cnonce}");
    let connect = Connect {
        protocol: Protocol::V5,
        clean_start: true,
        keep_alive: 30,
        client_id: format!("scram-{user}"),
        will: None,
        username: None,
        password: None,
        properties: Properties::from(linkmq_codec::PropertyValues {
            authentication_method: Some("SCRAM-SHA-256".into()),
            authentication_data: Some(Bytes::from(format!("n,,{client_first_bare}"))),
            ..Default::default()
        }),
    };
    raw.send(&Packet::Connect(Box::new(connect)), Protocol::V5)
        .await
        .unwrap();
    let Some(Packet::Auth(a)) = raw
        .recv(Protocol::V5, Duration::from_secs(5))
        .await
        .unwrap()
    else {
        panic!("expected AUTH with the server-first-message");
    };
    assert_eq!(a.reason, ReasonCode::ContinueAuthentication);
    assert_eq!(
        a.properties.authentication_method.as_deref(),
        Some("SCRAM-SHA-256")
    );
    let server_first =
        String::from_utf8(a.properties.authentication_data.clone().unwrap().to_vec()).unwrap();
    let mut nonce = "";
    let mut salt = Vec::new();
    let mut iterations = 0;
    for attr in server_first.split(',') {
        match attr.split_once('=').unwrap() {
            ("r", v) => nonce = v,
            ("s", v) => salt = B64.decode(v).unwrap(),
            ("i", v) => iterations = v.parse().unwrap(),
            _ => {}
        }
    }
    assert!(
        nonce.starts_with(cnonce) && nonce.len() > cnonce.len(),
        "{server_first}"
    );
    assert_eq!(iterations, 4096);
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let server_key = hmac(&salted, b"Server Key");
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let client_signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&client_signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let final_msg = format!("{without_proof},p={}", B64.encode(&proof));
    let auth = Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: Properties::from(linkmq_codec::PropertyValues {
            authentication_method: Some("SCRAM-SHA-256".into()),
            authentication_data: Some(Bytes::from(final_msg)),
            ..Default::default()
        }),
    };
    raw.send(&Packet::Auth(auth), Protocol::V5).await.unwrap();
    let Some(Packet::ConnAck(connack)) = raw
        .recv(Protocol::V5, Duration::from_secs(5))
        .await
        .unwrap()
    else {
        panic!("expected CONNACK after the final AUTH");
    };
    ScramOutcome {
        connack,
        expected_server_final: format!(
            "v={}",
            B64.encode(hmac(&server_key, auth_message.as_bytes()))
        ),
        raw,
    }
}

async fn scram_node() -> ConfNode {
    ConfNode::start(
        SCRAM,
        &[(
            "etc/users.csv",
            "user_id,password,is_superuser\nsam,sam-pw,false\n",
        )],
    )
    .await
}

#[tokio::test]
async fn scram_sha_256_exchange_over_auth_against_the_user_database() {
    let n = scram_node().await;
    let mut out = scram_connect(&n.addr(), "sam", "sam-pw").await;
    assert_eq!(out.connack.reason, ReasonCode::Success);
    assert_eq!(
        out.connack.properties.authentication_method.as_deref(),
        Some("SCRAM-SHA-256")
    );
    let server_final = out.connack.properties.authentication_data.clone().unwrap();
    assert_eq!(
        std::str::from_utf8(&server_final).unwrap(),
        out.expected_server_final,
        "the server proves it knows the credential"
    );
    // The connection is up.
    out.raw.send(&Packet::PingReq, Protocol::V5).await.unwrap();
    assert_eq!(
        out.raw
            .recv(Protocol::V5, Duration::from_secs(5))
            .await
            .unwrap(),
        Some(Packet::PingResp)
    );
    // The same user still logs in with the password in CONNECT.
    assert_eq!(
        connack(creds(n.opts("pw"), "sam", "sam-pw")).await,
        ReasonCode::Success
    );
}

#[tokio::test]
async fn scram_with_a_wrong_password_or_unknown_user_gets_0x86() {
    let n = scram_node().await;
    let out = scram_connect(&n.addr(), "sam", "not-sam-pw").await;
    assert_eq!(out.connack.reason, ReasonCode::BadUserNameOrPassword);
    let out = scram_connect(&n.addr(), "nobody", "whatever").await;
    assert_eq!(out.connack.reason, ReasonCode::BadUserNameOrPassword);
}

#[tokio::test]
async fn users_added_at_runtime_can_use_scram() {
    let n = scram_node().await;
    let store = n.node.security.authn.as_ref().unwrap().store().clone();
    tokio::task::spawn_blocking(move || store.add_user("late", "late-pw", false).unwrap())
        .await
        .unwrap();
    let out = scram_connect(&n.addr(), "late", "late-pw").await;
    assert_eq!(out.connack.reason, ReasonCode::Success);
}

#[tokio::test]
async fn an_unsupported_authentication_method_gets_0x8c() {
    let n = scram_node().await;
    let mut opts = n.opts("m");
    opts.properties.authentication_method = Some("SCRAM-SHA-1".into());
    opts.properties.authentication_data = Some(Bytes::from_static(b"n,,n=sam,r=abc"));
    assert_eq!(connack(opts).await, ReasonCode::BadAuthenticationMethod);
    // Without any scram authenticator, SCRAM-SHA-256 is not offered either.
    let n = pbkdf2_node().await;
    let mut opts = n.opts("m2");
    opts.properties.authentication_method = Some("SCRAM-SHA-256".into());
    assert_eq!(connack(opts).await, ReasonCode::BadAuthenticationMethod);
}

// ---------------------------------------------------------------------------------------------
// X.509: the client certificate's identity as username / client id.

fn mtls_conf(pki: &linkmq_tests::pki::Pki, extra: &str) -> String {
    format!(
        r#"listeners.ssl.default {{
  bind = "127.0.0.1:0"
  ssl_options {{
    certfile = "{}"
    keyfile = "{}"
    cacertfile = "{}"
    verify = verify_peer
    fail_if_no_peer_cert = true
  }}
}}
{extra}"#,
        pki.path("server.pem").display(),
        pki.path("server.key").display(),
        pki.path("ca.pem").display(),
    )
}

fn ssl_addr(n: &ConfNode) -> String {
    linkmq_tests::listener_addr(&n.node, "ssl:default")
}

#[tokio::test]
async fn peer_cert_as_username_cn_authenticates_the_certificate_holder() {
    let pki = linkmq_tests::pki::Pki::new();
    let conf = mtls_conf(
        &pki,
        r#"mqtt.peer_cert_as_username = cn
mqtt.peer_cert_as_clientid = cn
authentication = [{
  mechanism = password_based, backend = built_in_database
  bootstrap_file = "etc/users.csv"
}]"#,
    );
    let n = ConfNode::start(
        &conf,
        &[(
            "etc/users.csv",
            "user_id,password,is_superuser\nsensor-7,s7-pw,false\n",
        )],
    )
    .await;
    let (cert, key) = pki.client("sensor7", "sensor-7", None, None);
    let tls = pki.client_tls().client_cert_files(cert, key);
    // The CONNECT username is replaced by the CN, so the password of "sensor-7" is what counts.
    let opts = ConnectOptions::new(ssl_addr(&n), "claimed-id")
        .tls(tls.clone())
        .credentials("someone-else", Bytes::from_static(b"s7-pw"));
    let (c, _) = linkmq_client::Client::connect(opts)
        .await
        .expect("CN user connects");
    let entry = n
        .node
        .broker
        .registry
        .get("sensor-7")
        .expect("client id is the CN");
    assert_eq!(entry.info.username.as_deref(), Some("sensor-7"));
    c.disconnect().await.unwrap();
    let wrong = ConnectOptions::new(ssl_addr(&n), "x")
        .tls(tls)
        .credentials("sensor-7", Bytes::from_static(b"bad"));
    assert_eq!(connack(wrong).await, ReasonCode::BadUserNameOrPassword);
    // Another certificate holder cannot borrow sensor-7's password by naming it as username.
    let (cert, key) = pki.client("other", "intruder", None, None);
    let opts = ConnectOptions::new(ssl_addr(&n), "y")
        .tls(pki.client_tls().client_cert_files(cert, key))
        .credentials("sensor-7", Bytes::from_static(b"s7-pw"));
    assert_eq!(connack(opts).await, ReasonCode::BadUserNameOrPassword);
}
