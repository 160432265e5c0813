//! Cluster Linking: `/api/v5/cluster/links` (list, create), `/cluster/links/link/{name}` (get,
//! update, delete) and `/cluster/links/link/{name}/metrics`, as in EMQX 5.8.
//!
//! Filled in by the Cluster Linking work. The link manager lives in a higher crate, so the routes
//! reach it through the [`LinkApi`] trait object in [`ApiState::links`](crate::ApiState::links);
//! `crates/linkmq` plugs the implementation in with
//! [`ApiState::with_links`](crate::ApiState::with_links). When no manager is plugged in, handlers
//! should answer 503 `SERVICE_UNAVAILABLE` (or an empty list for the list endpoint).
//!
//! How to add a route here (both steps are needed; a test fails if they disagree):
//! 1. in [`routes`]: `r.get("/cluster/links", list)` (path relative to `/api/v5`; also `post`,
//!    `put`, `delete`; `r.add(Method::GET, path, Access::BearerOnly, h)` for other access);
//! 2. in [`docs`]: `Op::get("/cluster/links", "Cluster Links", "List links").response(200, ...)`.
//!
//! Errors: return [`ApiError`](crate::error::ApiError) (EMQX `{"code", "message"}` shape); read
//! bodies with [`ApiJson`](crate::error::ApiJson) and path parameters with
//! [`ApiPath`](crate::error::ApiPath) so bad input is a 400, never a 500.

use crate::openapi::Op;
use crate::routes::ApiRoutes;

/// What the Cluster Linking routes need from the link manager (list, create, update, delete,
/// status, metrics). Define the methods here; implement it next to the link manager.
pub trait LinkApi: Send + Sync + 'static {}

/// The Cluster Linking routes.
pub fn routes(r: ApiRoutes) -> ApiRoutes {
    r
}

/// Their OpenAPI operations.
pub fn docs() -> Vec<Op> {
    Vec::new()
}
