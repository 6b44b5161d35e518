//! `/api/customers`: supervisors read customers, admins add, change and remove them. Every
//! change is audited. Routing and the screen-pop look customers up in the database on each
//! call, so a change counts from the next call on.
//!
//! - `GET /api/customers?phone=&account=&tier=&after=&limit=` (by id; page with `after`)
//! - `GET /api/customers/{id}`
//! - `POST /api/customers` `{"name","phone","account","tier","account_manager"?}` → 201
//! - `PUT /api/customers/{id}` (the same body: every field replaced)
//! - `DELETE /api/customers/{id}` → 204; 409 when the customer's calls are on record

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::auth::{Admin, Supervisor};
use super::{ApiError, AppState};
use crate::store::{Customer, CustomerFields, CustomerFilter};

/// The longest name, phone or account number accepted.
const MAX_FIELD: usize = 200;

/// `GET /api/customers`.
///
/// # Errors
/// 401, 403 for agents, 500 when the database fails.
#[utoipa::path(get, path = "/api/customers", tag = "admin", params(CustomerFilter), security(("bearer" = [])), responses((status = 200, description = "`{customers: [...]}` by id", body = Object), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn list(
    _supervisor: Supervisor,
    State(state): State<AppState>,
    Query(filter): Query<CustomerFilter>,
) -> Result<impl IntoResponse, ApiError> {
    let customers = state.store.list_customers(&filter).await?;
    Ok(Json(json!({ "customers": customers })))
}

/// `GET /api/customers/{id}`.
///
/// # Errors
/// 401, 403 for agents, 404, 500 when the database fails.
#[utoipa::path(get, path = "/api/customers/{id}", tag = "admin", params(("id" = i64, Path, description = "Customer id")), security(("bearer" = [])), responses((status = 200, description = "The customer", body = Customer), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such customer", body = crate::gateway::openapi::ErrorBody)))]
pub async fn one(
    _supervisor: Supervisor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Customer>, ApiError> {
    let customer = state.store.customer(id).await?;
    customer
        .map(Json)
        .ok_or(ApiError::NotFound { what: "customer" })
}

/// `POST /api/customers`.
///
/// # Errors
/// 401, 403 unless admin, 400 for a bad body, an unknown tier or account manager, 409 for
/// a phone or account number another customer has.
#[utoipa::path(post, path = "/api/customers", tag = "admin", request_body = CustomerFields, security(("bearer" = [])), responses((status = 201, description = "Added", body = Customer), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The phone or account number is taken", body = crate::gateway::openapi::ErrorBody)))]
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    body: Result<Json<CustomerFields>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let fields = checked(&state, body)?;
    let result = state.store.insert_customer(&fields).await;
    let target = result
        .as_ref()
        .map_or_else(|_| fields.phone.clone(), |c| c.id.to_string());
    audit(&state, &admin, "customer_create", target, &fields, &result).await;
    Ok((StatusCode::CREATED, Json(result?)))
}

/// `PUT /api/customers/{id}`.
///
/// # Errors
/// As `create`, and 404 for an unknown id.
#[utoipa::path(put, path = "/api/customers/{id}", tag = "admin", params(("id" = i64, Path, description = "Customer id")), request_body = CustomerFields, security(("bearer" = [])), responses((status = 200, description = "Replaced", body = Customer), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such customer", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The phone or account number is taken", body = crate::gateway::openapi::ErrorBody)))]
pub async fn replace(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<CustomerFields>, JsonRejection>,
) -> Result<Json<Customer>, ApiError> {
    let fields = checked(&state, body)?;
    let result = (state.store.update_customer(id, &fields).await)
        .map_err(ApiError::from)
        .and_then(|found| found.ok_or(ApiError::NotFound { what: "customer" }));
    audit(
        &state,
        &admin,
        "customer_update",
        id.to_string(),
        &fields,
        &result,
    )
    .await;
    result.map(Json)
}

/// `DELETE /api/customers/{id}`.
///
/// # Errors
/// 401, 403 unless admin, 404, 409 when the customer's calls are on record.
#[utoipa::path(delete, path = "/api/customers/{id}", tag = "admin", params(("id" = i64, Path, description = "Customer id")), security(("bearer" = [])), responses((status = 204, description = "Removed"), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such customer", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The customer's calls are on record", body = crate::gateway::openapi::ErrorBody)))]
pub async fn remove(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let result = (state.store.delete_customer(id).await)
        .map_err(ApiError::from)
        .and_then(|found| {
            found
                .then_some(())
                .ok_or(ApiError::NotFound { what: "customer" })
        });
    audit(
        &state,
        &admin,
        "customer_delete",
        id.to_string(),
        &json!({}),
        &result,
    )
    .await;
    result.map(|()| StatusCode::NO_CONTENT)
}

/// The body, trimmed and checked against the configuration's tiers and agents.
fn checked(
    state: &AppState,
    body: Result<Json<CustomerFields>, JsonRejection>,
) -> Result<CustomerFields, ApiError> {
    let bad = |message: String| ApiError::BadRequest { message };
    let Json(mut fields) = body.map_err(|e| bad(e.body_text()))?;
    for (name, value) in [
        ("name", &mut fields.name),
        ("phone", &mut fields.phone),
        ("account", &mut fields.account),
    ] {
        *value = value.trim().to_owned();
        if value.is_empty() || value.chars().count() > MAX_FIELD {
            return Err(bad(format!("{name}: 1 to {MAX_FIELD} characters")));
        }
    }
    if !state.reports.targets.contains_key(&fields.tier) {
        return Err(bad(format!("tier: unknown tier `{}`", fields.tier)));
    }
    if let Some(manager) = &fields.account_manager {
        if state.directory.load().agent(manager.as_str()).is_none() {
            return Err(bad(format!("account_manager: unknown agent `{manager}`")));
        }
    }
    Ok(fields)
}

async fn audit<T, E: std::fmt::Display>(
    state: &AppState,
    admin: &Admin,
    action: &str,
    target: String,
    detail: &impl serde::Serialize,
    result: &Result<T, E>,
) {
    let detail = serde_json::to_value(detail).unwrap_or_default();
    let outcome = super::supervisor::outcome(result);
    super::supervisor::record(state, &admin.id, action, target, detail, outcome).await;
}
