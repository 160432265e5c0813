//! Every rule of spec §5 for the external route table, and the §4 intersection examples.

use super::*;
use linkmq_core::topic::intersect_all;

const TTL: Duration = Duration::from_secs(30);
const T0: u64 = 1_700_000_000_000;

fn add(filter: &str, id: &str) -> RouteOp {
    RouteOp::Add {
        filter: filter.into(),
        route_id: id.into(),
    }
}

fn del(filter: &str, id: &str) -> RouteOp {
    RouteOp::Delete {
        filter: filter.into(),
        route_id: id.into(),
    }
}

fn init(r: &MemExtRouter, cluster: &str, actor: &str, inc: u64) -> ActorInitOutcome {
    r.actor_init(cluster, actor, inc, T0)
        .unwrap_or_else(|e| panic!("actor_init: {e}"))
}

fn clusters(r: &MemExtRouter, topic: &str) -> Vec<String> {
    r.match_routes(topic)
        .into_iter()
        .map(|x| x.cluster.to_string())
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn spec_4_intersection_examples() {
    assert_eq!(
        intersect_all("t/+/2/3/#", &strings(&["t/1/+/3/#", "t/z", "t/1/2/+"])),
        strings(&["t/1/2/3/#"])
    );
    assert_eq!(
        intersect_all("t/+/+", &strings(&["t/+/1/#", "t/z", "t/1/+"])),
        strings(&["t/+/1", "t/1/+"])
    );
    assert_eq!(intersect_all("t/6", &strings(&["t/#"])), strings(&["t/6"]));
}

#[test]
fn spec_4_word_rules() {
    // '#' yields the other side's rest.
    assert_eq!(
        intersect_all("a/#", &strings(&["a/b/c"])),
        strings(&["a/b/c"])
    );
    assert_eq!(
        intersect_all("a/b/+", &strings(&["#"])),
        strings(&["a/b/+"])
    );
    // '+' vs literal → literal; '+'/'+' → '+'.
    assert_eq!(intersect_all("+/x", &strings(&["y/+"])), strings(&["y/x"]));
    assert_eq!(intersect_all("+/+", &strings(&["+/+"])), strings(&["+/+"]));
    // Different literals → none.
    assert!(intersect_all("a/b", &strings(&["a/c", "b/#"])).is_empty());
    // A '$'-first word never intersects a wildcard.
    assert!(intersect_all("$SYS/x", &strings(&["#", "+/x"])).is_empty());
    assert_eq!(
        intersect_all("$SYS/#", &strings(&["$SYS/a"])),
        strings(&["$SYS/a"])
    );
    // An intersection that is a subset of another is dropped.
    assert_eq!(
        intersect_all("t/#", &strings(&["t/+/x", "t/#"])),
        strings(&["t/#"])
    );
}

#[test]
fn actor_init_without_record_creates_it_and_needs_bootstrap() {
    let r = MemExtRouter::new(TTL);
    let o = init(&r, "c1", "n1", 100);
    assert!(o.need_bootstrap);
    assert_eq!(o.handle.lane, 0);
    let o2 = init(&r, "c1", "n2", 100);
    assert!(o2.need_bootstrap);
    assert_eq!(
        o2.handle.lane, 1,
        "each actor of a cluster gets its own lane"
    );
    assert_eq!(
        init(&r, "c2", "n1", 5).handle.lane,
        0,
        "lanes are per cluster"
    );
    let a = r.actors("c1");
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].until_ms, T0 + 30_000);
}

#[test]
fn actor_init_same_incarnation_keeps_routes_and_bumps_ttl() {
    let r = MemExtRouter::new(TTL);
    let h = init(&r, "c1", "n1", 100).handle;
    r.apply(&h, &add("t/1", "t/1")).unwrap();
    let again = r.actor_init("c1", "n1", 100, T0 + 20_000).unwrap();
    assert!(!again.need_bootstrap);
    assert_eq!(again.handle, h);
    assert_eq!(r.routes("c1"), vec![("t/1".into(), "t/1".into())]);
    assert_eq!(r.actors("c1")[0].until_ms, T0 + 50_000);
    assert!(r.gc(T0 + 45_000).is_empty(), "TTL was bumped by the init");
}

#[test]
fn actor_init_newer_incarnation_clears_only_that_lane() {
    let r = MemExtRouter::new(TTL);
    let n1 = init(&r, "c1", "n1", 100).handle;
    let n2 = init(&r, "c1", "n2", 100).handle;
    r.apply(&n1, &add("shared", "shared")).unwrap();
    r.apply(&n2, &add("shared", "shared")).unwrap();
    r.apply(&n1, &add("only/n1", "only/n1")).unwrap();
    r.apply(&n2, &add("only/n2", "only/n2")).unwrap();
    let re = r.actor_init("c1", "n1", 200, T0).unwrap();
    assert!(re.need_bootstrap);
    assert_eq!(
        r.routes("c1"),
        vec![
            ("only/n2".into(), "only/n2".into()),
            ("shared".into(), "shared".into())
        ]
    );
    assert_eq!(r.route_count("c1"), 2);
    // The old incarnation's ops are now protocol errors.
    assert_eq!(
        r.apply(&n1, &add("x", "x")),
        Err(ExtRouterError::StaleIncarnation {
            actor: "n1".into(),
            incarnation: 100
        })
    );
    assert!(r.heartbeat(&n1, T0).is_err());
    r.apply(&re.handle, &add("x", "x")).unwrap();
}

#[test]
fn actor_init_older_incarnation_is_a_protocol_error() {
    let r = MemExtRouter::new(TTL);
    init(&r, "c1", "n1", 200);
    assert_eq!(
        r.actor_init("c1", "n1", 100, T0),
        Err(ExtRouterError::OutdatedIncarnation {
            actor: "n1".into(),
            incarnation: 100,
            current: 200
        })
    );
}

#[test]
fn add_and_delete_are_idempotent_per_lane() {
    let r = MemExtRouter::new(TTL);
    let h = init(&r, "c1", "n1", 1).handle;
    for _ in 0..3 {
        r.apply(&h, &add("t/#", "t/#")).unwrap();
    }
    assert_eq!(r.route_count("c1"), 1);
    r.apply(&h, &del("t/#", "t/#")).unwrap();
    assert_eq!(r.route_count("c1"), 0);
    assert!(r.match_routes("t/1").is_empty());
    r.apply(&h, &del("t/#", "t/#")).unwrap();
    r.apply(&h, &del("never/added", "x")).unwrap();
    assert_eq!(r.route_count("c1"), 0);
}

#[test]
fn a_route_held_by_several_actors_lives_until_all_delete_it() {
    let r = MemExtRouter::new(TTL);
    let a = init(&r, "c1", "n1", 1).handle;
    let b = init(&r, "c1", "n2", 1).handle;
    let c = init(&r, "c1", "n3", 1).handle;
    for h in [&a, &b, &c] {
        r.apply(h, &add("t/+", "t/+")).unwrap();
    }
    r.apply(&a, &del("t/+", "t/+")).unwrap();
    r.apply(&c, &del("t/+", "t/+")).unwrap();
    assert_eq!(clusters(&r, "t/1"), ["c1"]);
    r.apply(&b, &del("t/+", "t/+")).unwrap();
    assert!(clusters(&r, "t/1").is_empty());
}

#[test]
fn route_ids_are_opaque_and_distinct_ids_are_distinct_routes() {
    let r = MemExtRouter::new(TTL);
    let h = init(&r, "c1", "n1", 1).handle;
    r.apply(&h, &add("t/1/+", "t/+/+")).unwrap();
    r.apply(&h, &add("t/1/+", "$s/g/t/1/+")).unwrap();
    assert_eq!(r.route_count("c1"), 2);
    r.apply(&h, &del("t/1/+", "t/+/+")).unwrap();
    assert_eq!(clusters(&r, "t/1/x"), ["c1"]);
    assert_eq!(r.routes("c1"), vec![("t/1/+".into(), "$s/g/t/1/+".into())]);
}

#[test]
fn matching_returns_at_most_one_route_per_cluster() {
    let r = MemExtRouter::new(TTL);
    let a = init(&r, "c1", "n1", 1).handle;
    let b = init(&r, "c2", "n1", 1).handle;
    for f in ["t/#", "t/+", "t/1", "+/1"] {
        r.apply(&a, &add(f, f)).unwrap();
    }
    r.apply(&b, &add("t/1", "t/1")).unwrap();
    assert_eq!(clusters(&r, "t/1"), ["c1", "c2"]);
    assert_eq!(clusters(&r, "t/2"), ["c1"]);
    assert!(clusters(&r, "x/2").is_empty());
}

#[test]
fn dollar_topics_are_not_matched_by_first_level_wildcards() {
    let r = MemExtRouter::new(TTL);
    let a = init(&r, "c1", "n1", 1).handle;
    r.apply(&a, &add("#", "#")).unwrap();
    r.apply(&a, &add("+/x", "+/x")).unwrap();
    assert!(clusters(&r, "$SYS/x").is_empty());
    r.apply(&a, &add("$SYS/x", "$SYS/x")).unwrap();
    assert_eq!(clusters(&r, "$SYS/x"), ["c1"]);
}

#[test]
fn ops_and_heartbeats_of_unknown_actors_are_protocol_errors() {
    let r = MemExtRouter::new(TTL);
    let ghost = ActorHandle {
        cluster: "c1".into(),
        actor: "n9".into(),
        incarnation: 1,
        lane: 0,
    };
    assert_eq!(
        r.apply(&ghost, &add("t", "t")),
        Err(ExtRouterError::UnknownActor { actor: "n9".into() })
    );
    assert!(r.heartbeat(&ghost, T0).is_err());
}

#[test]
fn heartbeat_bumps_ttl() {
    let r = MemExtRouter::new(TTL);
    let h = init(&r, "c1", "n1", 1).handle;
    r.apply(&h, &add("t", "t")).unwrap();
    r.heartbeat(&h, T0 + 25_000).unwrap();
    assert!(r.gc(T0 + 40_000).is_empty());
    assert_eq!(r.route_count("c1"), 1);
    assert_eq!(r.gc(T0 + 55_001).len(), 1);
    assert_eq!(r.route_count("c1"), 0);
}

#[test]
fn gc_removes_exactly_the_expired_actors_of_their_own_cluster() {
    let r = MemExtRouter::new(TTL);
    let old = init(&r, "c1", "n1", 1).handle;
    let fresh = r.actor_init("c1", "n2", 1, T0 + 20_000).unwrap().handle;
    // Same lane number in another cluster: must not be touched.
    let other = init(&r, "c2", "n1", 1).handle;
    assert_eq!(old.lane, other.lane);
    r.heartbeat(&other, T0 + 20_000).unwrap();
    for h in [&old, &fresh, &other] {
        r.apply(h, &add("t/#", "t/#")).unwrap();
    }
    r.apply(&old, &add("old/only", "old/only")).unwrap();
    r.apply(&other, &add("old/only", "old/only")).unwrap();
    let gone = r.gc(T0 + 30_001);
    assert_eq!(gone, vec![(Arc::from("c1"), Arc::from("n1"))]);
    assert_eq!(r.routes("c1"), vec![("t/#".into(), "t/#".into())]);
    assert_eq!(r.route_count("c1"), 1);
    assert_eq!(r.route_count("c2"), 2);
    assert_eq!(clusters(&r, "old/only"), ["c2"]);
    // The GC'd actor is unknown now; re-init gives it a fresh start (and its freed lane).
    assert!(r.heartbeat(&old, T0 + 30_002).is_err());
    let back = r.actor_init("c1", "n1", 1, T0 + 30_003).unwrap();
    assert!(back.need_bootstrap);
    assert_eq!(back.handle.lane, 0);
    assert!(r.gc(T0 + 30_004).is_empty());
}

#[test]
fn lanes_are_reused_and_bounded() {
    let r = MemExtRouter::new(TTL);
    for i in 0..MAX_LANES {
        init(&r, "c1", &format!("n{i}"), 1);
    }
    assert_eq!(
        r.actor_init("c1", "one-too-many", 1, T0),
        Err(ExtRouterError::NoFreeLane {
            cluster: "c1".into()
        })
    );
    r.gc(T0 + 30_001);
    assert_eq!(init(&r, "c1", "one-too-many", 1).handle.lane, 0);
}
