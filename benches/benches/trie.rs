//! Subscription matching: the topic trie with 10k / 100k / 1M filters (exact, `+`, `#`), the router's
//! dispatch to a direct and to a shared subscription, and subscribe/unsubscribe churn.
//! `cargo bench -p linkmq-bench --bench trie`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use linkmq_codec::{Properties, QoS, SubOptions};
use linkmq_core::Message;
use linkmq_core::metrics::Metrics;
use linkmq_core::router::trie::TopicTrie;
use linkmq_core::router::{Delivery, Router, SubscriberHandle, Subscription};
use linkmq_core::shared_sub::SharedStrategy;
use tokio::sync::mpsc;

const SIZES: [(usize, &str); 3] = [(10_000, "10k"), (100_000, "100k"), (1_000_000, "1M")];

/// The i-th filter of a shape; every shape spreads over 1,000 first-level branches.
fn filter(shape: &str, i: usize) -> String {
    let (a, b) = (i % 1000, i / 1000);
    match shape {
        "exact" => format!("site/{a}/dev/{b}/temp"),
        "plus" => format!("site/{a}/+/{b}/temp"),
        "hash" => format!("site/{a}/dev/{b}/#"),
        _ => unreachable!(),
    }
}

/// A topic matching exactly one filter of the shape.
fn topic(shape: &str) -> &'static str {
    match shape {
        "exact" => "site/123/dev/7/temp",
        "plus" => "site/123/anything/7/temp",
        "hash" => "site/123/dev/7/a/b/c",
        _ => unreachable!(),
    }
}

fn trie_match(c: &mut Criterion) {
    let mut g = c.benchmark_group("trie_match");
    g.sample_size(50);
    for shape in ["exact", "plus", "hash"] {
        for (n, label) in SIZES {
            let mut trie = TopicTrie::new();
            for i in 0..n {
                *trie.get_or_insert_with(&filter(shape, i), || 0u32) += 1;
            }
            let t = topic(shape);
            let mut hits = 0;
            trie.for_each_match(t, |_, _| hits += 1);
            assert_eq!(hits, 1, "{shape} {t}");
            g.bench_with_input(BenchmarkId::new(shape, label), &t, |b, t| {
                b.iter(|| {
                    let mut hits = 0u32;
                    trie.for_each_match(black_box(t), |_, v| hits += *v);
                    hits
                })
            });
            // A topic no filter matches: the cost of the walk alone.
            if shape == "exact" {
                g.bench_with_input(BenchmarkId::new("miss", label), &t, |b, _| {
                    b.iter(|| {
                        let mut hits = 0u32;
                        trie.for_each_match(black_box("site/123/dev/nope/temp"), |_, v| hits += *v);
                        hits
                    })
                });
            }
        }
    }
    g.finish();
}

fn handle(id: &str, tx: &mpsc::Sender<Delivery>) -> SubscriberHandle {
    SubscriberHandle {
        client_id: id.into(),
        tx: tx.clone(),
        online: Arc::new(AtomicBool::new(true)),
    }
}

fn sub(qos: QoS) -> Subscription {
    Subscription {
        options: SubOptions {
            qos,
            ..SubOptions::default()
        },
        sub_id: None,
    }
}

fn message(topic: &str) -> Arc<Message> {
    Arc::new(Message::new(
        "publisher".into(),
        topic.into(),
        QoS::AtMostOnce,
        false,
        Bytes::from_static(&[b'x'; 64]),
        Properties::default(),
    ))
}

/// A router holding `n` subscriptions spread over 1,000 sessions (all sharing one channel, drained
/// after each dispatch); `shared` puts them in groups of 10 members.
fn router(n: usize, shared: bool) -> (Router, mpsc::Receiver<Delivery>) {
    let r = Router::new(SharedStrategy::RoundRobin, false, false);
    let (tx, rx) = mpsc::channel(1024);
    let handles: Vec<_> = (0..1000).map(|i| handle(&format!("c{i}"), &tx)).collect();
    for i in 0..n {
        let h = handles[i % 1000].clone();
        if shared {
            let f = format!("site/{}/dev/temp", i / 10);
            r.subscribe(&f, Some("g"), h, sub(QoS::AtMostOnce));
        } else {
            r.subscribe(&filter("exact", i), None, h, sub(QoS::AtMostOnce));
        }
    }
    (r, rx)
}

fn router_dispatch(c: &mut Criterion) {
    let metrics = Metrics::default();
    let mut g = c.benchmark_group("router_dispatch");
    g.sample_size(50);
    for (n, label) in SIZES {
        for (kind, shared, t) in [
            ("direct", false, topic("exact")),
            ("shared10", true, "site/123/dev/temp"),
        ] {
            let (r, mut rx) = router(n, shared);
            let msg = message(t);
            assert_eq!(r.dispatch(&msg, &metrics), 1, "{kind}");
            rx.try_recv().unwrap();
            g.bench_function(BenchmarkId::new(kind, label), |b| {
                b.iter(|| {
                    let n = r.dispatch(black_box(&msg), &metrics);
                    let _ = rx.try_recv();
                    n
                })
            });
        }
    }
    g.finish();
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("subscribe_churn");
    for (n, label) in [(10_000, "10k"), (100_000, "100k")] {
        let (r, _rx) = router(n, false);
        let (tx, _rx2) = mpsc::channel(1);
        let h = handle("churner", &tx);
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("sub_unsub", label), |b| {
            b.iter(|| {
                i += 1;
                let f = format!("churn/{}/x/{}", i % 1000, i);
                r.subscribe(&f, None, h.clone(), sub(QoS::AtLeastOnce));
                assert!(r.unsubscribe(&f, None, &h));
            })
        });
        let mut j = 0usize;
        g.bench_function(BenchmarkId::new("shared_sub_unsub", label), |b| {
            b.iter(|| {
                j += 1;
                let f = format!("churn/{}/x", j % 1000);
                r.subscribe(&f, Some("g"), h.clone(), sub(QoS::AtLeastOnce));
                assert!(r.unsubscribe(&f, Some("g"), &h));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, trie_match, router_dispatch, churn);
criterion_main!(benches);
