//! HTTP and WebSocket gateway (axum): REST, the agent socket, the wallboard, `/metrics`.
//! Thin: it authenticates and parses, then hands inputs to the engine.

pub mod agent_ws;
pub mod api;
mod auth;
mod error;
pub mod hub;
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

pub use error::ApiError;
pub use hub::Hub;

use crate::config::Secret;
use crate::domain::NodeId;
use crate::engine::EngineHandle;
use crate::esl::NodeHandle;
use crate::recorder::writer::RecorderHandle;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Login credentials (agents, or supervisors): id → password.
#[derive(Clone, Default)]
pub struct Credentials {
    passwords: Arc<HashMap<String, Secret>>,
}

impl Credentials {
    /// From (id, password) pairs.
    pub fn new(pairs: impl IntoIterator<Item = (String, Secret)>) -> Credentials {
        Credentials {
            passwords: Arc::new(pairs.into_iter().collect()),
        }
    }

    /// Whether the password is the id's, compared in constant time.
    pub fn check(&self, id: &str, password: &str) -> bool {
        let Some(expected) = self.passwords.get(id) else {
            return false;
        };
        let (a, b) = (expected.expose().as_bytes(), password.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

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
    /// Agent logins.
    pub credentials: Credentials,
    /// Supervisor logins (HTTP Basic), for customer data.
    pub supervisors: Credentials,
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
        .route("/api/queues", get(api::queues))
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
        // A 503 from /readyz is an answer, not a failure of kefu: log failures at warn.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .with_state(state)
}
