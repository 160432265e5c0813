//! ETF: encode and decode of a message forwarded over a Cluster Link (`term_to_binary(Msg, [compressed])`).
//! `cargo bench -p linkmq-bench --bench etf`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use linkmq_etf::link::{ForwardedMessage, MessageProperties};

fn forwarded(payload: usize) -> ForwardedMessage {
    ForwardedMessage {
        id: [7; 16],
        qos: 1,
        from: "sensor-0042-eu-west".into(),
        dup: false,
        retain: false,
        properties: MessageProperties {
            content_type: Some("application/json".into()),
            user_properties: vec![(Bytes::from_static(b"trace"), Bytes::from_static(b"abc123"))],
            ..MessageProperties::default()
        },
        topic: "sensors/eu-west/0042/temperature".into(),
        payload: Bytes::from(vec![b'x'; payload]),
        timestamp_ms: 1_790_000_000_000,
    }
}

fn etf(c: &mut Criterion) {
    let mut g = c.benchmark_group("etf_forwarded_message");
    for size in [64usize, 1024, 65536] {
        let msg = forwarded(size);
        let wire = msg.encode();
        assert_eq!(ForwardedMessage::decode(&wire).unwrap(), msg);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("encode", size), &msg, |b, m| {
            b.iter(|| black_box(m.encode()))
        });
        g.bench_with_input(BenchmarkId::new("decode", size), &wire, |b, w| {
            b.iter(|| black_box(ForwardedMessage::decode(w).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, etf);
criterion_main!(benches);
