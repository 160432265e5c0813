//! API keys: `GET|POST /api_key`, `GET|PUT|DELETE /api_key/{name}` (bearer token only, as EMQX).

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{ApiKeyChange, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::openapi::{Op, array_of, schema_ref};
use crate::routes::{Access, ApiRoutes};

/// `expired_at`: RFC 3339, epoch seconds, `"infinity"` or null.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expiry {
    Seconds(u64),
    Text(String),
}

fn expiry(e: Option<Option<Expiry>>) -> ApiResult<Option<Option<u64>>> {
    Ok(match e {
        None => None,
        Some(None) => Some(None),
        Some(Some(Expiry::Seconds(s))) => Some(Some(s)),
        Some(Some(Expiry::Text(t))) if t == "infinity" || t == "undefined" => Some(None),
        Some(Some(Expiry::Text(t))) => Some(Some(
            crate::time::parse_rfc3339_ms(&t)
                .map(|ms| ms / 1000)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "expired_at: expected an RFC 3339 time, epoch seconds or \"infinity\", found {t:?}"
                    ))
                })?,
        )),
    })
}

/// Distinguishes a missing field from an explicit null.
fn some<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    expired_at: Option<Option<Expiry>>,
    #[serde(default)]
    desc: Option<String>,
    #[serde(default)]
    enable: Option<bool>,
    #[serde(default)]
    role: Option<String>,
}

fn change(b: KeyBody) -> ApiResult<ApiKeyChange> {
    Ok(ApiKeyChange {
        enable: b.enable,
        expired_at: expiry(b.expired_at)?,
        desc: b.desc,
        role: b
            .role
            .map(|r| {
                Role::parse(&r)
                    .ok_or_else(|| ApiError::bad_request(format!("Role does not exist: {r}")))
            })
            .transpose()?,
    })
}

async fn list(State(s): State<ApiState>) -> Json<Value> {
    Json(json!(s.auth.api_keys()))
}

async fn create(
    State(s): State<ApiState>,
    ApiJson(mut b): ApiJson<KeyBody>,
) -> ApiResult<Json<Value>> {
    let name = b
        .name
        .take()
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    Ok(Json(s.auth.create_api_key(&name, change(b)?)?))
}

async fn get_one(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.auth.api_key(&name)?))
}

async fn update(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<KeyBody>,
) -> ApiResult<Json<Value>> {
    if b.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::bad_request("name cannot be changed"));
    }
    Ok(Json(s.auth.update_api_key(&name, change(b)?)?))
}

async fn delete(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.auth.delete_api_key(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    let b = Access::BearerOnly;
    r.add(Method::GET, "/api_key", b, list)
        .add(Method::POST, "/api_key", b, create)
        .add(Method::GET, "/api_key/{name}", b, get_one)
        .add(Method::PUT, "/api_key/{name}", b, update)
        .add(Method::DELETE, "/api_key/{name}", b, delete)
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "API Keys";
    let body = json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z]+[A-Za-z0-9-_]*$"},
            "expired_at": {"type": "string", "description": "RFC 3339, epoch seconds or \"infinity\""},
            "desc": {"type": "string"}, "enable": {"type": "boolean"},
            "role": {"type": "string", "enum": ["administrator", "viewer"]},
        },
    });
    let b = Access::BearerOnly;
    vec![
        Op::get("/api_key", tag, "List API keys")
            .access(b)
            .response(
                200,
                "API keys (without secrets)",
                Some(array_of(schema_ref("ApiKey"))),
            ),
        Op::post(
            "/api_key",
            tag,
            "Create an API key (the secret is shown once)",
        )
        .access(b)
        .body(body.clone())
        .response(200, "Created", Some(schema_ref("ApiKey")))
        .error(400, &["BAD_REQUEST"]),
        Op::get("/api_key/{name}", tag, "Get an API key")
            .access(b)
            .response(200, "API key", Some(schema_ref("ApiKey")))
            .error(404, &["NOT_FOUND"]),
        Op::put("/api_key/{name}", tag, "Update an API key")
            .access(b)
            .body(body)
            .response(200, "Updated", Some(schema_ref("ApiKey")))
            .error(400, &["BAD_REQUEST"])
            .error(404, &["NOT_FOUND"]),
        Op::delete("/api_key/{name}", tag, "Delete an API key")
            .access(b)
            .response(204, "Deleted", None)
            .error(404, &["NOT_FOUND"]),
    ]
}
