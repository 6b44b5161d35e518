//! REST endpoints: health, readiness, metrics, queues, calls.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::auth::Supervisor;
use super::{ApiError, AppState};
use crate::domain::CallId;
use crate::engine::{QueueFigures, Snapshot};
use crate::telemetry::label;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers and at least one FreeSWITCH node is connected.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.ping().await.is_ok();
    let nodes: Vec<_> = state
        .nodes
        .iter()
        .map(|(name, node)| json!({ "name": name.as_str(), "connected": node.status().connected }))
        .collect();
    let any_node = state.nodes.values().any(|n| n.status().connected);
    let status = if database && any_node {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": database, "nodes": nodes })),
    )
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let metrics = &state.metrics;
    for (name, node) in state.nodes.iter() {
        let status = node.status();
        let labels = label("node", name.to_string());
        metrics
            .esl_connected
            .get_or_create(&labels)
            .set(i64::from(status.connected));
        metrics
            .esl_reconnects
            .get_or_create(&labels)
            .set(status.reconnects);
        metrics
            .esl_events
            .get_or_create(&labels)
            .set(status.events_received);
    }
    let writer = state.recorder.stats().snapshot();
    metrics
        .writer_queue
        .set(i64::try_from(writer.queued).unwrap_or(i64::MAX));
    metrics.writer_retries.set(writer.retries);
    metrics.writer_written.set(writer.written);
    metrics.writer_dropped.set(writer.dropped);
    metrics.writer_spilled.set(writer.spilled);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// `GET /api/queues`: every queue's live figures.
pub async fn queues(State(state): State<AppState>) -> Json<Vec<QueueFigures>> {
    Json(state.engine.snapshot().queues.clone())
}

/// `GET /api/snapshot`: queues, agents and calls in progress (the wallboard's feed).
pub async fn snapshot(State(state): State<AppState>) -> Json<Snapshot> {
    Json((*state.engine.snapshot()).clone())
}

/// `GET /api/calls/{uuid}`: a completed call's record and timeline.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown call, 500 when the database fails.
pub async fn call(
    _supervisor: Supervisor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let call = CallId::parse(&id).map_err(|_| ApiError::BadRequest {
        message: "call id must be a UUID".into(),
    })?;
    let (record, timeline) = state
        .store
        .call_with_timeline(call)
        .await?
        .ok_or(ApiError::NotFound { what: "call" })?;
    Ok(Json(json!({ "call": record, "timeline": timeline })))
}
