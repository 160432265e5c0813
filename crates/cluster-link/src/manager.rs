//! [`LinkManager`]: runs the links of this node and applies configuration changes hot (spec §7).
//!
//! add → start; remove or disable → stop the actor and the pool; any other change (server,
//! credentials, ssl, topics, pool settings) → stop and start again with a new incarnation, so the
//! remote drops the old routes and a fresh bootstrap follows. Changes are serialized: concurrent API
//! calls see each other's results (eight parallel DELETEs of one link: one succeeds, seven find
//! nothing). Changes made through the API are persisted (see [`crate::persist`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linkmq_config::{LinkConfig, LinkValidationError, validate_link, validate_links};
use linkmq_core::Broker;
use linkmq_core::message::now_ms;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::actor::{ActorShared, RouteActor, next_incarnation};
use crate::extrouter::{ExtRouter, MemExtRouter};
use crate::forwarder::{LinkForwarder, RouteFanout};
use crate::persist;
use crate::pool::ForwardPool;
use crate::receiver::LinkReceiver;
use crate::runtime::{LinkRuntime, h8};
use crate::status::{LinkMetrics, LinkStatus, NodeLinkStatus};
use crate::table::LinkTable;
use crate::timers::LinkTimers;

/// How a node's link manager is set up.
#[derive(Debug, Clone)]
pub struct LinkManagerOptions {
    /// This cluster's `cluster.name`.
    pub cluster_name: String,
    /// This node's name (the route-replication actor's name).
    pub node_name: String,
    /// The links to run at start.
    pub links: Vec<LinkConfig>,
    /// Where runtime changes are persisted (`None`: not persisted).
    pub data_dir: Option<PathBuf>,
    pub timers: LinkTimers,
}

/// Why a link change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkOpError {
    #[error("Cluster link already exists")]
    AlreadyExists,
    #[error("Cluster link not found")]
    NotFound,
    #[error("{0}")]
    Invalid(#[from] LinkValidationError),
    #[error("cannot persist cluster links: {0}")]
    Persist(String),
}

/// A running link instance.
struct Running {
    rt: Arc<LinkRuntime>,
    shared: Arc<ActorShared>,
    tracker: TaskTracker,
}

/// The links of this node: configuration, running actors and pools, status and metrics.
pub struct LinkManager {
    broker: Arc<Broker>,
    local_cluster: Arc<str>,
    node: Arc<str>,
    h8: String,
    timers: LinkTimers,
    data_dir: Option<PathBuf>,
    extrouter: Arc<dyn ExtRouter>,
    table: Arc<LinkTable>,
    fanout: Arc<RouteFanout>,
    receiver: Arc<LinkReceiver>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Serializes changes; holds the running instances.
    running: tokio::sync::Mutex<HashMap<String, Running>>,
    /// The configured links in order (read without waiting for a change in progress).
    config: Mutex<Vec<LinkConfig>>,
    statuses: Mutex<HashMap<String, Arc<LinkStatus>>>,
    metrics: Arc<Mutex<HashMap<String, Arc<LinkMetrics>>>>,
    /// Told when `metrics` gains a link: the rate task sleeps while there is none.
    metrics_added: tokio::sync::Notify,
}

impl std::fmt::Debug for LinkManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkManager")
            .field("cluster", &self.local_cluster)
            .field("node", &self.node)
            .finish()
    }
}

impl LinkManager {
    /// Hooks the link into `broker` ($LINK receiver, forwarder, route listener), starts the GC and
    /// rate tasks on `tracker`, and starts every enabled link of `opts.links`.
    pub async fn start(
        broker: &Arc<Broker>,
        opts: LinkManagerOptions,
        tracker: &TaskTracker,
    ) -> Arc<LinkManager> {
        let extrouter: Arc<dyn ExtRouter> = Arc::new(MemExtRouter::new(opts.timers.actor_ttl));
        Self::start_with(broker, opts, tracker, extrouter).await
    }

    /// Like [`LinkManager::start`] with a given external route table (shared by a cluster's nodes).
    pub async fn start_with(
        broker: &Arc<Broker>,
        opts: LinkManagerOptions,
        tracker: &TaskTracker,
        extrouter: Arc<dyn ExtRouter>,
    ) -> Arc<LinkManager> {
        let local_cluster: Arc<str> = opts.cluster_name.as_str().into();
        let table = Arc::new(LinkTable::default());
        let metrics: Arc<Mutex<HashMap<String, Arc<LinkMetrics>>>> = Arc::default();
        let lookup = {
            let metrics = metrics.clone();
            Arc::new(move |name: &str| {
                metrics
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(name)
                    .cloned()
            })
        };
        let receiver = Arc::new(LinkReceiver::new(
            broker,
            local_cluster.clone(),
            table.clone(),
            extrouter.clone(),
            lookup,
        ));
        let fanout = Arc::new(RouteFanout::default());
        broker.add_interceptor(receiver.clone());
        broker.add_forwarder(Arc::new(LinkForwarder {
            table: table.clone(),
            extrouter: extrouter.clone(),
        }));
        broker.add_route_listener(fanout.clone());
        let mgr = Arc::new(LinkManager {
            broker: broker.clone(),
            h8: h8(&opts.node_name),
            node: opts.node_name.as_str().into(),
            local_cluster,
            timers: opts.timers,
            data_dir: opts.data_dir,
            extrouter,
            table,
            fanout,
            receiver,
            cancel: broker.shutdown.child_token(),
            tracker: tracker.clone(),
            running: tokio::sync::Mutex::new(HashMap::new()),
            config: Mutex::new(Vec::new()),
            statuses: Mutex::new(HashMap::new()),
            metrics,
            metrics_added: tokio::sync::Notify::new(),
        });
        tracker.spawn(mgr.clone().gc_task());
        tracker.spawn(mgr.clone().rate_task());
        {
            let mut running = mgr.running.lock().await;
            mgr.apply_locked(&mut running, opts.links).await;
        }
        mgr
    }

    async fn gc_task(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.timers.gc_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (cluster, actor) in self.extrouter.gc(now_ms()) {
                info!(link = %cluster, actor = %actor, "cluster link actor expired: its routes are removed");
            }
            self.receiver.prune();
        }
    }

    /// Samples each link's forwarding rate every second while the node has a link; with none it
    /// waits for one instead of waking the runtime every second for nothing.
    async fn rate_task(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.metrics_map().is_empty() {
                // `notify_one` keeps a permit, so a link added after the check is not missed.
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    _ = self.metrics_added.notified() => {}
                }
                // The first sample (the baseline) at once, the next a second later.
                tick.reset_immediately();
                continue;
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            let all: Vec<Arc<LinkMetrics>> = self.metrics_map().values().cloned().collect();
            for m in all {
                m.sample(now);
            }
        }
    }

    fn metrics_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LinkMetrics>>> {
        self.metrics.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn metrics_for(&self, name: &str) -> Arc<LinkMetrics> {
        let mut map = self.metrics_map();
        if let Some(m) = map.get(name) {
            return m.clone();
        }
        let m = Arc::new(LinkMetrics::default());
        map.insert(name.to_string(), m.clone());
        drop(map);
        self.metrics_added.notify_one();
        m
    }

    /// This cluster's name.
    pub fn local_cluster(&self) -> &str {
        &self.local_cluster
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The external route table.
    pub fn extrouter(&self) -> &Arc<dyn ExtRouter> {
        &self.extrouter
    }

    /// The configured links, in order.
    pub fn links(&self) -> Vec<LinkConfig> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One configured link.
    pub fn link(&self, name: &str) -> Option<LinkConfig> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.name == name)
            .cloned()
    }

    /// Applies a whole new list of links (a configuration reload); not persisted.
    pub async fn apply(&self, links: Vec<LinkConfig>) -> Result<(), LinkOpError> {
        validate_links(&links)?;
        let mut running = self.running.lock().await;
        self.apply_locked(&mut running, links).await;
        Ok(())
    }

    /// Creates a link (`ALREADY_EXISTS` if the name is taken).
    pub async fn create(&self, link: LinkConfig) -> Result<LinkConfig, LinkOpError> {
        validate_link(&link)?;
        let mut running = self.running.lock().await;
        let mut links = self.links();
        if links.iter().any(|l| l.name == link.name) {
            return Err(LinkOpError::AlreadyExists);
        }
        links.push(link.clone());
        self.commit(&mut running, links).await?;
        Ok(link)
    }

    /// Replaces an existing link (`NOT_FOUND` if there is none); a `"******"` password keeps the stored one.
    pub async fn update(&self, mut link: LinkConfig) -> Result<LinkConfig, LinkOpError> {
        validate_link(&link)?;
        let mut running = self.running.lock().await;
        let mut links = self.links();
        let Some(slot) = links.iter_mut().find(|l| l.name == link.name) else {
            return Err(LinkOpError::NotFound);
        };
        link.keep_password_if_redacted(slot);
        *slot = link.clone();
        self.commit(&mut running, links).await?;
        Ok(link)
    }

    /// Creates or updates by name; returns the link and whether it was created.
    pub async fn upsert(&self, mut link: LinkConfig) -> Result<(LinkConfig, bool), LinkOpError> {
        validate_link(&link)?;
        let mut running = self.running.lock().await;
        let mut links = self.links();
        let created = match links.iter_mut().find(|l| l.name == link.name) {
            Some(slot) => {
                link.keep_password_if_redacted(slot);
                *slot = link.clone();
                false
            }
            None => {
                links.push(link.clone());
                true
            }
        };
        self.commit(&mut running, links).await?;
        Ok((link, created))
    }

    /// Replaces the whole list (redacted passwords of links kept by name keep their stored value).
    pub async fn replace_all(
        &self,
        mut links: Vec<LinkConfig>,
    ) -> Result<Vec<LinkConfig>, LinkOpError> {
        validate_links(&links)?;
        let mut running = self.running.lock().await;
        let current = self.links();
        for l in &mut links {
            if let Some(stored) = current.iter().find(|c| c.name == l.name) {
                l.keep_password_if_redacted(stored);
            }
        }
        self.commit(&mut running, links.clone()).await?;
        Ok(links)
    }

    /// Deletes a link (`NOT_FOUND` if there is none).
    pub async fn delete(&self, name: &str) -> Result<(), LinkOpError> {
        let mut running = self.running.lock().await;
        let mut links = self.links();
        let before = links.len();
        links.retain(|l| l.name != name);
        if links.len() == before {
            return Err(LinkOpError::NotFound);
        }
        self.commit(&mut running, links).await?;
        self.metrics_map().remove(name);
        Ok(())
    }

    /// Persists, then applies.
    async fn commit(
        &self,
        running: &mut HashMap<String, Running>,
        links: Vec<LinkConfig>,
    ) -> Result<(), LinkOpError> {
        if let Some(dir) = &self.data_dir {
            persist::save_links(dir, &links).map_err(|e| LinkOpError::Persist(e.to_string()))?;
        }
        self.apply_locked(running, links).await;
        Ok(())
    }

    async fn apply_locked(&self, running: &mut HashMap<String, Running>, links: Vec<LinkConfig>) {
        let old = self.links();
        let wanted: HashMap<&str, &LinkConfig> = links
            .iter()
            .filter(|l| l.enable)
            .map(|l| (l.name.as_str(), l))
            .collect();
        // Stop what is gone, disabled or changed.
        let stale: Vec<String> = running
            .iter()
            .filter(|(name, r)| wanted.get(name.as_str()) != Some(&&*r.rt.config))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(r) = running.remove(&name) {
                self.stop(&name, r).await;
            }
        }
        // The receiver and forwarder see the new configuration from here on.
        self.table.update(|s| {
            s.links = links
                .iter()
                .map(|l| (l.name.clone(), Arc::new(l.clone())))
                .collect();
            s.pools.retain(|name, _| running.contains_key(name));
        });
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = links.clone();
        for l in links.iter().filter(|l| l.enable) {
            if !running.contains_key(&l.name) {
                let r = self.start_link(l);
                running.insert(l.name.clone(), r);
            }
        }
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses.retain(|name, _| running.contains_key(name));
        for (name, r) in running.iter() {
            statuses.insert(name.clone(), r.rt.status.clone());
        }
        drop(statuses);
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        if old
            .iter()
            .map(|l| l.name.as_str())
            .ne(names.iter().copied())
        {
            info!(links = ?names, "cluster links configured");
        }
    }

    fn start_link(&self, config: &LinkConfig) -> Running {
        let incarnation = next_incarnation();
        let rt = Arc::new(LinkRuntime {
            local_cluster: self.local_cluster.clone(),
            node: self.node.clone(),
            h8: self.h8.clone(),
            config: Arc::new(config.clone()),
            timers: self.timers,
            status: Arc::new(LinkStatus::new(config.pool_size.max(1) as usize)),
            metrics: self.metrics_for(&config.name),
            cancel: self.cancel.child_token(),
        });
        let tracker = TaskTracker::new();
        let shared = Arc::new(ActorShared::new(config.topics.clone()));
        self.fanout.add(shared.clone());
        let pool = ForwardPool::start(rt.clone(), &tracker);
        self.table.update(|s| {
            s.pools.insert(config.name.clone(), pool);
        });
        let actor = RouteActor::new(rt.clone(), shared.clone(), self.broker.clone(), incarnation);
        tracker.spawn(actor.run());
        tracker.close();
        let waiter = tracker.clone();
        self.tracker.spawn(async move { waiter.wait().await });
        info!(link = %config.name, server = %config.server.as_str(), incarnation, "cluster link started");
        Running {
            rt,
            shared,
            tracker,
        }
    }

    async fn stop(&self, name: &str, r: Running) {
        self.fanout.remove(&r.shared);
        self.table.update(|s| {
            s.pools.remove(name);
        });
        r.rt.cancel.cancel();
        if tokio::time::timeout(Duration::from_secs(3), r.tracker.wait())
            .await
            .is_err()
        {
            warn!(link = name, "cluster link tasks did not stop within 3 s");
        }
        info!(link = name, "cluster link stopped");
    }

    /// This node's status of a link: `stopped` when disabled, else see [`LinkStatus::node_status`].
    pub fn node_status(&self, name: &str) -> Option<NodeLinkStatus> {
        let link = self.link(name)?;
        if !link.enable {
            return Some(NodeLinkStatus {
                status: "stopped",
                reason: None,
            });
        }
        let status = self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        Some(match status {
            Some(s) => s.node_status(),
            None => NodeLinkStatus {
                status: "connecting",
                reason: None,
            },
        })
    }

    /// `{"status": ..., "node_status": [{"node", "status", "reason"?}]}` (one node here; the
    /// cluster-wide status is `inconsistent` when nodes disagree).
    pub fn status_json(&self, name: &str) -> Option<Value> {
        let st = self.node_status(name)?;
        let mut node = json!({"node": &*self.node, "status": st.status});
        if let Some(r) = &st.reason {
            node["reason"] = json!(r);
        }
        Some(json!({"status": st.status, "node_status": [node]}))
    }

    /// The API's link object: every config field, password redacted, plus status.
    pub fn link_json(&self, link: &LinkConfig) -> Value {
        let mut v = serde_json::to_value(link.redacted()).unwrap_or_else(|_| json!({}));
        let status = self.status_json(&link.name).unwrap_or_else(|| {
            json!({"status": "stopped", "node_status": [{"node": &*self.node, "status": "stopped"}]})
        });
        if let (Some(obj), Some(st)) = (v.as_object_mut(), status.as_object()) {
            for (k, val) in st {
                obj.insert(k.clone(), val.clone());
            }
        }
        v
    }

    /// Metrics of a link: `{"metrics": {"routers", "router": {"routes"}, "forwarding": {...}},
    /// "node_metrics": [{"node", "metrics": {...}}]}`; `None` for an unknown link.
    pub fn metrics_json(&self, name: &str) -> Option<Value> {
        self.link(name)?;
        let routes = self.extrouter.route_count(name);
        let forwarding = self.metrics_for(name).forwarding_json();
        let node_metrics = json!({
            "node": &*self.node,
            "metrics": {"router": {"routes": routes}, "forwarding": forwarding.clone()},
        });
        Some(json!({
            "metrics": {
                "routers": routes,
                "router": {"routes": routes},
                "forwarding": forwarding,
            },
            "node_metrics": [node_metrics],
        }))
    }

    /// Zeroes a link's forwarding counters and rates; false for an unknown link.
    pub fn reset_metrics(&self, name: &str) -> bool {
        if self.link(name).is_none() {
            return false;
        }
        self.metrics_for(name).reset();
        true
    }

    /// Link metrics in Prometheus text format, for `/api/v5/prometheus/stats`.
    pub fn prometheus(&self) -> String {
        let links = self.links();
        let mut out = String::new();
        let families: [(&str, &str, &str); 12] = [
            ("emqx_cluster_link_routes", "gauge", "routes"),
            ("emqx_cluster_link_matched", "counter", "matched"),
            ("emqx_cluster_link_success", "counter", "success"),
            ("emqx_cluster_link_failed", "counter", "failed"),
            ("emqx_cluster_link_dropped", "counter", "dropped"),
            ("emqx_cluster_link_retried", "counter", "retried"),
            ("emqx_cluster_link_received", "counter", "received"),
            ("emqx_cluster_link_queuing", "gauge", "queuing"),
            ("emqx_cluster_link_inflight", "gauge", "inflight"),
            ("emqx_cluster_link_rate", "gauge", "rate"),
            ("emqx_cluster_link_rate_last5m", "gauge", "rate_last5m"),
            ("emqx_cluster_link_rate_max", "gauge", "rate_max"),
        ];
        let values: Vec<(String, Value, usize, &'static str)> = links
            .iter()
            .map(|l| {
                let status = self
                    .node_status(&l.name)
                    .map(|s| s.status)
                    .unwrap_or("stopped");
                (
                    l.name.clone(),
                    self.metrics_for(&l.name).forwarding_json(),
                    self.extrouter.route_count(&l.name),
                    status,
                )
            })
            .collect();
        for (metric, kind, key) in families {
            out.push_str(&format!("# TYPE {metric} {kind}\n"));
            for (name, fwd, routes, _) in &values {
                let v = if key == "routes" {
                    json!(routes)
                } else {
                    fwd[key].clone()
                };
                out.push_str(&format!(
                    "{metric}{{link=\"{name}\",node=\"{}\"}} {v}\n",
                    self.node
                ));
            }
        }
        out.push_str("# TYPE emqx_cluster_link_status gauge\n");
        for (name, _, _, status) in &values {
            out.push_str(&format!(
                "emqx_cluster_link_status{{link=\"{name}\",node=\"{}\",status=\"{status}\"}} 1\n",
                self.node
            ));
        }
        out
    }
}
