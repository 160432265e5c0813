//! Authorization over real sockets (issue 4, items 2 and 3): `acl.conf` rules from the
//! configuration, v5 0x87 answers and v3 behaviour, `deny_action = disconnect`, runtime reload
//! without dropping connections (and the cache it invalidates), start-up errors with line and
//! column, and every "no bypass" case: placeholders with wildcard characters, `{eq, "#"}`, `$LINK`
//! and `$SYS`, shared subscriptions, topic aliases and will messages.

mod access_support;

use std::time::Duration;

use access_support::{ConfNode, creds, suback, temp_dir, try_start_in, v3, write};
use bytes::Bytes;
use linkmq_client::{Client, Event};
use linkmq_codec::{LastWill, Properties, Publish, QoS, ReasonCode};
use linkmq_tests::{QUIET, expect_disconnect, expect_publish, expect_quiet, payload_text};

/// Starts a node whose `etc/acl.conf` is `rules`, with extra `authorization` settings.
async fn node(rules: &str, settings: &str) -> ConfNode {
    ConfNode::start(
        &format!(
            "authorization {{\n  sources = [{{ type = file, enable = true, path = \"etc/acl.conf\" }}]\n  {settings}\n}}"
        ),
        &[("etc/acl.conf", rules)],
    )
    .await
}

async fn client_as(n: &ConfNode, client_id: &str, user: &str) -> Client {
    Client::connect(creds(n.opts(client_id), user, "pw"))
        .await
        .unwrap_or_else(|e| panic!("{client_id} connects: {e}"))
        .0
}

const SECRET: &str = r#"{deny, all, publish, ["secret/#"]}.
{allow, all}.
"#;

#[tokio::test]
async fn denied_publish_v5_gets_0x87_for_qos1_and_qos2_and_qos0_is_dropped() {
    let n = node(SECRET, "").await;
    let watcher = n.client("watcher").await;
    watcher.subscribe("#", QoS::ExactlyOnce).await.unwrap();
    let p = n.client("pub").await;
    assert_eq!(
        p.publish("secret/a", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        p.publish("secret/b", "x", QoS::ExactlyOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    p.publish("secret/c", "x", QoS::AtMostOnce, false)
        .await
        .unwrap();
    expect_quiet(&watcher).await;
    assert!(!p.is_closed(), "deny_action = ignore keeps the connection");
    assert_eq!(
        p.publish("open/a", "ok", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    assert_eq!(payload_text(&expect_publish(&watcher).await), "ok");
    assert_eq!(
        n.node
            .broker
            .metrics
            .get(linkmq_core::metrics::Counter::ClientAuthorizeDenied),
        3
    );
    assert_eq!(
        n.node
            .broker
            .metrics
            .get(linkmq_core::metrics::Counter::PacketsPublishAuthError),
        3
    );
}

#[tokio::test]
async fn denied_publish_from_v3_is_acknowledged_and_dropped() {
    let n = node(SECRET, "").await;
    let watcher = n.client("watcher").await;
    watcher.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    let (p, _) = Client::connect(v3(n.opts("pub3"))).await.unwrap();
    // v3.1.1 has no reason codes: the PUBACK is plain, the message goes nowhere.
    assert_eq!(
        p.publish("secret/a", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    assert_eq!(
        p.publish("secret/b", "x", QoS::ExactlyOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    expect_quiet(&watcher).await;
    assert!(!p.is_closed());
}

#[tokio::test]
async fn deny_action_disconnect_closes_the_publisher_with_0x87() {
    let n = node(SECRET, "deny_action = disconnect").await;
    let p = n.client("pub").await;
    p.publish("secret/a", "x", QoS::AtMostOnce, false)
        .await
        .unwrap();
    expect_disconnect(&p, ReasonCode::NotAuthorized).await;
    // v3.1.1: the socket is closed.
    let (p3, _) = Client::connect(v3(n.opts("pub3"))).await.unwrap();
    let _ = p3.publish("secret/a", "x", QoS::AtLeastOnce, false).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while !p3.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("v3 client closed");
}

const SUBS: &str = r#"{allow, all, subscribe, ["data/#"]}.
{deny, all}.
"#;

#[tokio::test]
async fn denied_subscriptions_get_0x87_in_v5_and_0x80_in_v3() {
    let n = node(SUBS, "").await;
    let c = n.client("s5").await;
    assert_eq!(
        suback(&c, &["data/+", "other/#", "data/x/#", "#"]).await,
        vec![
            ReasonCode::GrantedQoS1,
            ReasonCode::NotAuthorized,
            ReasonCode::GrantedQoS1,
            ReasonCode::NotAuthorized
        ]
    );
    let (c3, _) = Client::connect(v3(n.opts("s3"))).await.unwrap();
    // The codec maps failures to 0x80 on the v3 wire; decoding gives back a failure code.
    let reasons = suback(&c3, &["data/1", "other/1"]).await;
    assert_eq!(reasons[0], ReasonCode::GrantedQoS1);
    assert!(!reasons[1].is_success(), "{:?}", reasons[1]);
    assert_eq!(linkmq_codec::ReasonCode::NotAuthorized.to_v3_suback(), 0x80);
}

#[tokio::test]
async fn deny_action_disconnect_applies_to_subscribe_too() {
    let n = node(SUBS, "deny_action = disconnect").await;
    let c = n.client("s").await;
    assert_eq!(suback(&c, &["data/1"]).await, vec![ReasonCode::GrantedQoS1]);
    let sent = c
        .send_packet(linkmq_codec::Packet::Subscribe(linkmq_codec::Subscribe {
            pkid: 9,
            filters: vec![
                linkmq_codec::SubscribeFilter {
                    filter: "data/2".into(),
                    options: Default::default(),
                },
                linkmq_codec::SubscribeFilter {
                    filter: "other/1".into(),
                    options: Default::default(),
                },
            ],
            properties: Properties::default(),
        }))
        .await;
    assert!(sent.is_ok());
    expect_disconnect(&c, ReasonCode::NotAuthorized).await;
}

#[tokio::test]
async fn rules_reload_at_runtime_without_dropping_connections_and_invalidate_the_cache() {
    let n = node(
        r#"{allow, all, publish, ["a/#"]}.
{deny, all}.
"#,
        "cache { enable = true, max_size = 32, ttl = 1h }",
    )
    .await;
    let watcher = n.client("watcher").await;
    // Nobody may subscribe under the first rules but "a/#" publishers; let the watcher be a
    // superuser-free client that subscribes after the reload instead.
    let p = n.client("pub").await;
    assert_eq!(
        p.publish("a/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
    assert_eq!(
        p.publish("b/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    let authz = n.node.security.authz.clone().unwrap();
    // A broken text is refused with its position; nothing changes.
    let err = authz
        .reload_from_str("{allow, all, publish, [\"b/#\"]}.\n{deny all}.\n")
        .unwrap_err();
    assert_eq!(err.to_string(), "2:7: expected ',' or '}', found atom all");
    assert_eq!(
        p.publish("b/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    // A good text takes effect on the same connections at once (the cached "a/1 allowed" and
    // "b/1 denied" are dropped), and is saved under data/authz/acl.conf.
    let new_rules = "{allow, all, all, [\"b/#\"]}.\n{deny, all}.\n";
    authz.reload_from_str(new_rules).unwrap();
    assert_eq!(
        p.publish("a/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        suback(&watcher, &["b/#"]).await,
        vec![ReasonCode::GrantedQoS1]
    );
    assert_eq!(
        p.publish("b/1", "now", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
    assert_eq!(payload_text(&expect_publish(&watcher).await), "now");
    assert!(!p.is_closed() && !watcher.is_closed());
    let saved = n.dir.join("data/authz/acl.conf");
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), new_rules);
    assert_eq!(authz.rules_text(), new_rules);

    // The runtime rules are the ones in force after a restart.
    let extra = "authorization.sources = [{ type = file, enable = true, path = \"etc/acl.conf\" }]";
    let dir = n.stop().await;
    let n = ConfNode::start_in(dir, extra).await;
    assert_eq!(
        n.node.security.authz.as_ref().unwrap().rules_text(),
        new_rules
    );
    let p = n.client("pub").await;
    assert_eq!(
        p.publish("a/1", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
}

#[tokio::test]
async fn a_bad_acl_conf_fails_the_start_with_file_line_and_column() {
    let dir = temp_dir();
    let acl = write(
        &dir,
        "etc/acl.conf",
        "{allow, all, publish, [\"t\"]}.\n{allow, {clientid, {re, \"(unclosed\"}}, all, [\"t\"]}.\n",
    );
    let err = try_start_in(
        &dir,
        "authorization.sources = [{ type = file, enable = true, path = \"etc/acl.conf\" }]",
    )
    .await
    .expect_err("start must fail");
    let msg = format!("{err:#}");
    assert!(
        msg.starts_with(&format!("{}:2:25: bad regular expression", acl.display())),
        "{msg}"
    );
    let err = try_start_in(
        &dir,
        "authorization.sources = [{ type = file, enable = true, path = \"etc/missing.conf\" }]",
    )
    .await
    .expect_err("start must fail");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("authorization.sources[0].path: cannot read the ACL file"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_binary_refuses_to_start_with_a_bad_acl_conf() {
    let dir = temp_dir();
    write(
        &dir,
        "etc/acl.conf",
        "{allow, all, publish, [\"t\"]}.\n{deny, all\n",
    );
    let conf = write(
        &dir,
        "etc/emqx.conf",
        &access_support::conf_text(
            &dir,
            "authorization.sources = [{ type = file, enable = true, path = \"etc/acl.conf\" }]",
        ),
    );
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(built_binary())
            .args(["start", "-c"])
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("exits quickly")
    .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("acl.conf:3:1: expected ',' or '}', found end of file"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `linkmq` binary, built first if needed (a no-op when up to date).
fn built_binary() -> std::path::PathBuf {
    let bin = linkmq_tests::linkmq_bin();
    let profile_dir = bin.parent().expect("profile dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "linkmq", "--bin", "linkmq"])
        .args(["--profile", &profile])
        .arg("--target-dir")
        .arg(profile_dir.parent().expect("target dir"))
        .current_dir(workspace)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("run cargo build -p linkmq");
    assert!(status.success(), "cargo build -p linkmq failed: {status}");
    bin
}

// ---------------------------------------------------------------------------------------------
// Item 3: no bypass.

const PER_CLIENT: &str = r#"{allow, all, all, ["users/${clientid}/#"]}.
{allow, all, all, ["names/${username}/#"]}.
{deny, all}.
"#;

#[tokio::test]
async fn a_client_id_or_username_with_wildcards_cannot_widen_a_placeholder_rule() {
    let n = node(PER_CLIENT, "").await;
    let honest = n.client("bob").await;
    assert_eq!(
        suback(&honest, &["users/bob/#"]).await,
        vec![ReasonCode::GrantedQoS1]
    );
    for (id, filter) in [
        ("+", "users/+/#"),
        ("+", "users/bob/#"),
        ("#", "users/#"),
        ("#", "#"),
        ("bob/#", "users/bob/#"),
        ("bob/x", "users/bob/x/#"),
    ] {
        let c = n.client(id).await;
        assert_eq!(
            suback(&c, &[filter]).await,
            vec![ReasonCode::NotAuthorized],
            "client id {id:?} subscribing {filter:?}"
        );
    }
    let sneaky = client_as(&n, "sneaky", "+").await;
    assert_eq!(
        suback(&sneaky, &["names/+/#"]).await,
        vec![ReasonCode::NotAuthorized]
    );
    let slash = client_as(&n, "slash", "bob/x").await;
    assert_eq!(
        slash
            .publish("names/bob/x/t", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    // Bob receives nothing the others tried to reach.
    let bob_pub = client_as(&n, "bob-2", "bob").await;
    assert_eq!(
        bob_pub
            .publish("names/bob/t", "mine", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NoMatchingSubscribers
    );
}

#[tokio::test]
async fn eq_hash_matches_only_the_literal_filter() {
    let n = node(
        r##"{deny, all, subscribe, [{eq, "#"}]}.
{allow, all, subscribe, [{eq, "t/#"}]}.
{deny, all, subscribe, ["t/#"]}.
{allow, all}.
"##,
        "",
    )
    .await;
    let c = n.client("c").await;
    assert_eq!(
        suback(&c, &["#", "a/#", "+/#", "t/#", "t/a", "t/+"]).await,
        vec![
            ReasonCode::NotAuthorized,
            ReasonCode::GrantedQoS1,
            // Not matched by `deny t/#` (its levels taken literally, as EMQX does).
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS1,
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized
        ]
    );
}

const LINK_SEED: &str = r#"%% Allow Cluster Linking MQTT clients to operate with "$LINK/#" topics
{allow, {clientid, {re, "^clink-us-east"}}, all, ["$LINK/#"]}.
{deny, all, all, ["$LINK/#"]}.
{allow, all}.
"#;

#[tokio::test]
async fn link_topics_are_only_for_clients_the_seed_rule_names() {
    let n = node(LINK_SEED, "").await;
    let link = n.client("clink-us-east-node1").await;
    assert_eq!(
        suback(&link, &["$LINK/probe/#"]).await,
        vec![ReasonCode::GrantedQoS1]
    );
    let other = n.client("sensor-1").await;
    assert_eq!(
        suback(
            &other,
            &["$LINK/#", "$LINK/probe/+", "$share/g/$LINK/#", "#"]
        )
        .await,
        vec![
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::GrantedQoS1
        ]
    );
    assert_eq!(
        other
            .publish("$LINK/probe/1", "forged", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        other
            .publish(
                "$LINK/cluster/route/linkmq/x",
                "forged",
                QoS::AtLeastOnce,
                false
            )
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    other
        .publish("$LINK/probe/2", "forged", QoS::AtMostOnce, false)
        .await
        .unwrap();
    expect_quiet(&link).await;
    let link2 = n.client("clink-us-east-node2").await;
    link2
        .publish("$LINK/probe/3", "real", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(payload_text(&expect_publish(&link).await), "real");
    // Ordinary topics are untouched by the $LINK rules; `#` never reaches $LINK.
    other.subscribe("plain/#", QoS::AtMostOnce).await.unwrap();
    link2
        .publish("plain/1", "p", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = expect_publish(&other).await;
    assert_eq!(got.topic, "plain/1");
}

#[tokio::test]
async fn sys_topics_need_a_rule_that_allows_them() {
    let n = node(
        r##"{allow, {username, {re, "^dashboard$"}}, subscribe, ["$SYS/#"]}.
{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
{allow, all}.
"##,
        "",
    )
    .await;
    let c = n.client("c").await;
    assert_eq!(
        suback(
            &c,
            &[
                "$SYS/#",
                "$SYS/brokers/+/uptime",
                "$share/g/$SYS/#",
                "#",
                "+/#"
            ]
        )
        .await,
        vec![
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::GrantedQoS1
        ]
    );
    let dash = client_as(&n, "d", "dashboard").await;
    assert_eq!(
        suback(&dash, &["$SYS/#"]).await,
        vec![ReasonCode::GrantedQoS1]
    );
    // `{allow, all}` stands for `#`, which does not reach $-topics: no_match decides.
    let strict = node("{allow, all}.\n", "no_match = deny").await;
    let c = strict.client("c").await;
    assert_eq!(
        suback(&c, &["$SYS/#", "a/#"]).await,
        vec![ReasonCode::NotAuthorized, ReasonCode::GrantedQoS1]
    );
}

#[tokio::test]
async fn a_topic_alias_does_not_skip_authorization() {
    let n = node(SECRET, "").await;
    let watcher = n.client("watcher").await;
    watcher.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    let (p, _) = Client::connect(n.opts("alias")).await.unwrap();
    let with_alias = |topic: &str, payload: &'static str| {
        let props = Properties::from(linkmq_codec::PropertyValues {
            topic_alias: Some(1),
            ..Default::default()
        });
        Publish {
            topic: topic.into(),
            qos: QoS::AtLeastOnce,
            payload: Bytes::from_static(payload.as_bytes()),
            properties: props,
            ..Default::default()
        }
    };
    assert_eq!(
        p.publish_with(with_alias("secret/x", "1")).await.unwrap(),
        ReasonCode::NotAuthorized
    );
    // The alias now stands for secret/x: an empty topic with alias 1 is checked as secret/x.
    assert_eq!(
        p.publish_with(with_alias("", "2")).await.unwrap(),
        ReasonCode::NotAuthorized
    );
    expect_quiet(&watcher).await;
}

#[tokio::test]
async fn a_will_message_is_published_only_where_the_client_may_publish() {
    let n = node(LINK_SEED, "").await;
    let link = n.client("clink-us-east-1").await;
    link.subscribe("$LINK/#", QoS::AtLeastOnce).await.unwrap();
    let watcher = n.client("watcher").await;
    watcher
        .subscribe("wills/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let will = |topic: &str| LastWill {
        topic: topic.into(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    };
    let (bad, _) = Client::connect(n.opts("forger").will(will("$LINK/cluster/route/x")))
        .await
        .unwrap();
    bad.abort();
    let (good, _) = Client::connect(n.opts("honest").will(will("wills/honest")))
        .await
        .unwrap();
    good.abort();
    assert_eq!(payload_text(&expect_publish(&watcher).await), "bye");
    match link.recv_timeout(QUIET).await {
        None => {}
        Some(Event::Publish(p)) => panic!("forged will reached $LINK: {}", p.topic),
        Some(other) => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_superuser_is_not_subject_to_the_rules() {
    let n = ConfNode::start(
        r#"authentication = [{
  mechanism = password_based, backend = built_in_database
  bootstrap_file = "etc/users.csv"
}]
authorization {
  no_match = deny
  sources = [{ type = file, enable = true, path = "etc/acl.conf" }]
}"#,
        &[
            ("etc/acl.conf", "{deny, all}.\n"),
            (
                "etc/users.csv",
                "user_id,password,is_superuser\nadmin,a-pw,true\nuser,u-pw,false\n",
            ),
        ],
    )
    .await;
    let (admin, _) = Client::connect(creds(n.opts("admin"), "admin", "a-pw"))
        .await
        .unwrap();
    let (user, _) = Client::connect(creds(n.opts("user"), "user", "u-pw"))
        .await
        .unwrap();
    assert_eq!(
        suback(&admin, &["$SYS/#", "#"]).await,
        vec![ReasonCode::GrantedQoS1; 2]
    );
    assert_eq!(suback(&user, &["t"]).await, vec![ReasonCode::NotAuthorized]);
    assert_eq!(
        user.publish("t", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        admin
            .publish("t", "x", QoS::AtLeastOnce, false)
            .await
            .unwrap(),
        ReasonCode::Success
    );
}

#[tokio::test]
async fn the_default_config_uses_the_emqx_default_rules() {
    // No authorization section: EMQX's default file source, here the built-in etc/acl.conf.
    let n = ConfNode::start("", &[]).await;
    let authz = n.node.security.authz.as_ref().unwrap();
    assert_eq!(authz.rule_count(), 4);
    // Clients on 127.0.0.1 may do anything, as in EMQX's default acl.conf.
    let c = n.client("local").await;
    assert_eq!(
        suback(&c, &["$SYS/#", "#"]).await,
        vec![ReasonCode::GrantedQoS1; 2]
    );
}
