//! One module per EMQX API area. Each exposes `routes(ApiRoutes) -> ApiRoutes` (what is served) and
//! `docs() -> Vec<Op>` (what the OpenAPI document says); a test checks the two agree.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::openapi::Op;

pub mod alarms;
pub mod api_keys;
pub mod authn;
pub mod authz;
pub mod clients;
pub mod cluster_links;
pub mod dashboard;
pub mod metrics;
pub mod nodes;
pub mod prometheus;
pub mod publish;
pub mod retainer;
pub mod status;
pub mod subscriptions;
pub mod topics;
pub mod ui;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (login, health check).
    Public,
    /// A bearer token or an API key.
    Any,
    /// A bearer token only (user and API key management, as in EMQX).
    BearerOnly,
}

/// One served route, as recorded when it was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    /// Full path in axum syntax, e.g. `/api/v5/clients/{clientid}`.
    pub path: String,
    pub access: Access,
}

/// The API prefix.
pub const API_PREFIX: &str = "/api/v5";

/// Collects routes by access class and records each (method, path) for the OpenAPI check.
pub struct ApiRoutes {
    pub(crate) public: Router<ApiState>,
    pub(crate) any: Router<ApiState>,
    pub(crate) bearer: Router<ApiState>,
    pub(crate) table: Vec<RouteInfo>,
}

impl Default for ApiRoutes {
    fn default() -> Self {
        ApiRoutes {
            public: Router::new(),
            any: Router::new(),
            bearer: Router::new(),
            table: Vec::new(),
        }
    }
}

fn filter_of(method: &Method) -> MethodFilter {
    match *method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::DELETE => MethodFilter::DELETE,
        Method::PATCH => MethodFilter::PATCH,
        _ => panic!("unsupported method {method}"),
    }
}

impl ApiRoutes {
    /// Adds `handler` for `method` on the full `path` (not prefixed).
    pub fn add_full<H, T>(mut self, method: Method, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        let mr = on(filter_of(&method), handler);
        match access {
            Access::Public => self.public = self.public.route(path, mr),
            Access::Any => self.any = self.any.route(path, mr),
            Access::BearerOnly => self.bearer = self.bearer.route(path, mr),
        }
        self.table.push(RouteInfo {
            method,
            path: path.to_string(),
            access,
        });
        self
    }

    /// Adds `handler` for `method` on `/api/v5` + `path`.
    pub fn add<H, T>(self, method: Method, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        let full = format!("{API_PREFIX}{path}");
        self.add_full(method, &full, access, handler)
    }

    /// `GET /api/v5{path}`, token or API key.
    pub fn get<H: Handler<T, ApiState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::GET, path, Access::Any, handler)
    }

    /// `POST /api/v5{path}`, token or API key.
    pub fn post<H: Handler<T, ApiState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::POST, path, Access::Any, handler)
    }

    /// `PUT /api/v5{path}`, token or API key.
    pub fn put<H: Handler<T, ApiState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::PUT, path, Access::Any, handler)
    }

    /// `DELETE /api/v5{path}`, token or API key.
    pub fn delete<H: Handler<T, ApiState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::DELETE, path, Access::Any, handler)
    }

    /// The routes recorded so far.
    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }
}

/// Every route of the API.
pub(crate) fn all() -> ApiRoutes {
    let mut r = ApiRoutes::default();
    r = status::routes(r);
    r = dashboard::routes(r);
    r = api_keys::routes(r);
    r = nodes::routes(r);
    r = metrics::routes(r);
    r = clients::routes(r);
    r = subscriptions::routes(r);
    r = topics::routes(r);
    r = publish::routes(r);
    r = retainer::routes(r);
    r = alarms::routes(r);
    r = prometheus::routes(r);
    r = authn::routes(r);
    r = authz::routes(r);
    r = cluster_links::routes(r);
    r = ui::routes(r);
    r = crate::openapi::routes(r);
    r
}

/// Every documented operation.
pub(crate) fn all_docs() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(status::docs());
    ops.extend(dashboard::docs());
    ops.extend(api_keys::docs());
    ops.extend(nodes::docs());
    ops.extend(metrics::docs());
    ops.extend(clients::docs());
    ops.extend(subscriptions::docs());
    ops.extend(topics::docs());
    ops.extend(publish::docs());
    ops.extend(retainer::docs());
    ops.extend(alarms::docs());
    ops.extend(prometheus::docs());
    ops.extend(authn::docs());
    ops.extend(authz::docs());
    ops.extend(cluster_links::docs());
    ops.extend(ui::docs());
    ops.extend(crate::openapi::docs());
    ops
}

// ---- query strings ------------------------------------------------------------------------

/// Raw query-string pairs, in order (repeated keys allowed, as EMQX's `clientid=a&clientid=b`).
#[derive(Debug, Clone, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(QueryPairs)
            .map_err(|e| ApiError::invalid_parameter(format!("bad query string: {e}")))
    }
}

impl QueryPairs {
    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (also comma-separated lists, as EMQX accepts both).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid_parameter(format!(
                "the {key} parameter expected type is boolean, but the value is {v}"
            ))),
        }
    }

    /// An unsigned integer parameter.
    pub fn u64(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::invalid_parameter(format!(
                    "the {key} parameter expected type is integer, but the value is {v}"
                ))
            }),
        }
    }

    /// A timestamp parameter: epoch milliseconds or RFC 3339.
    pub fn timestamp_ms(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .ok()
                .or_else(|| crate::time::parse_rfc3339_ms(v))
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid_parameter(format!(
                        "the {key} parameter expected type is timestamp, but the value is {v}"
                    ))
                }),
        }
    }

    /// `page` (default 1) and `limit` (default 100, at most 10000).
    pub fn page(&self) -> ApiResult<Page> {
        let bad = || ApiError::invalid_parameter("page_limit_invalid");
        let page = match self.get("page") {
            None => 1,
            Some(v) => v.parse::<u64>().map_err(|_| bad())?,
        };
        let limit = match self.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => v.parse::<u64>().map_err(|_| bad())?,
        };
        if page == 0 || limit == 0 || limit > MAX_LIMIT || page > u64::from(u32::MAX) {
            return Err(bad());
        }
        Ok(Page { page, limit })
    }
}

/// Default page size, as EMQX.
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest page size, as EMQX.
pub const MAX_LIMIT: u64 = 10_000;

/// A requested page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u64,
    pub limit: u64,
}

impl Page {
    /// Index of the first row.
    pub fn offset(&self) -> usize {
        usize::try_from((self.page - 1).saturating_mul(self.limit)).unwrap_or(usize::MAX)
    }
}

/// `{"data": [...], "meta": {page, limit, count, hasnext}}` for one page of `items`.
pub fn paged<T: Serialize>(items: Vec<T>, p: Page) -> Value {
    let count = items.len();
    let start = p.offset().min(count);
    let end = start.saturating_add(p.limit as usize).min(count);
    let data: Vec<T> = items.into_iter().skip(start).take(end - start).collect();
    json!({
        "data": data,
        "meta": {"page": p.page, "limit": p.limit, "count": count, "hasnext": end < count},
    })
}
