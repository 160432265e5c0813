//! The file authorization source: `GET|PUT /authorization/sources/file` (rules applied at once).

use crate::openapi::Op;
use crate::routes::ApiRoutes;

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r
}

pub(crate) fn docs() -> Vec<Op> {
    Vec::new()
}
