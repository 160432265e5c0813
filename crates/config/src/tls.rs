//! TLS settings: a listener's `ssl_options` (server side) and a link's `ssl` (client side).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

use crate::reader::{self, Ctx, Section, config_enum, describe};

config_enum! {
    /// Whether the peer's certificate is checked (EMQX `verify`).
    pub enum SslVerify {
        /// Accept any certificate.
        VerifyNone = "verify_none",
        /// Check the chain against `cacertfile` (and the host name on clients).
        VerifyPeer = "verify_peer",
    }
    default = VerifyNone;
}

/// TLS versions EMQX accepts in `versions`.
const KNOWN_VERSIONS: &[&str] = &["tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1"];

/// EMQX's default `versions`.
pub fn default_tls_versions() -> Vec<String> {
    vec!["tlsv1.3".to_string(), "tlsv1.2".to_string()]
}

/// SNI a TLS client sends (EMQX `server_name_indication`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ServerNameIndication {
    /// Not set: send the host part of the server address.
    #[default]
    Auto,
    /// `disable`: send no SNI.
    Disable,
    /// Send this name.
    Name(String),
}

impl ServerNameIndication {
    /// Whether the setting was left unset.
    pub fn is_auto(&self) -> bool {
        matches!(self, ServerNameIndication::Auto)
    }
}

impl Serialize for ServerNameIndication {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ServerNameIndication::Auto => s.serialize_none(),
            ServerNameIndication::Disable => s.serialize_str("disable"),
            ServerNameIndication::Name(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for ServerNameIndication {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if v.is_null() {
            return Ok(ServerNameIndication::Auto);
        }
        sni(&v).map_err(<D::Error as serde::de::Error>::custom)
    }
}

fn sni(v: &serde_json::Value) -> Result<ServerNameIndication, String> {
    if reader::is_word(v, "disable") {
        return Ok(ServerNameIndication::Disable);
    }
    reader::non_empty_string(v).map(ServerNameIndication::Name)
}

fn versions(v: &serde_json::Value) -> Result<Vec<String>, String> {
    let list = reader::string_list(v)?;
    for version in &list {
        if !KNOWN_VERSIONS.contains(&version.as_str()) {
            return Err(format!(
                "expected TLS versions among {}, found {}",
                KNOWN_VERSIONS.join(" | "),
                describe(&serde_json::Value::String(version.clone()))
            ));
        }
    }
    if list.is_empty() {
        return Err("expected at least one TLS version".to_string());
    }
    Ok(list)
}

/// A TLS listener's `ssl_options` (server side).
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerSslOptions {
    /// PEM certificate chain presented to clients.
    pub certfile: Option<String>,
    /// PEM private key of `certfile`.
    pub keyfile: Option<String>,
    /// PEM CA bundle used to verify client certificates.
    pub cacertfile: Option<String>,
    /// Whether client certificates are requested and checked (mTLS).
    pub verify: SslVerify,
    /// With `verify_peer`: refuse clients that present no certificate.
    pub fail_if_no_peer_cert: bool,
    /// Accepted TLS versions, e.g. `["tlsv1.3", "tlsv1.2"]`.
    pub versions: Vec<String>,
    /// Cipher suites (empty: the library's defaults).
    pub ciphers: Vec<String>,
    /// Maximum certificate chain depth.
    pub depth: u32,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
}

impl Default for ListenerSslOptions {
    fn default() -> Self {
        ListenerSslOptions {
            certfile: None,
            keyfile: None,
            cacertfile: None,
            verify: SslVerify::VerifyNone,
            fail_if_no_peer_cert: false,
            versions: default_tls_versions(),
            ciphers: Vec::new(),
            depth: 10,
            handshake_timeout: Duration::from_secs(15),
        }
    }
}

/// Reads a listener's `ssl_options` section.
pub(crate) fn read_listener_ssl(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> ListenerSslOptions {
    let d = ListenerSslOptions::default();
    let out = ListenerSslOptions {
        certfile: sec.opt(ctx, "certfile", reader::non_empty_string),
        keyfile: sec.opt(ctx, "keyfile", reader::non_empty_string),
        cacertfile: sec.opt(ctx, "cacertfile", reader::non_empty_string),
        verify: sec.get(ctx, "verify", d.verify, reader::one_of),
        fail_if_no_peer_cert: sec.get(
            ctx,
            "fail_if_no_peer_cert",
            d.fail_if_no_peer_cert,
            reader::boolean,
        ),
        versions: sec.get(ctx, "versions", d.versions, versions),
        ciphers: sec.get(ctx, "ciphers", d.ciphers, reader::string_list),
        depth: sec.get(ctx, "depth", d.depth as u64, reader::int_in(0, 255)) as u32,
        handshake_timeout: sec.get(
            ctx,
            "handshake_timeout",
            d.handshake_timeout,
            reader::duration,
        ),
    };
    sec.accept(&[
        "password",
        "reuse_sessions",
        "secure_renegotiate",
        "honor_cipher_order",
        "client_renegotiation",
        "enable_crl_check",
        "ocsp",
        "gc_after_handshake",
        "user_lookup_fun",
        "log_level",
        "hibernate_after",
        "partial_chain",
        "verify_peer_ext_key_usage",
    ]);
    sec.finish(ctx);
    out
}

/// A cluster link's `ssl` section (client side).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkSslConfig {
    /// Whether the link connects with TLS.
    pub enable: bool,
    /// Whether the remote's certificate is checked.
    pub verify: SslVerify,
    /// PEM CA bundle that signs the remote's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cacertfile: Option<String>,
    /// PEM client certificate (mutual TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certfile: Option<String>,
    /// PEM private key of `certfile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyfile: Option<String>,
    /// SNI to send.
    #[serde(skip_serializing_if = "ServerNameIndication::is_auto")]
    pub server_name_indication: ServerNameIndication,
    /// Accepted TLS versions.
    pub versions: Vec<String>,
    /// Cipher suites (empty: the library's defaults).
    pub ciphers: Vec<String>,
}

impl Default for LinkSslConfig {
    fn default() -> Self {
        LinkSslConfig {
            enable: false,
            verify: SslVerify::VerifyNone,
            cacertfile: None,
            certfile: None,
            keyfile: None,
            server_name_indication: ServerNameIndication::Auto,
            versions: default_tls_versions(),
            ciphers: Vec::new(),
        }
    }
}

/// Reads a link's `ssl` section.
pub(crate) fn read_link_ssl(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> LinkSslConfig {
    let d = LinkSslConfig::default();
    let out = LinkSslConfig {
        enable: sec.get(ctx, "enable", d.enable, reader::boolean),
        verify: sec.get(ctx, "verify", d.verify, reader::one_of),
        cacertfile: sec.opt(ctx, "cacertfile", reader::non_empty_string),
        certfile: sec.opt(ctx, "certfile", reader::non_empty_string),
        keyfile: sec.opt(ctx, "keyfile", reader::non_empty_string),
        server_name_indication: sec.get(
            ctx,
            "server_name_indication",
            d.server_name_indication,
            sni,
        ),
        versions: sec.get(ctx, "versions", d.versions, versions),
        ciphers: sec.get(ctx, "ciphers", d.ciphers, reader::string_list),
    };
    sec.accept(&[
        "password",
        "depth",
        "reuse_sessions",
        "secure_renegotiate",
        "log_level",
        "hibernate_after",
        "partial_chain",
        "verify_peer_ext_key_usage",
        "middlebox_comp_mode",
    ]);
    sec.finish(ctx);
    out
}
