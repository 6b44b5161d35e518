//! Who may read customer data over HTTP: supervisors, with HTTP Basic credentials from the
//! configuration (use TLS in front of kefu in production). Agents see customer data only in
//! their own screen-pop, over their socket.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{ApiError, AppState};

/// A request made by a supervisor (checked credentials).
#[derive(Debug)]
pub struct Supervisor {
    /// Their id.
    pub id: String,
}

impl FromRequestParts<AppState> for Supervisor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (id, password) = basic_credentials(parts).ok_or(ApiError::Unauthorised)?;
        if state.supervisors.check(&id, &password) {
            Ok(Supervisor { id })
        } else {
            tracing::warn!(supervisor = %id, "supervisor credentials refused");
            Err(ApiError::Unauthorised)
        }
    }
}

/// `Authorization: Basic base64(id:password)`.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, password) = decoded.split_once(':')?;
    Some((id.to_owned(), password.to_owned()))
}
