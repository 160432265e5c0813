//! `GET /subscriptions` (filters `clientid`, `topic`, `qos`, `share_group`, `match_topic`, `node`).

use axum::Json;
use axum::extract::State;
use linkmq_core::router::SubscriptionView;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Op, page_of, schema_ref};
use crate::routes::{ApiRoutes, QueryPairs, paged};

/// The topic as the client subscribed it (`$share/<group>/<filter>` for shared ones).
pub(crate) fn full_topic(v: &SubscriptionView) -> String {
    match &v.group {
        Some(g) if &**g == linkmq_core::topic::QUEUE_GROUP => format!("$queue/{}", v.filter),
        Some(g) => format!("$share/{g}/{}", v.filter),
        None => v.filter.to_string(),
    }
}

/// One subscription in EMQX's shape.
pub(crate) fn subscription_view(s: &ApiState, v: &SubscriptionView) -> Value {
    let o = &v.sub.options;
    json!({
        "clientid": &*v.client_id,
        "topic": full_topic(v),
        "qos": o.qos as u8,
        "nl": u8::from(o.no_local),
        "rap": u8::from(o.retain_as_published),
        "rh": o.retain_handling as u8,
        "node": s.node_name(),
        "durable": false,
    })
}

async fn list(State(s): State<ApiState>, q: QueryPairs) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let qos = q.u64("qos")?;
    if qos.is_some_and(|q| q > 2) {
        return Err(ApiError::invalid_parameter("qos must be 0, 1 or 2"));
    }
    let topic = q.get("topic");
    let group = q.get("share_group");
    let match_topic = q.get("match_topic");
    if let Some(t) = match_topic
        && linkmq_core::topic::validate_topic_name(t, 0).is_err()
    {
        return Err(ApiError::invalid_parameter(format!(
            "match_topic must be a topic name, found {t:?}"
        )));
    }
    let mut all = s.broker.router.subscriptions(q.get("clientid"));
    if q.get("node").is_some_and(|n| n != s.node_name()) {
        all.clear();
    }
    let rows: Vec<Value> = all
        .iter()
        .filter(|v| qos.is_none_or(|q| v.sub.options.qos as u64 == q))
        .filter(|v| topic.is_none_or(|t| full_topic(v) == t))
        .filter(|v| group.is_none_or(|g| v.group.as_deref() == Some(g)))
        .filter(|v| match_topic.is_none_or(|t| linkmq_core::topic::matches(&v.filter, t)))
        .map(|v| subscription_view(&s, v))
        .collect();
    Ok(Json(paged(rows, page)))
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/subscriptions", list)
}

pub(crate) fn docs() -> Vec<Op> {
    vec![
        Op::get("/subscriptions", "Subscriptions", "List subscriptions")
            .paged()
            .query("clientid", "string", "Client id")
            .query(
                "topic",
                "string",
                "Exact topic filter as subscribed (with $share/ prefix)",
            )
            .query("qos", "integer", "QoS 0, 1 or 2")
            .query("share_group", "string", "Shared subscription group")
            .query(
                "match_topic",
                "string",
                "Filters that match this topic name",
            )
            .query("node", "string", "Node name")
            .response(
                200,
                "Subscriptions",
                Some(page_of(schema_ref("Subscription"))),
            )
            .error(400, &["INVALID_PARAMETER"]),
    ]
}
