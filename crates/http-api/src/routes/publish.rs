//! `POST /publish` and `POST /publish/bulk`: 200 `{"id"}` when some subscriber got it, 202
//! `{"reason_code": 16, "message": "no_matching_subscribers"}` when none did, 400 with the MQTT
//! reason code for a bad topic (144), an oversized message (151) or an undecodable payload (131).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use linkmq_codec::{Properties, QoS, ReasonCode};
use linkmq_core::Message;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiJson, ApiJsonList, ApiResult};
use crate::openapi::{Op, array_of, schema_ref};
use crate::routes::ApiRoutes;

#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    #[default]
    Plain,
    Base64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageProps {
    #[serde(default)]
    payload_format_indicator: Option<u8>,
    #[serde(default)]
    message_expiry_interval: Option<u32>,
    #[serde(default)]
    response_topic: Option<String>,
    #[serde(default)]
    correlation_data: Option<String>,
    #[serde(default)]
    user_properties: Option<BTreeMap<String, String>>,
    #[serde(default)]
    content_type: Option<String>,
}

/// One message of `/publish` or `/publish/bulk`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    topic: String,
    payload: String,
    #[serde(default)]
    payload_encoding: Encoding,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    retain: bool,
    #[serde(default)]
    clientid: Option<String>,
    #[serde(default)]
    properties: Option<MessageProps>,
}

fn reject(reason: ReasonCode, message: &str) -> ApiError {
    ApiError::bad_request(message).with("reason_code", reason as u8)
}

/// Checks one message and builds it, as the MQTT layer would.
fn build(s: &ApiState, b: PublishBody) -> ApiResult<Arc<Message>> {
    let settings = &s.broker.settings;
    let qos = QoS::from_u8(b.qos).ok_or_else(|| ApiError::bad_request("qos must be 0, 1 or 2"))?;
    if linkmq_core::topic::validate_topic_name(&b.topic, settings.max_topic_levels).is_err() {
        return Err(reject(ReasonCode::TopicNameInvalid, "topic_name_invalid"));
    }
    let payload = match b.payload_encoding {
        Encoding::Plain => Bytes::from(b.payload.into_bytes()),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(b.payload.as_bytes())
            .map(Bytes::from)
            .map_err(|_| {
                reject(
                    ReasonCode::ImplementationSpecificError,
                    "decode_base64_payload_failed",
                )
            })?,
    };
    let mut props = Properties::default();
    if let Some(p) = b.properties {
        if p.payload_format_indicator.is_some_and(|v| v > 1) {
            return Err(ApiError::bad_request(
                "properties.payload_format_indicator must be 0 or 1",
            ));
        }
        if let Some(t) = &p.response_topic
            && linkmq_core::topic::validate_topic_name(t, settings.max_topic_levels).is_err()
        {
            return Err(ApiError::bad_request(
                "properties.response_topic must be a valid topic name",
            ));
        }
        props.payload_format_indicator = p.payload_format_indicator;
        props.message_expiry_interval = p.message_expiry_interval.filter(|v| *v > 0);
        props.response_topic = p.response_topic;
        props.correlation_data = p.correlation_data.map(|c| Bytes::from(c.into_bytes()));
        props.user_properties = p.user_properties.unwrap_or_default().into_iter().collect();
        props.content_type = p.content_type;
    }
    if props.payload_format_indicator == Some(1) && std::str::from_utf8(&payload).is_err() {
        return Err(reject(
            ReasonCode::PayloadFormatInvalid,
            "payload_format_invalid",
        ));
    }
    let size = b.topic.len()
        + payload.len()
        + props
            .user_properties
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
        + props.correlation_data.as_ref().map_or(0, |c| c.len())
        + props.response_topic.as_ref().map_or(0, |t| t.len())
        + props.content_type.as_ref().map_or(0, |t| t.len())
        + 16;
    if size > settings.max_packet_size as usize {
        return Err(reject(ReasonCode::QuotaExceeded, "packet_too_large"));
    }
    let from = b.clientid.unwrap_or_else(|| "http_api".to_string());
    Ok(Arc::new(Message::new(
        from.into(),
        b.topic.into(),
        qos,
        b.retain,
        payload,
        props,
    )))
}

/// Publishes one built message: (HTTP status, body).
fn deliver(s: &ApiState, msg: Arc<Message>) -> (StatusCode, Value) {
    let id = format!("{:032X}", msg.id);
    let out = s.broker.publish(msg);
    match out.reason {
        ReasonCode::Success => (StatusCode::OK, json!({"id": id})),
        ReasonCode::NoMatchingSubscribers => (
            StatusCode::ACCEPTED,
            json!({"reason_code": ReasonCode::NoMatchingSubscribers as u8,
                   "message": "no_matching_subscribers"}),
        ),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"reason_code": other as u8, "message": "failed_to_dispatch"}),
        ),
    }
}

async fn publish(
    State(s): State<ApiState>,
    ApiJson(b): ApiJson<PublishBody>,
) -> ApiResult<Response> {
    let msg = build(&s, b)?;
    let (status, body) = deliver(&s, msg);
    Ok((status, Json(body)).into_response())
}

async fn publish_bulk(
    State(s): State<ApiState>,
    ApiJsonList(list): ApiJsonList<PublishBody>,
) -> ApiResult<Response> {
    if list.is_empty() {
        return Err(ApiError::bad_request("empty_batch"));
    }
    let msgs = list
        .into_iter()
        .map(|b| build(&s, b))
        .collect::<ApiResult<Vec<_>>>()?;
    let results: Vec<(StatusCode, Value)> = msgs.into_iter().map(|m| deliver(&s, m)).collect();
    let status = if results.iter().all(|(c, _)| *c == StatusCode::OK) {
        StatusCode::OK
    } else if results
        .iter()
        .any(|(c, _)| *c == StatusCode::SERVICE_UNAVAILABLE)
    {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::ACCEPTED
    };
    let body: Vec<Value> = results.into_iter().map(|(_, b)| b).collect();
    Ok((status, Json(Value::Array(body))).into_response())
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.post("/publish", publish)
        .post("/publish/bulk", publish_bulk)
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "Publish";
    let bad = json!({
        "type": "object",
        "properties": {"code": {"type": "string"}, "reason_code": {"type": "integer"},
                       "message": {"type": "string"}},
    });
    vec![
        Op::post("/publish", tag, "Publish a message")
            .body(schema_ref("PublishMessage"))
            .response(
                200,
                "Delivered to at least one subscriber",
                Some(schema_ref("PublishOk")),
            )
            .response(
                202,
                "No matching subscribers",
                Some(schema_ref("PublishError")),
            )
            .response(400, "Bad message", Some(bad.clone()))
            .response(413, "Body too large", Some(schema_ref("Error"))),
        Op::post("/publish/bulk", tag, "Publish a batch of messages")
            .body(array_of(schema_ref("PublishMessage")))
            .response(
                200,
                "All delivered",
                Some(array_of(schema_ref("PublishOk"))),
            )
            .response(
                202,
                "Some matched no subscribers",
                Some(array_of(
                    json!({"oneOf": [schema_ref("PublishOk"), schema_ref("PublishError")]}),
                )),
            )
            .response(
                400,
                "Bad message in the batch (nothing published)",
                Some(bad),
            )
            .response(413, "Body too large", Some(schema_ref("Error"))),
    ]
}
