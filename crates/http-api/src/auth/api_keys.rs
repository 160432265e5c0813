//! API keys: from `api_key.bootstrap_file` (`key:secret[:role]` lines, reloaded at every start,
//! later lines win) or created through the API (kept in `api_keys.json`); secrets only as salted
//! hashes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    ALNUM, Actor, AuthStore, HEX, Role, hash, lock, now_s, persist_error, random_string, same,
    write_json_file,
};
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;

/// One API key. The secret is kept only as a salted hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    pub name: String,
    pub api_key: String,
    secret_hash: String,
    salt: String,
    pub enable: bool,
    /// Seconds since the epoch; `None` = never.
    pub expired_at: Option<u64>,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub desc: String,
    pub role: Role,
    /// Loaded from `api_key.bootstrap_file` (not written to `api_keys.json`).
    #[serde(skip)]
    pub from_bootstrap: bool,
}

impl ApiKey {
    /// True once `expired_at` has passed.
    pub fn is_expired(&self, now_s: u64) -> bool {
        self.expired_at.is_some_and(|t| t <= now_s)
    }

    /// The EMQX JSON shape (no secret).
    pub fn view(&self, now_s: u64) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "api_key": self.api_key,
            "expired_at": self.expired_at.map(crate::time::rfc3339_s)
                .map(serde_json::Value::from).unwrap_or_else(|| "infinity".into()),
            "created_at": crate::time::rfc3339_s(self.created_at),
            "desc": self.desc,
            "enable": self.enable,
            "expired": self.is_expired(now_s),
            "role": self.role.as_str(),
        })
    }
}

/// The fields of a new or changed API key.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyChange {
    pub enable: Option<bool>,
    /// `Some(None)` = never expires.
    pub expired_at: Option<Option<u64>>,
    pub desc: Option<String>,
    pub role: Option<Role>,
}

/// Validates an EMQX API key name: `^[A-Za-z]+[A-Za-z0-9-_]*$`, 1..=256 bytes.
pub fn valid_key_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 256
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Adds the keys of a bootstrap file to `keys` (replacing ones with the same key or name).
pub(super) fn load_bootstrap(file: &Path, keys: &mut Vec<ApiKey>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("api_key.bootstrap_file {}: {e}", file.display()))?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(key), Some(secret)) = (parts.next(), parts.next()) else {
            tracing::warn!(
                "{}:{}: expected \"key:secret\", line ignored",
                file.display(),
                n + 1
            );
            continue;
        };
        let role = match parts.next().map(str::trim) {
            None | Some("") => Role::Administrator,
            Some(r) => match Role::parse(r) {
                Some(r) => r,
                None => {
                    tracing::warn!(
                        "{}:{}: unknown role {r:?}, line ignored",
                        file.display(),
                        n + 1
                    );
                    continue;
                }
            },
        };
        let (key, secret) = (key.trim(), secret.trim());
        if key.is_empty() || secret.is_empty() {
            continue;
        }
        let name = format!("from_bootstrap_file_{}", &hash("", key)[..16]);
        keys.retain(|k| k.api_key != key && k.name != name);
        let salt = random_string(16, HEX);
        keys.push(ApiKey {
            name,
            api_key: key.to_string(),
            secret_hash: hash(&salt, secret),
            salt,
            enable: true,
            expired_at: None,
            created_at: now_s(),
            desc: "from api_key.bootstrap_file".into(),
            role,
            from_bootstrap: true,
        });
    }
    Ok(())
}

impl AuthStore {
    fn save_keys(&self, keys: &[ApiKey]) -> ApiResult<()> {
        let persisted: Vec<&ApiKey> = keys.iter().filter(|k| !k.from_bootstrap).collect();
        write_json_file(&self.settings.dir.join("api_keys.json"), &persisted).map_err(persist_error)
    }

    /// The caller behind an API key and secret (HTTP Basic).
    pub fn verify_api_key(&self, key: &str, secret: &str) -> ApiResult<Actor> {
        let keys = lock(&self.keys);
        let found = keys
            .iter()
            .find(|k| k.api_key == key)
            .filter(|k| same(&hash(&k.salt, secret), &k.secret_hash))
            .filter(|k| k.enable && !k.is_expired(now_s()));
        match found {
            Some(k) => Ok(Actor::ApiKey {
                name: k.name.clone(),
                role: k.role,
            }),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "BAD_API_KEY_OR_SECRET",
                "Check api_key/api_secret",
            )),
        }
    }

    /// Every API key, as the API shows them.
    pub fn api_keys(&self) -> Vec<serde_json::Value> {
        let now = now_s();
        lock(&self.keys).iter().map(|k| k.view(now)).collect()
    }

    /// One API key.
    pub fn api_key(&self, name: &str) -> ApiResult<serde_json::Value> {
        lock(&self.keys)
            .iter()
            .find(|k| k.name == name)
            .map(|k| k.view(now_s()))
            .ok_or_else(key_not_found)
    }

    /// Creates an API key with a random key and secret; the answer is the only time the secret is shown.
    pub fn create_api_key(&self, name: &str, change: ApiKeyChange) -> ApiResult<serde_json::Value> {
        if !valid_key_name(name) {
            return Err(ApiError::bad_request(
                "Name should be ^[A-Za-z]+[A-Za-z0-9-_]*$ and at most 256 characters",
            ));
        }
        let mut keys = lock(&self.keys);
        if keys.iter().any(|k| k.name == name) {
            return Err(ApiError::bad_request("Name already existed"));
        }
        if keys.len() >= 100 {
            return Err(ApiError::bad_request("max limit is 100"));
        }
        let secret = random_string(43, ALNUM);
        let salt = random_string(16, HEX);
        let key = ApiKey {
            name: name.to_string(),
            api_key: random_string(16, HEX),
            secret_hash: hash(&salt, &secret),
            salt,
            enable: change.enable.unwrap_or(true),
            expired_at: change.expired_at.flatten(),
            created_at: now_s(),
            desc: change.desc.unwrap_or_default(),
            role: change.role.unwrap_or_default(),
            from_bootstrap: false,
        };
        let mut view = key.view(now_s());
        view["api_secret"] = secret.into();
        keys.push(key);
        self.save_keys(&keys)?;
        Ok(view)
    }

    /// Changes an API key's enable flag, expiry, description or role.
    pub fn update_api_key(&self, name: &str, change: ApiKeyChange) -> ApiResult<serde_json::Value> {
        let mut keys = lock(&self.keys);
        let Some(k) = keys.iter_mut().find(|k| k.name == name) else {
            return Err(key_not_found());
        };
        if let Some(e) = change.enable {
            k.enable = e;
        }
        if let Some(e) = change.expired_at {
            k.expired_at = e;
        }
        if let Some(d) = change.desc {
            k.desc = d;
        }
        if let Some(r) = change.role {
            k.role = r;
        }
        let view = k.view(now_s());
        self.save_keys(&keys)?;
        Ok(view)
    }

    /// Deletes an API key.
    pub fn delete_api_key(&self, name: &str) -> ApiResult<()> {
        let mut keys = lock(&self.keys);
        let before = keys.len();
        keys.retain(|k| k.name != name);
        if keys.len() == before {
            return Err(key_not_found());
        }
        self.save_keys(&keys)
    }
}

fn key_not_found() -> ApiError {
    ApiError::not_found("Name NOT FOUND")
}
