//! The management REST API: EMQX 5.8's `/api/v5` on axum, so that scripts written for EMQX work
//! against linkmq.
//!
//! It knows the broker core (clients, subscriptions, retained messages, metrics, publish), the
//! configuration, and, through trait objects plugged into [`ApiState`], the parts that live in
//! higher crates (Cluster Linking, see [`routes::cluster_links`]). It does not own any broker state.
//! Entry points: [`ApiState`], [`router`] (the whole app, for tests and embedding) and [`serve`].

pub mod routes;
mod state;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use state::ApiState;

/// The whole HTTP application: `/api/v5/...` plus the OpenAPI document.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .nest("/api/v5", routes::api_v5())
        .with_state(state)
}

/// A bound API server, ready to [`ApiServer::run`].
pub struct ApiServer {
    listener: TcpListener,
    app: Router,
}

impl ApiServer {
    /// Binds `addr` (port 0: an ephemeral port).
    pub async fn bind(addr: SocketAddr, state: ApiState) -> std::io::Result<ApiServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(ApiServer {
            listener,
            app: router(state),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let res = axum::serve(
            self.listener,
            self.app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "HTTP API server stopped");
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
