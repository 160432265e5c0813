//! Maps `authentication` and `authorization` onto `linkmq_acl`: the user database under
//! `node.data_dir`, bootstrap files, and the `acl.conf` rules. A bad `acl.conf` or bootstrap file
//! stops the start with `file:line[:col]: message`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use linkmq_acl::authn::bootstrap::{self, BootstrapType};
use linkmq_acl::authn::hashing::{HashAlgorithm, MacFun, SaltPosition, SimpleHash};
use linkmq_acl::authn::store::DEFAULT_SCRAM_ITERATIONS;
use linkmq_acl::authn::{Provider, UserIdType};
use linkmq_acl::{AclEngine, Authn, AuthzSettings, CacheSettings, UserStore};
use linkmq_config as cfg;
use linkmq_core::Broker;
use linkmq_core::access::{DenyAction, Permission};
use tracing::{info, warn};

/// EMQX's default `acl.conf`, used when the default path `etc/acl.conf` is not on disk.
pub const DEFAULT_ACL_CONF: &str = include_str!("../../../etc/acl.conf");

/// A node's access control: the authentication chain (users CRUD) and the authorization engine
/// (rules get/put), for the REST API. `None`: allow-all.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub authn: Option<Arc<Authn>>,
    pub authz: Option<AclEngine>,
}

impl Security {
    /// Installs both on the broker (before its listeners accept anyone).
    pub fn install(&self, broker: &Broker) {
        if let Some(a) = &self.authn {
            broker.access.set_authenticator(a.clone());
        }
        if let Some(z) = &self.authz {
            broker.access.set_authorizer(Arc::new(z.clone()));
        }
    }
}

/// Where the users of the built-in database are kept.
pub fn users_file(data_dir: &Path) -> PathBuf {
    data_dir.join("authn").join("users.json")
}

/// Where rules changed at runtime are kept (EMQX: `data/authz/acl.conf`); it wins over the
/// configured file on the next start.
pub fn runtime_acl_file(data_dir: &Path) -> PathBuf {
    data_dir.join("authz").join("acl.conf")
}

/// Builds authentication and authorization from the configuration.
pub async fn build_security(config: &cfg::Config) -> anyhow::Result<Security> {
    Ok(Security {
        authn: build_authn(config).await?,
        authz: Some(build_authz(config)?),
    })
}

fn hash_algorithm(a: &cfg::PasswordHashAlgorithm) -> HashAlgorithm {
    match a {
        cfg::PasswordHashAlgorithm::Simple {
            name,
            salt_position,
        } => HashAlgorithm::Simple {
            name: match name {
                cfg::SimpleHashName::Plain => SimpleHash::Plain,
                cfg::SimpleHashName::Md5 => SimpleHash::Md5,
                cfg::SimpleHashName::Sha => SimpleHash::Sha,
                cfg::SimpleHashName::Sha256 => SimpleHash::Sha256,
                cfg::SimpleHashName::Sha512 => SimpleHash::Sha512,
            },
            salt_position: match salt_position {
                cfg::SaltPosition::Disable => SaltPosition::Disable,
                cfg::SaltPosition::Prefix => SaltPosition::Prefix,
                cfg::SaltPosition::Suffix => SaltPosition::Suffix,
            },
        },
        cfg::PasswordHashAlgorithm::Pbkdf2 {
            mac_fun,
            iterations,
            dk_length,
        } => HashAlgorithm::Pbkdf2 {
            mac_fun: match mac_fun {
                cfg::MacFun::Md5 => MacFun::Md5,
                cfg::MacFun::Sha => MacFun::Sha,
                cfg::MacFun::Sha224 => MacFun::Sha224,
                cfg::MacFun::Sha256 => MacFun::Sha256,
                cfg::MacFun::Sha384 => MacFun::Sha384,
                cfg::MacFun::Sha512 => MacFun::Sha512,
            },
            iterations: *iterations,
            dk_length: *dk_length,
        },
        cfg::PasswordHashAlgorithm::Bcrypt { salt_rounds } => HashAlgorithm::Bcrypt {
            salt_rounds: *salt_rounds,
        },
    }
}

/// Resolves a configured file path: `${EMQX_ETC_DIR}` / `${EMQX_DATA_DIR}`, then a relative path
/// against the working directory, else against the configuration file's directory and its parent
/// (so `etc/acl.conf` next to `etc/emqx.conf` is found from anywhere).
fn resolve(config: &cfg::Config, path: &str) -> PathBuf {
    let conf_dir = config
        .source
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let etc = conf_dir.clone().unwrap_or_else(|| PathBuf::from("etc"));
    let p = PathBuf::from(
        path.replace("${EMQX_ETC_DIR}", &etc.display().to_string())
            .replace(
                "${EMQX_DATA_DIR}",
                &config.node.data_dir.display().to_string(),
            ),
    );
    if p.is_absolute() || p.exists() {
        return p;
    }
    if let Some(dir) = conf_dir {
        for base in [Some(dir.as_path()), dir.parent()].into_iter().flatten() {
            let candidate = base.join(&p);
            if candidate.exists() {
                return candidate;
            }
        }
    }
    p
}

async fn build_authn(config: &cfg::Config) -> anyhow::Result<Option<Arc<Authn>>> {
    if config.authentication.is_empty() {
        return Ok(None);
    }
    let mut providers = Vec::new();
    let mut algorithm = None;
    let mut scram_iterations = None;
    let mut bootstraps = Vec::new();
    for a in &config.authentication {
        match a {
            cfg::AuthenticatorConfig::PasswordBased(b) => {
                algorithm.get_or_insert_with(|| hash_algorithm(&b.password_hash_algorithm));
                providers.push(Provider::PasswordBased {
                    enable: b.enable,
                    user_id_type: match b.user_id_type {
                        cfg::UserIdType::Username => UserIdType::Username,
                        cfg::UserIdType::Clientid => UserIdType::Clientid,
                    },
                });
                if let Some(f) = &b.bootstrap_file {
                    let kind = match b.bootstrap_type {
                        cfg::BootstrapType::Hash => BootstrapType::Hash,
                        cfg::BootstrapType::Plain => BootstrapType::Plain,
                    };
                    bootstraps.push((resolve(config, f), kind));
                }
            }
            cfg::AuthenticatorConfig::Scram(s) => {
                scram_iterations.get_or_insert(s.iteration_count);
                providers.push(Provider::Scram {
                    enable: s.enable,
                    iteration_count: s.iteration_count,
                });
            }
        }
    }
    let path = users_file(&config.node.data_dir);
    let store = UserStore::open(
        &path,
        algorithm.unwrap_or_default(),
        scram_iterations.unwrap_or(DEFAULT_SCRAM_ITERATIONS),
    )
    .map_err(|e| anyhow!("authentication: cannot load users: {e}"))?;
    let store = Arc::new(store);
    for (file, kind) in bootstraps {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                // EMQX only warns: its default bootstrap file need not exist.
                warn!(file = %file.display(), error = %e, "authentication bootstrap_file not read");
                continue;
            }
        };
        let s = store.clone();
        let name = file.display().to_string();
        // Hashing clear passwords (bcrypt, PBKDF2) is CPU-heavy: not on the async workers.
        let result = tokio::task::spawn_blocking(move || {
            let records =
                bootstrap::parse(&name, &text, kind, &s).map_err(|e| anyhow!("{name}:{e}"))?;
            s.import(records).map_err(|e| anyhow!("{name}: {e}"))
        })
        .await
        .context("bootstrap import task")??;
        info!(file = %file.display(), ?result, "authentication bootstrap users imported");
    }
    Ok(Some(Arc::new(Authn::new(providers, store))))
}

fn build_authz(config: &cfg::Config) -> anyhow::Result<AclEngine> {
    let a = &config.authorization;
    let settings = AuthzSettings {
        no_match: match a.no_match {
            cfg::NoMatch::Allow => Permission::Allow,
            cfg::NoMatch::Deny => Permission::Deny,
        },
        deny_action: match a.deny_action {
            cfg::DenyActionConfig::Ignore => DenyAction::Ignore,
            cfg::DenyActionConfig::Disconnect => DenyAction::Disconnect,
        },
        cache: CacheSettings {
            enable: a.cache.enable,
            max_size: a.cache.max_size as usize,
            ttl: a.cache.ttl,
            excludes: a.cache.excludes.clone(),
        },
    };
    let persist = runtime_acl_file(&config.node.data_dir);
    let sources: Vec<&cfg::FileSourceConfig> = a.sources.iter().filter(|s| s.enable).collect();
    if !sources.is_empty() && persist.exists() {
        let text = std::fs::read_to_string(&persist)
            .with_context(|| format!("cannot read {}", persist.display()))?;
        info!(file = %persist.display(), "authorization rules changed at runtime are in force");
        let engine =
            AclEngine::new(settings, &text).map_err(|e| anyhow!("{}:{e}", persist.display()))?;
        return Ok(engine.with_persist_path(persist));
    }
    let mut text = String::new();
    for s in sources {
        let path = resolve(config, &s.path);
        let (name, body) = match std::fs::read_to_string(&path) {
            Ok(t) => (path.display().to_string(), t),
            Err(_) if s.path == cfg::DEFAULT_ACL_PATH => {
                info!("{} not found; using the built-in default rules", s.path);
                (
                    format!("{} (built-in)", s.path),
                    DEFAULT_ACL_CONF.to_string(),
                )
            }
            Err(e) => {
                return Err(anyhow!(
                    "{}: cannot read the ACL file {}: {e}",
                    s.origin,
                    path.display()
                ));
            }
        };
        // Check each file on its own so an error names the right file and line.
        linkmq_acl::authz::parse_rules(&body).map_err(|e| anyhow!("{name}:{e}"))?;
        text.push_str(&body);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    let engine = AclEngine::new(settings, &text).map_err(|e| anyhow!("authorization: {e}"))?;
    Ok(engine.with_persist_path(persist))
}
