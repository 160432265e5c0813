//! Built-in database users of an authenticator: `/authentication/{id}/users` (list, create) and
//! `/authentication/{id}/users/{user_id}` (get, update, delete).

use crate::openapi::Op;
use crate::routes::ApiRoutes;

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r
}

pub(crate) fn docs() -> Vec<Op> {
    Vec::new()
}
