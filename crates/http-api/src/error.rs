//! EMQX-shaped errors: every failure leaves as `{"code": "...", "message": "..."}` with the HTTP
//! status EMQX uses, and malformed input of any kind (JSON syntax, wrong types, unknown fields,
//! bad query strings, oversized bodies) is a 4xx, never a 500.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One API error: status, EMQX error code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra JSON fields merged into the body (e.g. `reason_code` for publish errors).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 400 `INVALID_PARAMETER` (query strings).
    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 409 `ALREADY_EXISTS` (as EMQX's authn users API).
    pub fn already_exists(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "ALREADY_EXISTS", message)
    }

    /// 500 `INTERNAL_ERROR`, for I/O failures (disk full, ...), never for bad input.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }

    /// Adds an extra top-level JSON field to the body.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> ApiError {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value.into());
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            code: self.code,
            message: &self.message,
            extra: self.extra.as_ref(),
        })
        .unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic Realm=\"emqx-dashboard\""),
            );
        }
        resp
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "request body is larger than the limit",
            )
        } else {
            ApiError::bad_request(format!("cannot read the request body: {}", r.body_text()))
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::invalid_parameter(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(r.body_text())
    }
}

/// A JSON object request body: any content type is accepted (as EMQX does); anything but an
/// object, and every type or field error, is a 400 `BAD_REQUEST` naming the offending field; an
/// oversized body is a 413.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        let value: serde_json::Value = parse_json(&bytes)?;
        if !value.is_object() {
            return Err(ApiError::bad_request(format!(
                "invalid JSON body: expected an object, found {}",
                kind(&value)
            )));
        }
        from_value(value).map(ApiJson)
    }
}

/// A JSON array request body (bulk endpoints); elements that are themselves arrays are refused,
/// so an array is never taken for an object.
#[derive(Debug, Clone)]
pub struct ApiJsonList<T>(pub Vec<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJsonList<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        let value: serde_json::Value = parse_json(&bytes)?;
        let Some(items) = value.as_array() else {
            return Err(ApiError::bad_request(format!(
                "invalid JSON body: expected a sequence (array), found {}",
                kind(&value)
            )));
        };
        if let Some(i) = items.iter().position(|v| v.is_array()) {
            return Err(ApiError::bad_request(format!(
                "invalid JSON body at [{i}]: expected an object or a string, found an array"
            )));
        }
        from_value(value).map(ApiJsonList)
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path.is_empty() || path == "." {
        ApiError::bad_request(format!("invalid JSON body: {inner}"))
    } else {
        ApiError::bad_request(format!("invalid JSON body at {path}: {inner}"))
    }
}

/// Converts a parsed body into `T`, naming the offending field on error.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

/// Parses `bytes` as `T`, with a message that names where it went wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty, expected JSON",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(path_error)
}

/// Query-string parameters; a malformed one is a 400 `INVALID_PARAMETER`.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let q = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(q.0))
    }
}

/// Path parameters (percent-decoded); a malformed one is a 400.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let p = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(p.0))
    }
}
