//! `GET /alarms` (`activated=true|false`, paged) and `DELETE /alarms` (forget deactivated ones).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use crate::ApiState;
use crate::error::ApiResult;
use crate::openapi::{Op, page_of, schema_ref};
use crate::routes::{ApiRoutes, QueryPairs, paged};

async fn list(State(s): State<ApiState>, q: QueryPairs) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let activated = q.bool("activated")?;
    let node = s.node_name().to_string();
    let mut rows: Vec<Value> = Vec::new();
    for act in [true, false] {
        if activated.is_none_or(|a| a == act) {
            rows.extend(s.alarms.list(act).iter().map(|a| a.view(&node)));
        }
    }
    Ok(Json(paged(rows, page)))
}

async fn clear(State(s): State<ApiState>) -> StatusCode {
    s.alarms.clear_history();
    StatusCode::NO_CONTENT
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/alarms", list).delete("/alarms", clear)
}

pub(crate) fn docs() -> Vec<Op> {
    vec![
        Op::get("/alarms", "Alarms", "List alarms")
            .paged()
            .query(
                "activated",
                "boolean",
                "true: active alarms; false: history",
            )
            .response(200, "Alarms", Some(page_of(schema_ref("Alarm"))))
            .error(400, &["INVALID_PARAMETER"]),
        Op::delete("/alarms", "Alarms", "Forget deactivated alarms").response(204, "Done", None),
    ]
}
