//! The built-in user database: users in memory, persisted as one JSON file under `node.data_dir`
//! (written to a temporary file, synced, then renamed over the old one).
//!
//! Mutations hash passwords (PBKDF2/bcrypt are CPU-heavy) and write the file: call them from a
//! blocking context (`tokio::task::spawn_blocking`), e.g. from a REST handler.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::hashing::HashAlgorithm;
use super::scram::ScramCredential;

/// Iterations of SCRAM credentials derived when no `mechanism = scram` authenticator says otherwise
/// (EMQX's default `iteration_count`).
pub const DEFAULT_SCRAM_ITERATIONS: u32 = 4096;

/// One user as stored (EMQX's `user_info` record, plus the SCRAM credential when the password was
/// known in clear when the user was made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: String,
    pub password_hash: String,
    #[serde(default)]
    pub salt: String,
    #[serde(default)]
    pub is_superuser: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram: Option<ScramCredential>,
}

/// A user as the REST API shows it (EMQX: `{"user_id": ..., "is_superuser": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub user_id: String,
    pub is_superuser: bool,
}

impl From<&UserRecord> for UserInfo {
    fn from(r: &UserRecord) -> Self {
        UserInfo {
            user_id: r.user_id.clone(),
            is_superuser: r.is_superuser,
        }
    }
}

/// One page of [`UserStore::list_users`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPage {
    pub data: Vec<UserInfo>,
    /// Users matching the filter, over all pages.
    pub count: usize,
    pub page: usize,
    pub limit: usize,
    pub hasnext: bool,
}

/// Why a user operation failed (the REST API maps these to EMQX's error codes).
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// EMQX `ALREADY_EXISTS` (409).
    #[error("user {0:?} already exists")]
    AlreadyExists(String),
    /// EMQX `NOT_FOUND` (404).
    #[error("user {0:?} not found")]
    NotFound(String),
    /// EMQX `BAD_REQUEST` (400).
    #[error("{0}")]
    Invalid(String),
    /// The users file could not be written; the change was not made.
    #[error("cannot save {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How a bootstrap import went (EMQX's import result).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportResult {
    pub total: usize,
    pub success: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// The user table with its hashing settings and file.
#[derive(Debug)]
pub struct UserStore {
    users: RwLock<BTreeMap<String, UserRecord>>,
    path: Option<PathBuf>,
    algorithm: HashAlgorithm,
    scram_iterations: u32,
}

impl UserStore {
    /// An empty, memory-only store.
    pub fn in_memory(algorithm: HashAlgorithm, scram_iterations: u32) -> UserStore {
        UserStore {
            users: RwLock::new(BTreeMap::new()),
            path: None,
            algorithm,
            scram_iterations,
        }
    }

    /// The store kept in `path` (loaded now if it exists; created on the first change).
    pub fn open(
        path: impl Into<PathBuf>,
        algorithm: HashAlgorithm,
        scram_iterations: u32,
    ) -> Result<UserStore, String> {
        let path = path.into();
        let users = match std::fs::read(&path) {
            Ok(bytes) => {
                let list: Vec<UserRecord> = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                list.into_iter().map(|u| (u.user_id.clone(), u)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(UserStore {
            users: RwLock::new(users),
            path: Some(path),
            algorithm,
            scram_iterations,
        })
    }

    /// The file the users are kept in, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The algorithm new passwords are hashed with.
    pub fn algorithm(&self) -> &HashAlgorithm {
        &self.algorithm
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, UserRecord>> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, UserRecord>> {
        self.users.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored record of `user_id`.
    pub fn get(&self, user_id: &str) -> Option<UserRecord> {
        self.read().get(user_id).cloned()
    }

    /// The user as the API shows it.
    pub fn get_user(&self, user_id: &str) -> Result<UserInfo, UserError> {
        self.read()
            .get(user_id)
            .map(UserInfo::from)
            .ok_or_else(|| UserError::NotFound(user_id.to_string()))
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A record for a new password (hash, salt and SCRAM credential).
    pub fn make_record(&self, user_id: &str, password: &str, is_superuser: bool) -> UserRecord {
        let (password_hash, salt) = self.algorithm.hash(password.as_bytes());
        UserRecord {
            user_id: user_id.to_string(),
            password_hash,
            salt,
            is_superuser,
            scram: Some(ScramCredential::derive(
                password.as_bytes(),
                self.scram_iterations,
            )),
        }
    }

    /// Adds a user (EMQX `POST /authentication/{id}/users`). Blocking: hashes and writes the file.
    pub fn add_user(
        &self,
        user_id: &str,
        password: &str,
        is_superuser: bool,
    ) -> Result<UserInfo, UserError> {
        if user_id.is_empty() {
            return Err(UserError::Invalid("user_id must not be empty".into()));
        }
        if self.read().contains_key(user_id) {
            return Err(UserError::AlreadyExists(user_id.to_string()));
        }
        let rec = self.make_record(user_id, password, is_superuser);
        let mut users = self.write();
        if users.contains_key(user_id) {
            return Err(UserError::AlreadyExists(user_id.to_string()));
        }
        let info = UserInfo::from(&rec);
        users.insert(user_id.to_string(), rec);
        self.save_or_undo(&mut users, |u| {
            u.remove(user_id);
        })?;
        Ok(info)
    }

    /// Changes a user's password and/or superuser flag (EMQX `PUT .../users/{user_id}`).
    pub fn update_user(
        &self,
        user_id: &str,
        password: Option<&str>,
        is_superuser: Option<bool>,
    ) -> Result<UserInfo, UserError> {
        let Some(old) = self.get(user_id) else {
            return Err(UserError::NotFound(user_id.to_string()));
        };
        let new = match password {
            Some(p) => self.make_record(user_id, p, is_superuser.unwrap_or(old.is_superuser)),
            None => UserRecord {
                is_superuser: is_superuser.unwrap_or(old.is_superuser),
                ..old.clone()
            },
        };
        let mut users = self.write();
        if !users.contains_key(user_id) {
            return Err(UserError::NotFound(user_id.to_string()));
        }
        let info = UserInfo::from(&new);
        let before = users.insert(user_id.to_string(), new);
        self.save_or_undo(&mut users, |u| {
            if let Some(b) = before {
                u.insert(user_id.to_string(), b);
            }
        })?;
        Ok(info)
    }

    /// Removes a user (EMQX `DELETE .../users/{user_id}`).
    pub fn delete_user(&self, user_id: &str) -> Result<(), UserError> {
        let mut users = self.write();
        let Some(old) = users.remove(user_id) else {
            return Err(UserError::NotFound(user_id.to_string()));
        };
        self.save_or_undo(&mut users, |u| {
            u.insert(user_id.to_string(), old);
        })
    }

    /// One page of users in user id order (`page` from 1), optionally only ids containing `like`
    /// (EMQX `GET .../users?page=&limit=&like_user_id=`).
    pub fn list_users(&self, page: usize, limit: usize, like: Option<&str>) -> UserPage {
        let page = page.max(1);
        let limit = limit.max(1);
        let users = self.read();
        let matching: Vec<&UserRecord> = users
            .values()
            .filter(|u| like.is_none_or(|l| u.user_id.contains(l)))
            .collect();
        let count = matching.len();
        let start = (page - 1).saturating_mul(limit);
        let data = matching
            .iter()
            .skip(start)
            .take(limit)
            .map(|u| UserInfo::from(*u))
            .collect();
        UserPage {
            data,
            count,
            page,
            limit,
            hasnext: start.saturating_add(limit) < count,
        }
    }

    /// Inserts records that are not there yet (bootstrap: existing users win, as in EMQX).
    pub fn import(&self, records: Vec<UserRecord>) -> Result<ImportResult, UserError> {
        let mut result = ImportResult {
            total: records.len(),
            ..ImportResult::default()
        };
        let mut users = self.write();
        let mut added = Vec::new();
        for r in records {
            match users.get(&r.user_id) {
                None => {
                    added.push(r.user_id.clone());
                    users.insert(r.user_id.clone(), r);
                    result.success += 1;
                }
                Some(old) if old.password_hash == r.password_hash && old.salt == r.salt => {
                    result.skipped += 1;
                }
                Some(_) => result.failed += 1,
            }
        }
        if !added.is_empty() {
            self.save_or_undo(&mut users, |u| {
                for id in &added {
                    u.remove(id);
                }
            })?;
        }
        Ok(result)
    }

    fn save_or_undo(
        &self,
        users: &mut BTreeMap<String, UserRecord>,
        undo: impl FnOnce(&mut BTreeMap<String, UserRecord>),
    ) -> Result<(), UserError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        match write_atomically(path, users) {
            Ok(()) => Ok(()),
            Err(source) => {
                undo(users);
                Err(UserError::Io {
                    path: path.clone(),
                    source,
                })
            }
        }
    }
}

/// Writes the users to `path` via a synced temporary file and a rename.
fn write_atomically(path: &Path, users: &BTreeMap<String, UserRecord>) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let list: Vec<&UserRecord> = users.values().collect();
    let bytes = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::hashing::{SaltPosition, SimpleHash};

    fn algo() -> HashAlgorithm {
        HashAlgorithm::Simple {
            name: SimpleHash::Sha256,
            salt_position: SaltPosition::Suffix,
        }
    }

    #[test]
    fn crud_persists_and_reloads() {
        let dir = tempfile::Builder::new()
            .prefix("linkmq-acl-store-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("authn").join("users.json");
        let s = UserStore::open(&path, algo(), 16).unwrap();
        s.add_user("alice", "a-pass", false).unwrap();
        s.add_user("bob", "b-pass", true).unwrap();
        assert!(matches!(
            s.add_user("alice", "x", false),
            Err(UserError::AlreadyExists(_))
        ));
        s.update_user("alice", Some("new"), Some(true)).unwrap();
        s.delete_user("bob").unwrap();
        assert!(matches!(s.delete_user("bob"), Err(UserError::NotFound(_))));
        let again = UserStore::open(&path, algo(), 16).unwrap();
        let alice = again.get("alice").unwrap();
        assert!(alice.is_superuser);
        assert!(algo().check(&alice.salt, &alice.password_hash, b"new"));
        assert!(again.get("bob").is_none());
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn list_pages_and_like() {
        let s = UserStore::in_memory(algo(), 16);
        for i in 0..5 {
            s.add_user(&format!("user{i}"), "p", false).unwrap();
        }
        s.add_user("admin", "p", true).unwrap();
        let p = s.list_users(1, 2, Some("user"));
        assert_eq!(p.count, 5);
        assert_eq!(
            p.data
                .iter()
                .map(|u| u.user_id.as_str())
                .collect::<Vec<_>>(),
            ["user0", "user1"]
        );
        assert!(p.hasnext);
        let last = s.list_users(3, 2, Some("user"));
        assert_eq!(last.data.len(), 1);
        assert!(!last.hasnext);
        assert_eq!(s.list_users(1, 100, None).count, 6);
    }

    #[test]
    fn import_keeps_existing_users() {
        let s = UserStore::in_memory(algo(), 16);
        s.add_user("a", "p", false).unwrap();
        let mut same = s.get("a").unwrap();
        same.is_superuser = true;
        let other = s.make_record("b", "q", false);
        let changed = s.make_record("a", "different", false);
        let r = s.import(vec![same, other, changed]).unwrap();
        assert_eq!(
            r,
            ImportResult {
                total: 3,
                success: 1,
                skipped: 1,
                failed: 1
            }
        );
        assert!(!s.get("a").unwrap().is_superuser);
    }
}
