//! Logins and who may call what over HTTP.
//!
//! - `POST /api/login` `{"id", "password"}` → `{"token", "role", "expires_at", "queues"}`;
//!   401 for a wrong id or password (the same answer, in the same time, for both), 429 with
//!   `Retry-After` past `auth.login_attempts_per_minute` for that id.
//! - `POST /api/logout` ends the token's session; `GET /api/me` says whose it is.
//! - Every other protected route takes `Authorization: Bearer <token>`: the extractors
//!   [`Supervisor`] (supervisors and admins) and [`Admin`] check the role; a wrong role is
//!   403, logged, and says nothing about what exists. Use TLS in front of kefu.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::{LoginGate, Passwords, Principal, Role, Scope, Token};
use crate::clock;
use crate::config::AuthConfig;
use crate::domain::Timestamp;
use crate::store::{Store, StoreError};

/// The longest user id a login may name.
const MAX_ID_BYTES: usize = 128;

/// Password checks, the login rate, and the tokens' life.
#[derive(Clone)]
pub struct Auth {
    passwords: Passwords,
    gate: std::sync::Arc<LoginGate>,
    token_ttl: Duration,
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    /// Unknown id or wrong password: the two are not told apart.
    #[error("unknown id or wrong password")]
    WrongCredentials,
    /// Too many attempts for this id.
    #[error("too many login attempts; try again in {} s", .0.as_secs().max(1))]
    TooManyAttempts(Duration),
    /// The database failed.
    #[error("database error")]
    Store(#[from] StoreError),
}

impl Auth {
    /// From `[auth]`.
    ///
    /// # Errors
    /// When the argon2 settings are out of range.
    pub fn new(config: &AuthConfig) -> Result<Auth, crate::auth::BadArgon2Settings> {
        Ok(Auth {
            passwords: Passwords::new(config)?,
            gate: std::sync::Arc::new(LoginGate::new(config.login_attempts_per_minute)),
            token_ttl: config.token_ttl,
        })
    }

    /// The password hasher (to seed the configured users with).
    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// Checks an id and password.
    ///
    /// # Errors
    /// Refused: wrong credentials, too many attempts, or the database failed.
    pub async fn check_password(
        &self,
        store: &Store,
        id: &str,
        password: &str,
    ) -> Result<Principal, LoginRefused> {
        // The gate remembers ids: a megabyte-long one must not get in.
        if id.len() > MAX_ID_BYTES {
            return Err(LoginRefused::WrongCredentials);
        }
        self.gate
            .attempt(id)
            .map_err(LoginRefused::TooManyAttempts)?;
        let user = store.user(id).await?;
        let stored = user.as_ref().map(|u| u.password_hash.as_str());
        if !self.passwords.verify(password, stored).await {
            tracing::warn!(user = %id, "login refused: wrong credentials");
            return Err(LoginRefused::WrongCredentials);
        }
        user.map(crate::store::User::principal)
            .ok_or(LoginRefused::WrongCredentials)
    }

    /// A new token for the user, valid for `auth.token_ttl`.
    ///
    /// # Errors
    /// The database fails.
    pub async fn issue(
        &self,
        store: &Store,
        principal: &Principal,
    ) -> Result<(Token, Timestamp), StoreError> {
        let token = Token::generate();
        let now = clock::now();
        let expires_at = now.plus(self.token_ttl);
        store
            .insert_session(&token.digest(), &principal.id, now, expires_at)
            .await?;
        // Expired sessions are forgotten as new ones are made: the table stays as small as
        // the number of people logged in.
        store.delete_expired_sessions(now).await?;
        Ok((token, expires_at))
    }

    /// Whose token this is, while it is valid.
    ///
    /// # Errors
    /// The database fails.
    pub async fn authenticate(
        &self,
        store: &Store,
        token: &Token,
    ) -> Result<Option<Principal>, StoreError> {
        store.session_user(&token.digest(), clock::now()).await
    }
}

/// `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<Token> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    Some(Token::from_client(token))
}

/// Any logged-in user.
#[derive(Debug)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthorised)?;
        match state.auth.authenticate(&state.store, &token).await? {
            Some(principal) => Ok(Authenticated(principal)),
            None => {
                tracing::warn!(path = %parts.uri.path(), "request refused: unknown or expired token");
                Err(ApiError::Unauthorised)
            }
        }
    }
}

/// A supervisor or an admin, with the queues they may see and act on.
#[derive(Debug)]
pub struct Supervisor {
    /// Their id.
    pub id: String,
    /// Their queues.
    pub scope: Scope,
}

impl FromRequestParts<AppState> for Supervisor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        Supervisor::of(principal).map_err(|principal| forbidden(&principal, parts))
    }
}

impl Supervisor {
    /// The principal as a supervisor; an agent is handed back.
    ///
    /// # Errors
    /// The principal is an agent.
    pub fn of(principal: Principal) -> Result<Supervisor, Principal> {
        match principal.role {
            Role::Admin | Role::Supervisor => Ok(Supervisor {
                id: principal.id,
                scope: principal.scope,
            }),
            Role::Agent => Err(principal),
        }
    }

    /// 403 unless they see every queue (the audit trail, flow reloads).
    ///
    /// # Errors
    /// Forbidden for a supervisor limited to some queues.
    pub fn require_all_queues(&self) -> Result<(), ApiError> {
        if self.scope == Scope::All {
            Ok(())
        } else {
            tracing::warn!(user = %self.id, "request refused: needs every queue");
            Err(ApiError::Forbidden)
        }
    }
}

/// An admin.
#[derive(Debug)]
pub struct Admin {
    /// Their id.
    pub id: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        match principal.role {
            Role::Admin => Ok(Admin { id: principal.id }),
            Role::Supervisor | Role::Agent => Err(forbidden(&principal, parts)),
        }
    }
}

fn forbidden(principal: &Principal, parts: &Parts) -> ApiError {
    tracing::warn!(user = %principal.id, role = principal.role.as_str(), path = %parts.uri.path(), "request refused: role");
    ApiError::Forbidden
}

/// `{"id", "password"}`
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    id: String,
    password: String,
}

/// `POST /api/login`.
///
/// # Errors
/// 400 for a bad body, 401 for wrong credentials, 429 past the attempt rate, 500 when the
/// database fails.
#[utoipa::path(post, path = "/api/login", tag = "access", request_body = LoginBody, responses((status = 200, description = "A token: `{token, role, queues, expires_at}`", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "Unknown id or wrong password", body = crate::gateway::openapi::ErrorBody), (status = 429, description = "Too many attempts for this id; see Retry-After", body = crate::gateway::openapi::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
    })?;
    let principal = match state
        .auth
        .check_password(&state.store, &body.id, &body.password)
        .await
    {
        Ok(principal) => principal,
        Err(LoginRefused::WrongCredentials) => return Err(ApiError::Unauthorised),
        Err(LoginRefused::TooManyAttempts(wait)) => {
            tracing::warn!(user = %body.id, "login refused: too many attempts");
            return Err(ApiError::TooManyRequests { retry_after: wait });
        }
        Err(LoginRefused::Store(e)) => return Err(e.into()),
    };
    let (token, expires_at) = state.auth.issue(&state.store, &principal).await?;
    tracing::info!(user = %principal.id, role = principal.role.as_str(), "logged in");
    let mut reply = whoami(&principal);
    reply["token"] = json!(token.expose());
    reply["expires_at"] = json!(expires_at.to_utc().to_rfc3339());
    Ok(Json(reply))
}

/// `POST /api/logout`: the token stops working at once.
///
/// # Errors
/// 401 without a token, 500 when the database fails.
#[utoipa::path(post, path = "/api/logout", tag = "access", security(("bearer" = [])), responses((status = 204, description = "The token no longer works"), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let token = bearer(&headers).ok_or(ApiError::Unauthorised)?;
    state.store.delete_session(&token.digest()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/me`: `{"id", "role", "queues"}` (`queues` null: every queue).
#[utoipa::path(get, path = "/api/me", tag = "access", security(("bearer" = [])), responses((status = 200, description = "`{id, role, queues}`", body = Object), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody)))]
pub async fn me(Authenticated(principal): Authenticated) -> Json<serde_json::Value> {
    Json(whoami(&principal))
}

fn whoami(principal: &Principal) -> serde_json::Value {
    let queues = match &principal.scope {
        Scope::All => None,
        Scope::Queues(queues) => {
            let mut names: Vec<&str> = queues.iter().map(|q| q.as_str()).collect();
            names.sort_unstable();
            Some(names)
        }
    };
    json!({ "id": principal.id, "role": principal.role, "queues": queues })
}
