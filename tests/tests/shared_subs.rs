//! Shared subscriptions (`$share/<group>/<filter>`, EMQX's `$queue/<filter>`): one member per group
//! gets each message, every strategy, and redelivery of what a leaving member left unacknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use linkmq_client::{Client, Event};
use linkmq_codec::{Publish, QoS, ReasonCode};
use linkmq_core::shared_sub::SharedStrategy;
use linkmq_tests::TestBroker;

/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

async fn subscriber(b: &TestBroker, id: &str, filter: &str, qos: QoS) -> Client {
    let c = b.client(id).await;
    let ack = c.subscribe(filter, qos).await.unwrap();
    assert!(ack.reasons[0].is_success(), "{filter}: {:?}", ack.reasons);
    c
}

/// Every publish `c` receives until it has been quiet for [`QUIET`].
async fn drain(c: &Client) -> Vec<Publish> {
    let mut out = Vec::new();
    while let Some(ev) = c.recv_timeout(QUIET).await {
        match ev {
            Event::Publish(p) => out.push(p),
            other => panic!("unexpected event {other:?}"),
        }
    }
    out
}

fn payloads(ps: &[Publish]) -> Vec<String> {
    ps.iter()
        .map(|p| String::from_utf8(p.payload.to_vec()).unwrap())
        .collect()
}

/// Publishes `n` QoS 1 messages "<prefix><i>" to `topic`, each acknowledged before the next.
async fn publish_n(p: &Client, topic: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let rc = p
            .publish(topic, format!("{prefix}{i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(rc, ReasonCode::Success);
    }
}

/// Asserts the members together got exactly `expected` (each once) and returns each member's share.
async fn exactly_once_across(members: &[&Client], expected: &[String]) -> Vec<Vec<String>> {
    let mut shares = Vec::new();
    let mut all = Vec::new();
    for m in members {
        let got = payloads(&drain(m).await);
        all.extend(got.iter().cloned());
        shares.push(got);
    }
    all.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(
        all, want,
        "each message to exactly one member; shares {shares:?}"
    );
    shares
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test]
async fn each_message_goes_to_exactly_one_member_of_a_group() {
    let b = TestBroker::start().await;
    let s1 = subscriber(&b, "s1", "$share/g/sh/t", QoS::AtLeastOnce).await;
    let s2 = subscriber(&b, "s2", "$share/g/sh/t", QoS::AtLeastOnce).await;
    let p = b.client("pub").await;
    publish_n(&p, "sh/t", "m", 10).await;
    let shares = exactly_once_across(&[&s1, &s2], &names("m", 10)).await;
    // Default strategy is round robin: members alternate.
    assert_eq!(shares[0].len(), 5);
    assert_eq!(shares[1].len(), 5);
}

#[tokio::test]
async fn two_groups_each_get_a_copy_and_a_plain_subscriber_gets_one_too() {
    let b = TestBroker::start().await;
    let a1 = subscriber(&b, "a1", "$share/ga/sh/#", QoS::AtLeastOnce).await;
    let a2 = subscriber(&b, "a2", "$share/ga/sh/#", QoS::AtLeastOnce).await;
    let b1 = subscriber(&b, "b1", "$share/gb/sh/+", QoS::AtLeastOnce).await;
    let b2 = subscriber(&b, "b2", "$share/gb/sh/+", QoS::AtLeastOnce).await;
    let plain = subscriber(&b, "plain", "sh/x", QoS::AtLeastOnce).await;
    let p = b.client("pub").await;
    publish_n(&p, "sh/x", "m", 6).await;
    let want = names("m", 6);
    exactly_once_across(&[&a1, &a2], &want).await;
    exactly_once_across(&[&b1, &b2], &want).await;
    assert_eq!(payloads(&drain(&plain).await), want);
}

#[tokio::test]
async fn queue_prefix_is_a_shared_subscription() {
    let b = TestBroker::start().await;
    let q1 = subscriber(&b, "q1", "$queue/q/t", QoS::AtLeastOnce).await;
    let q2 = subscriber(&b, "q2", "$queue/q/t", QoS::AtLeastOnce).await;
    let p = b.client("pub").await;
    publish_n(&p, "q/t", "m", 4).await;
    let shares = exactly_once_across(&[&q1, &q2], &names("m", 4)).await;
    assert_eq!(shares.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2]);
}

#[tokio::test]
async fn round_robin_spreads_evenly_in_turn() {
    let b = TestBroker::start_with(|s| s.shared_strategy = SharedStrategy::RoundRobin).await;
    let m: Vec<Client> = group_members(&b, "rr", 3).await;
    let p = b.client("pub").await;
    publish_n(&p, "rr/t", "m", 9).await;
    let shares = exactly_once_across(&m.iter().collect::<Vec<_>>(), &names("m", 9)).await;
    // Turns in subscription order: member k gets m<k>, m<k+3>, m<k+6>.
    for (k, share) in shares.iter().enumerate() {
        assert_eq!(
            share,
            &vec![
                format!("m{k}"),
                format!("m{}", k + 3),
                format!("m{}", k + 6)
            ]
        );
    }
}

/// `n` members "<prefix>-<i>" of `$share/g/<prefix>/#`, subscribed in order.
async fn group_members(b: &TestBroker, prefix: &str, n: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            subscriber(
                b,
                &format!("{prefix}-{i}"),
                &format!("$share/g/{prefix}/#"),
                QoS::AtLeastOnce,
            )
            .await,
        );
    }
    out
}

#[tokio::test]
async fn random_delivers_each_message_once() {
    let b = TestBroker::start_with(|s| s.shared_strategy = SharedStrategy::Random).await;
    let m = group_members(&b, "rnd", 3).await;
    let p = b.client("pub").await;
    publish_n(&p, "rnd/t", "m", 30).await;
    exactly_once_across(&m.iter().collect::<Vec<_>>(), &names("m", 30)).await;
}

#[tokio::test]
async fn sticky_keeps_one_member_until_it_leaves() {
    let b = TestBroker::start_with(|s| s.shared_strategy = SharedStrategy::Sticky).await;
    let m = group_members(&b, "st", 3).await;
    let p = b.client("pub").await;
    publish_n(&p, "st/t", "a", 6).await;
    let shares = exactly_once_across(&m.iter().collect::<Vec<_>>(), &names("a", 6)).await;
    let chosen: Vec<usize> = (0..3).filter(|&k| !shares[k].is_empty()).collect();
    assert_eq!(chosen.len(), 1, "one member gets everything: {shares:?}");
    assert_eq!(shares[chosen[0]], names("a", 6), "in order");
    // The sticky member leaves: another one takes over, and keeps it.
    m[chosen[0]].disconnect().await.unwrap();
    publish_n(&p, "st/t", "b", 6).await;
    let rest: Vec<&Client> = (0..3).filter(|&k| k != chosen[0]).map(|k| &m[k]).collect();
    let shares = exactly_once_across(&rest, &names("b", 6)).await;
    assert_eq!(
        shares.iter().filter(|s| !s.is_empty()).count(),
        1,
        "a new sticky member: {shares:?}"
    );
}

#[tokio::test]
async fn hash_clientid_sends_one_publishers_messages_to_one_member() {
    let b = TestBroker::start_with(|s| s.shared_strategy = SharedStrategy::HashClientId).await;
    let m = group_members(&b, "hc", 3).await;
    let members: Vec<&Client> = m.iter().collect();
    let mut owner_of = BTreeMap::new();
    for publisher in ["pub-a", "pub-b", "pub-c", "pub-d"] {
        let p = b.client(publisher).await;
        // Different topics: only the publisher decides.
        for i in 0..5 {
            p.publish(
                &format!("hc/{i}"),
                format!("{publisher}/{i}"),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .unwrap();
        }
        let want: Vec<String> = (0..5).map(|i| format!("{publisher}/{i}")).collect();
        let shares = exactly_once_across(&members, &want).await;
        let holders: Vec<usize> = (0..3).filter(|&k| !shares[k].is_empty()).collect();
        assert_eq!(holders.len(), 1, "{publisher}: {shares:?}");
        assert_eq!(shares[holders[0]], want, "in order");
        owner_of.insert(publisher, holders[0]);
    }
    // A publisher keeps its member.
    let p = b.client("pub-a").await;
    publish_n(&p, "hc/x", "again", 3).await;
    let shares = exactly_once_across(&members, &names("again", 3)).await;
    assert_eq!(shares[owner_of["pub-a"]], names("again", 3));
}

#[tokio::test]
async fn hash_topic_sends_one_topic_to_one_member() {
    let b = TestBroker::start_with(|s| s.shared_strategy = SharedStrategy::HashTopic).await;
    let m = group_members(&b, "ht", 3).await;
    let members: Vec<&Client> = m.iter().collect();
    let p1 = b.client("p1").await;
    let p2 = b.client("p2").await;
    for topic in ["ht/a", "ht/b", "ht/c", "ht/d/e"] {
        // Two publishers alternate on one topic: only the topic decides.
        let mut want = Vec::new();
        for i in 0..3 {
            for (name, p) in [("p1", &p1), ("p2", &p2)] {
                let payload = format!("{topic}:{name}:{i}");
                p.publish(topic, payload.clone(), QoS::AtLeastOnce, false)
                    .await
                    .unwrap();
                want.push(payload);
            }
        }
        let shares = exactly_once_across(&members, &want).await;
        let holders: Vec<usize> = (0..3).filter(|&k| !shares[k].is_empty()).collect();
        assert_eq!(holders.len(), 1, "{topic}: {shares:?}");
        assert_eq!(shares[holders[0]], want, "in order");
    }
}

#[tokio::test]
async fn unacked_qos1_and_qos2_of_a_leaving_member_are_redelivered_to_another_member() {
    let b = TestBroker::start().await;
    // Round robin in subscription order: `holder` gets m0 and m2, `other` gets m1 and m3.
    let (holder, _) = Client::connect(b.opts("holder").auto_ack(false))
        .await
        .unwrap();
    holder
        .subscribe("$share/g/rd/t", QoS::ExactlyOnce)
        .await
        .unwrap();
    let other = subscriber(&b, "other", "$share/g/rd/t", QoS::ExactlyOnce).await;
    let p = b.client("pub").await;
    for (i, qos) in [
        QoS::AtLeastOnce,
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
        QoS::ExactlyOnce,
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            p.publish("rd/t", format!("m{i}"), qos, false)
                .await
                .unwrap(),
            ReasonCode::Success
        );
    }
    let held = drain(&holder).await;
    assert_eq!(payloads(&held), vec!["m0", "m2"]);
    assert_eq!(
        held.iter().map(|p| p.qos).collect::<Vec<_>>(),
        vec![QoS::AtLeastOnce, QoS::ExactlyOnce]
    );
    assert_eq!(payloads(&drain(&other).await), vec!["m1", "m3"]);
    // Never acknowledged; the session ends with the connection (clean start, no expiry).
    holder.disconnect().await.unwrap();
    let again = drain(&other).await;
    let mut got: Vec<(String, QoS)> = again
        .iter()
        .map(|p| (String::from_utf8(p.payload.to_vec()).unwrap(), p.qos))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("m0".to_string(), QoS::AtLeastOnce),
            ("m2".to_string(), QoS::ExactlyOnce)
        ]
    );
    // Nothing duplicated to the remaining member beyond that.
    let seen: BTreeSet<String> = payloads(&again).into_iter().collect();
    assert_eq!(seen.len(), 2);
}
