//! One module per EMQX API area; each exposes `routes()` merged into `/api/v5`.

use axum::Router;

use crate::ApiState;

pub mod cluster_links;

/// Every `/api/v5` route.
pub(crate) fn api_v5() -> Router<ApiState> {
    Router::new().merge(cluster_links::routes())
}
