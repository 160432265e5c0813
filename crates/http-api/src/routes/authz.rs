//! The file authorization source: `GET|PUT /authorization/sources/file`. A PUT replaces the
//! `acl.conf` rules at once (every client's decision cache is dropped); a text with an error is
//! refused with its line and column, and the old rules stay.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use linkmq_acl::{AclEngine, ReloadError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::openapi::{Op, schema_ref};
use crate::routes::ApiRoutes;

fn engine(s: &ApiState) -> ApiResult<&AclEngine> {
    s.authz
        .as_ref()
        .ok_or_else(|| ApiError::not_found("Authorization source 'file' does not exist"))
}

async fn get_file(State(s): State<ApiState>) -> ApiResult<Json<Value>> {
    let e = engine(&s)?;
    Ok(Json(
        json!({"type": "file", "enable": true, "rules": e.rules_text()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSource {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    enable: Option<bool>,
    rules: String,
}

async fn put_file(
    State(s): State<ApiState>,
    ApiJson(b): ApiJson<FileSource>,
) -> ApiResult<StatusCode> {
    let e = engine(&s)?.clone();
    if b.kind != "file" {
        return Err(ApiError::bad_request(format!(
            "type must be \"file\", found {:?}",
            b.kind
        )));
    }
    if b.enable == Some(false) {
        return Err(ApiError::bad_request(
            "disabling the file source is not supported; write rules that allow everything instead",
        ));
    }
    let rules = b.rules;
    let res = tokio::task::spawn_blocking(move || e.reload_from_str(&rules))
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?;
    match res {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(ReloadError::Syntax(err)) => Err(ApiError::bad_request(format!("acl.conf:{err}"))),
        Err(e @ ReloadError::Io { .. }) => Err(ApiError::internal(e.to_string())),
    }
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/authorization/sources/file", get_file)
        .put("/authorization/sources/file", put_file)
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "Authorization";
    vec![
        Op::get(
            "/authorization/sources/file",
            tag,
            "The acl.conf rules in force",
        )
        .response(200, "File source", Some(schema_ref("AuthzFile")))
        .error(404, &["NOT_FOUND"]),
        Op::put(
            "/authorization/sources/file",
            tag,
            "Replace the acl.conf rules (applied at once)",
        )
        .body(schema_ref("AuthzFile"))
        .response(204, "Applied", None)
        .error(400, &["BAD_REQUEST"])
        .error(404, &["NOT_FOUND"]),
    ]
}
