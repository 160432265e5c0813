//! MQTT over WebSocket (`ws` and `wss` listeners): the HTTP upgrade (path, `Sec-WebSocket-Protocol`,
//! `Origin`) and a byte-stream view of the binary frames, so the same framer as TCP reads them.
//! MQTT packets may span frames and one frame may hold several packets [MQTT-6.0.0-2].

pub(crate) use linkmq_ws_stream::WsStream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A WebSocket listener's settings (`listeners.ws|wss.<name>.websocket`).
#[derive(Debug, Clone, PartialEq)]
pub struct WsOptions {
    /// HTTP path of the MQTT endpoint (`mqtt_path`, default `/mqtt`).
    pub path: String,
    /// Accepted `Sec-WebSocket-Protocol` values (`supported_subprotocols`).
    pub subprotocols: Vec<String>,
    /// Refuse upgrades that offer none of `subprotocols`.
    pub fail_if_no_subprotocol: bool,
    /// `check_origin_enable`: only these origins may connect.
    pub check_origins: Option<Vec<String>>,
    /// With `check_origins`: whether a request without `Origin` is let in.
    pub allow_origin_absence: bool,
    /// Largest frame / message accepted (`max_frame_size`); `None` = unlimited.
    pub max_frame_size: Option<usize>,
}

impl Default for WsOptions {
    /// EMQX's defaults: `/mqtt`, subprotocols `mqtt`, `mqtt-v3`, `mqtt-v3.1.1`, `mqtt-v5`, required.
    fn default() -> Self {
        WsOptions {
            path: "/mqtt".into(),
            subprotocols: ["mqtt", "mqtt-v3", "mqtt-v3.1.1", "mqtt-v5"]
                .map(String::from)
                .to_vec(),
            fail_if_no_subprotocol: true,
            check_origins: None,
            allow_origin_absence: true,
            max_frame_size: None,
        }
    }
}

fn reject(status: StatusCode, why: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(why.to_string()));
    *r.status_mut() = status;
    r
}

/// Checks the upgrade request and picks the subprotocol (the client's first supported one).
/// (The error type is tungstenite's callback contract.)
#[allow(clippy::result_large_err)]
fn check_request(
    o: &WsOptions,
    req: &Request,
    mut resp: Response,
) -> Result<Response, ErrorResponse> {
    if req.uri().path() != o.path {
        return Err(reject(StatusCode::NOT_FOUND, "no MQTT endpoint here"));
    }
    if let Some(allowed) = &o.check_origins {
        match req.headers().get(header::ORIGIN).map(HeaderValue::to_str) {
            None if o.allow_origin_absence => {}
            Some(Ok(origin)) if allowed.iter().any(|a| a == origin) => {}
            _ => return Err(reject(StatusCode::FORBIDDEN, "origin not allowed")),
        }
    }
    let offered: Vec<&str> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match offered
        .iter()
        .find(|p| o.subprotocols.iter().any(|s| s == *p))
    {
        Some(p) => {
            if let Ok(v) = HeaderValue::from_str(p) {
                resp.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, v);
            }
        }
        None if o.fail_if_no_subprotocol => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "no supported Sec-WebSocket-Protocol (expected mqtt)",
            ));
        }
        None => {}
    }
    Ok(resp)
}

/// Runs the server side of the upgrade on `stream`.
pub(crate) async fn accept<S>(stream: S, o: &WsOptions) -> Result<WsStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut config = WebSocketConfig::default();
    if let Some(max) = o.max_frame_size {
        config = config.max_frame_size(Some(max)).max_message_size(Some(max));
    }
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| check_request(o, req, resp);
    let ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await?;
    Ok(WsStream::new(ws))
}
