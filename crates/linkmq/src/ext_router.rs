//! Cluster Linking on a multi-node cluster: the external route table (routes remote clusters
//! replicated into this cluster) is shared by every node through the cluster's Raft log, and each
//! node reports its link status and forwarding metrics to the others so that any node's API shows
//! `node_status` / `node_metrics` for all of them.
//!
//! [`ClusterExtRouter`] answers from this node's replica at once (the `$LINK` receiver needs
//! `actor_init`'s answer synchronously) and replicates every change; the other nodes apply it to
//! their replica in log order. GC runs on every node against its own replica (the TTLs are
//! replicated with the heartbeats), so it needs no replication.

use std::sync::Arc;
use std::time::Duration;

use linkmq_cluster::Cluster;
use linkmq_cluster_link::extrouter::ActorInfo;
use linkmq_cluster_link::{
    ActorHandle, ActorInitOutcome, ExtRoute, ExtRouter, ExtRouterError, LinkManager, MemExtRouter,
};
use linkmq_etf::link::RouteOp;
use serde_json::{Value, json};
use tracing::debug;

/// The kind of the replicated commands.
const KIND: &str = "cluster_link.extrouter";
/// The kind of the replicated link list (runtime changes made through one node's API).
const LINKS_KIND: &str = "cluster_link.links";
/// The key of this node's link figures in its load report.
pub(crate) const STATS_KEY: &str = "cluster_links";

/// The external route table shared by the nodes of this cluster.
pub(crate) struct ClusterExtRouter {
    local: Arc<MemExtRouter>,
    cluster: Arc<Cluster>,
}

impl ClusterExtRouter {
    /// This node's replica, fed by the other nodes' changes.
    pub(crate) fn new(cluster: &Arc<Cluster>, ttl: Duration) -> Arc<ClusterExtRouter> {
        let local = Arc::new(MemExtRouter::new(ttl));
        let replica = local.clone();
        cluster.on_replicated(
            KIND,
            Arc::new(move |_origin, data| apply_replicated(&replica, data)),
        );
        Arc::new(ClusterExtRouter {
            local,
            cluster: cluster.clone(),
        })
    }

    fn replicate(&self, v: Value) {
        if !self.cluster.replicate(KIND, v.to_string().into_bytes()) {
            debug!("external route change not replicated: proposal queue full");
        }
    }
}

fn handle(cluster: &str, actor: &str, incarnation: u64) -> ActorHandle {
    ActorHandle {
        cluster: cluster.into(),
        actor: actor.into(),
        incarnation,
        lane: 0,
    }
}

/// Applies another node's change to this node's replica.
fn apply_replicated(local: &MemExtRouter, data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let n = |k: &str| v[k].as_u64().unwrap_or_default();
    let (cluster, actor, inc) = (s("cluster"), s("actor"), n("incarnation"));
    match v["op"].as_str() {
        Some("init") => {
            let _ = local.actor_init(&cluster, &actor, inc, n("now"));
        }
        Some("heartbeat") => {
            let _ = local.heartbeat(&handle(&cluster, &actor, inc), n("now"));
        }
        Some(op @ ("add" | "delete")) => {
            let (filter, route_id) = (s("filter"), s("route_id"));
            let op = if op == "add" {
                RouteOp::Add { filter, route_id }
            } else {
                RouteOp::Delete { filter, route_id }
            };
            let h = handle(&cluster, &actor, inc);
            if local.apply(&h, &op).is_err() {
                // This replica missed the actor's init (e.g. it restarted since): adopt it.
                let now = linkmq_core::message::now_ms();
                if local.actor_init(&cluster, &actor, inc, now).is_ok() {
                    let _ = local.apply(&h, &op);
                }
            }
        }
        _ => {}
    }
}

impl ExtRouter for ClusterExtRouter {
    fn actor_init(
        &self,
        cluster: &str,
        actor: &str,
        incarnation: u64,
        now_ms: u64,
    ) -> Result<ActorInitOutcome, ExtRouterError> {
        let r = self.local.actor_init(cluster, actor, incarnation, now_ms)?;
        self.replicate(json!({"op": "init", "cluster": cluster, "actor": actor,
            "incarnation": incarnation, "now": now_ms}));
        Ok(r)
    }

    fn apply(&self, actor: &ActorHandle, op: &RouteOp) -> Result<(), ExtRouterError> {
        self.local.apply(actor, op)?;
        let kind = match op {
            RouteOp::Add { .. } => "add",
            RouteOp::Delete { .. } => "delete",
        };
        self.replicate(
            json!({"op": kind, "cluster": &*actor.cluster, "actor": &*actor.actor,
            "incarnation": actor.incarnation, "filter": op.filter(), "route_id": op.route_id()}),
        );
        Ok(())
    }

    fn heartbeat(&self, actor: &ActorHandle, now_ms: u64) -> Result<(), ExtRouterError> {
        self.local.heartbeat(actor, now_ms)?;
        self.replicate(json!({"op": "heartbeat", "cluster": &*actor.cluster,
            "actor": &*actor.actor, "incarnation": actor.incarnation, "now": now_ms}));
        Ok(())
    }

    fn match_routes(&self, topic: &str) -> Vec<ExtRoute> {
        self.local.match_routes(topic)
    }

    fn gc(&self, now_ms: u64) -> Vec<(Arc<str>, Arc<str>)> {
        self.local.gc(now_ms)
    }

    fn route_count(&self, cluster: &str) -> usize {
        self.local.route_count(cluster)
    }

    fn routes(&self, cluster: &str) -> Vec<(String, String)> {
        self.local.routes(cluster)
    }

    fn actors(&self, cluster: &str) -> Vec<ActorInfo> {
        self.local.actors(cluster)
    }
}

/// Sends this node's link list to the other nodes (after a change made through its API).
pub(crate) fn replicate_links(cluster: &Cluster, manager: &LinkManager) {
    let list: Vec<Value> = manager
        .links()
        .iter()
        .filter_map(|l| serde_json::to_value(l).ok())
        .collect();
    cluster.replicate(LINKS_KIND, Value::Array(list).to_string().into_bytes());
}

/// Applies the link lists other nodes replicate to this node's manager (persisted like API changes).
pub(crate) fn follow_links(cluster: &Cluster, manager: &Arc<LinkManager>) {
    let m = manager.clone();
    // Replicated commands are applied on the Raft thread; the links run on the clients' runtime.
    let runtime = tokio::runtime::Handle::try_current().ok();
    cluster.on_replicated(
        LINKS_KIND,
        Arc::new(move |_origin, data| {
            let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(data) else {
                return;
            };
            let links: Vec<linkmq_config::LinkConfig> = items
                .iter()
                .filter_map(|v| linkmq_config::LinkConfig::from_json(v).ok())
                .collect();
            let m = m.clone();
            if let Some(rt) = &runtime {
                rt.spawn(async move {
                    if let Err(e) = m.replace_all(links).await {
                        tracing::warn!(error = %e, "replicated cluster links not applied");
                    }
                });
            }
        }),
    );
}

/// This node's figures of every link, for the others: `{name: {status, reason, metrics}}`.
pub(crate) fn report(manager: &LinkManager) -> String {
    let mut out = serde_json::Map::new();
    for l in manager.links() {
        let st = manager.node_status(&l.name);
        let metrics = manager
            .metrics_json(&l.name)
            .map(|m| m["node_metrics"][0]["metrics"].clone())
            .unwrap_or(Value::Null);
        out.insert(
            l.name.clone(),
            json!({
                "status": st.as_ref().map(|s| s.status).unwrap_or("stopped"),
                "reason": st.and_then(|s| s.reason),
                "metrics": metrics,
            }),
        );
    }
    Value::Object(out).to_string()
}

/// The running other members' reports of link `name`: (node, figures).
fn others(cluster: &Cluster, name: &str) -> Vec<(String, Value)> {
    let status = cluster.status();
    status
        .members
        .iter()
        .filter(|m| m.node != status.node && m.status == "running")
        .filter_map(|m| {
            let extra = m
                .stats
                .as_ref()?
                .extra
                .iter()
                .find(|(k, _)| k == STATS_KEY)?;
            let all: Value = serde_json::from_str(&extra.1).ok()?;
            let mine = all.get(name)?.clone();
            Some((m.node.clone(), mine))
        })
        .collect()
}

/// Adds the other nodes to a link object's `node_status`; `status` is theirs when all agree,
/// else `inconsistent`.
pub(crate) fn aggregate_status(cluster: &Cluster, v: &mut Value) {
    let Some(name) = v["name"].as_str().map(str::to_string) else {
        return;
    };
    let Some(list) = v["node_status"].as_array_mut() else {
        return;
    };
    for (node, r) in others(cluster, &name) {
        let mut entry = json!({"node": node, "status": r["status"]});
        if let Some(reason) = r["reason"].as_str() {
            entry["reason"] = json!(reason);
        }
        list.push(entry);
    }
    list.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
    let first = list.first().map(|e| e["status"].clone());
    let all_same = list.iter().all(|e| Some(&e["status"]) == first.as_ref());
    if let Some(first) = first {
        v["status"] = if all_same {
            first
        } else {
            json!("inconsistent")
        };
    }
}

/// Adds the other nodes to a link's `node_metrics` and sums the forwarding counters over nodes.
pub(crate) fn aggregate_metrics(cluster: &Cluster, name: &str, v: &mut Value) {
    let others = others(cluster, name);
    if let Some(list) = v["node_metrics"].as_array_mut() {
        for (node, r) in &others {
            list.push(json!({"node": node, "metrics": r["metrics"]}));
        }
        list.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
    }
    if let Some(total) = v["metrics"]["forwarding"].as_object_mut() {
        for (_, r) in &others {
            let Some(theirs) = r["metrics"]["forwarding"].as_object() else {
                continue;
            };
            for (k, val) in total.iter_mut() {
                if let (Some(a), Some(b)) = (val.as_f64(), theirs.get(k).and_then(Value::as_f64)) {
                    *val = if val.is_u64() {
                        json!((a + b) as u64)
                    } else {
                        json!(a + b)
                    };
                }
            }
        }
    }
}
