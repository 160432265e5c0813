//! The credential check in front of every non-public route: `Authorization: Bearer <token>` from
//! `POST /api/v5/login`, or `Authorization: Basic <api_key:api_secret>`. It also enforces the
//! viewer role (read-only) and the per-address limit on wrong credentials.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::ApiState;
use crate::auth::{Actor, Role};
use crate::error::ApiError;

/// What the `Authorization` header carried.
enum Credentials {
    Bearer(String),
    Basic(String, String),
}

fn credentials(req: &Request) -> Result<Credentials, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "AUTHORIZATION_HEADER_ERROR",
            "Missing authorization header. Use Basic auth with API key/secret, or Bearer token \
             from POST /api/v5/login. API keys can be bootstrapped from config \
             (api_key.bootstrap_file) or created via POST /api/v5/api_key",
        )
    };
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?
        .trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(missing)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Bearer(rest.to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let bad = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "BAD_API_KEY_OR_SECRET",
                "Check api_key/api_secret",
            )
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (k, s) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Credentials::Basic(k.to_string(), s.to_string()));
    }
    Err(missing())
}

fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn check(state: &ApiState, req: &Request, bearer_only: bool) -> Result<Actor, ApiError> {
    let creds = credentials(req)?;
    let peer = peer(req);
    state.auth.check_peer(peer)?;
    let actor = match creds {
        Credentials::Bearer(token) => state.auth.verify_token(&token),
        Credentials::Basic(_, _) if bearer_only => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "API_KEY_NOT_ALLOW",
                format!(
                    "Please use bearer Token instead, using API key/secret in {} path is not permitted",
                    req.uri().path()
                ),
            ));
        }
        Credentials::Basic(key, secret) => state.auth.verify_api_key(&key, &secret),
    };
    let actor = actor.inspect_err(|_| state.auth.peer_failed(peer))?;
    if actor.role() == Role::Viewer && req.method() != Method::GET {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "UNAUTHORIZED_ROLE",
            "User not authorized to operate on this endpoint (viewer role is read-only)",
        ));
    }
    Ok(actor)
}

/// Accepts a bearer token or an API key.
pub(crate) async fn require_any(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    if state.open_prometheus && req.uri().path() == "/api/v5/prometheus/stats" {
        return next.run(req).await;
    }
    match check(&state, &req, false) {
        Ok(actor) => {
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Accepts a bearer token only.
pub(crate) async fn require_bearer(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    match check(&state, &req, true) {
        Ok(actor) => {
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The caller's IP address, when the server knows it (for rate limits in public handlers).
#[derive(Debug, Clone, Copy)]
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
