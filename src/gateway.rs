//! HTTP and WebSocket gateway (axum): REST, the agent socket, the wallboard, `/metrics`.
//! Thin: it authenticates and parses, then hands inputs to the engine.

pub mod admin;
pub mod agent_ws;
pub mod api;
pub mod auth;
pub mod directory;
mod error;
pub mod hub;
pub mod openapi;
pub mod protocol;
pub mod reports;
pub mod supervisor;
pub mod supervisor_ws;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::{get, post};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

pub use auth::Auth;
pub use error::ApiError;
pub use hub::Hub;

use crate::domain::NodeId;
use crate::engine::EngineHandle;
use crate::esl::NodeHandle;
use crate::recorder::writer::RecorderHandle;
use crate::store::Store;
use crate::telemetry::Metrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: EngineHandle,
    /// Agent sockets.
    pub hub: Hub,
    /// The database.
    pub store: Store,
    /// FreeSWITCH nodes, for readiness and metrics.
    pub nodes: Arc<HashMap<NodeId, NodeHandle>>,
    /// The database writer, for metrics.
    pub recorder: RecorderHandle,
    /// The agent-state writer (its counters).
    pub agent_states: crate::recorder::writer::WriterHandle<crate::recorder::AgentStateSpan>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Logins and tokens.
    pub auth: Auth,
    /// Agents, queues and skills: the file's and those admins added. Each agent's queues
    /// say what a supervisor limited to some queues may see of them.
    pub directory: directory::DirectoryState,
    /// Report time zone and tier targets.
    pub reports: reports::ReportSettings,
    /// The IVR flows, for `POST /api/flows/reload`.
    pub flows: crate::ivr::FlowLibrary,
}

/// Every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/me/today", get(reports::my_day))
        .route("/api/customers", get(admin::list).post(admin::create))
        .route(
            "/api/customers/{id}",
            get(admin::one).put(admin::replace).delete(admin::remove),
        )
        .route(
            "/api/agents",
            get(directory::agents).post(directory::create_agent),
        )
        .route(
            "/api/agents/{id}",
            get(directory::agent)
                .put(directory::replace_agent)
                .delete(directory::remove_agent),
        )
        .route(
            "/api/queues",
            get(directory::queues).post(directory::create_queue),
        )
        .route(
            "/api/queues/{name}",
            get(directory::queue)
                .put(directory::replace_queue)
                .delete(directory::remove_queue),
        )
        .route(
            "/api/skills",
            get(directory::skills).post(directory::create_skill),
        )
        .route(
            "/api/skills/{name}",
            axum::routing::delete(directory::remove_skill),
        )
        .route("/api/queues/{name}/staffing", get(api::staffing))
        .route("/api/snapshot", get(api::snapshot))
        .route("/api/latency", get(api::latency))
        .route("/api/flows/reload", post(api::reload_flows))
        .route("/api/agents/{id}/state", post(supervisor::agent_state))
        .route("/api/calls/{uuid}/queue", post(supervisor::move_call))
        .route("/api/calls/{uuid}/priority", post(supervisor::set_priority))
        .route("/api/audit", get(supervisor::audit))
        .route("/api/calls", get(api::calls))
        .route("/api/calls/{uuid}", get(api::call))
        .route("/api/reports/queues", get(reports::queues))
        .route("/api/reports/agents", get(reports::agents))
        .route("/ws/agent", get(agent_ws::upgrade))
        .route("/ws/supervisor", get(supervisor_ws::upgrade))
        .route(
            "/wallboard",
            get(|| async { Html(include_str!("gateway/wallboard.html")) }),
        )
        .route(
            "/agent",
            get(|| async { Html(include_str!("gateway/agent.html")) }),
        )
        // A 503 from /readyz is an answer, not a failure of kefu: log failures at warn.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .with_state(state)
}
