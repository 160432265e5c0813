//! Cluster Linking: `/api/v5/cluster/links` (list, create), `/cluster/links/link/{name}` (get,
//! update, delete) and `/cluster/links/link/{name}/metrics`, as in EMQX 5.8.
//!
//! Filled in by the Cluster Linking work. The link manager lives in a higher crate, so the routes
//! reach it through the [`LinkApi`] trait object in [`ApiState::links`]; `crates/linkmq` plugs the
//! implementation in with [`ApiState::with_links`].

use axum::Router;

use crate::ApiState;

/// What the Cluster Linking routes need from the link manager (list, create, update, delete,
/// status, metrics). Define the methods here; implement it next to the link manager.
pub trait LinkApi: Send + Sync + 'static {}

/// The Cluster Linking routes, merged into `/api/v5` (paths relative to it, e.g. `/cluster/links`).
pub fn routes() -> Router<ApiState> {
    Router::new()
}
