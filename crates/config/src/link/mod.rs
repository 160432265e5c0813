//! `cluster.links[]`: one entry per remote cluster this cluster links with
//! (design: cluster-link-protocol.md §7). Readable from HOCON and from REST JSON alike.

mod render;
mod server;
mod validate;

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::Diagnostic;
use crate::reader::{self, Ctx, KeyPath, Section, config_enum, describe};
use crate::secret::{REDACTED, Secret};
use crate::tls::{LinkSslConfig, read_link_ssl};

pub use render::links_to_hocon;
pub use server::{DEFAULT_MQTT_PORT, LinkServer, LinkServerError};
pub(crate) use validate::duplicate_names;
pub use validate::{
    LinkValidationError, MAX_LINK_NAME_LEN, validate_link, validate_link_name,
    validate_link_topics, validate_links,
};

/// Default `pool_size`: forwarding clients per node.
pub const DEFAULT_POOL_SIZE: u32 = 8;
/// Default `retry_interval`.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(15);
/// Default `max_inflight`.
pub const DEFAULT_MAX_INFLIGHT: u32 = 32;

config_enum! {
    /// How forwarded messages are spread over the link's client pool.
    pub enum DispatchStrategy {
        /// Same publisher → same pool client (keeps per-publisher order).
        PerClientid = "per_clientid",
        /// Any pool client.
        Random = "random",
    }
    default = PerClientid;
}

/// One link to a remote cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkConfig {
    /// Whether the link runs.
    pub enable: bool,
    /// The remote cluster's `cluster.name`.
    pub name: String,
    /// The remote cluster's MQTT endpoint.
    pub server: LinkServer,
    /// Client-id base of the link's MQTT clients; `None` means the local `cluster.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clientid: Option<String>,
    /// Username for the remote's authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for the remote's authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Filters whose messages this cluster wants to receive from the remote (may be empty).
    pub topics: Vec<String>,
    /// Number of forwarding clients per node.
    pub pool_size: u32,
    /// Delay before reconnecting / re-sending.
    #[serde(with = "crate::units::serde_duration")]
    pub retry_interval: Duration,
    /// In-flight QoS 1 messages per client.
    pub max_inflight: u32,
    /// TLS towards the remote.
    pub ssl: LinkSslConfig,
    /// Buffering and health-check settings of the forwarding pool.
    pub resource_opts: LinkResourceOpts,
}

/// `resource_opts` of a link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkResourceOpts {
    /// How long a forwarded message may wait for its PUBACK; `None` is `infinity`.
    #[serde(with = "crate::units::serde_timeout")]
    pub request_ttl: Option<Duration>,
    /// Messages in flight per pool.
    pub inflight_window: u32,
    /// Bytes buffered while the remote is unreachable.
    #[serde(with = "crate::units::serde_size")]
    pub max_buffer_bytes: u64,
    /// Interval of the connection health check.
    #[serde(with = "crate::units::serde_duration")]
    pub health_check_interval: Duration,
    /// Pool client selection.
    pub dispatch_strategy: DispatchStrategy,
}

impl Default for LinkResourceOpts {
    fn default() -> Self {
        LinkResourceOpts {
            request_ttl: Some(Duration::from_secs(45)),
            inflight_window: 100,
            max_buffer_bytes: 256 << 20,
            health_check_interval: Duration::from_secs(15),
            dispatch_strategy: DispatchStrategy::PerClientid,
        }
    }
}

impl LinkConfig {
    /// A link with EMQX defaults for everything but the three required fields.
    pub fn new(name: impl Into<String>, server: LinkServer, topics: Vec<String>) -> Self {
        LinkConfig {
            enable: true,
            name: name.into(),
            server,
            clientid: None,
            username: None,
            password: None,
            topics,
            pool_size: DEFAULT_POOL_SIZE,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            ssl: LinkSslConfig::default(),
            resource_opts: LinkResourceOpts::default(),
        }
    }

    /// Reads a link from REST JSON (same field names and defaults as HOCON); unknown fields
    /// are ignored. Only types are checked here: call [`validate_link`] for the name/topic rules.
    pub fn from_json(value: &Value) -> Result<LinkConfig, Vec<Diagnostic>> {
        let mut ctx = Ctx::new(None);
        let link = read_link(&mut ctx, KeyPath::default(), value);
        match link {
            Some(link) if ctx.errors.is_empty() => Ok(link),
            _ => Err(ctx.errors),
        }
    }

    /// The client-id base: `clientid`, or the local cluster's name.
    pub fn clientid_base<'a>(&'a self, local_cluster_name: &'a str) -> &'a str {
        self.clientid.as_deref().unwrap_or(local_cluster_name)
    }

    /// Whether the link connects with TLS (`ssl.enable` or an `mqtts://` server).
    pub fn uses_tls(&self) -> bool {
        self.ssl.enable || self.server.tls
    }

    /// A copy safe to show in API output: the password replaced by `"******"`.
    pub fn redacted(&self) -> LinkConfig {
        let mut copy = self.clone();
        if copy.password.is_some() {
            copy.password = Some(Secret::new(REDACTED));
        }
        copy
    }

    /// If this (incoming) link carries the `"******"` placeholder, keeps `stored`'s password.
    pub fn keep_password_if_redacted(&mut self, stored: &LinkConfig) {
        if self
            .password
            .as_ref()
            .is_some_and(Secret::is_redacted_placeholder)
        {
            self.password = stored.password.clone();
        }
    }
}

impl<'de> Deserialize<'de> for LinkConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        LinkConfig::from_json(&value).map_err(|diags| {
            let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
            <D::Error as serde::de::Error>::custom(text.join("; "))
        })
    }
}

/// Reads one link object at `path`; `None` if a required field is missing or mistyped.
pub(crate) fn read_link(ctx: &mut Ctx<'_>, path: KeyPath, value: &Value) -> Option<LinkConfig> {
    let mut sec = Section::new(ctx, path, Some(value));
    if !sec.is_present() {
        return None;
    }
    let name = sec.required(ctx, "name", reader::string);
    let server = sec.required(ctx, "server", server);
    let topics = sec.required(ctx, "topics", topic_array);
    let enable = sec.get(ctx, "enable", true, reader::boolean);
    let clientid = sec.opt(ctx, "clientid", reader::non_empty_string);
    let username = sec.opt(ctx, "username", reader::string);
    let password = sec.opt(ctx, "password", reader::string).map(Secret::new);
    let pool_size = sec.get(
        ctx,
        "pool_size",
        DEFAULT_POOL_SIZE.into(),
        reader::int_in(1, 1024),
    ) as u32;
    let retry_interval = sec.get(
        ctx,
        "retry_interval",
        DEFAULT_RETRY_INTERVAL,
        reader::duration,
    );
    let max_inflight = sec.get(
        ctx,
        "max_inflight",
        DEFAULT_MAX_INFLIGHT.into(),
        reader::int_in(1, 65_535),
    ) as u32;
    let ssl_section = sec.section(ctx, "ssl");
    let ssl = read_link_ssl(ssl_section, ctx);
    let resource_section = sec.section(ctx, "resource_opts");
    let resource_opts = read_resource_opts(resource_section, ctx);
    sec.finish(ctx);
    Some(LinkConfig {
        enable,
        name: name?,
        server: server?,
        clientid,
        username,
        password,
        topics: topics?,
        pool_size,
        retry_interval,
        max_inflight,
        ssl,
        resource_opts,
    })
}

fn read_resource_opts(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> LinkResourceOpts {
    let d = LinkResourceOpts::default();
    let out = LinkResourceOpts {
        request_ttl: sec.get(
            ctx,
            "request_ttl",
            d.request_ttl,
            reader::duration_or_infinity,
        ),
        inflight_window: sec.get(
            ctx,
            "inflight_window",
            d.inflight_window.into(),
            reader::int_in(1, 65_535),
        ) as u32,
        max_buffer_bytes: sec.get(ctx, "max_buffer_bytes", d.max_buffer_bytes, reader::size),
        health_check_interval: sec.get(
            ctx,
            "health_check_interval",
            d.health_check_interval,
            reader::duration,
        ),
        dispatch_strategy: sec.get(
            ctx,
            "dispatch_strategy",
            d.dispatch_strategy,
            reader::one_of,
        ),
    };
    sec.accept(&[
        "worker_pool_size",
        "query_mode",
        "buffer_mode",
        "batch_size",
        "batch_time",
        "start_timeout",
    ]);
    sec.finish(ctx);
    out
}

fn server(v: &Value) -> Result<LinkServer, String> {
    let text = reader::string(v)?;
    text.parse::<LinkServer>().map_err(|e| e.to_string())
}

/// Topics are a real array: a comma is a legal topic character, so no comma-splitting here.
fn topic_array(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "expected topic filters as strings, found {}",
                    describe(other)
                )),
            })
            .collect(),
        other => Err(format!(
            "expected an array of topic filters, found {}",
            describe(other)
        )),
    }
}
