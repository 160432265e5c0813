//! `GET /stats` and `GET /metrics`: per node (a list) by default, one object with `aggregate=true`.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::ApiState;
use crate::error::ApiResult;
use crate::openapi::{Op, array_of};
use crate::routes::nodes::{node_metrics, node_stats};
use crate::routes::{ApiRoutes, QueryPairs};

fn shaped(mut m: Map<String, Value>, aggregate: bool) -> Value {
    if aggregate {
        m.remove("node");
        Value::Object(m)
    } else {
        json!([m])
    }
}

async fn stats(State(s): State<ApiState>, q: QueryPairs) -> ApiResult<Json<Value>> {
    let aggregate = q.bool("aggregate")?.unwrap_or(false);
    Ok(Json(shaped(node_stats(&s), aggregate)))
}

async fn metrics(State(s): State<ApiState>, q: QueryPairs) -> ApiResult<Json<Value>> {
    let aggregate = q.bool("aggregate")?.unwrap_or(false);
    Ok(Json(shaped(node_metrics(&s), aggregate)))
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/stats", stats).get("/metrics", metrics)
}

pub(crate) fn docs() -> Vec<Op> {
    let obj = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    let either = Some(json!({"oneOf": [obj, array_of(obj.clone())]}));
    let agg = "true: one object summed over the cluster; false (default): one object per node";
    vec![
        Op::get(
            "/stats",
            "Metrics",
            "Statistics (connections.count, topics.count, ...)",
        )
        .query("aggregate", "boolean", agg)
        .response(200, "Statistics", either.clone())
        .error(400, &["INVALID_PARAMETER"]),
        Op::get(
            "/metrics",
            "Metrics",
            "Counters (messages.received, bytes.sent, ...)",
        )
        .query("aggregate", "boolean", agg)
        .response(200, "Metrics", either)
        .error(400, &["INVALID_PARAMETER"]),
    ]
}
