//! Dashboard login and users: `POST /login`, `POST /logout`, `GET|POST /users`,
//! `PUT|DELETE /users/{username}`, `POST /users/{username}/change_pwd`.

use axum::extract::{Extension, State};
use axum::http::{Method, StatusCode};
use axum::{Json, response::IntoResponse};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{Actor, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::guard::PeerIp;
use crate::openapi::{Op, array_of, schema_ref};
use crate::routes::{Access, ApiRoutes};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
    #[serde(default)]
    #[allow(dead_code)]
    mfa_token: Option<String>,
}

async fn login(
    State(s): State<ApiState>,
    PeerIp(peer): PeerIp,
    ApiJson(b): ApiJson<Login>,
) -> ApiResult<Json<Value>> {
    s.auth.check_peer(peer)?;
    let (token, role) = s
        .auth
        .login(&b.username, &b.password)
        .inspect_err(|_| s.auth.peer_failed(peer))?;
    Ok(Json(json!({
        "token": token,
        "version": linkmq_core::sys::VERSION,
        "license": {"edition": "opensource"},
        "role": role.as_str(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Logout {
    username: String,
}

async fn logout(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    ApiJson(b): ApiJson<Logout>,
) -> ApiResult<StatusCode> {
    let Actor::User { token, .. } = actor else {
        return Err(wrong_token());
    };
    if s.auth.logout(&b.username, &token) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(wrong_token())
    }
}

fn wrong_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "WRONG_TOKEN_OR_USERNAME",
        "Ensure your token & username",
    )
}

fn role(r: Option<&str>) -> ApiResult<Option<Role>> {
    r.map(|r| {
        Role::parse(r).ok_or_else(|| ApiError::bad_request(format!("Role does not exist: {r}")))
    })
    .transpose()
}

async fn list_users(State(s): State<ApiState>) -> Json<Value> {
    Json(json!(s.auth.users()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

async fn create_user(
    State(s): State<ApiState>,
    ApiJson(b): ApiJson<NewUser>,
) -> ApiResult<Json<Value>> {
    let role = role(b.role.as_deref())?.unwrap_or_default();
    let u = s.auth.add_user(
        &b.username,
        &b.password,
        role,
        b.description.as_deref().unwrap_or(""),
    )?;
    Ok(Json(json!(u)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

async fn update_user(
    State(s): State<ApiState>,
    ApiPath(username): ApiPath<String>,
    ApiJson(b): ApiJson<UserChange>,
) -> ApiResult<Json<Value>> {
    let role = role(b.role.as_deref())?;
    let u = s
        .auth
        .update_user(&username, role, b.description.as_deref())?;
    Ok(Json(json!(u)))
}

async fn delete_user(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = match &actor {
        Actor::User { username, .. } => Some(username.as_str()),
        Actor::ApiKey { .. } => None,
    };
    s.auth.remove_user(&username, caller)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePwd {
    old_pwd: String,
    new_pwd: String,
}

async fn change_pwd(
    State(s): State<ApiState>,
    ApiPath(username): ApiPath<String>,
    ApiJson(b): ApiJson<ChangePwd>,
) -> ApiResult<StatusCode> {
    s.auth.change_password(&username, &b.old_pwd, &b.new_pwd)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.add(Method::POST, "/login", Access::Public, login)
        .add(Method::POST, "/logout", Access::BearerOnly, logout)
        .add(Method::GET, "/users", Access::BearerOnly, list_users)
        .add(Method::POST, "/users", Access::BearerOnly, create_user)
        .add(
            Method::PUT,
            "/users/{username}",
            Access::BearerOnly,
            update_user,
        )
        .add(
            Method::DELETE,
            "/users/{username}",
            Access::BearerOnly,
            delete_user,
        )
        .add(
            Method::POST,
            "/users/{username}/change_pwd",
            Access::BearerOnly,
            change_pwd,
        )
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "Dashboard";
    let user_body = json!({
        "type": "object", "required": ["username", "password"], "additionalProperties": false,
        "properties": {
            "username": {"type": "string"}, "password": {"type": "string"},
            "role": {"type": "string", "enum": ["administrator", "viewer"]},
            "description": {"type": "string"},
        },
    });
    let change = json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            "role": {"type": "string", "enum": ["administrator", "viewer"]},
            "description": {"type": "string"},
        },
    });
    let pwd = json!({
        "type": "object", "required": ["old_pwd", "new_pwd"], "additionalProperties": false,
        "properties": {"old_pwd": {"type": "string"}, "new_pwd": {"type": "string"}},
    });
    let b = Access::BearerOnly;
    vec![
        Op::post("/login", tag, "Log in, get a bearer token")
            .access(Access::Public)
            .body(schema_ref("Login"))
            .response(200, "Logged in", Some(schema_ref("LoginOk")))
            .error(401, &["BAD_USERNAME_OR_PWD", "LOGIN_LOCKED"])
            .error(400, &["BAD_REQUEST"]),
        Op::post("/logout", tag, "Log out (revoke the bearer token)")
            .access(b)
            .body(json!({"type": "object", "required": ["username"],
                         "properties": {"username": {"type": "string"}}}))
            .response(204, "Logged out", None)
            .error(401, &["WRONG_TOKEN_OR_USERNAME"]),
        Op::get("/users", tag, "List dashboard users")
            .access(b)
            .response(200, "Users", Some(array_of(schema_ref("User")))),
        Op::post("/users", tag, "Create a dashboard user")
            .access(b)
            .body(user_body)
            .response(200, "Created", Some(schema_ref("User")))
            .error(400, &["BAD_REQUEST"]),
        Op::put(
            "/users/{username}",
            tag,
            "Change a user's role or description",
        )
        .access(b)
        .body(change)
        .response(200, "Updated", Some(schema_ref("User")))
        .error(400, &["BAD_REQUEST", "NOT_ALLOWED"])
        .error(404, &["USER_NOT_FOUND"]),
        Op::delete("/users/{username}", tag, "Delete a dashboard user")
            .access(b)
            .response(204, "Deleted", None)
            .error(400, &["NOT_ALLOWED"])
            .error(404, &["USER_NOT_FOUND"]),
        Op::post(
            "/users/{username}/change_pwd",
            tag,
            "Change a user's password",
        )
        .access(b)
        .body(pwd)
        .response(204, "Changed", None)
        .error(400, &["BAD_REQUEST", "ERROR_PWD_NOT_MATCH"])
        .error(404, &["USER_NOT_FOUND"]),
    ]
}
