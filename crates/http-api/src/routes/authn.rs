//! Built-in database users of an authenticator: `GET|POST /authentication/{id}/users` and
//! `GET|PUT|DELETE /authentication/{id}/users/{user_id}`, where `{id}` is
//! `password_based:built_in_database` or `scram:built_in_database` (URL-encoded `:` works too).
//! Answers 404 when the node runs no such authenticator.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use linkmq_acl::authn::Provider;
use linkmq_acl::{UserError, UserStore};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::openapi::{Op, page_of, schema_ref};
use crate::routes::{ApiRoutes, QueryPairs, paged};

/// The EMQX id of an authenticator.
pub fn authenticator_id(p: &Provider) -> &'static str {
    match p {
        Provider::PasswordBased { .. } => "password_based:built_in_database",
        Provider::Scram { .. } => "scram:built_in_database",
    }
}

/// The user store behind authenticator `id`.
fn store(s: &ApiState, id: &str) -> ApiResult<Arc<UserStore>> {
    s.authn
        .as_ref()
        .filter(|a| a.providers().iter().any(|p| authenticator_id(p) == id))
        .map(|a| a.store().clone())
        .ok_or_else(|| ApiError::not_found(format!("Authenticator '{id}' does not exist")))
}

fn user_error(e: UserError) -> ApiError {
    match e {
        UserError::AlreadyExists(_) => ApiError::already_exists("User already exists"),
        UserError::NotFound(_) => ApiError::not_found("User not found"),
        UserError::Invalid(m) => ApiError::bad_request(format!("User error: {m}")),
        UserError::Io { .. } => ApiError::internal(e.to_string()),
    }
}

/// Runs a blocking store call (password hashing, file writes) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UserError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
        .map_err(user_error)
}

async fn list(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    q: QueryPairs,
) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let st = store(&s, &id)?;
    let superuser = q.bool("is_superuser")?;
    let like = q.get("like_user_id");
    let all = st.list_users(1, usize::MAX, like);
    let rows: Vec<Value> = all
        .data
        .into_iter()
        .filter(|u| superuser.is_none_or(|su| u.is_superuser == su))
        .map(|u| json!({"user_id": u.user_id, "is_superuser": u.is_superuser}))
        .collect();
    Ok(Json(paged(rows, page)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    user_id: String,
    password: String,
    #[serde(default)]
    is_superuser: bool,
}

async fn create(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<NewUser>,
) -> ApiResult<impl IntoResponse> {
    let st = store(&s, &id)?;
    if b.password.is_empty() {
        return Err(ApiError::bad_request("password must not be empty"));
    }
    let info = blocking(move || st.add_user(&b.user_id, &b.password, b.is_superuser)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user_id": info.user_id, "is_superuser": info.is_superuser})),
    ))
}

async fn get_one(
    State(s): State<ApiState>,
    ApiPath((id, user)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let info = store(&s, &id)?.get_user(&user).map_err(user_error)?;
    Ok(Json(
        json!({"user_id": info.user_id, "is_superuser": info.is_superuser}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    is_superuser: Option<bool>,
}

async fn update(
    State(s): State<ApiState>,
    ApiPath((id, user)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<UserChange>,
) -> ApiResult<Json<Value>> {
    let st = store(&s, &id)?;
    if b.password.as_deref() == Some("") {
        return Err(ApiError::bad_request("password must not be empty"));
    }
    let info =
        blocking(move || st.update_user(&user, b.password.as_deref(), b.is_superuser)).await?;
    Ok(Json(
        json!({"user_id": info.user_id, "is_superuser": info.is_superuser}),
    ))
}

async fn delete(
    State(s): State<ApiState>,
    ApiPath((id, user)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let st = store(&s, &id)?;
    blocking(move || st.delete_user(&user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/authentication/{id}/users", list)
        .post("/authentication/{id}/users", create)
        .get("/authentication/{id}/users/{user_id}", get_one)
        .put("/authentication/{id}/users/{user_id}", update)
        .delete("/authentication/{id}/users/{user_id}", delete)
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "Authentication";
    let new_user = json!({
        "type": "object", "required": ["user_id", "password"], "additionalProperties": false,
        "properties": {"user_id": {"type": "string"}, "password": {"type": "string"},
                       "is_superuser": {"type": "boolean"}},
    });
    let change = json!({
        "type": "object", "additionalProperties": false,
        "properties": {"password": {"type": "string"}, "is_superuser": {"type": "boolean"}},
    });
    vec![
        Op::get(
            "/authentication/{id}/users",
            tag,
            "List users of a built-in database authenticator",
        )
        .paged()
        .query("like_user_id", "string", "User id contains this")
        .query("is_superuser", "boolean", "Only (non-)superusers")
        .response(200, "Users", Some(page_of(schema_ref("AuthnUser"))))
        .error(404, &["NOT_FOUND"]),
        Op::post("/authentication/{id}/users", tag, "Create a user")
            .body(new_user)
            .response(201, "Created", Some(schema_ref("AuthnUser")))
            .error(400, &["BAD_REQUEST"])
            .error(404, &["NOT_FOUND"])
            .error(409, &["ALREADY_EXISTS"]),
        Op::get("/authentication/{id}/users/{user_id}", tag, "Get a user")
            .response(200, "User", Some(schema_ref("AuthnUser")))
            .error(404, &["NOT_FOUND"]),
        Op::put(
            "/authentication/{id}/users/{user_id}",
            tag,
            "Change a user's password or superuser flag",
        )
        .body(change)
        .response(200, "Updated", Some(schema_ref("AuthnUser")))
        .error(400, &["BAD_REQUEST"])
        .error(404, &["NOT_FOUND"]),
        Op::delete("/authentication/{id}/users/{user_id}", tag, "Delete a user")
            .response(204, "Deleted", None)
            .error(404, &["NOT_FOUND"]),
    ]
}
