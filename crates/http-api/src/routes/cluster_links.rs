//! Cluster Linking: both the seed's paths and EMQX 5.8's.
//!
//! - `GET /cluster/links` (list), `POST /cluster/links` (create: 201, 400 `ALREADY_EXISTS`),
//!   `PUT /cluster/links` (a JSON array replaces the whole list, as early EMQX 5.8 did; a single
//!   object creates or updates the link named in it);
//! - `GET|PUT|DELETE /cluster/links/{name}` and `/cluster/links/link/{name}` (404 `NOT_FOUND`);
//!   `PUT` is a full replacement whose body has no `name`;
//! - `GET /cluster/links/{name}/metrics`, `/cluster/links/link/{name}/metrics`, and
//!   `PUT /cluster/links/link/{name}/metrics/reset` (204).
//!
//! Link objects carry every configuration field with defaults, the password as `"******"` (sending
//! it back keeps the stored one), `status` and `node_status`. Schema and name errors are EMQX's
//! `400 {"code": "BAD_REQUEST", "message": {"kind": "validation_error", "reason": ...}}`.
//!
//! The link manager lives in a higher crate: the routes reach it through the [`LinkApi`] trait
//! object in [`ApiState::links`](crate::ApiState::links), plugged in by `crates/linkmq`. Without
//! one, the list is empty and every other route answers 503 `SERVICE_UNAVAILABLE`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use linkmq_config::LinkConfig;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiPath};
use crate::openapi::{Op, array_of};
use crate::routes::ApiRoutes;

/// A boxed future, so that [`LinkApi`] stays object safe.
pub type LinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the link manager refused a change.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkApiError {
    /// A link with that name exists (create).
    AlreadyExists,
    /// No link with that name.
    NotFound,
    /// The link breaks a rule: `reason` is a message or a structured reason (e.g.
    /// `{"reason": "redundant_topics", "topics": [...]}`).
    Invalid(Value),
    /// The change could not be stored.
    Internal(String),
}

/// What the Cluster Linking routes need from the link manager. Link objects are JSON values as
/// the API shows them (password redacted, status included).
pub trait LinkApi: Send + Sync + 'static {
    /// Every configured link, in order.
    fn list(&self) -> Vec<Value>;
    /// One link.
    fn get(&self, name: &str) -> Option<Value>;
    /// Creates a link.
    fn create(&self, link: LinkConfig) -> LinkFuture<'_, Result<Value, LinkApiError>>;
    /// Replaces an existing link.
    fn update(&self, link: LinkConfig) -> LinkFuture<'_, Result<Value, LinkApiError>>;
    /// Creates or updates by name; `true` when created.
    fn upsert(&self, link: LinkConfig) -> LinkFuture<'_, Result<(Value, bool), LinkApiError>>;
    /// Replaces the whole list.
    fn replace_all(
        &self,
        links: Vec<LinkConfig>,
    ) -> LinkFuture<'_, Result<Vec<Value>, LinkApiError>>;
    /// Deletes a link.
    fn delete(&self, name: &str) -> LinkFuture<'_, Result<(), LinkApiError>>;
    /// `{"metrics": {...}, "node_metrics": [...]}` of a link.
    fn metrics(&self, name: &str) -> Option<Value>;
    /// Zeroes a link's metrics; false for an unknown link.
    fn reset_metrics(&self, name: &str) -> bool;
    /// Link metrics in Prometheus text format.
    fn prometheus(&self) -> String;
}

fn links(s: &ApiState) -> Result<&Arc<dyn LinkApi>, ApiError> {
    s.links.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Cluster Linking is not running on this node",
        )
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("Cluster link not found")
}

/// EMQX's schema/validation error: `{"code": "BAD_REQUEST", "message": {"kind": "validation_error", "reason": ...}}`.
fn validation_error(reason: Value) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "code": "BAD_REQUEST",
            "message": {"kind": "validation_error", "reason": reason},
        })),
    )
        .into_response()
}

fn op_error(e: LinkApiError) -> Response {
    match e {
        LinkApiError::AlreadyExists => ApiError::new(
            StatusCode::BAD_REQUEST,
            "ALREADY_EXISTS",
            "Cluster link already exists",
        )
        .into_response(),
        LinkApiError::NotFound => not_found().into_response(),
        LinkApiError::Invalid(reason) => validation_error(reason),
        LinkApiError::Internal(m) => ApiError::internal(m).into_response(),
    }
}

/// A response to send instead (boxed: responses are large).
type Reject = Box<Response>;

fn parse_body(body: &Bytes) -> Result<Value, Reject> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(ApiError::bad_request(format!("invalid JSON body: {e}")).into_response())
    })
}

/// A link object from JSON (types and defaults; the manager checks names and topics).
fn link_from(value: &Value) -> Result<LinkConfig, Reject> {
    if !value.is_object() {
        return Err(Box::new(validation_error(json!("expected a link object"))));
    }
    LinkConfig::from_json(value).map_err(|diags| {
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        Box::new(validation_error(json!(text.join("; "))))
    })
}

async fn list(State(s): State<ApiState>) -> Json<Value> {
    Json(Value::Array(
        s.links.as_ref().map(|l| l.list()).unwrap_or_default(),
    ))
}

async fn create(State(s): State<ApiState>, body: Bytes) -> Response {
    let api = match links(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let link = match parse_body(&body).and_then(|v| link_from(&v)) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    match api.create(link).await {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => op_error(e),
    }
}

/// `PUT /cluster/links`: an array replaces the list, an object creates or updates by its name.
async fn put_all(State(s): State<ApiState>, body: Bytes) -> Response {
    let api = match links(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let value = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    match value {
        Value::Array(items) => {
            let mut parsed = Vec::with_capacity(items.len());
            for item in &items {
                match link_from(item) {
                    Ok(l) => parsed.push(l),
                    Err(r) => return *r,
                }
            }
            match api.replace_all(parsed).await {
                Ok(v) => Json(Value::Array(v)).into_response(),
                Err(e) => op_error(e),
            }
        }
        obj @ Value::Object(_) => {
            let link = match link_from(&obj) {
                Ok(l) => l,
                Err(r) => return *r,
            };
            match api.upsert(link).await {
                Ok((v, true)) => (StatusCode::CREATED, Json(v)).into_response(),
                Ok((v, false)) => Json(v).into_response(),
                Err(e) => op_error(e),
            }
        }
        _ => validation_error(json!("expected a link object or an array of links")),
    }
}

async fn get_one(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Response {
    let api = match links(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match api.get(&name) {
        Some(v) => Json(v).into_response(),
        None => not_found().into_response(),
    }
}

/// `PUT .../{name}`: full replacement; the body has no `name` (the path's wins).
async fn put_one(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> Response {
    let api = match links(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if api.get(&name).is_none() {
        return not_found().into_response();
    }
    let mut value = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Some(obj) = value.as_object_mut() {
        obj.insert("name".into(), Value::String(name));
    }
    let link = match link_from(&value) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    match api.update(link).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => op_error(e),
    }
}

async fn delete_one(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Response {
    let api = match links(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match api.delete(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => op_error(e),
    }
}

async fn metrics(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Response {
    let api = match links(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match api.metrics(&name) {
        Some(v) => Json(v).into_response(),
        None => not_found().into_response(),
    }
}

async fn reset_metrics(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Response {
    let api = match links(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if api.reset_metrics(&name) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found().into_response()
    }
}

/// Both path families for one link: the seed's `/cluster/links/{name}` and EMQX's
/// `/cluster/links/link/{name}`.
const ONE: [&str; 2] = ["/cluster/links/{name}", "/cluster/links/link/{name}"];

/// The Cluster Linking routes.
pub fn routes(mut r: ApiRoutes) -> ApiRoutes {
    r = r
        .get("/cluster/links", list)
        .post("/cluster/links", create)
        .put("/cluster/links", put_all);
    for base in ONE {
        r = r
            .get(base, get_one)
            .put(base, put_one)
            .delete(base, delete_one)
            .get(&format!("{base}/metrics"), metrics)
            .put(&format!("{base}/metrics/reset"), reset_metrics);
    }
    r
}

fn link_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "server", "topics"],
        "properties": {
            "name": {"type": "string"},
            "enable": {"type": "boolean", "default": true},
            "server": {"type": "string", "example": "emqx.eu-west.example.net:1883"},
            "clientid": {"type": "string"},
            "username": {"type": "string"},
            "password": {"type": "string", "example": "******"},
            "topics": {"type": "array", "items": {"type": "string"}},
            "pool_size": {"type": "integer", "default": 8},
            "retry_interval": {"type": "string", "default": "15s"},
            "max_inflight": {"type": "integer", "default": 32},
            "ssl": {"type": "object"},
            "resource_opts": {"type": "object"},
            "status": {"type": "string", "enum": ["running", "connecting", "disconnected", "stopped", "inconsistent"]},
            "node_status": {"type": "array", "items": {"type": "object"}},
        },
    })
}

/// Their OpenAPI operations.
pub fn docs() -> Vec<Op> {
    let tag = "Cluster Links";
    let mut ops = vec![
        Op::get(
            "/cluster/links",
            tag,
            "List cluster links with their status",
        )
        .response(200, "Links", Some(array_of(link_schema()))),
        Op::post("/cluster/links", tag, "Create a cluster link")
            .body(link_schema())
            .response(201, "Created", Some(link_schema()))
            .error(400, &["BAD_REQUEST", "ALREADY_EXISTS"]),
        Op::put(
            "/cluster/links",
            tag,
            "Configure links: an array replaces the list, an object creates or updates one",
        )
        .body(json!({"oneOf": [link_schema(), array_of(link_schema())]}))
        .response(
            200,
            "Updated",
            Some(json!({"oneOf": [link_schema(), array_of(link_schema())]})),
        )
        .response(201, "Created", Some(link_schema()))
        .error(400, &["BAD_REQUEST"]),
    ];
    for base in ONE {
        ops.push(
            Op::get(base, tag, "Get a cluster link")
                .response(200, "Link", Some(link_schema()))
                .error(404, &["NOT_FOUND"]),
        );
        ops.push(
            Op::put(base, tag, "Replace a cluster link (no name in the body)")
                .body(link_schema())
                .response(200, "Updated", Some(link_schema()))
                .error(400, &["BAD_REQUEST"])
                .error(404, &["NOT_FOUND"]),
        );
        ops.push(
            Op::delete(base, tag, "Delete a cluster link")
                .response(204, "Deleted", None)
                .error(404, &["NOT_FOUND"]),
        );
        ops.push(
            Op::get(&format!("{base}/metrics"), tag, "Metrics of a cluster link")
                .response(200, "Metrics", Some(json!({"type": "object"})))
                .error(404, &["NOT_FOUND"]),
        );
        ops.push(
            Op::put(
                &format!("{base}/metrics/reset"),
                tag,
                "Reset the metrics of a cluster link",
            )
            .response(204, "Reset", None)
            .error(404, &["NOT_FOUND"]),
        );
    }
    ops
}
