//! `cluster.links`: the seed example, every validation rule with its position, JSON for the
//! REST API, and persistence through `links_to_hocon`.

use std::time::Duration;

use linkmq_config::{
    DispatchStrategy, LinkConfig, LinkValidationError, REDACTED, Secret, ServerNameIndication,
    SslVerify, links_to_hocon, parse_str, validate_link, validate_links,
};
use serde_json::json;

const SEED_EXAMPLE: &str = r#"
cluster {
  name = "emqx-us-east"
  links = [
    {
      name = "emqx-eu-west"
      server = "emqx.us-east.myinfra.net:11883"
      username = "clink-user:us-east"
      password = "clink-password-no-one-knows"
      clientid = "clink-us-east"
      topics = ["global/#", "fwd/#", "cluster/+/status"]
      ssl {
        enable = true
        verify = verify_peer
        certfile = "etc/certs/client/emqx-us-east.pem"
      }
    }
  ]
}
"#;

fn links_error(links_body: &str) -> String {
    let text = format!("cluster {{\n  links = [\n{links_body}\n  ]\n}}\n");
    match parse_str(&text, "etc/emqx.conf", &[]) {
        Ok(_) => panic!("expected an error for {links_body}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn seed_example_loads_as_is() {
    let c = parse_str(SEED_EXAMPLE, "etc/emqx.conf", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.cluster.name, "emqx-us-east");
    let l = &c.cluster.links[0];
    assert!(l.enable);
    assert_eq!(l.name, "emqx-eu-west");
    assert_eq!(l.server.host, "emqx.us-east.myinfra.net");
    assert_eq!(l.server.port, 11883);
    assert!(!l.server.tls);
    assert_eq!(l.username.as_deref(), Some("clink-user:us-east"));
    assert_eq!(
        l.password.as_ref().map(Secret::expose),
        Some("clink-password-no-one-knows")
    );
    assert_eq!(l.clientid_base(&c.cluster.name), "clink-us-east");
    assert_eq!(l.topics, vec!["global/#", "fwd/#", "cluster/+/status"]);
    assert!(l.ssl.enable && l.uses_tls());
    assert_eq!(l.ssl.verify, SslVerify::VerifyPeer);
    assert_eq!(
        l.ssl.certfile.as_deref(),
        Some("etc/certs/client/emqx-us-east.pem")
    );
    assert_eq!(l.pool_size, 8);
    assert_eq!(l.retry_interval, Duration::from_secs(15));
    assert_eq!(l.max_inflight, 32);
    let r = &l.resource_opts;
    assert_eq!(r.request_ttl, Some(Duration::from_secs(45)));
    assert_eq!(r.inflight_window, 100);
    assert_eq!(r.max_buffer_bytes, 256 << 20);
    assert_eq!(r.health_check_interval, Duration::from_secs(15));
    assert_eq!(r.dispatch_strategy, DispatchStrategy::PerClientid);
    assert!(
        !format!("{l:?}").contains("no-one-knows"),
        "Debug must not leak the password"
    );
}

#[test]
fn name_errors_point_at_the_name() {
    assert_eq!(
        links_error("    { name = \"\", server = \"h\", topics = [] }"),
        "etc/emqx.conf:3:7: cluster.links[0].name: Name cannot be empty string"
    );
    let long = "a".repeat(255);
    assert_eq!(
        links_error(&format!(
            "    {{ name = \"{long}\", server = \"h\", topics = [] }}"
        )),
        "etc/emqx.conf:3:7: cluster.links[0].name: Name length must be less than 255"
    );
    let msg = links_error("    { name = \"a.b\", server = \"h\", topics = [] }");
    assert!(
        msg.starts_with("etc/emqx.conf:3:7: cluster.links[0].name: Invalid name format. The name must begin with a letter or number"),
        "{msg}"
    );
    assert_eq!(
        links_error(
            "    { name = a, server = \"h\", topics = [] }\n    {\n      name = a\n      server = \"h2\"\n      topics = []\n    }"
        ),
        "etc/emqx.conf:5:7: cluster.links[1].name: Cluster link name \"a\" is used more than once"
    );
}

#[test]
fn topic_errors_point_at_the_topic() {
    assert_eq!(
        links_error("    { name = a, server = \"h\", topics = [\"ok/#\", \"bad/#/x\"] }"),
        "etc/emqx.conf:3:49: cluster.links[0].topics[1]: invalid topic filter \"bad/#/x\": '#' must be the whole last level"
    );
    assert_eq!(
        links_error("    { name = a, server = \"h\", topics = [\"$LINK/cluster/route/x\"] }"),
        "etc/emqx.conf:3:41: cluster.links[0].topics[0]: topic filter \"$LINK/cluster/route/x\" overlaps the reserved $LINK/cluster/ prefix"
    );
    assert_eq!(
        links_error("    { name = a, server = \"h\", topics = [\"t/1\", \"t/1\"] }"),
        "etc/emqx.conf:3:48: cluster.links[0].topics[1]: duplicate topic filter \"t/1\""
    );
    assert_eq!(
        links_error("    { name = a, server = \"h\", topics = [\"t/+\", \"t/1\"] }"),
        "etc/emqx.conf:3:48: cluster.links[0].topics[1]: redundant_topics: [\"t/1\"] are covered by other topics of the link"
    );
}

#[test]
fn schema_errors_for_links() {
    let msg = links_error("    { name = a, topics = [] }");
    assert_eq!(
        msg,
        "etc/emqx.conf:3:7: cluster.links[0].server: required field is missing"
    );
    let msg = links_error("    { name = a, server = \"h:x\" }");
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 2, "{msg}");
    assert!(
        lines[0]
            .starts_with("etc/emqx.conf:3:17: cluster.links[0].server: expected \"host[:port]\""),
        "{msg}"
    );
    assert_eq!(
        lines[1],
        "etc/emqx.conf:3:7: cluster.links[0].topics: required field is missing"
    );
    let msg =
        links_error("    { name = a, server = h, topics = [], pool_size = 0, ssl.verify = maybe }");
    assert!(
        msg.contains("cluster.links[0].pool_size: expected an integer between 1 and 1024, found 0"),
        "{msg}"
    );
    assert!(
        msg.contains("cluster.links[0].ssl.verify: expected one of verify_none | verify_peer"),
        "{msg}"
    );
}

#[test]
fn links_from_json_use_the_same_names_and_defaults() {
    let link: LinkConfig = serde_json::from_value(json!({
        "name": "eu",
        "server": "mqtts://eu.example.net",
        "topics": ["t/#"],
        "password": "p",
        "resource_opts": {"request_ttl": "infinity", "max_buffer_bytes": "1GB", "dispatch_strategy": "random"},
        "ssl": {"server_name_indication": "disable"}
    }))
    .unwrap();
    assert!(link.enable);
    assert_eq!((link.server.port, link.server.tls), (1883, true));
    assert!(link.uses_tls() && !link.ssl.enable);
    assert_eq!(link.pool_size, 8);
    assert_eq!(link.resource_opts.request_ttl, None);
    assert_eq!(link.resource_opts.max_buffer_bytes, 1 << 30);
    assert_eq!(
        link.resource_opts.dispatch_strategy,
        DispatchStrategy::Random
    );
    assert_eq!(
        link.ssl.server_name_indication,
        ServerNameIndication::Disable
    );
    assert_eq!(validate_link(&link), Ok(()));

    let back: LinkConfig = serde_json::from_value(serde_json::to_value(&link).unwrap()).unwrap();
    assert_eq!(back, link);

    let err =
        serde_json::from_value::<LinkConfig>(json!({"name": "x", "topics": "t/#"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "server: required field is missing; topics: expected an array of topic filters, found \"t/#\""
    );
}

#[test]
fn redaction_for_api_output_and_keeping_the_stored_password() {
    let mut stored: LinkConfig = serde_json::from_value(
        json!({"name": "a", "server": "h", "topics": [], "password": "real"}),
    )
    .unwrap();
    let shown = serde_json::to_value(stored.redacted()).unwrap();
    assert_eq!(shown["password"], json!(REDACTED));
    let mut incoming: LinkConfig = serde_json::from_value(shown).unwrap();
    incoming.keep_password_if_redacted(&stored);
    assert_eq!(incoming.password.as_ref().map(Secret::expose), Some("real"));
    stored.password = Some(Secret::new("new"));
    let mut changed = stored.clone();
    changed.keep_password_if_redacted(&incoming);
    assert_eq!(changed.password.as_ref().map(Secret::expose), Some("new"));
}

#[test]
fn links_to_hocon_reads_back_identically() {
    let seed = parse_str(SEED_EXAMPLE, "etc/emqx.conf", &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut links = seed.cluster.links.clone();
    let mut other: LinkConfig = serde_json::from_value(json!({
        "name": "ap-south_2",
        "enable": false,
        "server": "[::1]:2883",
        "topics": [],
        "password": "quote\" back\\slash ${NOT_A_VAR} # not a comment",
        "retry_interval": 1500,
        "ssl": {"enable": true, "server_name_indication": "broker.example", "versions": ["tlsv1.2"], "ciphers": ["A", "B"],
                "cacertfile": "ca.pem", "keyfile": "k.pem"},
        "resource_opts": {"request_ttl": "infinity", "inflight_window": 7, "max_buffer_bytes": 1000,
                          "health_check_interval": "2h", "dispatch_strategy": "random"}
    }))
    .unwrap();
    other.pool_size = 3;
    links.push(other);

    let text = links_to_hocon(&links);
    let back = parse_str(&text, "runtime.conf", &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.cluster.links, links, "{text}");
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert_eq!(validate_links(&back.cluster.links), Ok(()));

    let empty =
        parse_str(&links_to_hocon(&[]), "runtime.conf", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(empty.cluster.links.is_empty());
}

#[test]
fn validation_errors_carry_codes_for_the_api() {
    let link: LinkConfig =
        serde_json::from_value(json!({"name": "a", "server": "h", "topics": ["t/+", "t/1", "#"]}))
            .unwrap();
    let e = validate_link(&link).unwrap_err();
    assert_eq!(
        e,
        LinkValidationError::RedundantTopics {
            topics: vec!["t/+".into(), "t/1".into()]
        }
    );
    assert_eq!(e.code(), "redundant_topics");
}
