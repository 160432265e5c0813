//! The forwarding pool of one link on this node (spec §6): `pool_size` MQTT clients
//! `<base>:msg:<h8>:<N>` publishing to `$LINK/cluster/msg/<local cluster>`.
//!
//! A message goes to the client picked by hashing its publisher's client id (or at random), so one
//! publisher's messages keep their order. Each client pipelines up to `max_inflight` QoS 1 publishes;
//! messages waiting for it sit in an in-memory buffer bounded by `resource_opts.max_buffer_bytes`
//! (a message that does not fit is dropped and counted). A message older than `request_ttl` is
//! dropped instead of sent. Messages in flight when a connection is lost are sent again after
//! reconnecting (`retried`): the link is at-least-once, and QoS 2 travels as QoS 1.

use std::collections::VecDeque;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use linkmq_client::{Client, Event, PublishAck};
use linkmq_codec::{Publish, QoS};
use linkmq_config::DispatchStrategy;
use linkmq_core::Message;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::convert::encode_forwarded;
use crate::runtime::LinkRuntime;
use crate::status::{LinkMetrics, remote_disconnect_reason};

/// Bytes a buffered message is charged beyond payload and topic.
const ITEM_OVERHEAD: u64 = 128;

/// Messages a pool client hands to its connection per wake-up before letting its other events run.
const DRAIN_BUDGET: usize = 256;

struct Item {
    msg: Arc<Message>,
    enqueued: Instant,
    size: u64,
}

/// The sending side of a link's pool, used on the publish path.
pub(crate) struct ForwardPool {
    rt: Arc<LinkRuntime>,
    workers: Vec<mpsc::UnboundedSender<Item>>,
    buffered: Arc<AtomicU64>,
}

impl ForwardPool {
    /// Starts the pool's clients on `tracker`.
    pub fn start(rt: Arc<LinkRuntime>, tracker: &TaskTracker) -> Arc<ForwardPool> {
        let size = rt.config.pool_size.max(1) as usize;
        let buffered = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::with_capacity(size);
        for idx in 0..size {
            let (tx, rx) = mpsc::unbounded_channel();
            workers.push(tx);
            let w = Worker {
                rt: rt.clone(),
                idx,
                rx,
                retry: VecDeque::new(),
                buffered: buffered.clone(),
            };
            tracker.spawn(w.run());
        }
        Arc::new(ForwardPool {
            rt,
            workers,
            buffered,
        })
    }

    /// Queues a message for the remote; false (and counted as dropped) when the buffer is full.
    pub fn enqueue(&self, msg: &Arc<Message>) -> bool {
        let m = &self.rt.metrics;
        LinkMetrics::inc(&m.matched);
        let size = msg.payload.len() as u64 + msg.topic.len() as u64 + ITEM_OVERHEAD;
        let max = self.rt.config.resource_opts.max_buffer_bytes;
        let prev = self.buffered.fetch_add(size, Ordering::Relaxed);
        if prev + size > max {
            self.buffered.fetch_sub(size, Ordering::Relaxed);
            LinkMetrics::inc(&m.dropped);
            return false;
        }
        let idx = match self.rt.config.resource_opts.dispatch_strategy {
            DispatchStrategy::PerClientid => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                msg.from.hash(&mut h);
                (h.finish() % self.workers.len() as u64) as usize
            }
            DispatchStrategy::Random => rand::random_range(0..self.workers.len()),
        };
        let item = Item {
            msg: msg.clone(),
            enqueued: Instant::now(),
            size,
        };
        m.queuing.fetch_add(1, Ordering::Relaxed);
        if self.workers[idx].send(item).is_err() {
            m.queuing.fetch_sub(1, Ordering::Relaxed);
            self.buffered.fetch_sub(size, Ordering::Relaxed);
            LinkMetrics::inc(&m.dropped);
            return false;
        }
        true
    }
}

enum Step {
    Cancelled,
    Acked(Result<linkmq_codec::ReasonCode, linkmq_client::ClientError>),
    Next(Option<Item>),
    Event(Option<Box<Event>>),
}

/// One pool client and its queue.
struct Worker {
    rt: Arc<LinkRuntime>,
    idx: usize,
    rx: mpsc::UnboundedReceiver<Item>,
    /// Messages to send first (in flight when the last connection was lost), in order.
    retry: VecDeque<Item>,
    buffered: Arc<AtomicU64>,
}

impl Worker {
    fn done(&self, item: &Item) {
        self.buffered.fetch_sub(item.size, Ordering::Relaxed);
    }

    async fn run(mut self) {
        let client_id = self.rt.msg_client_id(self.idx + 1);
        let link = self.rt.config.name.clone();
        let mut last_attempt: Option<tokio::time::Instant> = None;
        loop {
            if let Some(t) = last_attempt {
                tokio::select! {
                    _ = self.rt.cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(t + self.rt.timers.reconnect) => {}
                }
            }
            if self.rt.cancel.is_cancelled() {
                break;
            }
            last_attempt = Some(tokio::time::Instant::now());
            let client = tokio::select! {
                _ = self.rt.cancel.cancelled() => break,
                c = self.rt.connect(client_id.clone()) => c,
            };
            let client = match client {
                Ok(c) => c,
                Err(reason) => {
                    debug!(link = %link, client_id = %client_id, reason = %reason, "cluster link forwarding client cannot connect");
                    self.rt.status.set_worker(self.idx, false, Some(reason));
                    continue;
                }
            };
            info!(link = %link, client_id = %client_id, "cluster link forwarding client connected");
            self.rt.status.set_worker(self.idx, true, None);
            match self.serve(&client).await {
                None => {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(1),
                        client.disconnect(),
                    )
                    .await;
                    break;
                }
                Some(reason) => {
                    client.abort();
                    warn!(link = %link, client_id = %client_id, reason = %reason, "cluster link forwarding client disconnected");
                    self.rt.status.set_worker(self.idx, false, Some(reason));
                }
            }
        }
        self.rt.status.set_worker(self.idx, false, None);
        // Whatever is still buffered will never be sent.
        let m = &self.rt.metrics;
        self.rx.close();
        while let Some(item) = self.retry.pop_front().or_else(|| self.rx.try_recv().ok()) {
            m.queuing.fetch_sub(1, Ordering::Relaxed);
            LinkMetrics::inc(&m.dropped);
            self.done(&item);
        }
    }

    /// Sends until the connection is lost (`Some(reason)`) or the link stops (`None`).
    async fn serve(&mut self, client: &Client) -> Option<String> {
        let rt = self.rt.clone();
        let m = &rt.metrics;
        let topic = rt.msg_topic();
        let max_inflight = rt.config.max_inflight.max(1) as usize;
        let mut inflight: VecDeque<(Item, PublishAck)> = VecDeque::new();
        // The oldest in-flight message, when its acknowledgement failed.
        let mut unacked: Option<Item> = None;
        // Kept across iterations: creating them anew each time costs a lock (and a waiter
        // registration) per forwarded message.
        let cancelled = rt.cancel.cancelled();
        let mut cancelled = std::pin::pin!(cancelled);
        // `Some(None)`: the connection is gone, why is asked once `events` (which holds the
        // client's event queue) is dropped.
        let lost: Option<Option<String>> = {
            let mut events = std::pin::pin!(client.recv());
            'serve: loop {
                let step = tokio::select! {
                    biased;
                    _ = &mut cancelled => Step::Cancelled,
                    r = async { match inflight.front_mut() {
                        Some((_, ack)) => ack.await,
                        None => std::future::pending().await,
                    } }, if !inflight.is_empty() => Step::Acked(r),
                    ev = &mut events => {
                        events.set(client.recv());
                        Step::Event(ev.map(Box::new))
                    }
                    item = next_item(&mut self.retry, &mut self.rx), if inflight.len() < max_inflight => Step::Next(item),
                };
                match step {
                    Step::Cancelled => break None,
                    Step::Acked(first) => {
                        // Every acknowledgement already in, in one go.
                        let mut next = Some(first);
                        while let Some(r) = next.take() {
                            let Some((item, _)) = inflight.pop_front() else {
                                break;
                            };
                            match r {
                                Ok(rc) => {
                                    m.inflight.fetch_sub(1, Ordering::Relaxed);
                                    self.done(&item);
                                    if (rc as u8) < 0x80 {
                                        LinkMetrics::inc(&m.success);
                                    } else {
                                        debug!(link = %rt.config.name, reason = ?rc, "remote refused a forwarded message");
                                        LinkMetrics::inc(&m.failed);
                                    }
                                }
                                Err(_) => {
                                    unacked = Some(item);
                                    break 'serve Some(None);
                                }
                            }
                            next = front_ack_ready(&mut inflight).await;
                        }
                    }
                    Step::Event(Some(ev)) if matches!(*ev, Event::Publish(_)) => {}
                    Step::Event(Some(ev)) => match *ev {
                        Event::Disconnect(d) => {
                            break Some(Some(remote_disconnect_reason(d.reason)));
                        }
                        _ => break Some(Some("connection closed".to_string())),
                    },
                    Step::Event(None) => break Some(Some("connection closed".to_string())),
                    Step::Next(None) => break None,
                    Step::Next(Some(item)) => {
                        // Hand over everything already waiting (up to the window) before yielding, so
                        // the client's writer finds a batch to write in one go instead of one message
                        // per wake-up and system call.
                        let mut next = Some(item);
                        let mut budget = DRAIN_BUDGET;
                        while let Some(item) = next.take() {
                            if self
                                .send(client, &topic, item, &mut inflight)
                                .await
                                .is_err()
                            {
                                break 'serve Some(None);
                            }
                            budget -= 1;
                            if budget > 0 && inflight.len() < max_inflight {
                                next = self.retry.pop_front().or_else(|| self.rx.try_recv().ok());
                            }
                        }
                    }
                }
            }
        };
        let lost = match lost {
            None => None,
            Some(Some(reason)) => Some(reason),
            Some(None) => Some(closed_reason(client).await),
        };
        // Unacknowledged messages go first after reconnecting, in their order.
        let back: Vec<Item> = unacked
            .into_iter()
            .chain(inflight.into_iter().map(|(item, _)| item))
            .collect();
        let n = back.len() as i64;
        m.inflight.fetch_sub(n, Ordering::Relaxed);
        m.queuing.fetch_add(n, Ordering::Relaxed);
        for item in back.into_iter().rev() {
            LinkMetrics::inc(&m.retried);
            self.retry.push_front(item);
        }
        lost
    }

    /// Sends one message: QoS 0 is queued on the connection (done once queued: the link does not
    /// promise more for it), QoS 1 and 2 join `inflight` until acknowledged. A message past
    /// `request_ttl` is dropped instead. `Err` when the connection is gone (the message goes back
    /// to the front of the retry queue).
    async fn send(
        &mut self,
        client: &Client,
        topic: &str,
        item: Item,
        inflight: &mut VecDeque<(Item, PublishAck)>,
    ) -> Result<(), Gone> {
        let m = &self.rt.metrics;
        let ttl = self.rt.config.resource_opts.request_ttl;
        if ttl.is_some_and(|ttl| item.enqueued.elapsed() > ttl) {
            m.queuing.fetch_sub(1, Ordering::Relaxed);
            LinkMetrics::inc(&m.dropped);
            self.done(&item);
            return Ok(());
        }
        let qos = item.msg.qos.min(QoS::AtLeastOnce);
        let publish = Publish {
            topic: topic.into(),
            qos,
            retain: false,
            payload: Bytes::from(encode_forwarded(&item.msg)),
            ..Publish::default()
        };
        if qos == QoS::AtMostOnce {
            return match client.publish_nowait(publish).await {
                Ok(()) => {
                    m.queuing.fetch_sub(1, Ordering::Relaxed);
                    LinkMetrics::inc(&m.success);
                    self.done(&item);
                    Ok(())
                }
                Err(_) => {
                    self.retry.push_front(item);
                    Err(Gone)
                }
            };
        }
        match client.publish_queued(publish).await {
            Ok(ack) => {
                m.queuing.fetch_sub(1, Ordering::Relaxed);
                m.inflight.fetch_add(1, Ordering::Relaxed);
                inflight.push_back((item, ack));
                Ok(())
            }
            Err(_) => {
                self.retry.push_front(item);
                Err(Gone)
            }
        }
    }
}

async fn next_item(
    retry: &mut VecDeque<Item>,
    rx: &mut mpsc::UnboundedReceiver<Item>,
) -> Option<Item> {
    match retry.pop_front() {
        Some(item) => Some(item),
        None => rx.recv().await,
    }
}

/// The connection of a pool client is gone.
struct Gone;

/// The oldest in-flight message's acknowledgement if it has already arrived (never waits).
async fn front_ack_ready(
    inflight: &mut VecDeque<(Item, PublishAck)>,
) -> Option<Result<linkmq_codec::ReasonCode, linkmq_client::ClientError>> {
    std::future::poll_fn(|cx| {
        let ready = match inflight.front_mut() {
            Some((_, ack)) => match std::pin::Pin::new(ack).poll(cx) {
                std::task::Poll::Ready(r) => Some(r),
                std::task::Poll::Pending => None,
            },
            None => None,
        };
        std::task::Poll::Ready(ready)
    })
    .await
}

/// Why the connection went away: the remote's DISCONNECT reason if it sent one.
pub(crate) async fn closed_reason(client: &Client) -> String {
    let deadline = std::time::Duration::from_millis(200);
    loop {
        match client.recv_timeout(deadline).await {
            Some(Event::Publish(_)) => continue,
            Some(Event::Disconnect(d)) => return remote_disconnect_reason(d.reason),
            _ => return "connection closed".to_string(),
        }
    }
}
