//! `/api/agents`, `/api/queues`, `/api/skills`: supervisors read the directory (limited to
//! their queues), admins add, change and remove the entries they own. The configuration
//! file's entries are read-only here (409 says to change the file). Every write is audited.
//!
//! - `GET /api/agents`, `GET /api/agents/{id}`: definition, origin and live state.
//! - `POST /api/agents` `{"id","name","password","dial_string","queues","skills"}` → 201;
//!   `PUT /api/agents/{id}` (the same, `password` optional: kept when absent);
//!   `DELETE /api/agents/{id}` → 204 (409 while they are logged in).
//! - `GET /api/queues`, `GET /api/queues/{name}`; `POST /api/queues` with a queue as a
//!   `[[queues]]` entry of kefu.toml in JSON; `PUT /api/queues/{name}`;
//!   `DELETE /api/queues/{name}` (409 while calls are in it, agents serve it, or a flow
//!   names it). Live figures are in `/api/snapshot`.
//! - `GET /api/skills`; `POST /api/skills` `{"name"}`; `DELETE /api/skills/{name}`.
//!
//! A change is validated against the whole directory exactly as a configuration file is,
//! carried into the router at once (calls waiting keep their places), then stored; if the
//! database fails the router is put back as it was, so what runs is what is stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Mutex, oneshot};

use super::auth::{Admin, Supervisor};
use super::{ApiError, AppState};
use crate::acd::DirectoryRefused;
use crate::config::{AgentConfig, QueueConfig, Secret};
use crate::directory::{Change, Directory, DirectoryError, Kind, Origin};
use crate::domain::{AgentId, AgentState, QueueId, Skill};
use crate::engine::{DirectoryUpdate, Input};
use crate::ivr::Known;

/// How long a handler waits for the engine's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The live directory, and the lock that makes admins' changes one at a time (each is
/// validated against the directory the previous one left).
#[derive(Clone)]
pub struct DirectoryState {
    current: Arc<ArcSwap<Directory>>,
    writes: Arc<Mutex<()>>,
}

impl DirectoryState {
    /// The directory kefu started with.
    pub fn new(directory: Directory) -> DirectoryState {
        DirectoryState {
            current: Arc::new(ArcSwap::from_pointee(directory)),
            writes: Arc::new(Mutex::new(())),
        }
    }

    /// The directory now.
    pub fn load(&self) -> Arc<Directory> {
        self.current.load_full()
    }

    /// Holds directory changes off (while flows reload: a flow must not name a queue that
    /// is being removed).
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }

    /// What flows may name now.
    pub fn known(&self) -> Known {
        Known::from_config(self.load().config())
    }
}

/// An agent as the API shows it (never the password).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentEntry {
    id: String,
    name: String,
    dial_string: String,
    queues: Vec<String>,
    skills: BTreeMap<String, i64>,
    origin: Origin,
    /// Live state (`logged_out` when not logged in).
    #[schema(value_type = String)]
    state: AgentState,
}

/// A new or changed agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    /// Login id (POST; in a PUT the path's, and the body's must match if given).
    #[serde(default)]
    id: Option<String>,
    name: String,
    /// Required in a POST; in a PUT the stored one is kept when absent.
    #[serde(default)]
    password: Option<String>,
    /// FreeSWITCH dial string for the agent leg (`user/1009`).
    dial_string: String,
    queues: Vec<String>,
    /// Skill → proficiency 1..=10.
    #[serde(default)]
    skills: BTreeMap<String, i64>,
    /// What a `GET` shows beside the definition, ignored: a client may send back what it
    /// read.
    #[serde(default, rename = "origin")]
    #[schema(value_type = Option<String>)]
    _origin: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "state")]
    #[schema(value_type = Option<String>)]
    _state: Option<serde::de::IgnoredAny>,
}

/// A queue as the API shows it: the kefu.toml entry and where it comes from.
#[derive(Debug, Serialize)]
struct QueueEntry<'a> {
    #[serde(flatten)]
    queue: &'a QueueConfig,
    origin: Origin,
}

/// A skill and where it comes from.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkillEntry {
    name: String,
    #[serde(default = "from_api", skip_deserializing)]
    origin: Origin,
}

fn from_api() -> Origin {
    Origin::Api
}

// ---- agents ---------------------------------------------------------------------------

/// `GET /api/agents`: every agent the supervisor's queues reach.
///
/// # Errors
/// 401, 403 for agents.
#[utoipa::path(get, path = "/api/agents", tag = "directory", security(("bearer" = [])), responses((status = 200, description = "`{agents: [...]}`", body = Object), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn agents(
    supervisor: Supervisor,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let directory = state.directory.load();
    let states = live_states(&state);
    let agents: Vec<AgentEntry> = (directory.config().agents.iter())
        .filter(|a| directory.agent_in_scope(&supervisor.scope, &AgentId::new(&a.id)))
        .map(|a| agent_entry(&directory, a, &states))
        .collect();
    Ok(Json(json!({ "agents": agents })))
}

/// `GET /api/agents/{id}`.
///
/// # Errors
/// 401, 403 for agents, 404 (also for an agent outside the supervisor's queues).
#[utoipa::path(get, path = "/api/agents/{id}", tag = "directory", params(("id" = String, Path, description = "Agent id")), security(("bearer" = [])), responses((status = 200, description = "The agent", body = AgentEntry), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such agent", body = crate::gateway::openapi::ErrorBody)))]
pub async fn agent(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AgentEntry>, ApiError> {
    let directory = state.directory.load();
    let agent = (directory.agent(&id))
        .filter(|_| directory.agent_in_scope(&supervisor.scope, &AgentId::new(&id)))
        .ok_or(ApiError::NotFound { what: "agent" })?;
    Ok(Json(agent_entry(&directory, agent, &live_states(&state))))
}

/// `POST /api/agents`.
///
/// # Errors
/// 401, 403 unless admin, 400 for a bad body (unknown queue or skill, bad name), 409 for
/// a taken id.
#[utoipa::path(post, path = "/api/agents", tag = "directory", request_body = AgentBody, security(("bearer" = [])), responses((status = 201, description = "Added (logged out until they log in)", body = AgentEntry), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The id is taken", body = crate::gateway::openapi::ErrorBody)))]
pub async fn create_agent(
    admin: Admin,
    State(state): State<AppState>,
    body: Result<Json<AgentBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let id = body.id.clone().ok_or_else(|| bad("id: required"))?;
    let detail = agent_detail(&body);
    let result = put_agent(&state, body, id.clone(), true).await;
    finish(&state, &admin, "agent_create", id.clone(), detail, result).await?;
    let entry = agent_view(&state, &id)?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// `PUT /api/agents/{id}`: every field replaced; a logged-in agent keeps their state and
/// call, and serves their new queues with their new skills from now on.
///
/// # Errors
/// As `create_agent`; 404 for an unknown id, 409 for one from the configuration file.
#[utoipa::path(put, path = "/api/agents/{id}", tag = "directory", params(("id" = String, Path, description = "Agent id")), request_body = AgentBody, security(("bearer" = [])), responses((status = 200, description = "Replaced", body = AgentEntry), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such agent", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "Defined in the configuration file", body = crate::gateway::openapi::ErrorBody)))]
pub async fn replace_agent(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<AgentBody>, JsonRejection>,
) -> Result<Json<AgentEntry>, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    if body.id.as_ref().is_some_and(|given| *given != id) {
        return Err(bad("id: the path's id cannot change"));
    }
    let detail = agent_detail(&body);
    let result = put_agent(&state, body, id.clone(), false).await;
    finish(&state, &admin, "agent_update", id.clone(), detail, result).await?;
    agent_view(&state, &id).map(Json)
}

/// `DELETE /api/agents/{id}`: the agent, their login and their sessions.
///
/// # Errors
/// 401, 403 unless admin, 404, 409 while they are logged in, for an agent from the
/// configuration file, or one customers name as their account manager.
#[utoipa::path(delete, path = "/api/agents/{id}", tag = "directory", params(("id" = String, Path, description = "Agent id")), security(("bearer" = [])), responses((status = 204, description = "Removed"), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such agent", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "Logged in, from the configuration file, or an account manager", body = crate::gateway::openapi::ErrorBody)))]
pub async fn remove_agent(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let result = apply(&state, Change::RemoveAgent(id.clone())).await;
    finish(&state, &admin, "agent_delete", id, json!({}), result).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Builds the agent from the body (hashing a new password, keeping the stored hash
/// otherwise) and applies it.
async fn put_agent(
    state: &AppState,
    body: AgentBody,
    id: String,
    adding: bool,
) -> Result<(), ApiError> {
    let stored = state
        .directory
        .load()
        .agent(&id)
        .map(|a| a.password.clone());
    let password = match (body.password, stored) {
        (Some(p), _) if p.is_empty() || p.len() > 1024 => {
            return Err(bad("password: 1 to 1024 bytes"));
        }
        (Some(p), _) => Secret::new(state.auth.passwords().hash(&p).await),
        (None, _) if adding => return Err(bad("password: required")),
        (None, Some(hash)) => hash,
        (None, None) => return Err(ApiError::NotFound { what: "agent" }),
    };
    let agent = AgentConfig {
        id,
        name: body.name.trim().to_owned(),
        password,
        dial_string: body.dial_string,
        queues: body.queues,
        skills: body.skills,
    };
    let change = if adding {
        Change::AddAgent(agent)
    } else {
        Change::ReplaceAgent(agent)
    };
    apply(state, change).await
}

/// What the audit trail keeps of an agent body: everything but the password.
fn agent_detail(body: &AgentBody) -> serde_json::Value {
    json!({
        "name": body.name,
        "dial_string": body.dial_string,
        "queues": body.queues,
        "skills": body.skills,
        "password_changed": body.password.is_some(),
    })
}

fn agent_view(state: &AppState, id: &str) -> Result<AgentEntry, ApiError> {
    let directory = state.directory.load();
    let agent = directory
        .agent(id)
        .ok_or(ApiError::NotFound { what: "agent" })?;
    Ok(agent_entry(&directory, agent, &live_states(state)))
}

fn live_states(state: &AppState) -> BTreeMap<String, AgentState> {
    (state.engine.snapshot().agents.iter())
        .map(|a| (a.agent.clone(), a.state))
        .collect()
}

fn agent_entry(
    directory: &Directory,
    agent: &AgentConfig,
    states: &BTreeMap<String, AgentState>,
) -> AgentEntry {
    AgentEntry {
        id: agent.id.clone(),
        name: agent.name.clone(),
        dial_string: agent.dial_string.clone(),
        queues: agent.queues.clone(),
        skills: agent.skills.clone(),
        origin: directory.origin(Kind::Agent, &agent.id),
        state: states
            .get(&agent.id)
            .copied()
            .unwrap_or(AgentState::LoggedOut),
    }
}

// ---- queues ---------------------------------------------------------------------------

/// `GET /api/queues`: every queue's definition the supervisor may see.
///
/// # Errors
/// 401, 403 for agents.
#[utoipa::path(get, path = "/api/queues", tag = "directory", security(("bearer" = [])), responses((status = 200, description = "`{queues: [...]}`: each a kefu.toml `[[queues]]` entry with its `origin`", body = Object), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn queues(
    supervisor: Supervisor,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let directory = state.directory.load();
    let queues: Vec<QueueEntry<'_>> = (directory.config().queues.iter())
        .filter(|q| supervisor.scope.allows(&QueueId::new(&q.name)))
        .map(|q| queue_entry(&directory, q))
        .collect();
    Ok(Json(json!({ "queues": queues })).into_response())
}

/// `GET /api/queues/{name}`.
///
/// # Errors
/// 401, 403 for agents, 404 (also for a queue outside the supervisor's).
#[utoipa::path(get, path = "/api/queues/{name}", tag = "directory", params(("name" = String, Path, description = "Queue")), security(("bearer" = [])), responses((status = 200, description = "The queue (kefu.toml shape) and its `origin`", body = Object), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such queue", body = crate::gateway::openapi::ErrorBody)))]
pub async fn queue(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let directory = state.directory.load();
    let queue = (directory.queue(&name))
        .filter(|_| supervisor.scope.allows(&QueueId::new(&name)))
        .ok_or(ApiError::NotFound { what: "queue" })?;
    Ok(Json(queue_entry(&directory, queue)).into_response())
}

/// `POST /api/queues`: a queue in the shape of a kefu.toml `[[queues]]` entry (durations
/// as `"30s"`).
///
/// # Errors
/// 401, 403 unless admin, 400 for a bad body (unknown skill, steps out of order), 409 for a
/// taken name.
#[utoipa::path(post, path = "/api/queues", tag = "directory", request_body(content = Object, description = "`{name, strategy?, priority?, max_wait, overflow, short_abandon, steps}` as in kefu.toml"), security(("bearer" = [])), responses((status = 201, description = "Added", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The name is taken", body = crate::gateway::openapi::ErrorBody)))]
pub async fn create_queue(
    admin: Admin,
    State(state): State<AppState>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let queue = queue_body(body)?;
    let (name, detail) = (queue.name.clone(), json!(queue));
    let result = apply(&state, Change::AddQueue(queue)).await;
    finish(&state, &admin, "queue_create", name.clone(), detail, result).await?;
    let directory = state.directory.load();
    let queue = directory
        .queue(&name)
        .ok_or(ApiError::NotFound { what: "queue" })?;
    Ok((StatusCode::CREATED, Json(queue_entry(&directory, queue))).into_response())
}

/// `PUT /api/queues/{name}`: every field replaced. Callers waiting keep their places; the
/// new steps and max wait apply to the time they have already waited.
///
/// # Errors
/// As `create_queue`; 404 for an unknown name, 409 for one from the configuration file.
#[utoipa::path(put, path = "/api/queues/{name}", tag = "directory", params(("name" = String, Path, description = "Queue")), request_body(content = Object, description = "The queue as in kefu.toml; `name` must be the path's"), security(("bearer" = [])), responses((status = 200, description = "Replaced", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such queue", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "Defined in the configuration file", body = crate::gateway::openapi::ErrorBody)))]
pub async fn replace_queue(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let queue = queue_body(body)?;
    if queue.name != name {
        return Err(bad("name: the path's name cannot change"));
    }
    let detail = json!(queue);
    let result = apply(&state, Change::ReplaceQueue(queue)).await;
    finish(&state, &admin, "queue_update", name.clone(), detail, result).await?;
    let directory = state.directory.load();
    let queue = directory
        .queue(&name)
        .ok_or(ApiError::NotFound { what: "queue" })?;
    Ok(Json(queue_entry(&directory, queue)).into_response())
}

/// `DELETE /api/queues/{name}`. Its calls on record keep its name.
///
/// # Errors
/// 401, 403 unless admin, 404, 409 while calls are in it, agents or supervisors are
/// assigned to it, another queue overflows to it, or a loaded IVR flow names it.
#[utoipa::path(delete, path = "/api/queues/{name}", tag = "directory", params(("name" = String, Path, description = "Queue")), security(("bearer" = [])), responses((status = 204, description = "Removed"), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such queue", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "Still in use, or from the configuration file", body = crate::gateway::openapi::ErrorBody)))]
pub async fn remove_queue(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let result = apply(&state, Change::RemoveQueue(name.clone())).await;
    finish(&state, &admin, "queue_delete", name, json!({}), result).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A queue from a request body, in the kefu.toml shape; the `origin` a `GET` shows beside
/// it is ignored, so that a client may send back what it read.
fn queue_body(
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<QueueConfig, ApiError> {
    let Json(mut body) = body.map_err(bad_body)?;
    if let Some(fields) = body.as_object_mut() {
        fields.remove("origin");
    }
    serde_json::from_value(body).map_err(|e| ApiError::BadRequest {
        message: format!("queue: {e}"),
    })
}

fn queue_entry<'a>(directory: &Directory, queue: &'a QueueConfig) -> QueueEntry<'a> {
    QueueEntry {
        queue,
        origin: directory.origin(Kind::Queue, &queue.name),
    }
}

// ---- skills ---------------------------------------------------------------------------

/// `GET /api/skills`.
///
/// # Errors
/// 401, 403 for agents.
#[utoipa::path(get, path = "/api/skills", tag = "directory", security(("bearer" = [])), responses((status = 200, description = "`{skills: [{name, origin}]}`", body = Object), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn skills(
    _supervisor: Supervisor,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let directory = state.directory.load();
    let skills: Vec<SkillEntry> = (directory.config().skills.names.iter())
        .map(|name| SkillEntry {
            name: name.clone(),
            origin: directory.origin(Kind::Skill, name),
        })
        .collect();
    Ok(Json(json!({ "skills": skills })))
}

/// `POST /api/skills` `{"name"}`.
///
/// # Errors
/// 401, 403 unless admin, 400 for a bad name, 409 for a taken one.
#[utoipa::path(post, path = "/api/skills", tag = "directory", request_body = SkillEntry, security(("bearer" = [])), responses((status = 201, description = "Added", body = SkillEntry), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "The name is taken", body = crate::gateway::openapi::ErrorBody)))]
pub async fn create_skill(
    admin: Admin,
    State(state): State<AppState>,
    body: Result<Json<SkillEntry>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(skill) = body.map_err(bad_body)?;
    let result = apply(&state, Change::AddSkill(skill.name.clone())).await;
    let detail = json!({});
    finish(
        &state,
        &admin,
        "skill_create",
        skill.name.clone(),
        detail,
        result,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(skill)).into_response())
}

/// `DELETE /api/skills/{name}`.
///
/// # Errors
/// 401, 403 unless admin, 404, 409 while an agent has it, a queue requires it, a loaded
/// IVR flow names it, or it comes from the configuration file.
#[utoipa::path(delete, path = "/api/skills/{name}", tag = "directory", params(("name" = String, Path, description = "Skill")), security(("bearer" = [])), responses((status = 204, description = "Removed"), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such skill", body = crate::gateway::openapi::ErrorBody), (status = 409, description = "Still in use, or from the configuration file", body = crate::gateway::openapi::ErrorBody)))]
pub async fn remove_skill(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let result = apply(&state, Change::RemoveSkill(name.clone())).await;
    finish(&state, &admin, "skill_delete", name, json!({}), result).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- one change -----------------------------------------------------------------------

/// Validates `change` against the directory, carries it into the router, stores it, and
/// makes it the directory; one change at a time.
async fn apply(state: &AppState, change: Change) -> Result<(), ApiError> {
    let _one_at_a_time = state.directory.hold().await;
    let current = state.directory.load();
    let next = current.with(&change).map_err(|e| refusal(&change, e))?;
    refused_by_flows(state, &change)?;
    let (update, undo) = router_updates(&current, &change);
    if let Some(update) = update {
        tell_engine(state, update).await?;
    }
    if let Err(error) = store(state, &change).await {
        if let Some(undo) = undo {
            if let Err(undone) = tell_engine(state, undo).await {
                tracing::error!(error = %undone, "a directory change the database refused stays in the router until restart");
            }
        }
        return Err(error);
    }
    state.directory.current.store(Arc::new(next));
    Ok(())
}

/// The router update a change needs, and the one that undoes it.
fn router_updates(
    current: &Directory,
    change: &Change,
) -> (Option<DirectoryUpdate>, Option<DirectoryUpdate>) {
    let old_agent = |id: &str| current.agent(id).cloned().map(DirectoryUpdate::PutAgent);
    let old_queue = |name: &str| current.queue(name).cloned().map(DirectoryUpdate::PutQueue);
    match change {
        Change::AddAgent(agent) => (
            Some(DirectoryUpdate::PutAgent(agent.clone())),
            Some(DirectoryUpdate::RemoveAgent(AgentId::new(&agent.id))),
        ),
        Change::ReplaceAgent(agent) => (
            Some(DirectoryUpdate::PutAgent(agent.clone())),
            old_agent(&agent.id),
        ),
        Change::RemoveAgent(id) => (
            Some(DirectoryUpdate::RemoveAgent(AgentId::new(id))),
            old_agent(id),
        ),
        Change::AddQueue(queue) => (
            Some(DirectoryUpdate::PutQueue(queue.clone())),
            Some(DirectoryUpdate::RemoveQueue(QueueId::new(&queue.name))),
        ),
        Change::ReplaceQueue(queue) => (
            Some(DirectoryUpdate::PutQueue(queue.clone())),
            old_queue(&queue.name),
        ),
        Change::RemoveQueue(name) => (
            Some(DirectoryUpdate::RemoveQueue(QueueId::new(name))),
            old_queue(name),
        ),
        Change::AddSkill(_) | Change::RemoveSkill(_) => (None, None),
    }
}

async fn tell_engine(state: &AppState, update: DirectoryUpdate) -> Result<(), ApiError> {
    let (reply, answer) = oneshot::channel();
    (state.engine.send(Input::Directory { update, reply }).await)
        .map_err(|_| ApiError::Unavailable)?;
    match tokio::time::timeout(ANSWER_WITHIN, answer).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(refused))) => Err(match refused {
            DirectoryRefused::UnknownAgent(_) => ApiError::NotFound { what: "agent" },
            DirectoryRefused::UnknownQueue(_) => ApiError::NotFound { what: "queue" },
            other => ApiError::Conflict {
                message: other.to_string(),
            },
        }),
        Ok(Err(_)) | Err(_) => Err(ApiError::Unavailable),
    }
}

async fn store(state: &AppState, change: &Change) -> Result<(), ApiError> {
    let store = &state.store;
    let stored = match change {
        Change::AddAgent(agent) | Change::ReplaceAgent(agent) => store.put_api_agent(agent).await,
        Change::RemoveAgent(id) => store.delete_api_agent(id).await,
        Change::AddQueue(queue) | Change::ReplaceQueue(queue) => store.put_api_queue(queue).await,
        Change::RemoveQueue(name) => store.delete_api_queue(name).await,
        Change::AddSkill(name) => store.put_api_skill(name).await,
        Change::RemoveSkill(name) => store.delete_api_skill(name).await,
    };
    stored.map_err(ApiError::from)
}

/// A loaded IVR flow that names the queue or skill being removed keeps it.
fn refused_by_flows(state: &AppState, change: &Change) -> Result<(), ApiError> {
    let flows = state.flows.current().load_full();
    let (what, flow) = match change {
        Change::RemoveQueue(name) => ("queue", flows.using_queue(&QueueId::new(name))),
        Change::RemoveSkill(name) => ("skill", flows.using_skill(&Skill::new(name))),
        _ => return Ok(()),
    };
    match flow {
        Some(flow) => Err(ApiError::Conflict {
            message: format!(
                "IVR flow `{flow}` names {what} `{}`; change the flow and reload first",
                change.target().1
            ),
        }),
        None => Ok(()),
    }
}

/// A directory refusal as HTTP: a bad new entry is the request's fault (400); an entry
/// still in use, taken, or the file's is a conflict (409).
fn refusal(change: &Change, error: DirectoryError) -> ApiError {
    match error {
        DirectoryError::NotFound { kind, .. } => ApiError::NotFound {
            what: match kind {
                Kind::Agent => "agent",
                Kind::Queue => "queue",
                Kind::Skill => "skill",
            },
        },
        DirectoryError::Invalid(message)
            if !matches!(
                change,
                Change::RemoveAgent(_) | Change::RemoveQueue(_) | Change::RemoveSkill(_)
            ) =>
        {
            ApiError::BadRequest { message }
        }
        other => ApiError::Conflict {
            message: other.to_string(),
        },
    }
}

/// Logs and audits the outcome of an admin's change.
async fn finish(
    state: &AppState,
    admin: &Admin,
    action: &str,
    target: String,
    detail: serde_json::Value,
    result: Result<(), ApiError>,
) -> Result<(), ApiError> {
    let outcome = super::supervisor::outcome(&result);
    tracing::info!(admin = %admin.id, action, target = %target, outcome = %outcome, "directory change");
    super::supervisor::record(state, &admin.id, action, target, detail, outcome).await;
    result
}

fn bad(message: &str) -> ApiError {
    ApiError::BadRequest {
        message: message.to_owned(),
    }
}

fn bad_body(rejection: JsonRejection) -> ApiError {
    ApiError::BadRequest {
        message: rejection.body_text(),
    }
}
