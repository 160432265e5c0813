//! Authorization: an `acl.conf` of 100 rules (usernames, client-id regexes, topic filters with
//! placeholders) checked rule by rule, and through a client's decision cache.
//! `cargo bench -p linkmq-bench --bench acl`

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use linkmq_acl::{AclEngine, AuthzSettings, CacheSettings};
use linkmq_codec::{Protocol, QoS};
use linkmq_core::access::{Action, Authorizer, Permission};
use linkmq_core::registry::ClientInfo;

/// 100 rules: 60 per-user, 30 client-id regexes, a few placeholders, `$SYS` and `#` denied.
fn rules() -> String {
    let mut text = String::new();
    for i in 0..60 {
        text += &format!(
            "{{allow, {{username, \"user{i}\"}}, publish, [\"devices/{i}/#\", \"fleet/{i}/+/status\"]}}.\n"
        );
    }
    for i in 0..30 {
        text +=
            &format!("{{deny, {{clientid, {{re, \"^blocked-{i}-[0-9]+$\"}}}}, all, [\"#\"]}}.\n");
    }
    for i in 0..7 {
        text += &format!("{{allow, all, subscribe, [\"users/${{username}}/inbox/{i}\"]}}.\n");
    }
    text += "{deny, all, subscribe, [\"$SYS/#\", {eq, \"#\"}]}.\n";
    text += "{allow, {ipaddr, \"127.0.0.1\"}, all, [\"$SYS/#\", \"#\"]}.\n";
    text += "{deny, all}.\n";
    text
}

fn client(client_id: &str, username: &str) -> ClientInfo {
    ClientInfo {
        client_id: client_id.into(),
        username: Some(username.into()),
        peer: Some(SocketAddr::from(([10, 0, 0, 7], 50000))),
        protocol: Protocol::V5,
        keep_alive: 60,
        clean_start: true,
        connected_at_ms: 0,
        listener: "tcp:default".into(),
        peer_cert: None,
    }
}

fn acl(c: &mut Criterion) {
    let text = rules();
    let engine = AclEngine::new(AuthzSettings::default(), &text).expect("valid acl.conf");
    assert_eq!(engine.rule_count(), 100);
    let publish = Action::Publish {
        qos: QoS::AtLeastOnce,
        retain: false,
    };
    let early = client("sensor-1", "user3");
    let late = client("sensor-2", "user59");
    let none = client("sensor-3", "nobody");
    assert_eq!(
        engine.check(&early, publish, "devices/3/temp"),
        Permission::Allow
    );
    assert_eq!(
        engine.check(&late, publish, "fleet/59/truck-9/status"),
        Permission::Allow
    );
    assert_eq!(
        engine.check(&none, publish, "devices/3/temp"),
        Permission::Deny
    );

    let mut g = c.benchmark_group("acl_100_rules");
    g.bench_function("match_rule_4", |b| {
        b.iter(|| engine.check(black_box(&early), publish, black_box("devices/3/temp")))
    });
    g.bench_function("match_rule_60", |b| {
        b.iter(|| {
            engine.check(
                black_box(&late),
                publish,
                black_box("fleet/59/truck-9/status"),
            )
        })
    });
    g.bench_function("no_match_all_rules_incl_regex", |b| {
        b.iter(|| engine.check(black_box(&none), publish, black_box("devices/3/temp")))
    });
    let cached = AclEngine::new(
        AuthzSettings {
            cache: CacheSettings::default(),
            ..AuthzSettings::default()
        },
        &text,
    )
    .unwrap();
    let mut per_client = cached.client(Arc::new(late.clone()), false);
    g.bench_function("cached_client_hit", |b| {
        b.iter(|| per_client.authorize(publish, black_box("fleet/59/truck-9/status")))
    });
    g.finish();
}

criterion_group!(benches, acl);
criterion_main!(benches);
