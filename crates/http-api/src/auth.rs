//! Who may call the API: dashboard users (salted SHA-256 passwords, on disk) who log in for a bearer
//! token, and API keys (from `api_key.bootstrap_file` or `POST /api/v5/api_key`, on disk) used as
//! HTTP Basic credentials, as in EMQX. Wrong credentials are rate-limited: a user name is locked after
//! `dashboard.unsuccessful_login.max_attempts` failures, and a peer address that keeps sending wrong
//! credentials gets 429 for a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// Role of a dashboard user or API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    #[default]
    Administrator,
    /// Read-only (GET).
    Viewer,
}

impl Role {
    /// Parses an EMQX role name (`administrator`, `viewer`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "administrator" => Some(Role::Administrator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// The EMQX role name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Viewer => "viewer",
        }
    }
}

/// The authenticated caller of one request (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A dashboard user holding a bearer token.
    User {
        username: String,
        token: String,
        role: Role,
    },
    /// An API key used as HTTP Basic.
    ApiKey { name: String, role: Role },
}

impl Actor {
    /// The caller's role.
    pub fn role(&self) -> Role {
        match self {
            Actor::User { role, .. } | Actor::ApiKey { role, .. } => *role,
        }
    }
}

/// The knobs of authentication, from `dashboard { ... }` and `api_key { ... }`.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Where `users.json` and `api_keys.json` live (`<node.data_dir>/dashboard`).
    pub dir: PathBuf,
    pub default_username: String,
    pub default_password: String,
    /// Lifetime of a login token (`dashboard.token_expired_time`).
    pub token_ttl: Duration,
    /// `dashboard.unsuccessful_login.max_attempts` failed logins of one user within
    /// `time_window` lock that user for `lock_duration`.
    pub max_attempts: u32,
    pub time_window: Duration,
    pub lock_duration: Duration,
    /// Wrong credentials (any kind) from one address within `time_window` before it gets 429.
    pub max_failures_per_peer: u32,
    /// `api_key.bootstrap_file`: `key:secret[:role]` lines.
    pub bootstrap_file: Option<PathBuf>,
}

impl AuthSettings {
    /// Settings from the node configuration.
    pub fn from_config(config: &linkmq_config::Config) -> AuthSettings {
        let d = &config.dashboard;
        let ul = &d.unsuccessful_login;
        AuthSettings {
            dir: config.node.data_dir.join("dashboard"),
            default_username: d.default_username.clone(),
            default_password: d.default_password.expose().to_string(),
            token_ttl: d.token_expired_time,
            max_attempts: ul.max_attempts.max(1),
            time_window: ul.time_window,
            lock_duration: ul.lock_duration,
            max_failures_per_peer: ul.max_attempts.max(1).saturating_mul(4),
            bootstrap_file: config.api_key.bootstrap_file.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredUser {
    username: String,
    /// Hex SHA-256 of salt ++ password.
    password_hash: String,
    salt: String,
    #[serde(default)]
    role: Role,
    #[serde(default)]
    description: String,
}

/// A dashboard user as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserView {
    pub username: String,
    pub role: &'static str,
    pub description: String,
    pub backend: &'static str,
}

impl From<&StoredUser> for UserView {
    fn from(u: &StoredUser) -> UserView {
        UserView {
            username: u.username.clone(),
            role: u.role.as_str(),
            description: u.description.clone(),
            backend: "local",
        }
    }
}

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

#[derive(Debug, Clone)]
struct TokenInfo {
    username: String,
    expires_at: Instant,
}

/// Failures counted in a sliding window, and a lock once too many.
#[derive(Debug, Default)]
struct Failures {
    times: Vec<Instant>,
    locked_until: Option<Instant>,
}

impl Failures {
    fn locked(&mut self, now: Instant) -> bool {
        match self.locked_until {
            Some(t) if t > now => true,
            Some(_) => {
                self.locked_until = None;
                self.times.clear();
                false
            }
            None => false,
        }
    }

    /// Records one failure; returns true when that locks.
    fn record(&mut self, now: Instant, window: Duration, max: u32, lock: Duration) -> bool {
        self.times.retain(|t| now.duration_since(*t) < window);
        self.times.push(now);
        if self.times.len() >= max as usize {
            self.locked_until = Some(now + lock);
            true
        } else {
            false
        }
    }
}

/// Users, tokens, API keys and failure counters of one node.
#[derive(Debug)]
pub struct AuthStore {
    settings: AuthSettings,
    users: Mutex<Vec<StoredUser>>,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    keys: Mutex<Vec<ApiKey>>,
    user_failures: Mutex<HashMap<String, Failures>>,
    peer_failures: Mutex<HashMap<IpAddr, Failures>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_s() -> u64 {
    linkmq_core::message::now_ms() / 1000
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn hash(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| {
            [
                HEX[(b >> 4) as usize] as char,
                HEX[(b & 15) as usize] as char,
            ]
        })
        .collect()
}

/// Compares without an early exit, so timing does not tell how much of a hash matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn write_json_file<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)
}

fn read_json_file<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("{}: not a valid JSON file: {e}", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// Validates an EMQX API key name: `^[A-Za-z]+[A-Za-z0-9-_]*$`, 1..=256 bytes.
pub fn valid_key_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 256
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn persist_error(e: std::io::Error) -> ApiError {
    ApiError::internal(format!("cannot save: {e}"))
}

impl AuthStore {
    /// Loads users and API keys from disk (creating the default administrator when missing) and
    /// the bootstrap API key file.
    pub fn open(settings: AuthSettings) -> anyhow::Result<AuthStore> {
        let mut users: Vec<StoredUser> =
            read_json_file(&settings.dir.join("users.json"))?.unwrap_or_default();
        let store_default = !users
            .iter()
            .any(|u| u.username == settings.default_username);
        if store_default {
            let salt = random_string(16, HEX);
            users.push(StoredUser {
                username: settings.default_username.clone(),
                password_hash: hash(&salt, &settings.default_password),
                salt,
                role: Role::Administrator,
                description: "administrator".into(),
            });
            write_json_file(&settings.dir.join("users.json"), &users)?;
        }
        let mut keys: Vec<ApiKey> =
            read_json_file(&settings.dir.join("api_keys.json"))?.unwrap_or_default();
        if let Some(file) = &settings.bootstrap_file {
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
        }
        Ok(AuthStore {
            settings,
            users: Mutex::new(users),
            tokens: Mutex::new(HashMap::new()),
            keys: Mutex::new(keys),
            user_failures: Mutex::new(HashMap::new()),
            peer_failures: Mutex::new(HashMap::new()),
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    fn save_users(&self, users: &[StoredUser]) -> ApiResult<()> {
        write_json_file(&self.settings.dir.join("users.json"), &users).map_err(persist_error)
    }

    fn save_keys(&self, keys: &[ApiKey]) -> ApiResult<()> {
        let persisted: Vec<&ApiKey> = keys.iter().filter(|k| !k.from_bootstrap).collect();
        write_json_file(&self.settings.dir.join("api_keys.json"), &persisted).map_err(persist_error)
    }

    // ---- rate limiting -------------------------------------------------------------------

    /// 429 when `peer` sent too many wrong credentials lately.
    pub fn check_peer(&self, peer: Option<IpAddr>) -> ApiResult<()> {
        let Some(ip) = peer else { return Ok(()) };
        let mut map = lock(&self.peer_failures);
        if map.get_mut(&ip).is_some_and(|f| f.locked(Instant::now())) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "Too many requests with wrong credentials from this address, try again later",
            ));
        }
        Ok(())
    }

    /// Counts a wrong credential from `peer`.
    pub fn peer_failed(&self, peer: Option<IpAddr>) {
        let Some(ip) = peer else { return };
        let s = &self.settings;
        let mut map = lock(&self.peer_failures);
        if map.len() > 10_000 {
            let now = Instant::now();
            map.retain(|_, f| f.locked(now) || !f.times.is_empty());
        }
        let f = map.entry(ip).or_default();
        if f.record(
            Instant::now(),
            s.time_window,
            s.max_failures_per_peer,
            s.time_window,
        ) {
            tracing::warn!(peer = %ip, "HTTP API: too many wrong credentials, address blocked");
        }
    }

    // ---- login and tokens ----------------------------------------------------------------

    /// Checks a user's password and issues a bearer token.
    pub fn login(&self, username: &str, password: &str) -> ApiResult<(String, Role)> {
        let now = Instant::now();
        {
            let mut fails = lock(&self.user_failures);
            if fails.get_mut(username).is_some_and(|f| f.locked(now)) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "LOGIN_LOCKED",
                    "Login locked",
                ));
            }
        }
        let role = {
            let users = lock(&self.users);
            users
                .iter()
                .find(|u| u.username == username)
                .filter(|u| same(&hash(&u.salt, password), &u.password_hash))
                .map(|u| u.role)
        };
        let Some(role) = role else {
            let s = &self.settings;
            let mut fails = lock(&self.user_failures);
            if fails.len() > 10_000 {
                fails.retain(|_, f| f.locked(now) || !f.times.is_empty());
            }
            fails.entry(username.to_string()).or_default().record(
                now,
                s.time_window,
                s.max_attempts,
                s.lock_duration,
            );
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "BAD_USERNAME_OR_PWD",
                "Auth failed",
            ));
        };
        lock(&self.user_failures).remove(username);
        let token = random_string(48, ALNUM);
        let mut tokens = lock(&self.tokens);
        tokens.retain(|_, t| t.expires_at > now);
        tokens.insert(
            token.clone(),
            TokenInfo {
                username: username.to_string(),
                expires_at: now + self.settings.token_ttl,
            },
        );
        Ok((token, role))
    }

    /// The caller behind a bearer token.
    pub fn verify_token(&self, token: &str) -> ApiResult<Actor> {
        let info = lock(&self.tokens).get(token).cloned();
        let Some(info) = info else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "BAD_TOKEN",
                "Invalid bearer token. Get a new one by POST /api/v5/login, or use an API key (Basic auth)",
            ));
        };
        if info.expires_at <= Instant::now() {
            lock(&self.tokens).remove(token);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "TOKEN_TIME_OUT",
                "Token expired, get a new token by POST /api/v5/login",
            ));
        }
        let role = lock(&self.users)
            .iter()
            .find(|u| u.username == info.username)
            .map(|u| u.role);
        match role {
            Some(role) => Ok(Actor::User {
                username: info.username,
                token: token.to_string(),
                role,
            }),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "BAD_TOKEN",
                "The token's user no longer exists",
            )),
        }
    }

    /// Ends the session of `token` if it belongs to `username`.
    pub fn logout(&self, username: &str, token: &str) -> bool {
        let mut tokens = lock(&self.tokens);
        if tokens.get(token).is_some_and(|t| t.username == username) {
            tokens.remove(token);
            true
        } else {
            false
        }
    }

    // ---- dashboard users -----------------------------------------------------------------

    /// Every dashboard user.
    pub fn users(&self) -> Vec<UserView> {
        lock(&self.users).iter().map(UserView::from).collect()
    }

    /// Adds a user.
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
        description: &str,
    ) -> ApiResult<UserView> {
        if username.is_empty() || password.is_empty() {
            return Err(ApiError::bad_request("Username or password undefined"));
        }
        if username.len() > 100
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
        {
            return Err(ApiError::bad_request(
                "Bad Username. Only upper and lower case letters, numbers and -_.@ are allowed, at most 100",
            ));
        }
        let mut users = lock(&self.users);
        if users.iter().any(|u| u.username == username) {
            return Err(ApiError::bad_request(format!(
                "username_already_exist: {username}"
            )));
        }
        let salt = random_string(16, HEX);
        let user = StoredUser {
            username: username.to_string(),
            password_hash: hash(&salt, password),
            salt,
            role,
            description: description.to_string(),
        };
        let view = UserView::from(&user);
        users.push(user);
        self.save_users(&users)?;
        Ok(view)
    }

    /// Changes a user's role and description.
    pub fn update_user(
        &self,
        username: &str,
        role: Option<Role>,
        description: Option<&str>,
    ) -> ApiResult<UserView> {
        if username == self.settings.default_username
            && role.is_some_and(|r| r != Role::Administrator)
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "NOT_ALLOWED",
                "The default administrator role cannot be changed.",
            ));
        }
        let mut users = lock(&self.users);
        let Some(u) = users.iter_mut().find(|u| u.username == username) else {
            return Err(user_not_found());
        };
        if let Some(r) = role {
            u.role = r;
        }
        if let Some(d) = description {
            u.description = d.to_string();
        }
        let view = UserView::from(&*u);
        self.save_users(&users)?;
        Ok(view)
    }

    /// Removes a user and its tokens. `caller` may not remove itself.
    pub fn remove_user(&self, username: &str, caller: Option<&str>) -> ApiResult<()> {
        if username == self.settings.default_username {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "NOT_ALLOWED",
                "The default administrator user cannot be deleted.",
            ));
        }
        if caller == Some(username) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "NOT_ALLOWED",
                "Cannot delete self",
            ));
        }
        let mut users = lock(&self.users);
        let before = users.len();
        users.retain(|u| u.username != username);
        if users.len() == before {
            return Err(user_not_found());
        }
        self.save_users(&users)?;
        drop(users);
        lock(&self.tokens).retain(|_, t| t.username != username);
        Ok(())
    }

    /// Changes a password after checking the old one; the user's tokens are revoked.
    pub fn change_password(&self, username: &str, old: &str, new: &str) -> ApiResult<()> {
        if old.is_empty() || new.is_empty() {
            return Err(ApiError::bad_request(
                "Old password or new password undefined",
            ));
        }
        let mut users = lock(&self.users);
        let Some(u) = users.iter_mut().find(|u| u.username == username) else {
            return Err(user_not_found());
        };
        if !same(&hash(&u.salt, old), &u.password_hash) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "ERROR_PWD_NOT_MATCH",
                "Old password not match",
            ));
        }
        u.salt = random_string(16, HEX);
        u.password_hash = hash(&u.salt, new);
        self.save_users(&users)?;
        drop(users);
        lock(&self.tokens).retain(|_, t| t.username != username);
        Ok(())
    }

    // ---- API keys ------------------------------------------------------------------------

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

fn user_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "User not found")
}

fn key_not_found() -> ApiError {
    ApiError::not_found("Name NOT FOUND")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> AuthSettings {
        AuthSettings {
            dir: dir.to_path_buf(),
            default_username: "admin".into(),
            default_password: "public".into(),
            token_ttl: Duration::from_secs(60),
            max_attempts: 3,
            time_window: Duration::from_secs(60),
            lock_duration: Duration::from_secs(60),
            max_failures_per_peer: 5,
            bootstrap_file: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "linkmq-auth-{name}-{}-{}",
            std::process::id(),
            random_string(6, HEX)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn users_survive_a_restart_with_hashed_passwords() {
        let dir = temp_dir("users");
        let s = AuthStore::open(settings(&dir)).unwrap();
        s.add_user("ops", "s3cret", Role::Viewer, "ops team")
            .unwrap();
        let text = std::fs::read_to_string(dir.join("users.json")).unwrap();
        assert!(!text.contains("s3cret") && !text.contains("\"public\""));
        drop(s);
        let s = AuthStore::open(settings(&dir)).unwrap();
        assert_eq!(s.login("ops", "s3cret").unwrap().1, Role::Viewer);
        assert!(s.login("admin", "public").is_ok());
        assert_eq!(
            s.login("ops", "nope").unwrap_err().code,
            "BAD_USERNAME_OR_PWD"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_user_is_locked_after_max_attempts_even_with_the_right_password() {
        let dir = temp_dir("lock");
        let s = AuthStore::open(settings(&dir)).unwrap();
        for _ in 0..3 {
            assert_eq!(
                s.login("admin", "x").unwrap_err().code,
                "BAD_USERNAME_OR_PWD"
            );
        }
        assert_eq!(s.login("admin", "public").unwrap_err().code, "LOGIN_LOCKED");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bootstrap_keys_authenticate_and_later_lines_win() {
        let dir = temp_dir("boot");
        let file = dir.join("keys.txt");
        std::fs::write(&file, "# comment\nk1:old\nk1:new\nk2:s2:viewer\nbroken\n").unwrap();
        let s = AuthStore::open(AuthSettings {
            bootstrap_file: Some(file),
            ..settings(&dir)
        })
        .unwrap();
        assert!(s.verify_api_key("k1", "old").is_err());
        assert!(matches!(
            s.verify_api_key("k1", "new"),
            Ok(Actor::ApiKey {
                role: Role::Administrator,
                ..
            })
        ));
        assert_eq!(s.verify_api_key("k2", "s2").unwrap().role(), Role::Viewer);
        assert_eq!(s.api_keys().len(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn key_names_follow_emqx() {
        assert!(valid_key_name("EMQX-API-KEY-1"));
        assert!(valid_key_name("a_b"));
        assert!(!valid_key_name(""));
        assert!(!valid_key_name("1abc"));
        assert!(!valid_key_name("a b"));
        assert!(!valid_key_name(&"a".repeat(257)));
    }
}
