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

mod api_keys;
mod users;

pub use api_keys::{ApiKey, ApiKeyChange, valid_key_name};
use users::StoredUser;
pub use users::UserView;

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
            api_keys::load_bootstrap(file, &mut keys)?;
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

    /// A fresh directory, removed when the returned guard is dropped (also on a failed assert).
    fn temp_dir(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("linkmq-auth-{name}-"))
            .tempdir()
            .unwrap()
    }

    #[test]
    fn users_survive_a_restart_with_hashed_passwords() {
        let tmp = temp_dir("users");
        let dir = tmp.path();
        let s = AuthStore::open(settings(dir)).unwrap();
        s.add_user("ops", "s3cret", Role::Viewer, "ops team")
            .unwrap();
        let text = std::fs::read_to_string(dir.join("users.json")).unwrap();
        assert!(!text.contains("s3cret") && !text.contains("\"public\""));
        drop(s);
        let s = AuthStore::open(settings(dir)).unwrap();
        assert_eq!(s.login("ops", "s3cret").unwrap().1, Role::Viewer);
        assert!(s.login("admin", "public").is_ok());
        assert_eq!(
            s.login("ops", "nope").unwrap_err().code,
            "BAD_USERNAME_OR_PWD"
        );
    }

    #[test]
    fn a_user_is_locked_after_max_attempts_even_with_the_right_password() {
        let tmp = temp_dir("lock");
        let dir = tmp.path();
        let s = AuthStore::open(settings(dir)).unwrap();
        for _ in 0..3 {
            assert_eq!(
                s.login("admin", "x").unwrap_err().code,
                "BAD_USERNAME_OR_PWD"
            );
        }
        assert_eq!(s.login("admin", "public").unwrap_err().code, "LOGIN_LOCKED");
    }

    #[test]
    fn bootstrap_keys_authenticate_and_later_lines_win() {
        let tmp = temp_dir("boot");
        let dir = tmp.path();
        let file = dir.join("keys.txt");
        std::fs::write(&file, "# comment\nk1:old\nk1:new\nk2:s2:viewer\nbroken\n").unwrap();
        let s = AuthStore::open(AuthSettings {
            bootstrap_file: Some(file),
            ..settings(dir)
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
