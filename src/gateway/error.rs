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
    /// No or wrong supervisor credentials.
    #[error("supervisor credentials required")]
    Unauthorised,
    /// kefu is stopping.
    #[error("kefu is stopping")]
    Unavailable,
    /// The database failed.
    #[error("database error")]
    Store(#[from] crate::store::StoreError),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "refused"),
            ApiError::Unauthorised => (StatusCode::UNAUTHORIZED, "unauthorised"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Store(source) => {
                tracing::error!(error = %source, "request failed in the database");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response =
            (status, Json(json!({ "code": code, "message": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"kefu\""),
            );
        }
        response
    }
}
