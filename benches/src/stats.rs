//! Shared counters and latency histograms: relaxed atomics written by every worker, read once a second
//! by the progress line and once at the end for the summary.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde_json::{Value, json};

/// Sub-buckets per power of two (relative error under 1/32 ≈ 3 %).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of nanosecond values, lock-free.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    let mantissa = (v >> shift) as usize & (SUB - 1);
    (shift as usize + 1) * SUB + mantissa
}

/// The smallest value that falls in bucket `i` (and the next bucket's start, for the midpoint).
fn bucket_low(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    let mantissa = (i % SUB) as u128;
    u64::try_from((SUB as u128 + mantissa) << shift).unwrap_or(u64::MAX)
}

impl Histogram {
    /// Records `v` `n` times (one atomic add).
    pub fn record_n(&self, v: u64, n: u64) {
        self.counts[bucket(v)].fetch_add(n, Relaxed);
    }

    /// Copies the counts out (and zeroes them when `reset`).
    pub fn snapshot(&self, reset: bool) -> Snapshot {
        let counts = self
            .counts
            .iter()
            .map(|c| {
                if reset {
                    c.swap(0, Relaxed)
                } else {
                    c.load(Relaxed)
                }
            })
            .collect();
        Snapshot { counts }
    }
}

/// A frozen histogram.
pub struct Snapshot {
    counts: Vec<u64>,
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value at quantile `q` (0..=1), as the middle of its bucket; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let lo = bucket_low(i);
                let hi = bucket_low(i + 1);
                return lo + (hi - lo) / 2;
            }
        }
        0
    }

    pub fn max(&self) -> u64 {
        self.counts
            .iter()
            .rposition(|c| *c > 0)
            .map(|i| bucket_low(i + 1).saturating_sub(1))
            .unwrap_or(0)
    }

    pub fn mean(&self) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let sum: f64 = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| *c as f64 * (bucket_low(i) as f64 + bucket_low(i + 1) as f64) / 2.0)
            .sum();
        sum / total as f64
    }

    /// Latency in microseconds as JSON.
    pub fn to_json_us(&self) -> Value {
        let us = |ns: u64| (ns as f64 / 1000.0 * 10.0).round() / 10.0;
        json!({
            "count": self.count(),
            "p50": us(self.quantile(0.50)),
            "p90": us(self.quantile(0.90)),
            "p99": us(self.quantile(0.99)),
            "p999": us(self.quantile(0.999)),
            "max": us(self.max()),
            "mean": us(self.mean() as u64),
        })
    }
}

/// Everything the workers count.
#[derive(Default)]
pub struct Stats {
    /// PUBLISH packets written by publishers.
    pub published: AtomicU64,
    /// PUBACK/PUBCOMP received by publishers.
    pub acked: AtomicU64,
    /// PUBLISH packets received by subscribers.
    pub received: AtomicU64,
    /// Received messages whose (publisher, seq) was not above the last one seen from that publisher.
    pub out_of_order: AtomicU64,
    pub connected: AtomicU64,
    pub conn_failed: AtomicU64,
    /// Connections lost after they were established.
    pub disconnected: AtomicU64,
    /// Handshake time: from opening the socket to CONNACK (after the concurrency and rate limits).
    pub connect_latency: Histogram,
    /// Publish → receive latency, all of the run.
    pub latency: Histogram,
    /// The same, since the last progress line.
    pub window: Histogram,
    /// Receive time of the last message (ns since the Unix epoch).
    pub last_recv_ns: AtomicU64,
}

impl Stats {
    /// Records `n` messages of latency `ns` (a publisher stamps a whole write batch with one time,
    /// and a subscriber reads it at one time: the run of equal stamps in a read costs one add).
    pub fn record_latency(&self, ns: u64, n: u64) {
        self.latency.record_n(ns, n);
        self.window.record_n(ns, n);
    }
}

/// Prints one line a second to stderr: rates over the last second, totals, latency of the last second.
pub async fn progress(stats: std::sync::Arc<Stats>, started: Instant, quiet: bool) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.tick().await;
    let (mut last_pub, mut last_recv, mut last_conn) = (0, 0, 0);
    loop {
        tick.tick().await;
        let p = stats.published.load(Relaxed);
        let r = stats.received.load(Relaxed);
        let c = stats.connected.load(Relaxed);
        let w = stats.window.snapshot(true);
        if !quiet {
            let mut line = format!("[{:>4}s]", started.elapsed().as_secs());
            if c != last_conn || p == 0 && r == 0 {
                line += &format!(" conn {:>7}/s (total {c})", c - last_conn);
            }
            if p > 0 || r > 0 {
                line += &format!(
                    " pub {:>8}/s (total {p}) recv {:>8}/s (total {r})",
                    p - last_pub,
                    r - last_recv
                );
            }
            if w.count() > 0 {
                line += &format!(
                    " lat p50 {} p99 {}",
                    fmt_ns(w.quantile(0.5)),
                    fmt_ns(w.quantile(0.99))
                );
            }
            eprintln!("{line}");
        }
        (last_pub, last_recv, last_conn) = (p, r, c);
    }
}

/// `850µs`, `12.3ms`.
pub fn fmt_ns(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{}µs", ns / 1000)
    } else {
        format!("{:.1}ms", ns as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([1 << 40, u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            assert!(b < BUCKETS);
            let next = bucket_low(b + 1);
            assert!(bucket_low(b) <= v && (v < next || next == u64::MAX), "{v}");
            last = b;
        }
    }

    #[test]
    fn quantiles_within_a_bucket() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.record_n(v * 1000, 1);
        }
        let s = h.snapshot(false);
        assert_eq!(s.count(), 1000);
        let p50 = s.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.04, "{p50}");
        let p99 = s.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.04, "{p99}");
    }
}
