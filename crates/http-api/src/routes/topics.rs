//! `GET /topics` (routes of this node, filter `topic`), `GET /topics/{topic}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use linkmq_core::hooks::RouteKey;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::openapi::{Op, array_of, page_of, schema_ref};
use crate::routes::{ApiRoutes, QueryPairs, paged};

fn route_topic(r: &RouteKey) -> String {
    match &r.group {
        Some(g) => format!("$share/{g}/{}", r.filter),
        None => r.filter.to_string(),
    }
}

async fn list(State(s): State<ApiState>, q: QueryPairs) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let topic = q.get("topic");
    if let Some(t) = topic
        && linkmq_core::topic::validate_filter(t, 0).is_err()
    {
        return Err(ApiError::invalid_parameter("topic_filter_invalid"));
    }
    let node = s.node_name().to_string();
    let rows: Vec<Value> = if q.get("node").is_some_and(|n| n != node) {
        Vec::new()
    } else {
        s.broker
            .router
            .routes()
            .iter()
            .map(route_topic)
            .filter(|t| topic.is_none_or(|want| t == want))
            .map(|t| json!({"topic": t, "node": node}))
            .collect()
    };
    Ok(Json(paged(rows, page)))
}

async fn get_one(
    State(s): State<ApiState>,
    ApiPath(topic): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let node = s.node_name().to_string();
    let rows: Vec<Value> = s
        .broker
        .router
        .routes()
        .iter()
        .map(route_topic)
        .filter(|t| *t == topic)
        .map(|t| json!({"topic": t, "node": node}))
        .collect();
    if rows.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "TOPIC_NOT_FOUND",
            "Topic not found",
        ));
    }
    Ok(Json(Value::Array(rows)))
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/topics", list).get("/topics/{*topic}", get_one)
}

pub(crate) fn docs() -> Vec<Op> {
    vec![
        Op::get("/topics", "Topics", "List topics (routes) of the cluster")
            .paged()
            .query("topic", "string", "Exact topic filter")
            .query("node", "string", "Node name")
            .response(200, "Topics", Some(page_of(schema_ref("Topic"))))
            .error(400, &["INVALID_PARAMETER"]),
        Op::get(
            "/topics/{*topic}",
            "Topics",
            "Routes of one topic filter (URL-encoded)",
        )
        .response(200, "Routes", Some(array_of(schema_ref("Topic"))))
        .error(404, &["TOPIC_NOT_FOUND"]),
    ]
}
