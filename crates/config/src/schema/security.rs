//! `authentication = [ ... ]` and `authorization { ... }`: EMQX 5.8 keys and defaults, for the
//! backends linkmq implements (the built-in database, the `acl.conf` file). Any other backend or
//! source is an error rather than silently ignored: an ignored authenticator would let everyone in.

use std::time::Duration;

use serde_json::Value;

use crate::reader::{self, Ctx, KeyPath, Section, config_enum, describe};

config_enum! {
    /// Which CONNECT field identifies the user (`user_id_type`).
    pub enum UserIdType {
        /// The username.
        Username = "username",
        /// The client id.
        Clientid = "clientid",
    }
    default = Username;
}

config_enum! {
    /// How `bootstrap_file` stores passwords (`bootstrap_type`).
    pub enum BootstrapType {
        /// Clear passwords, hashed on import.
        Plain = "plain",
        /// `password_hash` and `salt` made with the configured algorithm.
        Hash = "hash",
    }
    default = Plain;
}

config_enum! {
    /// The simple digests of `password_hash_algorithm.name`.
    pub enum SimpleHashName {
        /// No hashing.
        Plain = "plain",
        /// MD5.
        Md5 = "md5",
        /// SHA-1.
        Sha = "sha",
        /// SHA-256.
        Sha256 = "sha256",
        /// SHA-512.
        Sha512 = "sha512",
    }
    default = Sha256;
}

config_enum! {
    /// Where the salt goes (`salt_position`).
    pub enum SaltPosition {
        /// No salt.
        Disable = "disable",
        /// Salt, then password.
        Prefix = "prefix",
        /// Password, then salt.
        Suffix = "suffix",
    }
    default = Prefix;
}

config_enum! {
    /// PBKDF2's HMAC (`mac_fun`); EMQX's `md4` and `ripemd160` are not supported.
    pub enum MacFun {
        /// HMAC-MD5.
        Md5 = "md5",
        /// HMAC-SHA-1.
        Sha = "sha",
        /// HMAC-SHA-224.
        Sha224 = "sha224",
        /// HMAC-SHA-256.
        Sha256 = "sha256",
        /// HMAC-SHA-384.
        Sha384 = "sha384",
        /// HMAC-SHA-512.
        Sha512 = "sha512",
    }
    default = Sha256;
}

config_enum! {
    /// The verdict when no rule matches (`authorization.no_match`).
    pub enum NoMatch {
        /// Allow.
        Allow = "allow",
        /// Deny.
        Deny = "deny",
    }
    default = Allow;
}

config_enum! {
    /// What a denied publish does to the connection (`authorization.deny_action`).
    pub enum DenyActionConfig {
        /// Answer 0x87 / drop, keep the connection.
        Ignore = "ignore",
        /// Disconnect (v5: DISCONNECT 0x87).
        Disconnect = "disconnect",
    }
    default = Ignore;
}

/// `password_hash_algorithm { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordHashAlgorithm {
    /// `name = plain | md5 | sha | sha256 | sha512`, `salt_position`.
    Simple {
        name: SimpleHashName,
        salt_position: SaltPosition,
    },
    /// `name = pbkdf2`, `mac_fun`, `iterations`, `dk_length`.
    Pbkdf2 {
        mac_fun: MacFun,
        iterations: u32,
        dk_length: Option<u32>,
    },
    /// `name = bcrypt`, `salt_rounds` (5..=10).
    Bcrypt { salt_rounds: u32 },
}

impl Default for PasswordHashAlgorithm {
    fn default() -> Self {
        PasswordHashAlgorithm::Simple {
            name: SimpleHashName::Sha256,
            salt_position: SaltPosition::Prefix,
        }
    }
}

/// `{ mechanism = password_based, backend = built_in_database, ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltInDatabaseConfig {
    pub enable: bool,
    pub user_id_type: UserIdType,
    pub password_hash_algorithm: PasswordHashAlgorithm,
    /// Users to import at start (CSV or JSON; missing file: a warning, as in EMQX).
    pub bootstrap_file: Option<String>,
    pub bootstrap_type: BootstrapType,
}

/// `{ mechanism = scram, backend = built_in_database, algorithm = sha256, iteration_count }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramConfig {
    pub enable: bool,
    pub iteration_count: u32,
}

/// One element of `authentication = [...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticatorConfig {
    PasswordBased(BuiltInDatabaseConfig),
    Scram(ScramConfig),
}

/// `authorization.cache { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzCacheConfig {
    pub enable: bool,
    pub max_size: u32,
    pub ttl: Duration,
    pub excludes: Vec<String>,
}

impl Default for AuthzCacheConfig {
    fn default() -> Self {
        AuthzCacheConfig {
            enable: true,
            max_size: 32,
            ttl: Duration::from_secs(60),
            excludes: Vec::new(),
        }
    }
}

/// One element of `authorization.sources` (only `type = file` is implemented).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSourceConfig {
    pub enable: bool,
    /// The `acl.conf` path as written (may contain `${EMQX_ETC_DIR}`).
    pub path: String,
    /// Where in the configuration it was set (`file:line:col: key`), for errors about its rules.
    pub origin: String,
}

/// `authorization { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationConfig {
    pub no_match: NoMatch,
    pub deny_action: DenyActionConfig,
    pub cache: AuthzCacheConfig,
    pub sources: Vec<FileSourceConfig>,
}

/// EMQX's default ACL file path.
pub const DEFAULT_ACL_PATH: &str = "etc/acl.conf";

impl Default for AuthorizationConfig {
    /// EMQX's defaults: allow on no match, ignore denials, the `etc/acl.conf` file source.
    fn default() -> Self {
        AuthorizationConfig {
            no_match: NoMatch::Allow,
            deny_action: DenyActionConfig::Ignore,
            cache: AuthzCacheConfig::default(),
            sources: vec![FileSourceConfig {
                enable: true,
                path: DEFAULT_ACL_PATH.to_string(),
                origin: "authorization.sources (default)".to_string(),
            }],
        }
    }
}

fn word(v: &Value) -> Result<String, String> {
    reader::string(v).map(|s| s.trim().to_ascii_lowercase())
}

fn hash_algorithm(sec: &mut Section<'_>, ctx: &mut Ctx<'_>) -> PasswordHashAlgorithm {
    if !sec.is_present() {
        return PasswordHashAlgorithm::default();
    }
    let Some(name) = sec.required(ctx, "name", word) else {
        return PasswordHashAlgorithm::default();
    };
    match name.as_str() {
        "bcrypt" => PasswordHashAlgorithm::Bcrypt {
            salt_rounds: sec.get(ctx, "salt_rounds", 10, reader::int_in(5, 10)) as u32,
        },
        "pbkdf2" => {
            let mac_fun = sec.required(ctx, "mac_fun", reader::one_of);
            let iterations =
                sec.required(ctx, "iterations", reader::int_in(1, u64::from(u32::MAX)));
            let dk_length = sec
                .opt(ctx, "dk_length", reader::int_in(1, 1024))
                .map(|n| n as u32);
            PasswordHashAlgorithm::Pbkdf2 {
                mac_fun: mac_fun.unwrap_or_default(),
                iterations: iterations.unwrap_or(1) as u32,
                dk_length,
            }
        }
        _ => {
            let path = sec.path().key("name");
            match reader::one_of::<SimpleHashName>(&Value::String(name.clone())) {
                Ok(name) => PasswordHashAlgorithm::Simple {
                    name,
                    salt_position: sec.get(
                        ctx,
                        "salt_position",
                        SaltPosition::Prefix,
                        reader::one_of,
                    ),
                },
                Err(_) => {
                    ctx.error(
                        &path,
                        format!(
                            "expected one of plain | md5 | sha | sha256 | sha512 | pbkdf2 | bcrypt, found \"{name}\""
                        ),
                    );
                    PasswordHashAlgorithm::default()
                }
            }
        }
    }
}

fn read_authenticator(
    ctx: &mut Ctx<'_>,
    path: KeyPath,
    value: &Value,
) -> Option<AuthenticatorConfig> {
    let mut sec = Section::new(ctx, path, Some(value));
    let mechanism = sec.required(ctx, "mechanism", word)?;
    let enable = sec.get(ctx, "enable", true, reader::boolean);
    let backend = sec.get(ctx, "backend", String::new(), word);
    if backend != "built_in_database" {
        let p = sec.path().key("backend");
        ctx.error(
            &p,
            format!(
                "linkmq implements backend = built_in_database only, found {}",
                if backend.is_empty() {
                    "nothing".to_string()
                } else {
                    format!("\"{backend}\"")
                }
            ),
        );
        return None;
    }
    let out = match mechanism.as_str() {
        "password_based" => {
            let user_id_type = sec.get(ctx, "user_id_type", UserIdType::Username, reader::one_of);
            let mut alg = sec.section(ctx, "password_hash_algorithm");
            let password_hash_algorithm = hash_algorithm(&mut alg, ctx);
            alg.finish(ctx);
            let bootstrap_file = sec
                .opt(ctx, "bootstrap_file", reader::string)
                .filter(|s| !s.is_empty());
            let bootstrap_type =
                sec.get(ctx, "bootstrap_type", BootstrapType::Plain, reader::one_of);
            AuthenticatorConfig::PasswordBased(BuiltInDatabaseConfig {
                enable,
                user_id_type,
                password_hash_algorithm,
                bootstrap_file,
                bootstrap_type,
            })
        }
        "scram" => {
            let algorithm = sec.get(ctx, "algorithm", "sha256".to_string(), word);
            if algorithm != "sha256" {
                let p = sec.path().key("algorithm");
                ctx.error(
                    &p,
                    format!("linkmq implements SCRAM-SHA-256 only (algorithm = sha256), found \"{algorithm}\""),
                );
            }
            AuthenticatorConfig::Scram(ScramConfig {
                enable,
                iteration_count: sec.get(
                    ctx,
                    "iteration_count",
                    4096,
                    reader::int_in(1, 10_000_000),
                ) as u32,
            })
        }
        other => {
            let p = sec.path().key("mechanism");
            ctx.error(
                &p,
                format!("expected password_based or scram, found \"{other}\""),
            );
            return None;
        }
    };
    sec.accept(&["user_group", "password_hash_algorithm_rw", "precondition"]);
    sec.finish(ctx);
    Some(out)
}

/// Reads the `authentication` root (an array of authenticators, or one object).
pub(crate) fn read_authentication(
    root: &mut Section<'_>,
    ctx: &mut Ctx<'_>,
) -> Vec<AuthenticatorConfig> {
    let path = root.path().key("authentication");
    match root.raw("authentication") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| read_authenticator(ctx, path.index(i), v))
            .collect(),
        Some(v @ Value::Object(_)) => read_authenticator(ctx, path, v).into_iter().collect(),
        Some(other) => {
            ctx.error(
                &path,
                format!(
                    "expected an array of authenticators, found {}",
                    describe(other)
                ),
            );
            Vec::new()
        }
    }
}

fn positive_duration(v: &Value) -> Result<Duration, String> {
    let d = reader::duration(v)?;
    if d.is_zero() {
        return Err("expected a duration above zero".into());
    }
    Ok(d)
}

/// Reads `authorization { ... }`.
pub(crate) fn read_authorization(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> AuthorizationConfig {
    let d = AuthorizationConfig::default();
    let no_match = sec.get(ctx, "no_match", d.no_match, reader::one_of);
    let deny_action = sec.get(ctx, "deny_action", d.deny_action, reader::one_of);
    let mut c = sec.section(ctx, "cache");
    let dc = AuthzCacheConfig::default();
    let cache = AuthzCacheConfig {
        enable: c.get(ctx, "enable", dc.enable, reader::boolean),
        max_size: c.get(
            ctx,
            "max_size",
            u64::from(dc.max_size),
            reader::int_in(1, 1_048_576),
        ) as u32,
        ttl: c.get(ctx, "ttl", dc.ttl, positive_duration),
        excludes: c.get(ctx, "excludes", dc.excludes, reader::string_list),
    };
    c.finish(ctx);
    let sources = match sec.array(ctx, "sources") {
        None => d.sources,
        Some(items) => items
            .into_iter()
            .filter_map(|(path, v)| read_source(ctx, path, v))
            .collect(),
    };
    sec.finish(ctx);
    AuthorizationConfig {
        no_match,
        deny_action,
        cache,
        sources,
    }
}

fn read_source(ctx: &mut Ctx<'_>, path: KeyPath, v: &Value) -> Option<FileSourceConfig> {
    let mut sec = Section::new(ctx, path, Some(v));
    let kind = sec.required(ctx, "type", word)?;
    let enable = sec.get(ctx, "enable", true, reader::boolean);
    if kind != "file" {
        if enable {
            let p = sec.path().key("type");
            ctx.error(
                &p,
                format!("linkmq implements type = file only, found \"{kind}\" (set enable = false to keep it)"),
            );
        }
        // A disabled source of another kind is kept in the file but means nothing here.
        sec.entries();
        return None;
    }
    let path_key = sec.path().key("path");
    let origin = match ctx.locate(&path_key) {
        Some(loc) => format!("{loc}: {path_key}"),
        None => path_key.to_string(),
    };
    let p = sec.required(ctx, "path", reader::non_empty_string)?;
    sec.accept(&["rules"]);
    sec.finish(ctx);
    Some(FileSourceConfig {
        enable,
        path: p,
        origin,
    })
}

#[cfg(test)]
mod tests {
    use crate::parse_str;

    use super::*;

    fn cfg(text: &str) -> crate::Config {
        parse_str(text, "etc/emqx.conf", &[]).expect("valid config")
    }

    fn err(text: &str) -> String {
        parse_str(text, "etc/emqx.conf", &[])
            .expect_err("invalid config")
            .to_string()
    }

    #[test]
    fn authenticators_with_emqx_defaults() {
        let c = cfg(r#"authentication = [
  { mechanism = password_based, backend = built_in_database,
    password_hash_algorithm { name = pbkdf2, mac_fun = sha256, iterations = 1000 },
    bootstrap_file = "etc/users.csv", bootstrap_type = hash }
  { mechanism = scram, backend = built_in_database, algorithm = sha256 }
]"#);
        assert_eq!(
            c.authentication,
            vec![
                AuthenticatorConfig::PasswordBased(BuiltInDatabaseConfig {
                    enable: true,
                    user_id_type: UserIdType::Username,
                    password_hash_algorithm: PasswordHashAlgorithm::Pbkdf2 {
                        mac_fun: MacFun::Sha256,
                        iterations: 1000,
                        dk_length: None
                    },
                    bootstrap_file: Some("etc/users.csv".into()),
                    bootstrap_type: BootstrapType::Hash,
                }),
                AuthenticatorConfig::Scram(ScramConfig {
                    enable: true,
                    iteration_count: 4096
                }),
            ]
        );
        let c = cfg(
            "authentication = [{mechanism = password_based, backend = built_in_database, user_id_type = clientid}]",
        );
        let AuthenticatorConfig::PasswordBased(b) = &c.authentication[0] else {
            panic!()
        };
        assert_eq!(b.password_hash_algorithm, PasswordHashAlgorithm::default());
        assert_eq!(b.user_id_type, UserIdType::Clientid);
        assert!(cfg("").authentication.is_empty());
    }

    #[test]
    fn authorization_defaults_and_values() {
        assert_eq!(cfg("").authorization, AuthorizationConfig::default());
        let c = cfg(r#"authorization {
  no_match = deny
  deny_action = disconnect
  cache { enable = false, max_size = 8, ttl = 5s }
  sources = [{ type = file, enable = true, path = "etc/acl.conf" }]
}"#);
        let a = c.authorization;
        assert_eq!(a.no_match, NoMatch::Deny);
        assert_eq!(a.deny_action, DenyActionConfig::Disconnect);
        assert_eq!(a.cache.max_size, 8);
        assert!(!a.cache.enable);
        assert_eq!(a.cache.ttl, Duration::from_secs(5));
        assert_eq!(a.sources.len(), 1);
        assert_eq!(a.sources[0].path, "etc/acl.conf");
        assert_eq!(
            a.sources[0].origin,
            "etc/emqx.conf:5:44: authorization.sources[0].path"
        );
        assert!(
            cfg("authorization.sources = []")
                .authorization
                .sources
                .is_empty()
        );
    }

    #[test]
    fn unsupported_backends_are_errors_with_position() {
        assert_eq!(
            err("authentication = [\n  {mechanism = password_based, backend = http}\n]"),
            "etc/emqx.conf:2:32: authentication[0].backend: linkmq implements backend = built_in_database only, found \"http\""
        );
        assert!(
            err("authorization.sources = [{type = http, enable = true}]")
                .contains("authorization.sources[0].type: linkmq implements type = file only")
        );
        assert!(
            cfg("authorization.sources = [{type = http, enable = false, url = \"x\"}]")
                .authorization
                .sources
                .is_empty()
        );
        assert!(err("authentication = [{mechanism = password_based, backend = built_in_database, password_hash_algorithm {name = md4}}]").contains("password_hash_algorithm.name"));
        assert!(err("authentication = [{mechanism = password_based, backend = built_in_database, password_hash_algorithm {name = pbkdf2, mac_fun = sha256}}]").contains("password_hash_algorithm.iterations: required field is missing"));
        assert!(err("authentication = [{mechanism = scram, backend = built_in_database, algorithm = sha512}]").contains("SCRAM-SHA-256 only"));
    }
}
