//! Clients: `GET /clients` (filters `clientid`, `username`, `like_clientid`, `like_username`,
//! `conn_state`, `ip_address`, `clean_start`, `proto_ver`, `gte|lte_connected_at`,
//! `gte|lte_created_at`), `GET|DELETE /clients/{clientid}` (DELETE kicks), `POST
//! /clients/kickout/bulk`, `GET /clients/{clientid}/subscriptions`.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use linkmq_codec::{Protocol, ReasonCode};
use linkmq_core::registry::{ClientEntry, Control, SessionInfo};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::ApiState;
use crate::error::{ApiError, ApiJsonList, ApiPath, ApiResult};
use crate::openapi::{Op, array_of, page_of, schema_ref};
use crate::routes::subscriptions::subscription_view;
use crate::routes::{ApiRoutes, QueryPairs, paged};

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "CLIENTID_NOT_FOUND",
        "Client ID not found",
    )
}

fn proto(p: Protocol) -> (&'static str, u8) {
    match p {
        Protocol::V31 => ("MQIsdp", 3),
        Protocol::V311 => ("MQTT", 4),
        Protocol::V5 => ("MQTT", 5),
    }
}

/// How long the client view waits for the sessions to report their live state.
const INFO_TIMEOUT: Duration = Duration::from_secs(1);

/// The live state of each of `entries`' sessions, asked of all at once: `None` for one that did
/// not answer within [`INFO_TIMEOUT`] (gone, or its mailbox busy with a takeover or kick).
async fn session_infos(entries: &[&ClientEntry]) -> Vec<Option<SessionInfo>> {
    let asked: Vec<_> = entries
        .iter()
        .map(|e| {
            let (reply, rx) = oneshot::channel();
            e.ctl.try_send(Control::Info { reply }).ok().map(|()| rx)
        })
        .collect();
    let until = tokio::time::Instant::now() + INFO_TIMEOUT;
    let mut out = Vec::with_capacity(asked.len());
    for rx in asked {
        out.push(match rx {
            Some(rx) => tokio::time::timeout_at(until, rx)
                .await
                .ok()
                .and_then(Result::ok),
            None => None,
        });
    }
    out
}

/// One client in EMQX's shape (the fields linkmq knows). `live`, the session's own report, adds
/// `inflight_cnt`, `mqueue_len`, `mqueue_dropped`, `awaiting_rel_cnt`, `expiry_interval`, the
/// session's `created_at`, and either its connection's traffic (`recv_pkt`, `recv_msg`,
/// `recv_oct`, `send_pkt`, `send_msg`, `send_oct`) or, for a session kept without its connection,
/// `disconnected_at`.
pub(crate) fn client_view(
    s: &ApiState,
    e: &ClientEntry,
    subscriptions: usize,
    live: Option<SessionInfo>,
) -> Value {
    let i = &e.info;
    let (proto_name, proto_ver) = proto(i.protocol);
    let settings = &s.broker.settings;
    let at = crate::time::rfc3339_ms(i.connected_at_ms);
    let mut v = json!({
        "clientid": &*i.client_id,
        "username": i.username,
        "node": s.node_name(),
        "ip_address": i.peer.map(|p| p.ip().to_string()),
        "port": i.peer.map(|p| p.port()),
        "peerport": i.peer.map(|p| p.port()),
        "connected": e.connected,
        "connected_at": at,
        "created_at": at,
        "keepalive": i.keep_alive,
        "clean_start": i.clean_start,
        "proto_name": proto_name,
        "proto_ver": proto_ver,
        "listener": &*i.listener,
        "is_bridge": false,
        "is_expired": false,
        "is_persistent": false,
        "durable": false,
        "enable_authn": true,
        "mountpoint": null,
        "subscriptions_cnt": subscriptions,
        "subscriptions_max": "infinity",
        "inflight_max": settings.max_inflight,
        "mqueue_max": settings.max_mqueue_len,
        "awaiting_rel_max": settings.max_awaiting_rel,
    });
    if let Some(l) = live {
        v["inflight_cnt"] = l.inflight_cnt.into();
        v["mqueue_len"] = l.mqueue_len.into();
        v["awaiting_rel_cnt"] = l.awaiting_rel_cnt.into();
        v["expiry_interval"] = l.expiry_interval.into();
        v["created_at"] = crate::time::rfc3339_ms(l.created_at_ms).into();
        if let Some(d) = l.disconnected_at_ms {
            v["disconnected_at"] = crate::time::rfc3339_ms(d).into();
        }
        v["mqueue_dropped"] = l.mqueue_dropped.into();
        if let Some(c) = l.conn {
            v["recv_pkt"] = c.recv_pkt.into();
            v["recv_msg"] = c.recv_msg.into();
            v["recv_oct"] = c.recv_oct.into();
            v["send_pkt"] = c.send_pkt.into();
            v["send_msg"] = c.send_msg.into();
            v["send_oct"] = c.send_oct.into();
        }
    }
    v
}

/// The filters of `GET /clients`, parsed and checked.
struct Filter<'a> {
    clientids: Vec<&'a str>,
    usernames: Vec<&'a str>,
    like_clientid: Option<&'a str>,
    like_username: Option<&'a str>,
    conn_state: Option<&'a str>,
    ip: Option<std::net::IpAddr>,
    clean_start: Option<bool>,
    proto_ver: Option<u64>,
    connected_range: (Option<u64>, Option<u64>),
    created_range: (Option<u64>, Option<u64>),
}

impl<'a> Filter<'a> {
    fn parse(q: &'a QueryPairs) -> ApiResult<Filter<'a>> {
        let conn_state = q.get("conn_state");
        if let Some(c) = conn_state
            && !matches!(c, "connected" | "idle" | "disconnected")
        {
            return Err(ApiError::invalid_parameter(format!(
                "the conn_state parameter expected type is connected | idle | disconnected, but the value is {c}"
            )));
        }
        let ip = q
            .get("ip_address")
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::invalid_parameter(format!(
                        "the ip_address parameter expected type is ip, but the value is {v}"
                    ))
                })
            })
            .transpose()?;
        Ok(Filter {
            clientids: q.all("clientid"),
            usernames: q.all("username"),
            like_clientid: q.get("like_clientid"),
            like_username: q.get("like_username"),
            conn_state,
            ip,
            clean_start: q.bool("clean_start")?,
            proto_ver: q.u64("proto_ver")?,
            connected_range: (
                q.timestamp_ms("gte_connected_at")?,
                q.timestamp_ms("lte_connected_at")?,
            ),
            created_range: (
                q.timestamp_ms("gte_created_at")?,
                q.timestamp_ms("lte_created_at")?,
            ),
        })
    }

    fn accepts(&self, e: &ClientEntry) -> bool {
        let i = &e.info;
        let user = i.username.as_deref().unwrap_or("");
        let in_range = |(lo, hi): (Option<u64>, Option<u64>), t: u64| {
            lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi)
        };
        (self.clientids.is_empty() || self.clientids.contains(&&*i.client_id))
            && (self.usernames.is_empty()
                || i.username
                    .as_deref()
                    .is_some_and(|u| self.usernames.contains(&u)))
            && self.like_clientid.is_none_or(|l| i.client_id.contains(l))
            && self.like_username.is_none_or(|l| user.contains(l))
            && self.conn_state.is_none_or(|c| match c {
                "connected" => e.connected,
                "disconnected" => !e.connected,
                _ => false,
            })
            && self
                .ip
                .is_none_or(|ip| i.peer.is_some_and(|p| p.ip() == ip))
            && self.clean_start.is_none_or(|c| i.clean_start == c)
            && self
                .proto_ver
                .is_none_or(|v| u64::from(proto(i.protocol).1) == v)
            && in_range(self.connected_range, i.connected_at_ms)
            && in_range(self.created_range, i.connected_at_ms)
    }
}

fn subscription_counts(s: &ApiState) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for v in s.broker.router.subscriptions(None) {
        *m.entry(v.client_id.to_string()).or_insert(0) += 1;
    }
    m
}

async fn list(State(s): State<ApiState>, q: QueryPairs) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let filter = Filter::parse(&q)?;
    if let Some(node) = q.get("node")
        && node != s.node_name()
    {
        return Ok(Json(paged(Vec::<Value>::new(), page)));
    }
    let mut entries: Vec<ClientEntry> = s
        .broker
        .registry
        .entries()
        .into_iter()
        .filter(|e| filter.accepts(e))
        .collect();
    entries.sort_by(|a, b| a.info.client_id.cmp(&b.info.client_id));
    let counts = subscription_counts(&s);
    let shown: Vec<&ClientEntry> = entries
        .iter()
        .skip(page.offset())
        .take(page.limit as usize)
        .collect();
    let live = session_infos(&shown).await;
    let rows: Vec<Value> = shown
        .iter()
        .zip(live)
        .map(|(e, l)| {
            let subs = counts.get(&*e.info.client_id).copied().unwrap_or(0);
            client_view(&s, e, subs, l)
        })
        .collect();
    // Only the rows of the page are rendered; the meta counts every match.
    let mut out = paged(vec![(); entries.len()], page);
    out["data"] = Value::Array(rows);
    Ok(Json(out))
}

async fn get_one(
    State(s): State<ApiState>,
    ApiPath(clientid): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let e = s.broker.registry.get(&clientid).ok_or_else(not_found)?;
    let subs = s.broker.router.subscriptions(Some(&clientid)).len();
    let live = session_infos(&[&e]).await.pop().flatten();
    Ok(Json(client_view(&s, &e, subs, live)))
}

/// Kicks `clientid` (v5: DISCONNECT 0x98) and ends its session; waits until it is gone.
async fn kick(s: &ApiState, clientid: &str) -> bool {
    let Some(e) = s.broker.registry.get(clientid) else {
        return false;
    };
    if e.ctl
        .try_send(Control::Kick {
            reason: ReasonCode::AdministrativeAction,
        })
        .is_err()
    {
        // The owner is already gone; it unregisters itself.
    }
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        match s.broker.registry.get(clientid) {
            Some(now) if now.conn_id == e.conn_id => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            _ => break,
        }
    }
    true
}

async fn delete(
    State(s): State<ApiState>,
    ApiPath(clientid): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if kick(&s, &clientid).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

async fn kickout_bulk(
    State(s): State<ApiState>,
    ApiJsonList(ids): ApiJsonList<String>,
) -> ApiResult<StatusCode> {
    for id in ids {
        kick(&s, &id).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn subscriptions(
    State(s): State<ApiState>,
    ApiPath(clientid): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    if s.broker.registry.get(&clientid).is_none() {
        return Err(not_found());
    }
    let subs: Vec<Value> = s
        .broker
        .router
        .subscriptions(Some(&clientid))
        .iter()
        .map(|v| subscription_view(&s, v))
        .collect();
    Ok(Json(Value::Array(subs)))
}

pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.get("/clients", list)
        .post("/clients/kickout/bulk", kickout_bulk)
        .get("/clients/{clientid}", get_one)
        .delete("/clients/{clientid}", delete)
        .get("/clients/{clientid}/subscriptions", subscriptions)
}

pub(crate) fn docs() -> Vec<Op> {
    let tag = "Clients";
    vec![
        Op::get("/clients", tag, "List clients")
            .paged()
            .query("node", "string", "Only clients on this node")
            .query("clientid", "string", "Exact client id (repeatable)")
            .query("username", "string", "Exact user name (repeatable)")
            .query("like_clientid", "string", "Client id contains this")
            .query("like_username", "string", "User name contains this")
            .query("conn_state", "string", "connected | idle | disconnected")
            .query("ip_address", "string", "Peer IP address")
            .query("clean_start", "boolean", "Clean Start flag")
            .query("proto_ver", "integer", "Protocol level (3, 4, 5)")
            .query(
                "gte_connected_at",
                "string",
                "Connected at or after (epoch ms or RFC 3339)",
            )
            .query("lte_connected_at", "string", "Connected at or before")
            .query("gte_created_at", "string", "Session created at or after")
            .query("lte_created_at", "string", "Session created at or before")
            .response(200, "Clients", Some(page_of(schema_ref("Client"))))
            .error(400, &["INVALID_PARAMETER"]),
        Op::post("/clients/kickout/bulk", tag, "Kick out several clients")
            .body(array_of(json!({"type": "string"})))
            .response(204, "Kicked out", None)
            .error(400, &["BAD_REQUEST"]),
        Op::get("/clients/{clientid}", tag, "Get a client")
            .response(200, "Client", Some(schema_ref("Client")))
            .error(404, &["CLIENTID_NOT_FOUND"]),
        Op::delete(
            "/clients/{clientid}",
            tag,
            "Kick out a client and end its session",
        )
        .response(204, "Kicked out", None)
        .error(404, &["CLIENTID_NOT_FOUND"]),
        Op::get(
            "/clients/{clientid}/subscriptions",
            tag,
            "Subscriptions of a client",
        )
        .response(
            200,
            "Subscriptions",
            Some(array_of(schema_ref("Subscription"))),
        )
        .error(404, &["CLIENTID_NOT_FOUND"]),
    ]
}
