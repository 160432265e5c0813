//! The OpenAPI 3.0 document served at `GET /api-docs/swagger.json`. Each route module declares its
//! operations next to its handlers with [`Op`]; a test checks that every served route is
//! documented and every documented operation is served.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::ApiState;
use crate::routes::{API_PREFIX, Access, ApiRoutes};

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: Method,
    /// Full path in OpenAPI syntax, e.g. `/api/v5/clients/{clientid}`.
    pub path: String,
    pub tag: &'static str,
    pub summary: &'static str,
    pub access: Access,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(u16, &'static str, Option<Value>)>,
}

impl Op {
    /// An operation on `/api/v5` + `path`, callable with a token or an API key.
    pub fn new(method: Method, path: &str, tag: &'static str, summary: &'static str) -> Op {
        Op::full(method, &format!("{API_PREFIX}{path}"), tag, summary)
    }

    /// An operation on an unprefixed path.
    pub fn full(method: Method, path: &str, tag: &'static str, summary: &'static str) -> Op {
        let mut op = Op {
            method,
            path: path.to_string(),
            tag,
            summary,
            access: Access::Any,
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
        };
        for name in path_params(path) {
            op.params.push(json!({
                "name": name, "in": "path", "required": true, "schema": {"type": "string"},
            }));
        }
        op
    }

    /// `GET /api/v5{path}`.
    pub fn get(path: &str, tag: &'static str, summary: &'static str) -> Op {
        Op::new(Method::GET, path, tag, summary)
    }

    /// `POST /api/v5{path}`.
    pub fn post(path: &str, tag: &'static str, summary: &'static str) -> Op {
        Op::new(Method::POST, path, tag, summary)
    }

    /// `PUT /api/v5{path}`.
    pub fn put(path: &str, tag: &'static str, summary: &'static str) -> Op {
        Op::new(Method::PUT, path, tag, summary)
    }

    /// `DELETE /api/v5{path}`.
    pub fn delete(path: &str, tag: &'static str, summary: &'static str) -> Op {
        Op::new(Method::DELETE, path, tag, summary)
    }

    /// Sets who may call it.
    pub fn access(mut self, access: Access) -> Op {
        self.access = access;
        self
    }

    /// Adds a query parameter of JSON-schema `type` (`string`, `integer`, `boolean`).
    pub fn query(mut self, name: &str, ty: &str, description: &str) -> Op {
        self.params.push(json!({
            "name": name, "in": "query", "required": false,
            "schema": {"type": ty}, "description": description,
        }));
        self
    }

    /// Adds the `page` and `limit` query parameters.
    pub fn paged(self) -> Op {
        self.query("page", "integer", "Page number, from 1 (default 1)")
            .query("limit", "integer", "Page size, 1..10000 (default 100)")
    }

    /// Sets the JSON request body schema.
    pub fn body(mut self, schema: Value) -> Op {
        self.body = Some(schema);
        self
    }

    /// Adds a response; `schema` = `None` for an empty body.
    pub fn response(mut self, status: u16, description: &'static str, schema: Option<Value>) -> Op {
        self.responses.push((status, description, schema));
        self
    }

    /// Adds an error response with the EMQX error shape listing `codes`.
    pub fn error(self, status: u16, codes: &[&str]) -> Op {
        let schema = json!({
            "type": "object",
            "properties": {
                "code": {"type": "string", "enum": codes},
                "message": {"type": "string"},
            },
        });
        self.response(status, "Error", Some(schema))
    }

    fn to_json(&self) -> Value {
        let mut responses = Map::new();
        for (status, desc, schema) in &self.responses {
            let mut r = json!({ "description": desc });
            if let Some(s) = schema {
                let ctype = if s.get("type") == Some(&json!("string")) && s.get("format").is_none()
                {
                    "text/plain"
                } else {
                    "application/json"
                };
                r["content"] = json!({ ctype: {"schema": s} });
            }
            responses.insert(status.to_string(), r);
        }
        if self.access != Access::Public && !responses.contains_key("401") {
            responses.insert(
                "401".into(),
                json!({"description": "Missing or wrong credentials",
                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let mut op = json!({
            "tags": [self.tag],
            "summary": self.summary,
            "operationId": format!("{}_{}", self.method.as_str().to_lowercase(),
                self.path.trim_start_matches('/').replace(['/', '{', '}', '-'], "_")),
            "parameters": self.params,
            "responses": responses,
            "security": match self.access {
                Access::Public => json!([]),
                Access::Any => json!([{"bearerAuth": []}, {"basicAuth": []}]),
                Access::BearerOnly => json!([{"bearerAuth": []}]),
            },
        });
        if let Some(b) = &self.body {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": b}}});
        }
        op
    }
}

/// The `{name}` parameters of a path (axum `{*name}` wildcards included).
fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*').to_string())
        .collect()
}

/// An axum path as OpenAPI writes it (`{*topic}` → `{topic}`).
pub fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// `{"$ref": "#/components/schemas/<name>"}`.
pub fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An array of `items`.
pub fn array_of(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// `{data: [items], meta: Meta}`.
pub fn page_of(items: Value) -> Value {
    json!({
        "type": "object",
        "properties": {"data": array_of(items), "meta": schema_ref("Meta")},
    })
}

/// The whole document for `ops`.
pub fn document(ops: &[Op]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let entry = paths
            .entry(openapi_path(&op.path))
            .or_insert_with(|| json!({}));
        entry[op.method.as_str().to_lowercase()] = op.to_json();
    }
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": "linkmq API",
            "version": linkmq_core::sys::VERSION,
            "description": "EMQX 5.8 compatible management API (/api/v5). Authenticate with a bearer \
                token from POST /api/v5/login or with an API key as HTTP Basic.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "basicAuth": {"type": "http", "scheme": "basic"},
            },
            "schemas": schemas(),
        },
    })
}

fn schemas() -> Value {
    let int = json!({"type": "integer"});
    let string = json!({"type": "string"});
    let boolean = json!({"type": "boolean"});
    json!({
        "Error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": string, "message": string},
        },
        "Meta": {
            "type": "object",
            "properties": {"page": int, "limit": int, "count": int, "hasnext": boolean},
        },
        "Client": {
            "type": "object",
            "properties": {
                "clientid": string, "username": {"type": "string", "nullable": true},
                "node": string, "ip_address": string, "port": int, "connected": boolean,
                "connected_at": string, "created_at": string, "keepalive": int,
                "clean_start": boolean, "proto_name": string, "proto_ver": int,
                "listener": string, "subscriptions_cnt": int, "inflight_max": int,
                "mqueue_max": int, "awaiting_rel_max": int, "is_bridge": boolean,
                "is_expired": boolean, "durable": boolean, "inflight_cnt": int,
                "mqueue_len": int, "mqueue_dropped": int, "awaiting_rel_cnt": int,
                "expiry_interval": int, "disconnected_at": string, "recv_pkt": int,
                "recv_msg": int, "recv_oct": int, "send_pkt": int, "send_msg": int,
                "send_oct": int,
            },
        },
        "Subscription": {
            "type": "object",
            "properties": {
                "clientid": string, "topic": string, "qos": int, "nl": int, "rap": int,
                "rh": int, "node": string, "durable": boolean,
            },
        },
        "Topic": {"type": "object", "properties": {"topic": string, "node": string}},
        "PublishMessage": {
            "type": "object", "required": ["topic", "payload"], "additionalProperties": false,
            "properties": {
                "topic": string, "payload": string,
                "payload_encoding": {"type": "string", "enum": ["plain", "base64"]},
                "qos": {"type": "integer", "enum": [0, 1, 2]}, "retain": boolean,
                "clientid": string,
                "properties": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "payload_format_indicator": {"type": "integer", "enum": [0, 1]},
                        "message_expiry_interval": int, "response_topic": string,
                        "correlation_data": string, "content_type": string,
                        "user_properties": {"type": "object", "additionalProperties": string},
                    },
                },
            },
        },
        "PublishOk": {"type": "object", "properties": {"id": string}},
        "PublishError": {
            "type": "object", "properties": {"reason_code": int, "message": string},
        },
        "RetainedMessage": {
            "type": "object",
            "properties": {
                "topic": string, "msgid": string, "qos": int, "publish_at": string,
                "from_clientid": string, "from_username": string,
                "payload": {"type": "string", "format": "byte"},
            },
        },
        "Alarm": {
            "type": "object",
            "properties": {
                "node": string, "name": string, "message": string, "details": {"type": "object"},
                "duration": int, "activate_at": string, "deactivate_at": string,
            },
        },
        "Node": {
            "type": "object",
            "properties": {
                "node": string, "node_status": string, "version": string, "edition": string,
                "uptime": int, "connections": int, "live_connections": int,
                "memory_total": int, "memory_used": int, "load1": {"type": "number"},
                "load5": {"type": "number"}, "load15": {"type": "number"}, "max_fds": int,
                "role": string,
            },
        },
        "Login": {
            "type": "object", "required": ["username", "password"],
            "properties": {"username": string, "password": string, "mfa_token": string},
        },
        "LoginOk": {
            "type": "object",
            "properties": {
                "token": string, "version": string, "role": string,
                "license": {"type": "object", "properties": {"edition": string}},
            },
        },
        "User": {
            "type": "object",
            "properties": {"username": string, "role": string, "description": string, "backend": string},
        },
        "ApiKey": {
            "type": "object",
            "properties": {
                "name": string, "api_key": string, "api_secret": string,
                "expired_at": string, "created_at": string, "desc": string, "enable": boolean,
                "expired": boolean, "role": string,
            },
        },
        "AuthnUser": {
            "type": "object",
            "properties": {"user_id": string, "is_superuser": boolean},
        },
        "AuthzFile": {
            "type": "object", "required": ["type", "rules"],
            "properties": {
                "type": {"type": "string", "enum": ["file"]}, "enable": boolean, "rules": string,
            },
        },
    })
}

async fn swagger_json(State(_): State<ApiState>) -> Json<Value> {
    Json(document(&crate::routes::all_docs()))
}

/// `GET /api-docs/swagger.json`.
pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.add_full(
        Method::GET,
        "/api-docs/swagger.json",
        Access::Any,
        swagger_json,
    )
}

pub(crate) fn docs() -> Vec<Op> {
    vec![
        Op::full(
            Method::GET,
            "/api-docs/swagger.json",
            "API Docs",
            "This OpenAPI document",
        )
        .response(200, "OpenAPI 3.0 document", Some(json!({"type": "object"}))),
    ]
}
