//! The management REST API: EMQX 5.8's `/api/v5` on axum, so that scripts written for EMQX work
//! against linkmq.
//!
//! It knows the broker core (clients, subscriptions, retained messages, metrics, publish) and the
//! configuration; parts that live in higher crates (Cluster Linking, see
//! [`routes::cluster_links`]) plug in as trait objects on [`ApiState`]. It owns no broker state.
//! Entry points: [`ApiState`], [`router`] (the whole app), [`ApiServer`] / [`serve`] (bind and run),
//! [`route_table`] and [`openapi_document`] (what is served and what is documented).
//!
//! Layout: `auth/` (tokens and rate limits; `users.rs`, `api_keys.rs`), `guard.rs` (the
//! credential check), `error.rs` (EMQX error bodies, extractors that never 500 on bad input),
//! `openapi.rs`, `routes/*.rs` (one file per EMQX API area).

pub mod alarms;
pub mod auth;
pub mod error;
pub mod guard;
pub mod openapi;
pub mod routes;
mod state;
pub mod stats;
pub mod time;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use routes::{Access, ApiRoutes, RouteInfo};
pub use state::ApiState;

use crate::error::ApiError;

/// The whole HTTP application: `/api/v5/...`, `/status`, `/api-docs/swagger.json`, and the web
/// dashboard at `/` ([`routes::ui`]).
pub fn router(state: ApiState) -> Router {
    let r = routes::all();
    let any = r.any.route_layer(middleware::from_fn_with_state(
        state.clone(),
        guard::require_any,
    ));
    let bearer = r.bearer.route_layer(middleware::from_fn_with_state(
        state.clone(),
        guard::require_bearer,
    ));
    let max_body = state.max_body;
    r.public
        .merge(any)
        .merge(bearer)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("Request Path Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method Not Allowed",
    )
}

/// Every served route (method, full path, access), in registration order.
pub fn route_table() -> Vec<RouteInfo> {
    routes::all().table
}

/// The OpenAPI document, as served at `GET /api-docs/swagger.json`.
pub fn openapi_document() -> serde_json::Value {
    openapi::document(&routes::all_docs())
}

/// A bound API server, ready to [`ApiServer::run`].
pub struct ApiServer {
    listener: TcpListener,
    state: ApiState,
}

impl ApiServer {
    /// Binds `addr` (port 0: an ephemeral port).
    pub async fn bind(addr: SocketAddr, state: ApiState) -> std::io::Result<ApiServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(ApiServer { listener, state })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let sampler = tokio::spawn(sample_stats(self.state.clone(), shutdown.clone()));
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let res = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        sampler.abort();
        if let Err(e) = res {
            tracing::error!(error = %e, "HTTP API server stopped");
        }
    }
}

/// Keeps the `*.max` statistics current between `/stats` requests.
async fn sample_stats(state: ApiState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => state.stats_max.observe(&stats::current(&state.broker, false)),
        }
    }
}

/// Binds and serves in one call; returns when `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    ApiServer::bind(addr, state).await?.run(shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_builds_with_every_route() {
        let config = linkmq_config::parse_str("", "test.conf", &[]).expect("empty config");
        let broker = linkmq_core::Broker::new(linkmq_core::MqttSettings::default());
        let dir = tempfile::Builder::new()
            .prefix("linkmq-api-build-")
            .tempdir()
            .expect("temp dir");
        let mut settings = auth::AuthSettings::from_config(&config);
        settings.dir = dir.path().to_path_buf();
        let auth = auth::AuthStore::open(settings).expect("auth store");
        let _ = router(ApiState::with_auth(broker, config, auth));
        let table = route_table();
        let mut seen = std::collections::HashSet::new();
        for r in &table {
            assert!(
                seen.insert((r.method.clone(), r.path.clone())),
                "{r:?} twice"
            );
        }
    }
}
