//! Table-driven tests of the `acl.conf` engine: every Who, Action and Topic form, the "no bypass"
//! rules for placeholders, wildcards and `{eq, ...}`, the Cluster Linking seed rule, parse errors
//! with line and column, the per-client cache and runtime reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use linkmq_acl::{AclEngine, AuthzSettings, CacheSettings};
use linkmq_codec::{Protocol, QoS};
use linkmq_core::access::{Action, Authorizer, ClientAuthz, DenyAction, Permission};
use linkmq_core::registry::{ClientInfo, PeerCert};

use Permission::{Allow, Deny};

#[derive(Clone, Copy)]
struct Who {
    client_id: &'static str,
    username: Option<&'static str>,
    ip: &'static str,
    cn: Option<&'static str>,
}

const C1: Who = Who {
    client_id: "c1",
    username: Some("u1"),
    ip: "127.0.0.1",
    cn: None,
};

fn who(client_id: &'static str, username: Option<&'static str>, ip: &'static str) -> Who {
    Who {
        client_id,
        username,
        ip,
        cn: None,
    }
}

fn info(w: Who) -> ClientInfo {
    let ip: std::net::IpAddr = w.ip.parse().unwrap();
    ClientInfo {
        client_id: w.client_id.into(),
        username: w.username.map(str::to_string),
        peer: Some(SocketAddr::new(ip, 50000)),
        protocol: Protocol::V5,
        keep_alive: 60,
        clean_start: true,
        connected_at_ms: 0,
        listener: "tcp:default".into(),
        peer_cert: w.cn.map(|cn| {
            Box::new(PeerCert {
                common_name: Some(cn.to_string()),
                subject_dn: Some(format!("CN={cn}")),
            })
        }),
    }
}

fn pubq(qos: u8, retain: bool) -> Action {
    Action::Publish {
        qos: QoS::from_u8(qos).unwrap(),
        retain,
    }
}

fn sub(qos: u8) -> Action {
    Action::Subscribe {
        qos: QoS::from_u8(qos).unwrap(),
    }
}

const PUB: Action = Action::Publish {
    qos: QoS::AtMostOnce,
    retain: false,
};
const SUB: Action = Action::Subscribe {
    qos: QoS::AtMostOnce,
};

/// (rules, client, action, topic, expected first match as (permission, line)).
type Row = (
    &'static str,
    Who,
    Action,
    &'static str,
    Option<(Permission, usize)>,
);

fn run(rows: &[Row]) {
    for (i, (rules, w, action, topic, expect)) in rows.iter().enumerate() {
        let e = AclEngine::new(AuthzSettings::default(), rules)
            .unwrap_or_else(|err| panic!("row {i}: {rules}: {err}"));
        let got = e.explain(&info(*w), *action, topic);
        assert_eq!(
            got, *expect,
            "row {i}: rules {rules:?}, client {:?}/{:?}@{}, {action:?} {topic:?}",
            w.client_id, w.username, w.ip
        );
    }
}

#[test]
fn every_who_form() {
    let rows: &[Row] = &[
        (
            r##"{allow, all, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{deny, all, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Deny, 1)),
        ),
        (
            r##"{allow, {user, "u1"}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {username, "u1"}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {username, "u1"}, publish, ["t"]}."##,
            who("c1", Some("u2"), "127.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {username, "u1"}, publish, ["t"]}."##,
            who("u1", None, "127.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {clientid, "c1"}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {client, "c1"}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {clientid, "c1"}, publish, ["t"]}."##,
            who("c10", None, "127.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {username, {re, "^adm"}}, publish, ["t"]}."##,
            who("x", Some("admin"), "127.0.0.1"),
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {username, {re, "^adm"}}, publish, ["t"]}."##,
            who("x", Some("xadmin"), "127.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {clientid, {re, "^clink-us-east"}}, all, ["t"]}."##,
            who("clink-us-east-3", None, "10.0.0.1"),
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {clientid, {re, "^clink-us-east"}}, all, ["t"]}."##,
            who("my-clink-us-east", None, "10.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {clientid, {re, "^dev\\d+$"}}, all, ["t"]}."##,
            who("dev42", None, "10.0.0.1"),
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {clientid, {re, "^dev\\d+$"}}, all, ["t"]}."##,
            who("dev4x", None, "10.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {ipaddr, "127.0.0.1"}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {ipaddr, "127.0.0.1"}, publish, ["t"]}."##,
            who("c", None, "127.0.0.2"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {ipaddr, "10.0.0.0/8"}, publish, ["t"]}."##,
            who("c", None, "10.200.3.4"),
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {ipaddr, "10.0.0.0/8"}, publish, ["t"]}."##,
            who("c", None, "11.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {ipaddr, "10.0.0.0/8"}, publish, ["t"]}."##,
            who("c", None, "::ffff:10.1.1.1"),
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {ipaddrs, ["192.168.1.0/24", "::1"]}, publish, ["t"]}."##,
            who("c", None, "::1"),
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {ipaddrs, ["192.168.1.0/24", "::1"]}, publish, ["t"]}."##,
            who("c", None, "192.168.1.77"),
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {ipaddrs, ["192.168.1.0/24", "::1"]}, publish, ["t"]}."##,
            who("c", None, "192.168.2.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {'and', [{username, "u1"}, {ipaddr, "127.0.0.1"}]}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {'and', [{username, "u1"}, {ipaddr, "127.0.0.1"}]}, publish, ["t"]}."##,
            who("c1", Some("u1"), "10.0.0.1"),
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {'or', [{username, "nobody"}, {clientid, "c1"}]}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, {'or', [{username, "nobody"}, {clientid, "c2"}]}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            None,
        ),
        (
            r##"{allow, {'or', [{'and', [{clientid, "c1"}, {username, "u1"}]}, {ipaddr, "10.0.0.0/8"}]}, publish, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
    ];
    run(rows);
}

#[test]
fn every_action_form() {
    let rows: &[Row] = &[
        (r##"{allow, all, publish, ["t"]}."##, C1, SUB, "t", None),
        (r##"{allow, all, subscribe, ["t"]}."##, C1, PUB, "t", None),
        (
            r##"{allow, all, subscribe, ["t"]}."##,
            C1,
            SUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["t"]}."##,
            C1,
            PUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["t"]}."##,
            C1,
            SUB,
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {publish, [{qos, 0}]}, ["t"]}."##,
            C1,
            pubq(0, false),
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {publish, [{qos, 0}]}, ["t"]}."##,
            C1,
            pubq(1, false),
            "t",
            None,
        ),
        (
            r##"{allow, all, {publish, [{qos, [1, 2]}]}, ["t"]}."##,
            C1,
            pubq(2, true),
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {publish, [{qos, [1, 2]}]}, ["t"]}."##,
            C1,
            pubq(0, true),
            "t",
            None,
        ),
        (
            r##"{allow, all, {publish, [{retain, true}]}, ["t"]}."##,
            C1,
            pubq(1, true),
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {publish, [{retain, true}]}, ["t"]}."##,
            C1,
            pubq(1, false),
            "t",
            None,
        ),
        (
            r##"{allow, all, {publish, [{retain, all}]}, ["t"]}."##,
            C1,
            pubq(1, false),
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {publish, [{qos, 1}, {retain, false}]}, ["t"]}."##,
            C1,
            sub(1),
            "t",
            None,
        ),
        (
            r##"{allow, all, {subscribe, [{qos, 2}]}, ["t"]}."##,
            C1,
            sub(2),
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {subscribe, [{qos, 2}]}, ["t"]}."##,
            C1,
            sub(1),
            "t",
            None,
        ),
        (
            r##"{allow, all, {all, [{qos, 1}, {retain, false}]}, ["t"]}."##,
            C1,
            sub(1),
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {all, [{qos, 1}, {retain, false}]}, ["t"]}."##,
            C1,
            sub(0),
            "t",
            None,
        ),
        (
            r##"{allow, all, {all, [{qos, 1}, {retain, false}]}, ["t"]}."##,
            C1,
            pubq(1, false),
            "t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, {all, [{qos, 1}, {retain, false}]}, ["t"]}."##,
            C1,
            pubq(1, true),
            "t",
            None,
        ),
        (
            r##"{allow, all, {all, []}, ["t"]}."##,
            C1,
            pubq(2, true),
            "t",
            Some((Allow, 1)),
        ),
    ];
    run(rows);
}

#[test]
fn every_topic_form() {
    let cert = Who {
        client_id: "dev-7",
        username: None,
        ip: "10.1.2.3",
        cn: Some("sensor-7"),
    };
    let rows: &[Row] = &[
        (
            r##"{allow, all, all, ["a/b"]}."##,
            C1,
            PUB,
            "a/b",
            Some((Allow, 1)),
        ),
        (r##"{allow, all, all, ["a/b"]}."##, C1, PUB, "a/c", None),
        (
            r##"{allow, all, all, ["x", "a/+"]}."##,
            C1,
            PUB,
            "a/c",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["a/+"]}."##,
            C1,
            SUB,
            "a/c",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["a/+"]}."##,
            C1,
            SUB,
            "a/+",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["a/#"]}."##,
            C1,
            SUB,
            "a/b/+/d",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["a/#"]}."##,
            C1,
            PUB,
            "a",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, [{eq, "t/#"}]}."##,
            C1,
            SUB,
            "t/#",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, [{eq, "t/#"}]}."##,
            C1,
            SUB,
            "t/a",
            None,
        ),
        (
            r##"{allow, all, all, [{eq, "t/#"}]}."##,
            C1,
            PUB,
            "t/a",
            None,
        ),
        (
            r##"{allow, all, all, ["eq t/#"]}."##,
            C1,
            SUB,
            "t/#",
            Some((Allow, 1)),
        ),
        (r##"{allow, all, all, ["eq t/#"]}."##, C1, SUB, "t/x", None),
        (
            r##"{allow, all, all, ["${clientid}/#"]}."##,
            C1,
            PUB,
            "c1/x",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["${clientid}/#"]}."##,
            C1,
            PUB,
            "c2/x",
            None,
        ),
        (
            r##"{allow, all, all, ["u/${username}/+"]}."##,
            C1,
            PUB,
            "u/u1/x",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["u/${username}/+"]}."##,
            who("c", None, "127.0.0.1"),
            PUB,
            "u//x",
            None,
        ),
        (
            r##"{allow, all, all, ["ip/${peerhost}"]}."##,
            C1,
            PUB,
            "ip/127.0.0.1",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["ip/${peerhost}"]}."##,
            who("c", None, "::ffff:10.0.0.9"),
            PUB,
            "ip/10.0.0.9",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["cert/${cert_common_name}/#"]}."##,
            cert,
            PUB,
            "cert/sensor-7/t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["cert/${cn}/#"]}."##,
            cert,
            PUB,
            "cert/sensor-7/t",
            Some((Allow, 1)),
        ),
        (
            r##"{allow, all, all, ["cert/${cert_common_name}/#"]}."##,
            C1,
            PUB,
            "cert//t",
            None,
        ),
        (
            r##"{allow, all, all, "single/#"}."##,
            C1,
            PUB,
            "single/x",
            Some((Allow, 1)),
        ),
        (r##"{allow, all}."##, C1, PUB, "any/thing", Some((Allow, 1))),
        (r##"{deny, all}."##, C1, SUB, "#", Some((Deny, 1))),
        // `#` does not reach $-topics [MQTT-4.7.2-1], so neither does {allow, all}.
        (r##"{allow, all}."##, C1, PUB, "$SYS/x", None),
        (
            r##"{allow, all, all, ["$SYS/#"]}."##,
            C1,
            SUB,
            "$SYS/brokers/+/uptime",
            Some((Allow, 1)),
        ),
    ];
    run(rows);
}

#[test]
fn no_bypass_placeholders_wildcards_and_eq() {
    let rows: &[Row] = &[
        // A client id or username with '+', '#' or '/' cannot widen a placeholder grant.
        (
            r##"{allow, all, all, ["users/${clientid}/#"]}."##,
            who("+", None, "127.0.0.1"),
            SUB,
            "users/+/#",
            None,
        ),
        (
            r##"{allow, all, all, ["users/${clientid}/#"]}."##,
            who("+", None, "127.0.0.1"),
            SUB,
            "users/bob/inbox",
            None,
        ),
        (
            r##"{allow, all, all, ["users/${clientid}/#"]}."##,
            who("#", None, "127.0.0.1"),
            SUB,
            "users/#",
            None,
        ),
        (
            r##"{allow, all, all, ["${clientid}"]}."##,
            who("#", None, "127.0.0.1"),
            SUB,
            "#",
            None,
        ),
        (
            r##"{allow, all, all, ["users/${clientid}/#"]}."##,
            who("alice/x", None, "127.0.0.1"),
            PUB,
            "users/alice/x/y",
            None,
        ),
        (
            r##"{allow, all, all, ["users/${username}/#"]}."##,
            who("c", Some("a/+"), "127.0.0.1"),
            SUB,
            "users/a/+/#",
            None,
        ),
        (
            r##"{allow, all, all, ["users/${username}/#"]}."##,
            who("c", Some(""), "127.0.0.1"),
            PUB,
            "users//x",
            None,
        ),
        // The same rule still grants the honest client its own tree.
        (
            r##"{allow, all, all, ["users/${clientid}/#"]}."##,
            who("bob", None, "127.0.0.1"),
            SUB,
            "users/bob/#",
            Some((Allow, 1)),
        ),
        // A deny with a wild value applies with the wildcard meaning: it can only narrow.
        (
            r##"{deny, all, publish, ["users/${clientid}/#"]}."##,
            who("+", None, "127.0.0.1"),
            PUB,
            "users/bob/x",
            Some((Deny, 1)),
        ),
        // An allow filter grants a subscription only if it covers all of it.
        (
            r##"{allow, all, subscribe, ["a/+"]}."##,
            C1,
            SUB,
            "a/#",
            None,
        ),
        (
            r##"{allow, all, subscribe, ["a/+"]}."##,
            C1,
            SUB,
            "+/b",
            None,
        ),
        (
            r##"{allow, all, subscribe, ["a/b"]}."##,
            C1,
            SUB,
            "a/+",
            None,
        ),
        // A deny filter refuses what it matches with the requested filter's levels taken
        // literally, as EMQX's emqx_topic:match/2 does: not the wider `+/#` or `#`.
        (
            r##"{deny, all, subscribe, ["secret/#"]}."##,
            C1,
            SUB,
            "secret/+",
            Some((Deny, 1)),
        ),
        (
            r##"{deny, all, subscribe, ["secret/#"]}."##,
            C1,
            SUB,
            "secret",
            Some((Deny, 1)),
        ),
        (
            r##"{deny, all, subscribe, ["secret/+/x"]}."##,
            C1,
            SUB,
            "secret/+/x",
            Some((Deny, 1)),
        ),
        (
            r##"{deny, all, subscribe, ["secret/#"]}."##,
            C1,
            SUB,
            "+/#",
            None,
        ),
        (
            r##"{deny, all, subscribe, ["secret/#"]}."##,
            C1,
            SUB,
            "#",
            None,
        ),
        (
            r##"{deny, all, subscribe, ["test/nosubscribe"]}."##,
            C1,
            SUB,
            "+/+",
            None,
        ),
        (
            r##"{deny, all, subscribe, ["test/nosubscribe"]}."##,
            C1,
            SUB,
            "test/nosubscribe",
            Some((Deny, 1)),
        ),
        (
            r##"{deny, all, subscribe, ["secret/#"]}."##,
            C1,
            SUB,
            "public/#",
            None,
        ),
        // {eq, "#"} is the literal filter only.
        (
            r##"{deny, all, subscribe, [{eq, "#"}]}."##,
            C1,
            SUB,
            "#",
            Some((Deny, 1)),
        ),
        (
            r##"{deny, all, subscribe, [{eq, "#"}]}."##,
            C1,
            SUB,
            "a/#",
            None,
        ),
        (
            r##"{deny, all, subscribe, [{eq, "#"}]}."##,
            C1,
            SUB,
            "+/#",
            None,
        ),
        (
            r##"{allow, all, subscribe, [{eq, "#"}]}."##,
            C1,
            SUB,
            "a/b",
            None,
        ),
        // Shared-subscription syntax is not a filter a rule can contain.
        (
            r##"{allow, all, subscribe, ["$SYS/#"]}."##,
            C1,
            SUB,
            "$share/g/$SYS/#",
            None,
        ),
    ];
    run(rows);
}

const SEED: &str = r##"%% Allow Cluster Linking MQTT clients to operate with "$LINK/#" topics
{allow, {clientid, {re, "^clink-us-east"}}, all, ["$LINK/#"]}.
{deny, all, all, ["$LINK/#"]}.
{allow, all}.
"##;

#[test]
fn seed_link_rule_works_as_documented() {
    let link = who("clink-us-east-node1-0", Some("link"), "10.0.0.5");
    let other = who("sensor-1", None, "10.0.0.6");
    let rows: &[Row] = &[
        (
            SEED,
            link,
            pubq(1, false),
            "$LINK/cluster/route/linkmq/eu",
            Some((Allow, 2)),
        ),
        (SEED, link, sub(1), "$LINK/#", Some((Allow, 2))),
        (SEED, link, sub(1), "$LINK/cluster/msg/+", Some((Allow, 2))),
        (
            SEED,
            other,
            pubq(1, false),
            "$LINK/cluster/route/linkmq/eu",
            Some((Deny, 3)),
        ),
        (SEED, other, sub(0), "$LINK/#", Some((Deny, 3))),
        (SEED, other, sub(0), "$LINK/cluster/+/x", Some((Deny, 3))),
        (SEED, other, sub(0), "#", Some((Allow, 4))),
        (SEED, other, pubq(0, false), "sensors/1", Some((Allow, 4))),
        (SEED, link, pubq(0, false), "sensors/1", Some((Allow, 4))),
    ];
    run(rows);
}

#[test]
fn the_shipped_default_acl_conf_loads_and_behaves_like_emqx() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/acl.conf"))
        .unwrap();
    let e = AclEngine::new(AuthzSettings::default(), &text).unwrap();
    assert_eq!(e.rule_count(), 4);
    let dash = who("web", Some("dashboard"), "10.0.0.1");
    let remote = who("r", Some("x"), "10.0.0.1");
    let local = who("l", None, "127.0.0.1");
    assert_eq!(e.check(&info(dash), SUB, "$SYS/#"), Allow);
    assert_eq!(e.check(&info(remote), SUB, "$SYS/#"), Deny);
    assert_eq!(e.check(&info(remote), SUB, "#"), Deny);
    assert_eq!(e.check(&info(remote), SUB, "a/#"), Allow);
    assert_eq!(e.check(&info(local), SUB, "#"), Allow);
    assert_eq!(e.check(&info(local), SUB, "$SYS/brokers/#"), Allow);
}

#[test]
fn parse_errors_name_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "{allow, all}.\n{allow, all, publish, [\"t\"]}\n",
            "3:1: expected '.' after the rule, found end of file",
        ),
        (
            "{allow, all, publish, [\"t\"]}.\n{permit, all, publish, [\"t\"]}.",
            "2:2: expected allow or deny, found atom permit",
        ),
        (
            "{allow, {user, {re, \"(\"}}, publish, [\"t\"]}.",
            "1:21: bad regular expression",
        ),
        (
            "{allow, {ipaddr, \"300.1.1.1\"}, publish, [\"t\"]}.",
            "1:18: \"300.1.1.1\" is not an IP address or CIDR block",
        ),
        (
            "{allow, all, {publish, [{qos, 3}]}, [\"t\"]}.",
            "1:31: QoS must be 0, 1 or 2",
        ),
        (
            "{allow, all, {publish, [{retain, maybe}]}, [\"t\"]}.",
            "1:34: retain must be true, false or all",
        ),
        (
            "{allow, all, pubsub, [\"t\"]}.",
            "1:14: expected publish, subscribe, all",
        ),
        (
            "{allow, all, all, [\"a/#/b\"]}.",
            "1:20: invalid topic filter \"a/#/b\"",
        ),
        (
            "{allow, all, all, [\"${tenant}/#\"]}.",
            "1:20: unsupported placeholder ${tenant}",
        ),
        (
            "{allow, {host, \"x\"}, all, [\"t\"]}.",
            "1:9: unknown client condition atom host",
        ),
        ("{allow, all, all}.", "1:1: a rule has 4 elements"),
        (
            "\n\n   {allow, all, all, [\"t\"]}. {deny, All}.",
            "3:37: variables are not allowed here",
        ),
        (
            "{allow, all, all, [\"unterminated]}.",
            "1:20: unterminated \"...\"",
        ),
    ];
    for (text, expect) in cases {
        let err = AclEngine::new(AuthzSettings::default(), text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} should not parse"));
        assert!(
            err.to_string().starts_with(expect),
            "{text:?}: got {err}, expected {expect}"
        );
    }
}

fn settings(no_match: Permission, cache: bool) -> AuthzSettings {
    AuthzSettings {
        no_match,
        deny_action: DenyAction::Ignore,
        cache: CacheSettings {
            enable: cache,
            max_size: 2,
            ttl: Duration::from_secs(60),
            excludes: vec!["nocache/#".into()],
        },
    }
}

#[test]
fn reload_keeps_old_rules_on_error_and_invalidates_every_cache() {
    let e = AclEngine::new(settings(Deny, true), r##"{allow, all, publish, ["a"]}."##).unwrap();
    let mut c = e.client(Arc::new(info(C1)), false);
    assert_eq!(c.authorize(PUB, "a"), Allow);
    assert_eq!(c.authorize(PUB, "b"), Deny);
    // A broken text is refused with its position; the old rules stay.
    let err = e
        .reload_from_str("{allow, all, publish, [\"b\"]")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "1:28: expected ',' or '}', found end of file"
    );
    assert_eq!(e.rules_text(), r##"{allow, all, publish, ["a"]}."##);
    assert_eq!(c.authorize(PUB, "a"), Allow);
    // A good one replaces them, and the cached "allow a" / "deny b" are gone.
    e.reload_from_str(r##"{allow, all, publish, ["b"]}."##)
        .unwrap();
    assert_eq!(c.authorize(PUB, "a"), Deny);
    assert_eq!(c.authorize(PUB, "b"), Allow);
}

#[test]
fn cache_serves_until_reload_and_respects_size_and_excludes() {
    let e = AclEngine::new(settings(Deny, true), r##"{allow, all, publish, ["#"]}."##).unwrap();
    let mut c = e.client_for(Arc::new(info(C1)), false);
    assert_eq!(c.authorize(PUB, "x"), Allow);
    assert_eq!(c.authorize(PUB, "y"), Allow);
    assert_eq!(c.authorize(PUB, "z"), Allow);
    assert_eq!(c.cached(), 2, "max_size bounds the cache");
    assert_eq!(c.authorize(PUB, "nocache/1"), Allow);
    assert_eq!(c.cached(), 2, "excluded topics are not cached");
    e.clean_cache();
    assert_eq!(c.authorize(PUB, "x"), Allow);
    assert_eq!(c.cached(), 1, "clean_cache dropped the entries");
    // With the cache off nothing is kept.
    let e = AclEngine::new(settings(Deny, false), r##"{allow, all}."##).unwrap();
    let mut c = e.client_for(Arc::new(info(C1)), false);
    assert_eq!(c.authorize(PUB, "x"), Allow);
    assert_eq!(c.cached(), 0);
}

#[test]
fn superuser_skips_rules_and_settings_change_deny_action() {
    let e = AclEngine::new(settings(Deny, true), r##"{deny, all}."##).unwrap();
    let mut su = e.client(Arc::new(info(C1)), true);
    assert_eq!(su.authorize(PUB, "anything"), Allow);
    let mut c = e.client(Arc::new(info(C1)), false);
    assert_eq!(c.authorize(PUB, "anything"), Deny);
    assert_eq!(c.deny_action(), DenyAction::Ignore);
    let mut s = e.settings();
    s.deny_action = DenyAction::Disconnect;
    s.no_match = Allow;
    e.set_settings(s);
    assert_eq!(c.authorize(PUB, "anything"), Deny);
    assert_eq!(c.deny_action(), DenyAction::Disconnect);
}

#[test]
fn no_match_decides_when_nothing_matches() {
    let allow =
        AclEngine::new(settings(Allow, false), r##"{deny, all, publish, ["x"]}."##).unwrap();
    let deny = AclEngine::new(settings(Deny, false), r##"{deny, all, publish, ["x"]}."##).unwrap();
    assert_eq!(allow.check(&info(C1), PUB, "y"), Allow);
    assert_eq!(deny.check(&info(C1), PUB, "y"), Deny);
    assert_eq!(allow.check(&info(C1), PUB, "x"), Deny);
}
