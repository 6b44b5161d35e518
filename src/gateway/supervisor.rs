//! Supervisors' REST actions on live calls and agents, each written to the audit trail
//! (who, what, to what, when, outcome), and the trail itself at `GET /api/audit`.
//!
//! - `POST /api/agents/{id}/state` `{"state": "available"|"break"|"logged_out", "reason"?}`
//! - `POST /api/calls/{uuid}/queue` `{"queue": "complaints"}`
//! - `POST /api/calls/{uuid}/priority` `{"priority": 40}`
//!
//! 200 `{"done": true}` when carried out; 404 for an unknown agent or queue; 403 when the
//! agent, call or queue is outside the supervisor's queues; 409 when the agent or call is
//! busy (on a call, being offered, not waiting). Refusals are audited too.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::api::optional_time;
use super::auth::Supervisor;
use super::{ApiError, AppState};
use crate::acd::ActionRefused;
use crate::clock;
use crate::domain::{AgentId, CallId, QueueId, Timestamp};
use crate::engine::{ActionError, Input, SupervisorAction};
use crate::gateway::protocol::RequestedState;
use crate::store::AuditEntry;

/// How long a handler waits for the engine's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// `{"state": …, "reason": …}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StateBody {
    state: RequestedState,
    #[serde(default)]
    reason: Option<String>,
}

/// `{"queue": …}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct QueueBody {
    queue: String,
}

/// `{"priority": …}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PriorityBody {
    priority: i32,
}

/// `POST /api/agents/{id}/state`: force an agent's state.
///
/// # Errors
/// 401, 400 for a bad body, 404 for an unknown agent, 409 when the agent is busy.
#[utoipa::path(post, path = "/api/agents/{id}/state", tag = "actions", params(("id" = String, Path, description = "Agent id")), request_body = StateBody, security(("bearer" = [])), responses((status = 200, description = "Done", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such agent", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The agent is busy or logged out", body = crate::gateway::openapi::ErrorBody), (status = 503, description = "kefu is stopping", body = crate::gateway::openapi::ErrorBody)))]
pub async fn agent_state(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<StateBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let detail = json!({ "state": body.state, "reason": body.reason });
    let action = SupervisorAction::AgentState {
        agent: AgentId::new(&id),
        state: body.state,
        reason: body.reason,
    };
    act(&state, &supervisor, "agent_state", id, detail, action).await
}

/// `POST /api/calls/{uuid}/queue`: move a waiting call to another queue.
///
/// # Errors
/// 401, 400 for a bad id or body, 404 for an unknown queue, 409 when the call is not
/// waiting, is ringing an agent, or nobody serves the queue.
#[utoipa::path(post, path = "/api/calls/{uuid}/queue", tag = "actions", params(("uuid" = String, Path, description = "Call id")), request_body = QueueBody, security(("bearer" = [])), responses((status = 200, description = "Done", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such queue", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The call is not waiting, or is ringing an agent", body = crate::gateway::openapi::ErrorBody), (status = 503, description = "kefu is stopping", body = crate::gateway::openapi::ErrorBody)))]
pub async fn move_call(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<QueueBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let call = call_id(&id)?;
    let Json(body) = body.map_err(bad_body)?;
    let detail = json!({ "queue": body.queue });
    let action = SupervisorAction::MoveCall {
        call,
        queue: QueueId::new(&body.queue),
    };
    act(&state, &supervisor, "move_call", id, detail, action).await
}

/// `POST /api/calls/{uuid}/priority`: change a waiting call's priority.
///
/// # Errors
/// 401, 400 for a bad id or body, 409 when the call is not waiting or is ringing an agent.
#[utoipa::path(post, path = "/api/calls/{uuid}/priority", tag = "actions", params(("uuid" = String, Path, description = "Call id")), request_body = PriorityBody, security(("bearer" = [])), responses((status = 200, description = "Done", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The call is not waiting, or is ringing an agent", body = crate::gateway::openapi::ErrorBody), (status = 503, description = "kefu is stopping", body = crate::gateway::openapi::ErrorBody)))]
pub async fn set_priority(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<PriorityBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let call = call_id(&id)?;
    let Json(body) = body.map_err(bad_body)?;
    let detail = json!({ "priority": body.priority });
    let action = SupervisorAction::SetPriority {
        call,
        priority: body.priority,
    };
    act(&state, &supervisor, "set_priority", id, detail, action).await
}

/// `GET /api/audit?from=&to=&limit=` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/audit?from=&to=&limit=`: the trail, newest first (default: the last 100).
///
/// # Errors
/// 401, 403 for a supervisor limited to some queues, 400 for a bad time, 500 when the
/// database fails.
#[utoipa::path(get, path = "/api/audit", tag = "actions", params(AuditQuery), security(("bearer" = [])), responses((status = 200, description = "The trail, newest first", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn audit(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    supervisor.require_all_queues()?;
    let from = optional_time(q.from.as_deref(), "from")?.unwrap_or(Timestamp::from_micros(0));
    let to = optional_time(q.to.as_deref(), "to")?.unwrap_or(Timestamp::from_micros(i64::MAX));
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state.store.audit_entries(from, to, limit).await?;
    Ok(Json(json!({ "entries": entries })))
}

/// Writes an entry for an action taken now; a trail that cannot be written is logged,
/// never silently lost.
pub async fn record(
    state: &AppState,
    actor: &str,
    action: &str,
    target: String,
    detail: serde_json::Value,
    outcome: String,
) {
    let entry = AuditEntry {
        at: clock::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target,
        detail,
        outcome,
    };
    if let Err(error) = state.store.insert_audit(&entry).await {
        tracing::error!(error = %error, actor = %entry.actor, action = %entry.action, "audit entry not written");
    }
}

/// `done`, or `refused: why`.
pub fn outcome<T, E: std::fmt::Display>(result: &Result<T, E>) -> String {
    match result {
        Ok(_) => "done".to_owned(),
        Err(error) => format!("refused: {error}"),
    }
}

/// Hands the action to the engine, audits the answer, and maps it to HTTP.
async fn act(
    state: &AppState,
    supervisor: &Supervisor,
    action_name: &str,
    target: String,
    detail: serde_json::Value,
    action: SupervisorAction,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (reply, answer) = oneshot::channel();
    let input = Input::Supervisor {
        supervisor: supervisor.id.clone(),
        scope: supervisor.scope.clone(),
        action,
        reply,
    };
    let result = match state.engine.send(input).await {
        Ok(()) => match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(ActionError::Stopped),
        },
        Err(_) => Err(ActionError::Stopped),
    };
    let outcome = outcome(&result);
    tracing::info!(supervisor = %supervisor.id, action = action_name, target = %target, outcome = %outcome, "supervisor action");
    record(state, &supervisor.id, action_name, target, detail, outcome).await;
    match result {
        Ok(()) => Ok(Json(json!({ "done": true }))),
        Err(ActionError::UnknownAgent(_)) => Err(ApiError::NotFound { what: "agent" }),
        Err(ActionError::Refused(ActionRefused::UnknownQueue(_))) => {
            Err(ApiError::NotFound { what: "queue" })
        }
        Err(ActionError::Stopped) => Err(ApiError::Unavailable),
        Err(ActionError::OutOfScope) => Err(ApiError::Forbidden),
        Err(other) => Err(ApiError::Conflict {
            message: other.to_string(),
        }),
    }
}

fn call_id(id: &str) -> Result<CallId, ApiError> {
    CallId::parse(id).map_err(|_| ApiError::BadRequest {
        message: "call id must be a UUID".into(),
    })
}

fn bad_body(rejection: JsonRejection) -> ApiError {
    ApiError::BadRequest {
        message: rejection.body_text(),
    }
}
