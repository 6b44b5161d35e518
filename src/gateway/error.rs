//! `ApiError`: a status and a JSON `{code, message}`. Internal failures get a generic
//! message; the cause is logged in the request span, never sent to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An HTTP API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
    },
    /// The request is malformed.
    #[error("{message}")]
    BadRequest {
        /// What is wrong with it.
        message: String,
    },
    /// The request is understood but cannot be carried out now (a call or agent is busy).
    #[error("{message}")]
    Conflict {
        /// Why.
        message: String,
    },
    /// No token, or an unknown or expired one (or a wrong password at login).
    #[error("log in (POST /api/login) and send Authorization: Bearer <token>")]
    Unauthorised,
    /// The user's role or queues do not allow it.
    #[error("not allowed")]
    Forbidden,
    /// Too many login attempts.
    #[error("too many attempts; try again in {} s", .retry_after.as_secs().max(1))]
    TooManyRequests {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// kefu is stopping.
    #[error("kefu is stopping")]
    Unavailable,
    /// The database failed, or its rules refused the write (`StoreError::Refused`). The
    /// response says which without the database's own words; the log and the audit trail
    /// keep them.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "refused"),
            ApiError::Unauthorised => (StatusCode::UNAUTHORIZED, "unauthorised"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
            }
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Store(crate::store::StoreError::Refused(_)) => {
                (StatusCode::CONFLICT, "refused")
            }
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Store(crate::store::StoreError::Refused(why)) => why.clone(),
            ApiError::Store(source) => {
                tracing::error!(error = %source, "request failed in the database");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response =
            (status, Json(json!({ "code": code, "message": message }))).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorised => {
                headers.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer realm=\"kefu\""),
                );
            }
            ApiError::TooManyRequests { retry_after } => {
                headers.insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            _ => {}
        }
        response
    }
}
