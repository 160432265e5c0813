//! `GET /status` and `GET /api/v5/status` (health check, no credentials, as EMQX).

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ApiState;
use crate::openapi::Op;
use crate::routes::{Access, ApiRoutes, QueryPairs};

async fn status(State(s): State<ApiState>, q: QueryPairs) -> Response {
    let node = s.node_name();
    if q.get("format") == Some("json") {
        return axum::Json(json!({
            "node_name": node,
            "rel_vsn": linkmq_core::sys::VERSION,
            "broker_status": "started",
            "app_status": "running",
        }))
        .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Node {node} is started\nemqx is running"),
    )
        .into_response()
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.add_full(Method::GET, "/status", Access::Public, status)
        .add(Method::GET, "/status", Access::Public, status)
}

pub(crate) fn docs() -> Vec<Op> {
    let text = Some(json!({"type": "string"}));
    let fmt = "`json` for a JSON answer";
    vec![
        Op::full(Method::GET, "/status", "Status", "Node health check")
            .access(Access::Public)
            .query("format", "string", fmt)
            .response(200, "Node is running", text.clone()),
        Op::get("/status", "Status", "Node health check")
            .access(Access::Public)
            .query("format", "string", fmt)
            .response(200, "Node is running", text),
    ]
}
