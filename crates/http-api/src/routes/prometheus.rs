//! `GET /prometheus/stats`: Prometheus text exposition format with EMQX metric names
//! (`emqx_messages_received`, `emqx_connections_count`, ...).
//!
//! Needs credentials like every other route, unless `prometheus.enable_basic_auth = false` is
//! written in the configuration (EMQX's default is false; linkmq asks for it explicitly).

use std::fmt::Write;

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::ApiState;
use crate::openapi::Op;
use crate::routes::{Access, ApiRoutes};

/// The whole exposition for this node.
pub fn render(s: &ApiState) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for (name, value) in s.stats_max.snapshot(&s.broker) {
        let metric = format!("emqx_{}", name.replace('.', "_"));
        let _ = writeln!(out, "# TYPE {metric} gauge\n{metric} {value}");
    }
    for (name, value) in s.broker.metrics.snapshot() {
        let metric = format!("emqx_{}", name.replace('.', "_"));
        let _ = writeln!(out, "# TYPE {metric} counter\n{metric} {value}");
    }
    let _ = writeln!(
        out,
        "# TYPE emqx_vm_uptime counter\nemqx_vm_uptime {}",
        s.broker.started_at.elapsed().as_millis()
    );
    let (running, stopped) = match &s.cluster {
        Some(c) => {
            let others = c.others();
            let up = others.iter().filter(|m| m.status == "running").count();
            (1 + up, others.len() - up)
        }
        None => (1, 0),
    };
    let _ = writeln!(
        out,
        "# TYPE emqx_cluster_nodes_running gauge\nemqx_cluster_nodes_running {running}"
    );
    let _ = writeln!(
        out,
        "# TYPE emqx_cluster_nodes_stopped gauge\nemqx_cluster_nodes_stopped {stopped}"
    );
    if let Some(links) = &s.links {
        out.push_str(&links.prometheus());
    }
    out
}

async fn stats(State(s): State<ApiState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&s),
    )
}

/// Whether the operator turned authentication off for the scrape endpoint.
pub(crate) fn open_scrape(config: &linkmq_config::Config) -> bool {
    config
        .section("prometheus")
        .and_then(|p| p.get("enable_basic_auth"))
        .is_some_and(|v| v == &json!(false) || v == &json!("false"))
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.add(Method::GET, "/prometheus/stats", Access::Any, stats)
}

pub(crate) fn docs() -> Vec<Op> {
    vec![
        Op::get(
            "/prometheus/stats",
            "Monitor",
            "Prometheus metrics, EMQX names",
        )
        .response(
            200,
            "Text exposition format",
            Some(json!({"type": "string"})),
        ),
    ]
}
