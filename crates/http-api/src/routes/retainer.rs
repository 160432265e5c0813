//! Retained messages: `GET /mqtt/retainer/messages` (paged, optional `topic` filter),
//! `DELETE /mqtt/retainer/messages` (all), `GET|DELETE /mqtt/retainer/message/{topic}`,
//! `GET /mqtt/retainer` (settings).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use linkmq_core::Message;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::openapi::{Op, page_of, schema_ref};
use crate::routes::{ApiRoutes, QueryPairs, paged};

fn view(topic: &str, m: &Message, with_payload: bool) -> Value {
    let mut v = json!({
        "topic": topic,
        "msgid": format!("{:032X}", m.id),
        "qos": m.qos as u8,
        "publish_at": crate::time::rfc3339_ms(m.timestamp_ms),
        "from_clientid": &*m.from,
        "from_username": "",
    });
    if with_payload {
        v["payload"] = base64::engine::general_purpose::STANDARD
            .encode(&m.payload)
            .into();
    }
    v
}

fn not_found() -> ApiError {
    ApiError::not_found("Viewed message doesn't exist")
}

async fn list(State(s): State<ApiState>, q: QueryPairs) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let all: Vec<(String, Arc<Message>)> = match q.get("topic") {
        Some(filter) => {
            if linkmq_core::topic::validate_filter(filter, 0).is_err() {
                return Err(ApiError::invalid_parameter("topic_filter_invalid"));
            }
            let mut v: Vec<(String, Arc<Message>)> = s
                .broker
                .retained
                .matching(filter)
                .into_iter()
                .map(|m| (m.topic.to_string(), m))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
        None => s.broker.retained.topics(0, usize::MAX),
    };
    let rows: Vec<Value> = all.iter().map(|(t, m)| view(t, m, false)).collect();
    Ok(Json(paged(rows, page)))
}

async fn clear_all(State(s): State<ApiState>) -> StatusCode {
    s.broker.retained.retain_only(|_| false);
    StatusCode::NO_CONTENT
}

async fn get_one(
    State(s): State<ApiState>,
    ApiPath(topic): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let m = s.broker.retained.get(&topic).ok_or_else(not_found)?;
    Ok(Json(view(&topic, &m, true)))
}

async fn delete_one(
    State(s): State<ApiState>,
    ApiPath(topic): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if s.broker.retained.get(&topic).is_none() {
        return Err(not_found());
    }
    s.broker.retained.set(&topic, None);
    Ok(StatusCode::NO_CONTENT)
}

async fn settings(State(s): State<ApiState>) -> Json<Value> {
    let st = &s.broker.settings;
    Json(json!({
        "enable": st.retain_available,
        "max_payload_size": st.max_packet_size,
        "msg_expiry_interval": "0s",
        "backend": {
            "type": "built_in_database",
            "storage_type": "ram",
            "max_retained_messages": st.max_retained_messages,
        },
    }))
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/mqtt/retainer", settings)
        .get("/mqtt/retainer/messages", list)
        .delete("/mqtt/retainer/messages", clear_all)
        .get("/mqtt/retainer/message/{*topic}", get_one)
        .delete("/mqtt/retainer/message/{*topic}", delete_one)
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "Retainer";
    vec![
        Op::get("/mqtt/retainer", tag, "Retainer settings").response(
            200,
            "Settings",
            Some(json!({"type": "object"})),
        ),
        Op::get("/mqtt/retainer/messages", tag, "List retained messages")
            .paged()
            .query(
                "topic",
                "string",
                "Only messages whose topic matches this filter",
            )
            .response(
                200,
                "Retained messages (without payload)",
                Some(page_of(schema_ref("RetainedMessage"))),
            )
            .error(400, &["INVALID_PARAMETER"]),
        Op::delete(
            "/mqtt/retainer/messages",
            tag,
            "Delete every retained message",
        )
        .response(204, "Deleted", None),
        Op::get(
            "/mqtt/retainer/message/{*topic}",
            tag,
            "Get the retained message of a topic (URL-encoded)",
        )
        .response(
            200,
            "Message, payload in base64",
            Some(schema_ref("RetainedMessage")),
        )
        .error(404, &["NOT_FOUND"]),
        Op::delete(
            "/mqtt/retainer/message/{*topic}",
            tag,
            "Delete the retained message of a topic",
        )
        .response(204, "Deleted", None)
        .error(404, &["NOT_FOUND"]),
    ]
}
