//! One load run: connect subscribers, publishers and idle connections, publish under the chosen
//! pacing, wait for the deliveries, and summarise. Every run is bounded by a count and a deadline.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{Buf, BytesMut};
use linkmq_codec::QoS;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::deliveries::{Deliveries, frame_at};
use crate::multi;
use crate::pacer::Pacer;
use crate::procfs;
use crate::shards::Shards;
use crate::stats::{Stats, progress};
use crate::wire::{self, Conn, PublishTemplate, Stamp, Target};

/// How publishers decide when to send.
#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    /// Closed loop: at most this many messages published and not yet delivered to every subscriber
    /// they are meant for (needs [`Plan::fanout`]).
    Window(u64),
    /// Open loop: this many messages a second per publisher.
    Rate(f64),
    /// As fast as the socket takes them (QoS 1/2 still bounded by the inflight window).
    Unpaced,
}

/// Connections that only connect and stay.
#[derive(Debug, Clone)]
pub struct IdlePlan {
    pub count: usize,
    /// How long to keep them once all are up.
    pub hold: Duration,
}

#[derive(Debug, Clone)]
pub struct SubPlan {
    pub count: usize,
    /// `%i` is replaced by the subscriber's index.
    pub filter: String,
    pub qos: QoS,
    /// Stop once this many messages arrived in all (0 = until the deadline; only without publishers).
    pub limit: u64,
}

#[derive(Debug, Clone)]
pub struct PubPlan {
    pub count: usize,
    /// `%i` is replaced by the publisher's index.
    pub topic: String,
    pub qos: QoS,
    pub size: usize,
    pub retain: bool,
    /// Messages per publisher (0 = until the deadline).
    pub limit: u64,
    pub pacing: Pacing,
    /// QoS 1/2 messages a publisher may have unacknowledged.
    pub inflight: usize,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub target: Target,
    pub client_prefix: String,
    pub idle: Option<IdlePlan>,
    pub sub: Option<SubPlan>,
    pub publ: Option<PubPlan>,
    /// Deliveries each publish should cause (0 = unknown: no loss check, no closed-loop window).
    pub fanout: u64,
    /// Connections per second (0 = as fast as `conn_concurrency` allows).
    pub conn_rate: f64,
    /// Handshakes in progress at once.
    pub conn_concurrency: usize,
    /// Threads the idle connections are dealt over (see [`crate::shards`]).
    pub conn_threads: usize,
    /// Hard bound on the publishing phase.
    pub duration: Duration,
    /// How long to wait for outstanding deliveries once publishing is over.
    pub drain: Duration,
    /// Where the subscribers connect when not `target` (another broker: a warm-up message must
    /// then reach them before the measured phase).
    pub sub_target: Option<Target>,
    /// Broker processes whose CPU time and memory, summed, go into the summary.
    pub broker_pids: Vec<u32>,
    pub quiet: bool,
}

/// Shared between publishers and subscribers of one run.
struct Shared {
    stats: Arc<Stats>,
    /// Signalled by subscribers after each read, for publishers waiting on the window.
    credit: Notify,
    /// Set once every connection is up.
    go: tokio::sync::watch::Receiver<bool>,
    fanout: u64,
    /// Warm-up messages received (not deliveries: see [`multi::warm_up`]).
    warmed: AtomicU64,
}

impl Shared {
    /// Messages that may still be published under a closed-loop window.
    fn window_room(&self, window: u64) -> u64 {
        if self.fanout == 0 {
            return u64::MAX;
        }
        let published = self.stats.published.load(Relaxed);
        let received = self.stats.received.load(Relaxed);
        let outstanding = (published * self.fanout).saturating_sub(received);
        (window * self.fanout).saturating_sub(outstanding) / self.fanout
    }
}

/// Runs `plan` and returns its JSON summary.
pub async fn run(plan: Plan) -> anyhow::Result<Value> {
    let stats = Arc::new(Stats::default());
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        stats: stats.clone(),
        credit: Notify::new(),
        go: go_rx,
        fanout: plan.fanout,
        warmed: AtomicU64::new(0),
    });
    let started = Instant::now();
    let progress_task = tokio::spawn(progress(stats.clone(), started, plan.quiet));
    let pids = plan.broker_pids.as_slice();
    let rss_before = multi::status_kib(pids, "VmRSS");
    let cpu_before_conn = multi::cpu_us(pids);
    let gen_before_conn = procfs::self_cpu_us();
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let limiter = Arc::new(Semaphore::new(plan.conn_concurrency.max(1)));
    let mut index = 0usize;
    let conn_started = Instant::now();

    // Idle connections first (the connection-rate and memory figures), then subscribers, then publishers.
    let idle_count = plan.idle.as_ref().map_or(0, |i| i.count);
    let mut handshakes = Vec::new();
    let group = (conn_started, index);
    let shards = Shards::start(if idle_count > 0 {
        plan.conn_threads - 1
    } else {
        0
    })?;
    for i in 0..idle_count {
        let id = format!("{}-idle-{i}", plan.client_prefix);
        let on = Some((&shards, i));
        handshakes.push(spawn_connect(&plan, &limiter, id, index, group, stats.clone(), on).await);
        index += 1;
    }
    for (i, h) in handshakes.into_iter().enumerate() {
        // A failed idle connection is counted (`connections.failed`), not fatal.
        if let Ok(c) = h.await? {
            c.reset_on_close();
            tasks.push(shards.spawn(i, idle(c, stats.clone())));
        }
    }
    let conn_elapsed = conn_started.elapsed();
    let connected_idle = stats.connected.load(Relaxed);
    let cpu_after_conn = multi::cpu_us(pids);
    let gen_conn_us = procfs::self_cpu_us().saturating_sub(gen_before_conn);
    let mut rss_per_conn = None;
    if let Some(idle_plan) = &plan.idle {
        if !plan.quiet {
            eprintln!(
                "{connected_idle} of {} connections up in {:.2}s",
                idle_plan.count,
                conn_elapsed.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(before) = rss_before
            && let Some(after) = multi::status_kib(pids, "VmRSS")
            && connected_idle > 0
        {
            rss_per_conn =
                Some(after.saturating_sub(before) as f64 * 1024.0 / connected_idle as f64);
        }
        tokio::time::sleep(idle_plan.hold).await;
    }

    if let Some(sp) = &plan.sub {
        let mut handshakes = Vec::new();
        let group = (Instant::now(), index);
        let sub_plan = plan.sub_target.as_ref().map(|t| Plan {
            target: t.clone(),
            ..plan.clone()
        });
        for i in 0..sp.count {
            let id = format!("{}-sub-{i}", plan.client_prefix);
            let p = sub_plan.as_ref().unwrap_or(&plan);
            handshakes
                .push(spawn_connect(p, &limiter, id, index, group, stats.clone(), None).await);
            index += 1;
        }
        for (i, h) in handshakes.into_iter().enumerate() {
            let mut c = h
                .await?
                .with_context(|| format!("subscriber {i} could not connect"))?;
            c.subscribe(&[sp.filter.replace("%i", &i.to_string())], sp.qos)
                .await?;
            tasks.push(tokio::spawn(subscriber(c, shared.clone())));
        }
        if !plan.quiet {
            eprintln!("{} subscribers subscribed", sp.count);
        }
    }
    let mut publishers = Vec::new();
    if let Some(pp) = &plan.publ {
        let mut handshakes = Vec::new();
        let group = (Instant::now(), index);
        for i in 0..pp.count {
            let id = format!("{}-pub-{i}", plan.client_prefix);
            handshakes
                .push(spawn_connect(&plan, &limiter, id, index, group, stats.clone(), None).await);
            index += 1;
        }
        let pp = Arc::new(pp.clone());
        for (i, h) in handshakes.into_iter().enumerate() {
            let c = h
                .await?
                .with_context(|| format!("publisher {i} could not connect"))?;
            publishers.push(tokio::spawn(publisher(
                c,
                i as u32,
                pp.clone(),
                shared.clone(),
                plan.duration,
            )));
        }
    }

    if plan.sub_target.is_some() && plan.sub.is_some() {
        multi::warm_up(&plan, &shared.warmed).await?;
    }

    // The measured phase: from the go signal to the last delivery.
    let mut measured = None;
    let mut done_publishers = Vec::new();
    if !publishers.is_empty() || plan.sub.is_some() {
        let cpu0 = multi::cpu_times(pids);
        let gen0 = procfs::self_cpu_us();
        let t0 = Instant::now();
        let t0_ns = wire::now_ns();
        let _ = go_tx.send(true);
        let deadline = t0 + plan.duration;
        for p in publishers {
            if let Ok(Some(c)) = p.await {
                done_publishers.push(c);
            }
        }
        // Wait for what is still on its way: all expected, no progress for 2 s, or the drain bound.
        let expected = stats.published.load(Relaxed) * plan.fanout;
        let sub_limit = plan.sub.as_ref().map_or(0, |s| s.limit);
        let drain_end = Instant::now() + plan.drain;
        let mut last = stats.received.load(Relaxed);
        let mut last_change = Instant::now();
        loop {
            let got = stats.received.load(Relaxed);
            let now = Instant::now();
            if plan.publ.is_some() {
                if plan.fanout > 0 && got >= expected {
                    break;
                }
                if got != last {
                    last = got;
                    last_change = now;
                } else if now - last_change > Duration::from_secs(2) || now >= drain_end {
                    break;
                }
            } else if now >= deadline || (sub_limit > 0 && got >= sub_limit) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cpu1 = multi::cpu_times(pids);
        let gen1 = procfs::self_cpu_us();
        let last_ns = stats.last_recv_ns.load(Relaxed);
        let elapsed = if last_ns > t0_ns {
            Duration::from_nanos(last_ns - t0_ns)
        } else {
            t0.elapsed()
        };
        measured = Some((
            cpu0.zip(cpu1).map(|(a, b)| b.since(a)),
            gen1 - gen0,
            elapsed,
        ));
    }
    progress_task.abort();
    drop(done_publishers);
    for t in &tasks {
        t.abort();
    }

    let published = stats.published.load(Relaxed);
    let received = stats.received.load(Relaxed);
    let expected = published * plan.fanout;
    let lat = stats.latency.snapshot(false);
    let mut summary = json!({
        "name": plan.name,
        "protocol": plan.target.protocol.level(),
        "publishers": plan.publ.as_ref().map_or(0, |p| p.count),
        "subscribers": plan.sub.as_ref().map_or(0, |s| s.count),
        "qos": plan.publ.as_ref().map(|p| p.qos as u8).or(plan.sub.as_ref().map(|s| s.qos as u8)),
        "payload_bytes": plan.publ.as_ref().map(|p| p.size.max(wire::STAMP_LEN)),
        "published": published,
        "acked": stats.acked.load(Relaxed),
        "received": received,
        "expected": (plan.fanout > 0).then_some(expected),
        "lost": (plan.fanout > 0).then(|| expected.saturating_sub(received)),
        "out_of_order": stats.out_of_order.load(Relaxed),
        "disconnected": stats.disconnected.load(Relaxed),
        "latency_us": lat.to_json_us(),
    });
    if let Some((cpu, gen_cpu, elapsed)) = measured {
        let secs = elapsed.as_secs_f64().max(1e-9);
        summary["elapsed_s"] = json!(round3(secs));
        summary["publish_rate"] = json!((published as f64 / secs).round());
        summary["delivered_rate"] = json!((received as f64 / secs).round());
        summary["generator_cpu_us"] = json!(gen_cpu);
        if let Some(times) = cpu {
            let cpu = times.total();
            summary["broker_cpu_us"] = json!(cpu);
            summary["broker_cpu_user_us"] = json!(times.user);
            summary["broker_cpu_system_us"] = json!(times.system);
            if received > 0 {
                let per_msg = |us: u64| json!(round3(us as f64 / received as f64));
                summary["broker_cpu_us_per_msg"] = per_msg(cpu);
                summary["broker_cpu_system_us_per_msg"] = per_msg(times.system);
            }
            if cpu > 0 {
                summary["generator_cpu_share"] = json!(round3(gen_cpu as f64 / cpu as f64));
            }
        }
    }
    if plan.idle.is_some() {
        let secs = conn_elapsed.as_secs_f64().max(1e-9);
        summary["connections"] = json!({
            "requested": idle_count,
            "connected": connected_idle,
            "failed": stats.conn_failed.load(Relaxed),
            "elapsed_s": round3(secs),
            "rate": (connected_idle as f64 / secs).round(),
            "rss_per_conn_bytes": rss_per_conn.map(|b| b.round()),
            "broker_cpu_us_per_conn": cpu_before_conn.zip(cpu_after_conn)
                .filter(|_| connected_idle > 0)
                .map(|(a, b)| round3((b - a) as f64 / connected_idle as f64)),
            "latency_us": stats.connect_latency.snapshot(false).to_json_us(),
            "generator_cpu_us_per_conn": (connected_idle > 0)
                .then(|| round3(gen_conn_us as f64 / connected_idle as f64)),
        });
    }
    if !pids.is_empty() {
        summary["broker_pids"] = json!(pids);
        summary["broker_rss_kib"] = json!(multi::status_kib(pids, "VmRSS"));
        summary["broker_peak_rss_kib"] = json!(multi::status_kib(pids, "VmHWM"));
    }
    Ok(summary)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Starts a handshake under the concurrency limit and the connection rate; resolves to the connection.
/// `on`: the shards and this connection's place among them (else the current runtime).
async fn spawn_connect(
    plan: &Plan,
    limiter: &Arc<Semaphore>,
    client_id: String,
    index: usize,
    rate_start: (Instant, usize),
    stats: Arc<Stats>,
    on: Option<(&Shards, usize)>,
) -> JoinHandle<anyhow::Result<Conn>> {
    if plan.conn_rate > 0.0 {
        let (t0, i0) = rate_start;
        let at = t0 + Duration::from_secs_f64((index - i0) as f64 / plan.conn_rate);
        tokio::time::sleep_until(at.into()).await;
    }
    let permit = limiter.clone().acquire_owned().await.expect("never closed");
    let target = plan.target.clone();
    let quiet = plan.quiet;
    // The handshake's future (about 12 KiB, with the TLS and WebSocket states) goes to the heap
    // and is freed when it completes: inline, it would stay in the task until the handle is
    // awaited, after every connection is up (120 MB and 30,000 page faults over `idle10k`).
    let fut = async move {
        let t0 = Instant::now();
        let r = Box::pin(wire::connect(
            &target,
            &client_id,
            index,
            Duration::from_secs(30),
        ))
        .await;
        drop(permit);
        match r {
            Ok(c) => {
                stats
                    .connect_latency
                    .record_n(t0.elapsed().as_nanos() as u64, 1);
                stats.connected.fetch_add(1, Relaxed);
                Ok(c)
            }
            Err(e) => {
                stats.conn_failed.fetch_add(1, Relaxed);
                if !quiet {
                    eprintln!("connect failed: {e:#}");
                }
                Err(e)
            }
        }
    };
    match on {
        Some((shards, i)) => shards.spawn(i, fut),
        None => tokio::spawn(fut),
    }
}

/// Keeps an idle connection open until the run ends or the broker closes it.
async fn idle(mut c: Conn, stats: Arc<Stats>) {
    loop {
        match c.stream.read_buf(&mut c.rbuf).await {
            Ok(0) | Err(_) => {
                stats.disconnected.fetch_add(1, Relaxed);
                return;
            }
            Ok(_) => c.rbuf.clear(),
        }
    }
}

/// Reads deliveries: latency from the stamp, order per publisher, acknowledgements for QoS 1/2.
async fn subscriber(mut c: Conn, shared: Arc<Shared>) {
    let stats = &shared.stats;
    let mut d = Deliveries::new(c.protocol.is_v5(), Some(multi::WARMUP_PUBLISHER));
    loop {
        c.reserve_read();
        match c.stream.read_buf(&mut c.rbuf).await {
            Ok(0) | Err(_) => {
                stats.disconnected.fetch_add(1, Relaxed);
                return;
            }
            Ok(_) => {}
        }
        let now = wire::now_ns();
        let taken = d.take(&c.rbuf, now, stats);
        c.rbuf.advance(taken.consumed);
        if taken.skipped > 0 {
            shared.warmed.fetch_add(taken.skipped, Relaxed);
        }
        if taken.delivered > 0 {
            stats.received.fetch_add(taken.delivered, Relaxed);
            stats.last_recv_ns.store(now, Relaxed);
            if shared.fanout > 0 {
                shared.credit.notify_waiters();
            }
        }
        if !d.acks.is_empty() {
            if c.write_all(&d.acks).await.is_err() {
                stats.disconnected.fetch_add(1, Relaxed);
                return;
            }
            d.acks.clear();
        }
    }
}

/// Publishes `plan.limit` messages (or until the deadline) under the pacing and inflight window.
async fn publisher(
    mut c: Conn,
    index: u32,
    plan: Arc<PubPlan>,
    shared: Arc<Shared>,
    duration: Duration,
) -> Option<Conn> {
    let stats = &shared.stats;
    let v5 = c.protocol.is_v5();
    let topic = plan.topic.replace("%i", &index.to_string());
    let template = PublishTemplate::new(&topic, plan.qos, plan.retain, plan.size, v5);
    let batch_max = (64 * 1024 / template.wire_len()).clamp(1, 256) as u64;
    let qos = plan.qos;
    let limit = if plan.limit == 0 {
        u64::MAX
    } else {
        plan.limit
    };
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut seq: u64 = 0;
    let mut inflight: usize = 0;
    let mut pkid: u16 = 0;
    // Open loop: woken by a timerfd when the next message is due (tokio's timer would send
    // them in bursts); tokio's timer stands in if the kernel has no timerfd.
    let mut pacer = match plan.pacing {
        Pacing::Rate(_) => Pacer::new().ok(),
        _ => None,
    };

    // Wait for the start signal (everyone connected), then run to the limit or the deadline.
    let mut go = shared.go.clone();
    if go.wait_for(|v| *v).await.is_err() {
        return None;
    }
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + duration);
    // One timer for the whole run, not one registered and dropped per wake-up.
    let expiry = tokio::time::sleep_until(deadline);
    tokio::pin!(expiry);
    loop {
        if seq >= limit && inflight == 0 {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let credit = shared.credit.notified();
        tokio::pin!(credit);
        credit.as_mut().enable();
        let mut n = (limit - seq).min(batch_max);
        if qos != QoS::AtMostOnce {
            n = n.min(plan.inflight.saturating_sub(inflight) as u64);
        }
        let mut next_due = None;
        match plan.pacing {
            Pacing::Window(w) => n = n.min(shared.window_room(w)),
            Pacing::Rate(r) => {
                n = n.min(due_now(r, seq, start.elapsed(), n));
                if n == 0 {
                    next_due = Some(start + due_after(r, seq));
                }
            }
            Pacing::Unpaced => {}
        }
        if n > 0 {
            let now = wire::now_ns();
            for _ in 0..n {
                if qos != QoS::AtMostOnce {
                    pkid = pkid.wrapping_add(1).max(1);
                }
                template.put(
                    &mut wbuf,
                    pkid,
                    Stamp {
                        sent_ns: now,
                        publisher: index,
                        seq: seq as u32,
                    },
                );
                seq += 1;
            }
            if c.write_all(&wbuf).await.is_err() {
                stats.disconnected.fetch_add(1, Relaxed);
                return None;
            }
            wbuf.clear();
            stats.published.fetch_add(n, Relaxed);
            if qos != QoS::AtMostOnce {
                inflight += n as usize;
            }
            continue;
        }
        let mut waiting_acks = qos != QoS::AtMostOnce && inflight > 0;
        if waiting_acks {
            c.reserve_read();
        }
        // Open loop with room in the inflight window: take the acknowledgements that have arrived
        // and sleep until the next message is due, instead of waking for each acknowledgement as
        // it arrives. One wake-up per message or burst instead of two; the broker sees no
        // difference (the acknowledgements wait in the socket buffer, a few bytes each).
        if waiting_acks && next_due.is_some() && inflight < plan.inflight {
            loop {
                let r = tokio::select! {
                    biased;
                    r = c.stream.read_buf(&mut c.rbuf) => r,
                    _ = std::future::ready(()) => break,
                };
                if !matches!(r, Ok(n) if n > 0) {
                    stats.disconnected.fetch_add(1, Relaxed);
                    return None;
                }
                c.reserve_read();
            }
            if !on_acks(&mut c, &mut wbuf, &mut inflight, stats).await {
                return None;
            }
            waiting_acks = false;
        }
        let waiting_credit = matches!(plan.pacing, Pacing::Window(_)) && seq < limit;
        if !waiting_acks && !waiting_credit && next_due.is_none() {
            // Nothing left to do but the deadline (limit reached, QoS 0).
            break;
        }
        tokio::select! {
            r = c.stream.read_buf(&mut c.rbuf), if waiting_acks => {
                match r {
                    Ok(0) | Err(_) => {
                        stats.disconnected.fetch_add(1, Relaxed);
                        return None;
                    }
                    Ok(_) => {}
                }
                if !on_acks(&mut c, &mut wbuf, &mut inflight, stats).await {
                    return None;
                }
            }
            _ = &mut credit, if waiting_credit => {}
            _ = pace(&mut pacer, next_due) => {}
            _ = &mut expiry => break,
        }
    }
    // Collect the acknowledgements still due (bounded), and keep the socket open until the run
    // ends: closing with unread PUBACKs would reset the connection and lose what the broker has not read.
    let drain_until = tokio::time::Instant::now() + Duration::from_secs(5);
    while qos != QoS::AtMostOnce && inflight > 0 {
        c.reserve_read();
        match tokio::time::timeout_at(drain_until, c.stream.read_buf(&mut c.rbuf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
        if !on_acks(&mut c, &mut wbuf, &mut inflight, stats).await {
            return None;
        }
    }
    Some(c)
}

/// Counts the acknowledgements read into `c.rbuf` off `inflight` and writes the PUBRELs they call
/// for; false when the connection broke.
async fn on_acks(c: &mut Conn, wbuf: &mut BytesMut, inflight: &mut usize, stats: &Stats) -> bool {
    let acked = take_acks(&mut c.rbuf, wbuf);
    *inflight = inflight.saturating_sub(acked);
    stats.acked.fetch_add(acked as u64, Relaxed);
    if !wbuf.is_empty() {
        if c.write_all(wbuf).await.is_err() {
            return false;
        }
        wbuf.clear();
    }
    true
}

/// Counts the PUBACK/PUBCOMP packets in `rbuf` (consumed) and answers PUBREC with PUBREL into `wbuf`.
fn take_acks(rbuf: &mut BytesMut, wbuf: &mut BytesMut) -> usize {
    let mut acked = 0;
    while let Some((first, header, len)) = frame_at(rbuf) {
        let body = &rbuf[header..header + len];
        let id = u16::from_be_bytes([
            body.first().copied().unwrap_or(0),
            body.get(1).copied().unwrap_or(0),
        ]);
        match first >> 4 {
            4 | 7 => acked += 1,
            5 => wire::put_ack(wbuf, 6, id),
            _ => {}
        }
        rbuf.advance(header + len);
    }
    acked
}

/// When message `i` (from 0) of a publisher paced at `r` msg/s is due, counted from its start.
fn due_after(r: f64, i: u64) -> Duration {
    Duration::from_nanos((i as f64 * 1e9 / r) as u64)
}

/// How many messages from `seq` on are due `elapsed` after the start, at most `max`. The same
/// [`due_after`] gives the wake-up time, so a publisher woken when message `seq` is due sends it.
fn due_now(r: f64, seq: u64, elapsed: Duration, max: u64) -> u64 {
    let mut n = 0;
    while n < max && due_after(r, seq + n) <= elapsed {
        n += 1;
    }
    n
}

/// Sleeps until `at` on the pacer if there is one, else on tokio's timer; forever if `at` is None.
async fn pace(pacer: &mut Option<Pacer>, at: Option<Instant>) {
    match (pacer, at) {
        (Some(p), Some(at)) => {
            if p.sleep_until(at).await.is_err() {
                sleep_opt(Some(at)).await;
            }
        }
        (None, at) => sleep_opt(at).await,
        (Some(_), None) => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_publisher_sends_each_message_when_due_not_an_interval_later() {
        let ms = Duration::from_millis;
        assert_eq!(
            due_now(1000.0, 0, Duration::ZERO, 256),
            1,
            "the first at once"
        );
        assert_eq!(due_now(1000.0, 1, Duration::from_micros(999), 256), 0);
        assert_eq!(due_now(1000.0, 1, ms(1), 256), 1, "the second at 1 ms");
        assert_eq!(due_now(1000.0, 1, Duration::from_micros(2500), 256), 2);
        assert_eq!(
            due_now(1000.0, 0, ms(1000), 256),
            256,
            "a late publisher catches up in batches"
        );
        assert_eq!(due_after(10_000.0, 25), Duration::from_micros(2500));
        // Woken when the next message is due, whatever the rate, it is sent then.
        for r in [3.0, 7.5, 999.0, 1000.0, 10_000.0, 33_333.0] {
            for seq in 0..5000 {
                assert_eq!(
                    due_now(r, seq, due_after(r, seq), 256),
                    1,
                    "r {r} seq {seq}"
                );
            }
        }
    }
}
