//! Loads `etc/emqx.conf` (HOCON, EMQX 5.8 key names and defaults) into typed, validated
//! settings, so that EMQX operators feel at home.
//!
//! Pipeline: HOCON text (with `include`, `${VAR}` / `${?VAR}`) → one merged value tree → the
//! `EMQX_*` environment overlay (`EMQX_MQTT__MAX_PACKET_SIZE=2MB`) → typed sections with EMQX
//! defaults. Errors read like a compiler's (`etc/emqx.conf:14:3: mqtt.max_packet_size: expected a
//! size like "1MB", found "lots"`); unknown keys become warnings, never silent, never fatal.
//!
//! This crate knows nothing of the broker's other crates. Entry points: [`load`],
//! [`load_with_env`], [`parse_str`]; cluster links: [`LinkConfig`], [`validate_link`],
//! [`validate_links`], [`links_to_hocon`].

mod error;
mod link;
mod rate;
mod reader;
mod schema;
mod secret;
mod source;
mod tls;
mod topic;
pub mod units;
mod values;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, Diagnostic, Location};
pub use link::{
    DEFAULT_MAX_INFLIGHT, DEFAULT_MQTT_PORT, DEFAULT_POOL_SIZE, DEFAULT_RETRY_INTERVAL,
    DispatchStrategy, LinkConfig, LinkResourceOpts, LinkServer, LinkServerError,
    LinkValidationError, MAX_LINK_NAME_LEN, links_to_hocon, validate_link, validate_link_name,
    validate_link_topics, validate_links,
};
pub use rate::{Rate, parse_rate};
pub use schema::RESERVED_ROOTS;
pub use schema::api_key::ApiKeyConfig;
pub use schema::cluster::{ClusterConfig, DiscoveryStrategy, StaticDiscovery};
pub use schema::dashboard::{DashboardConfig, DashboardListener, UnsuccessfulLogin};
pub use schema::flapping::FlappingDetectConfig;
pub use schema::listeners::{
    ListenerConfig, ListenerKind, ListenersConfig, TcpOptions, WebsocketOptions,
};
pub use schema::log::{ConsoleHandler, FileHandler, LogConfig, LogFormatter, LogLevel};
pub use schema::mqtt::{MqttConfig, MqueueDefaultPriority, PeerCertAs, SharedSubscriptionStrategy};
pub use schema::node::NodeConfig;
pub use schema::security::{
    AuthenticatorConfig, AuthorizationConfig, AuthzCacheConfig, BootstrapType,
    BuiltInDatabaseConfig, DEFAULT_ACL_PATH, DenyActionConfig, FileSourceConfig, MacFun, NoMatch,
    PasswordHashAlgorithm, SaltPosition, ScramConfig, SimpleHashName, UserIdType,
};
pub use schema::sys_topics::{SysEventMessages, SysTopicsConfig};
pub use secret::{REDACTED, Secret};
pub use tls::{
    LinkSslConfig, ListenerSslOptions, ServerNameIndication, SslVerify, default_tls_versions,
};
pub use topic::{MAX_FILTER_LEN, TopicFilterError, filter_covers, validate_filter};

/// The configuration a user starts with (`etc/emqx.conf`), used when no file is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../../etc/emqx.conf");

/// How the embedded default configuration is named in messages.
pub const DEFAULT_CONFIG_NAME: &str = "etc/emqx.conf (built-in)";

/// The whole configuration of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `node { ... }`.
    pub node: NodeConfig,
    /// `cluster { ... }`, including `cluster.links`.
    pub cluster: ClusterConfig,
    /// `listeners { ... }`.
    pub listeners: ListenersConfig,
    /// `mqtt { ... }`.
    pub mqtt: MqttConfig,
    /// `log { ... }`.
    pub log: LogConfig,
    /// `dashboard { ... }`.
    pub dashboard: DashboardConfig,
    /// `sys_topics { ... }`.
    pub sys_topics: SysTopicsConfig,
    /// `authentication = [ ... ]` (empty: every client is allowed).
    pub authentication: Vec<AuthenticatorConfig>,
    /// `authorization { ... }`.
    pub authorization: AuthorizationConfig,
    /// `flapping_detect { ... }`.
    pub flapping_detect: FlappingDetectConfig,
    /// `api_key { bootstrap_file }`.
    pub api_key: ApiKeyConfig,
    /// The file it was loaded from (`None`: embedded default or a string).
    pub source: Option<PathBuf>,
    /// One line per ignored (unknown) key, `file:line:col: key: unknown key, ignored`.
    pub warnings: Vec<String>,
    /// The whole merged tree (after includes, substitutions and env), for sections parsed
    /// elsewhere, e.g. `authentication`, `authorization` (see [`RESERVED_ROOTS`]).
    pub raw: serde_json::Value,
}

impl Config {
    /// The raw value of a top-level section, e.g. `config.section("authorization")`.
    pub fn section(&self, root: &str) -> Option<&serde_json::Value> {
        self.raw.get(root)
    }
}

/// Loads `path` (or the embedded default when `None`), with the process environment for
/// `${VAR}` substitution and the `EMQX_*` overlay.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    load_with_env(path, &env)
}

/// Like [`load`], with an explicit environment (for tests and embedding).
pub fn load_with_env(path: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
    match path {
        None => parse_str(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, env),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let mut config = parse_str(&text, &path.display().to_string(), env)?;
            config.source = Some(path.to_path_buf());
            Ok(config)
        }
    }
}

/// Parses HOCON `text`; `file_name` appears in messages and anchors relative includes.
pub fn parse_str(
    text: &str,
    file_name: &str,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let doc = source::parse_document(text, file_name, env)?;
    let mut ctx = reader::Ctx::new(Some(&doc.origins));
    let sections = schema::read(&doc.tree, &mut ctx);
    if !ctx.errors.is_empty() {
        return Err(ConfigError::Invalid(ctx.errors));
    }
    let warnings: Vec<String> = ctx.warnings.iter().map(ToString::to_string).collect();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(Config {
        node: sections.node,
        cluster: sections.cluster,
        listeners: sections.listeners,
        mqtt: sections.mqtt,
        log: sections.log,
        dashboard: sections.dashboard,
        sys_topics: sections.sys_topics,
        authentication: sections.authentication,
        authorization: sections.authorization,
        flapping_detect: sections.flapping_detect,
        api_key: sections.api_key,
        source: None,
        warnings,
        raw: doc.tree,
    })
}
