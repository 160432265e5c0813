//! `GET /nodes`, `GET /nodes/{node}`, `GET /nodes/{node}/metrics`, `GET /nodes/{node}/stats`.
//! A single node answers for itself; in a cluster (a [`ClusterView`] is plugged in) `/nodes` lists
//! every member with its `node_status`, uptime and connections as the members report them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::openapi::{Op, array_of, schema_ref};
use crate::routes::ApiRoutes;

/// One other member of the cluster, as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub node: String,
    /// `running` or `stopped`.
    pub status: String,
    pub uptime_ms: u64,
    pub connections: u64,
    pub live_connections: u64,
    pub version: String,
}

/// The cluster as this node sees it (the cluster crate implements it; `linkmq` plugs it in).
pub trait ClusterView: Send + Sync {
    /// Every member other than this node.
    fn others(&self) -> Vec<MemberView>;
}

/// Another member as EMQX describes a node (figures it does not report are zero).
fn member_info(m: &MemberView) -> Value {
    json!({
        "node": m.node,
        "node_status": m.status,
        "version": m.version,
        "edition": "Opensource",
        "role": "core",
        "uptime": m.uptime_ms,
        "connections": m.connections,
        "live_connections": m.live_connections,
        "memory_total": 0,
        "memory_used": 0,
        "load1": 0.0,
        "load5": 0.0,
        "load15": 0.0,
        "max_fds": 0,
        "sys_path": "",
        "log_path": "",
        "otp_release": "",
        "process_available": 0,
        "process_used": 0,
    })
}

/// First number of the line of `file` starting with `key` (e.g. `/proc/meminfo`, `MemTotal:`).
fn proc_value(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn load_avg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

fn max_fds() -> u64 {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// This node as EMQX describes a node.
pub(crate) fn node_info(s: &ApiState) -> Value {
    let b = &s.broker;
    let [load1, load5, load15] = load_avg();
    json!({
        "node": s.node_name(),
        "node_status": "running",
        "version": linkmq_core::sys::VERSION,
        "edition": "Opensource",
        "role": "core",
        "uptime": b.started_at.elapsed().as_millis() as u64,
        "connections": b.registry.len(),
        "live_connections": b.registry.connected_count(),
        "memory_total": proc_value("/proc/meminfo", "MemTotal:").unwrap_or(0) * 1024,
        "memory_used": proc_value("/proc/self/status", "VmRSS:").unwrap_or(0) * 1024,
        "load1": load1,
        "load5": load5,
        "load15": load15,
        "max_fds": max_fds(),
        "sys_path": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "log_path": "",
        "otp_release": "",
        "process_available": 0,
        "process_used": 0,
    })
}

fn this_node(s: &ApiState, node: &str) -> ApiResult<()> {
    if node == s.node_name() {
        Ok(())
    } else {
        Err(not_found())
    }
}

fn other_member(s: &ApiState, node: &str) -> Option<MemberView> {
    s.cluster
        .as_ref()?
        .others()
        .into_iter()
        .find(|m| m.node == node)
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Node not found")
}

/// Every counter of this node, EMQX names, plus `node`.
pub(crate) fn node_metrics(s: &ApiState) -> Map<String, Value> {
    let mut m: Map<String, Value> = s
        .broker
        .metrics
        .snapshot()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    m.insert("node".into(), s.node_name().into());
    m
}

/// Every gauge of this node (`*.count`, `*.max`), plus `node`.
pub(crate) fn node_stats(s: &ApiState) -> Map<String, Value> {
    let mut m: Map<String, Value> = s
        .stats_max
        .snapshot(&s.broker)
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    m.insert("node".into(), s.node_name().into());
    m
}

async fn nodes(State(s): State<ApiState>) -> Json<Value> {
    let mut all = vec![node_info(&s)];
    if let Some(c) = &s.cluster {
        all.extend(c.others().iter().map(member_info));
    }
    all.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
    Json(Value::Array(all))
}

async fn node(State(s): State<ApiState>, ApiPath(node): ApiPath<String>) -> ApiResult<Json<Value>> {
    if let Some(m) = other_member(&s, &node) {
        return Ok(Json(member_info(&m)));
    }
    this_node(&s, &node)?;
    Ok(Json(node_info(&s)))
}

async fn metrics(
    State(s): State<ApiState>,
    ApiPath(node): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    this_node(&s, &node)?;
    Ok(Json(Value::Object(node_metrics(&s))))
}

async fn stats(
    State(s): State<ApiState>,
    ApiPath(node): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    this_node(&s, &node)?;
    Ok(Json(Value::Object(node_stats(&s))))
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/nodes", nodes)
        .get("/nodes/{node}", node)
        .get("/nodes/{node}/metrics", metrics)
        .get("/nodes/{node}/stats", stats)
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "Nodes";
    let obj = Some(json!({"type": "object", "additionalProperties": {"type": "integer"}}));
    vec![
        Op::get("/nodes", tag, "List nodes").response(
            200,
            "Nodes",
            Some(array_of(schema_ref("Node"))),
        ),
        Op::get("/nodes/{node}", tag, "Get a node")
            .response(200, "Node", Some(schema_ref("Node")))
            .error(404, &["NOT_FOUND"]),
        Op::get("/nodes/{node}/metrics", tag, "Metrics of a node")
            .response(200, "Counters, EMQX names", obj.clone())
            .error(404, &["NOT_FOUND"]),
        Op::get("/nodes/{node}/stats", tag, "Statistics of a node")
            .response(200, "Gauges, EMQX names", obj)
            .error(404, &["NOT_FOUND"]),
    ]
}
