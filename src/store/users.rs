//! Users (role, argon2 hash, the queues a supervisor is limited to) and login sessions, of
//! which only the token's SHA-256 is stored.

use std::collections::HashSet;

use super::calls::storable;
use super::{Doing, Store, StoreError, with_pool};
use crate::auth::{Principal, Role, Scope};
use crate::domain::Timestamp;

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login id (an agent's id for agents).
    pub id: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The queues a supervisor is limited to; `None` is every queue.
    pub queues: Option<Vec<String>>,
}

impl User {
    /// The user as a logged-in principal: admins see every queue whatever is stored.
    pub fn principal(self) -> Principal {
        let scope = match self.role {
            Role::Admin => Scope::All,
            Role::Supervisor | Role::Agent => Scope::from_queues(self.queues),
        };
        Principal {
            id: self.id,
            role: self.role,
            scope,
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    role: String,
    password_hash: String,
    queues: Option<String>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<User, StoreError> {
        let role = Role::parse(&row.role).ok_or_else(|| StoreError::Corrupt {
            what: "users.role",
            value: row.role.clone(),
        })?;
        let queues = match row.queues {
            None => None,
            Some(text) => Some(
                serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                    what: "users.queues",
                    value: text,
                })?,
            ),
        };
        Ok(User {
            id: row.id,
            role,
            password_hash: row.password_hash,
            queues,
        })
    }
}

/// Who configured a user.
const FROM_CONFIG: &str = "config";

impl Store {
    /// One user.
    ///
    /// # Errors
    /// The database fails, or the stored row is unreadable.
    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = "SELECT id, role, password_hash, queues FROM users WHERE id = $1";
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(storable(id)).fetch_optional(pool).await
        })
        .doing("reading a user")?;
        row.map(User::try_from).transpose()
    }

    /// The users the configuration declared at the last start.
    ///
    /// # Errors
    /// The database fails, or a stored row is unreadable.
    pub async fn config_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = "SELECT id, role, password_hash, queues FROM users WHERE source = $1";
        let rows: Vec<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(FROM_CONFIG).fetch_all(pool).await
        })
        .doing("reading the configured users")?;
        rows.into_iter().map(User::try_from).collect()
    }

    /// Makes the configured users exactly `users`, in one transaction: each is written (a
    /// user an admin made with the same id becomes the configured one), and configured
    /// users no longer listed are removed with their sessions.
    ///
    /// # Errors
    /// The database fails; nothing is changed then.
    pub async fn replace_config_users(&self, users: &[User]) -> Result<(), StoreError> {
        let listed: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let gone: Vec<String> = self
            .config_users()
            .await?
            .into_iter()
            .filter(|u| !listed.contains(u.id.as_str()))
            .map(|u| u.id)
            .collect();
        let upsert = "INSERT INTO users (id, role, password_hash, queues, source) \
                      VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                      role = excluded.role, password_hash = excluded.password_hash, \
                      queues = excluded.queues, source = excluded.source";
        let delete = "DELETE FROM users WHERE id = $1";
        with_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                for user in users {
                    let queues = user.queues.as_ref().map(|q| serde_json::json!(q).to_string());
                    sqlx::query(upsert)
                        .bind(storable(&user.id))
                        .bind(user.role.as_str())
                        .bind(&user.password_hash)
                        .bind(queues)
                        .bind(FROM_CONFIG)
                        .execute(&mut *tx)
                        .await?;
                }
                for id in &gone {
                    sqlx::query(delete).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await
        })
        .doing("writing the configured users")
    }

    /// Keeps a new login's token digest until `expires_at`.
    ///
    /// # Errors
    /// The database fails.
    pub async fn insert_session(
        &self,
        token_sha256: &str,
        user: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO sessions (token_sha256, user_id, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(token_sha256)
                .bind(storable(user))
                .bind(created_at.as_micros())
                .bind(expires_at.as_micros())
                .execute(pool)
                .await
                .map(drop)
        })
        .doing("writing a login session")
    }

    /// The user a token digest belongs to, while it has not expired.
    ///
    /// # Errors
    /// The database fails, or the user's row is unreadable.
    pub async fn session_user(
        &self,
        token_sha256: &str,
        now: Timestamp,
    ) -> Result<Option<Principal>, StoreError> {
        let sql = "SELECT u.id, u.role, u.password_hash, u.queues FROM sessions s \
                   JOIN users u ON u.id = s.user_id \
                   WHERE s.token_sha256 = $1 AND s.expires_at > $2";
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(storable(token_sha256))
                .bind(now.as_micros())
                .fetch_optional(pool)
                .await
        })
        .doing("reading a login session")?;
        Ok(row.map(User::try_from).transpose()?.map(User::principal))
    }

    /// Ends a session (logout). Ending one that does not exist is not an error.
    ///
    /// # Errors
    /// The database fails.
    pub async fn delete_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM sessions WHERE token_sha256 = $1";
        with_pool!(self, pool => {
            sqlx::query(sql).bind(storable(token_sha256)).execute(pool).await.map(drop)
        })
        .doing("ending a login session")
    }

    /// Forgets sessions that expired before `now`; returns how many.
    ///
    /// # Errors
    /// The database fails.
    pub async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let sql = "DELETE FROM sessions WHERE expires_at <= $1";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(now.as_micros())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .doing("forgetting expired sessions")
    }
}
