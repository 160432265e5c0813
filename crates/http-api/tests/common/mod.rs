//! Test harness: a real broker (MQTT listener on 127.0.0.1:0) with the API server on another
//! ephemeral port, and a small HTTP/1.1 client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use linkmq_client::{Client, ConnectOptions};
use linkmq_core::{Broker, MqttSettings};
use linkmq_http_api::{ApiServer, ApiState};
use linkmq_net::{Listener, TcpListenerConfig};
use serde_json::Value;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Node name of every test broker.
pub const NODE: &str = "linkmq@127.0.0.1";

/// Credentials of one request.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
    /// A raw `Authorization` header value.
    Raw(String),
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (panics with the body text when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts an EMQX error body `{"code": code, "message": <non-empty>}` with `status`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        let v = self.json();
        assert_eq!(v["code"], code, "body: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message missing: {v}"
        );
    }
}

/// A running broker with its API.
pub struct TestApi {
    pub http: SocketAddr,
    pub mqtt: SocketAddr,
    pub state: ApiState,
    pub broker: Arc<Broker>,
    /// The node's directory (`data/` inside), removed when the `TestApi` is dropped.
    pub dir: TempDir,
    /// A bearer token of the default administrator.
    pub token: String,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    client: HttpClient<HttpConnector, Full<Bytes>>,
}

/// A fresh directory for one test broker, removed when the returned guard is dropped.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("linkmq-api-test-")
        .tempdir()
        .expect("temp dir")
}

impl TestApi {
    /// Default configuration.
    pub async fn start() -> TestApi {
        TestApi::start_with("", |_| {}, |s| s).await
    }

    /// `hocon` appended to the configuration, core settings tuned by `f`, state extended by `ext`.
    pub async fn start_with(
        hocon: &str,
        f: impl FnOnce(&mut MqttSettings),
        ext: impl FnOnce(ApiState) -> ApiState,
    ) -> TestApi {
        TestApi::start_in(temp_dir(), hocon, f, ext).await
    }

    /// Like [`TestApi::start_with`] with a given data directory (restart tests).
    pub async fn start_in(
        dir: TempDir,
        hocon: &str,
        f: impl FnOnce(&mut MqttSettings),
        ext: impl FnOnce(ApiState) -> ApiState,
    ) -> TestApi {
        let text = format!(
            "node.name = \"{NODE}\"\nnode.data_dir = \"{}\"\n{hocon}\n",
            dir.path().join("data").display()
        );
        let config = linkmq_config::parse_str(&text, "test.conf", &[]).expect("test config");
        let mut settings = MqttSettings {
            node_name: NODE.into(),
            sys_heartbeat_interval: None,
            sys_msg_interval: None,
            ..MqttSettings::default()
        };
        f(&mut settings);
        let broker = Broker::new(settings);
        let tracker = TaskTracker::new();
        let l = Listener::bind(TcpListenerConfig {
            name: "tcp:default".into(),
            bind: "127.0.0.1:0".parse().expect("addr"),
            max_connections: usize::MAX,
        })
        .await
        .expect("mqtt listener");
        let mqtt = l.local_addr().expect("mqtt addr");
        tracker.spawn(l.run(broker.clone(), tracker.clone()));
        let state = ext(ApiState::new(broker.clone(), config).expect("api state"));
        let server = ApiServer::bind("127.0.0.1:0".parse().expect("addr"), state.clone())
            .await
            .expect("api bind");
        let http = server.local_addr().expect("api addr");
        let shutdown = CancellationToken::new();
        tracker.spawn(server.run(shutdown.clone()));
        let client = HttpClient::builder(TokioExecutor::new()).build_http();
        let mut api = TestApi {
            http,
            mqtt,
            state,
            broker,
            dir,
            token: String::new(),
            shutdown,
            tracker,
            client,
        };
        let r = api
            .request(
                "POST",
                "/api/v5/login",
                Auth::None,
                Some(br#"{"username":"admin","password":"public"}"#.to_vec()),
            )
            .await;
        if r.status == 200 {
            api.token = r.json()["token"].as_str().expect("token").to_string();
        }
        api
    }

    /// Stops the API and the broker and hands back the directory, still there for a restart.
    pub async fn stop(self) -> TempDir {
        self.shutdown.cancel();
        self.broker.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.dir
    }

    /// One HTTP request (a body is sent as `application/json`).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        auth: Auth,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let ct = body.is_some().then_some("application/json");
        self.request_ct(method, path, auth, body, ct).await
    }

    /// One HTTP request with this content type (or none).
    pub async fn request_ct(
        &self,
        method: &str,
        path: &str,
        auth: Auth,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Resp {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.http));
        match &auth {
            Auth::None => {}
            Auth::Bearer(t) => b = b.header("authorization", format!("Bearer {t}")),
            Auth::Basic(k, s) => {
                let enc = base64::engine::general_purpose::STANDARD.encode(format!("{k}:{s}"));
                b = b.header("authorization", format!("Basic {enc}"));
            }
            Auth::Raw(v) => b = b.header("authorization", v.as_str()),
        }
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("HTTP answer within 10 s")
            .expect("HTTP request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    fn admin(&self) -> Auth {
        Auth::Bearer(self.token.clone())
    }

    /// GET as the administrator.
    pub async fn get(&self, path: &str) -> Resp {
        self.request("GET", path, self.admin(), None).await
    }

    /// DELETE as the administrator.
    pub async fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, self.admin(), None).await
    }

    /// POST JSON as the administrator.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(
            "POST",
            path,
            self.admin(),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// PUT JSON as the administrator.
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.request(
            "PUT",
            path,
            self.admin(),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// POST raw bytes as the administrator.
    pub async fn post_raw(&self, path: &str, body: &[u8]) -> Resp {
        self.request("POST", path, self.admin(), Some(body.to_vec()))
            .await
    }

    /// A connected v5 MQTT client.
    pub async fn client(&self, client_id: &str) -> Client {
        self.client_with(ConnectOptions::new(self.mqtt.to_string(), client_id))
            .await
    }

    /// A connected MQTT client with these options.
    pub async fn client_with(&self, opts: ConnectOptions) -> Client {
        let (c, _) = Client::connect(opts).await.expect("mqtt connect");
        c
    }
}

/// Polls `cond` every 10 ms for up to 5 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
