//! Dashboard users: stored with a salted SHA-256 of the password in `users.json`.

use serde::{Deserialize, Serialize};

use super::{
    AuthStore, HEX, Role, hash, lock, persist_error, random_string, same, write_json_file,
};
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredUser {
    pub(super) username: String,
    /// Hex SHA-256 of salt ++ password.
    pub(super) password_hash: String,
    pub(super) salt: String,
    #[serde(default)]
    pub(super) role: Role,
    #[serde(default)]
    pub(super) description: String,
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

impl AuthStore {
    fn save_users(&self, users: &[StoredUser]) -> ApiResult<()> {
        write_json_file(&self.settings.dir.join("users.json"), &users).map_err(persist_error)
    }

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
}

fn user_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "User not found")
}
