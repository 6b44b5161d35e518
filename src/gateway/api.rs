//! REST endpoints: health, readiness, metrics, queues, calls.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::auth::Supervisor;
use super::{ApiError, AppState};
use crate::domain::{AgentId, CallId, Outcome, QueueId, Timestamp};
use crate::engine::Snapshot;
use crate::recorder::erlang::ErlangC;
use crate::store::CallFilter;
use crate::telemetry::label;

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Up", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers and at least one FreeSWITCH node is connected.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "The database answers and a FreeSWITCH node is connected", body = Object), (status = 503, description = "Not ready: which part is missing", body = Object)))]
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
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
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
    metrics.writer_transactions.set(writer.transactions);
    metrics.writer_dropped.set(writer.dropped);
    metrics.writer_spilled.set(writer.spilled);
    let spans = state.agent_states.stats().snapshot();
    for (status, value) in [
        ("queued", spans.queued),
        ("written", spans.written),
        ("spilled", spans.spilled),
        ("replayed", spans.replayed),
        ("dropped", spans.dropped),
    ] {
        metrics
            .agent_state_records
            .get_or_create(&label("status", status))
            .set(value);
    }
    metrics.agent_state_writer_retries.set(spans.retries);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// The question `GET /api/queues/{name}/staffing` answers: how many agents for this load?
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffingQuery {
    /// Expected calls per hour.
    calls_per_hour: f64,
    /// Average handle time, seconds.
    aht_s: f64,
    /// Service-level threshold, seconds (20).
    #[serde(default = "default_threshold")]
    threshold_s: f64,
    /// Service-level target, 0..1 (0.8).
    #[serde(default = "default_target")]
    target: f64,
}

fn default_threshold() -> f64 {
    20.0
}

fn default_target() -> f64 {
    0.8
}

/// `GET /api/queues/{name}/staffing?calls_per_hour=…&aht_s=…[&threshold_s=20&target=0.8]`:
/// the fewest agents that meet the target by Erlang C, and the figures around that number.
///
/// # Errors
/// 404 for an unknown queue, 400 for figures that make no sense.
#[utoipa::path(get, path = "/api/queues/{name}/staffing", tag = "live", params(("name" = String, Path, description = "Queue"), StaffingQuery), responses((status = 200, description = "Agents needed by Erlang C, and the figures around that number", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such queue", body = crate::gateway::openapi::ErrorBody)))]
pub async fn staffing(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<StaffingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    if !state
        .engine
        .snapshot()
        .queues
        .iter()
        .any(|f| f.name == name)
    {
        return Err(ApiError::NotFound { what: "queue" });
    }
    let bad = |message: &str| ApiError::BadRequest {
        message: message.into(),
    };
    let valid = |v: f64, low: f64, high: f64| v.is_finite() && v >= low && v <= high;
    if !valid(q.calls_per_hour, 0.0, 1e7) || !valid(q.aht_s, 1.0, 86_400.0) {
        return Err(bad(
            "calls_per_hour >= 0 and 1 <= aht_s <= 86400 are required",
        ));
    }
    if !valid(q.threshold_s, 0.0, 86_400.0) || !valid(q.target, 0.0, 0.9999) {
        return Err(bad("0 <= threshold_s and 0 <= target < 1"));
    }
    let (rate, aht) = (q.calls_per_hour / 3600.0, Duration::from_secs_f64(q.aht_s));
    let threshold = Duration::from_secs_f64(q.threshold_s);
    let needed = ErlangC::agents_for(rate, aht, threshold, q.target)
        .ok_or_else(|| bad("no staffing meets that target"))?;
    let around: Vec<_> = (needed.saturating_sub(2).max(1)..=needed + 2)
        .filter_map(|agents| ErlangC::new(rate, aht, agents))
        .map(|c| {
            json!({
                "agents": c.agents(),
                "p_wait": c.p_wait(),
                "service_level": c.service_level(threshold),
                "asa_s": c.asa().is_finite().then(|| c.asa()),
            })
        })
        .collect();
    let traffic = ErlangC::new(rate, aht, needed).map(|c| c.traffic());
    Ok(Json(json!({
        "queue": name,
        "traffic_erlangs": traffic,
        "agents_needed": needed,
        "around": around,
    })))
}

/// `GET /api/snapshot`: queues, agents and calls in progress (the wallboard's feed).
#[utoipa::path(get, path = "/api/snapshot", tag = "live", responses((status = 200, description = "Queues, tiers and agents now", body = crate::engine::Snapshot)))]
pub async fn snapshot(State(state): State<AppState>) -> Json<Snapshot> {
    Json((*state.engine.snapshot()).clone())
}

/// `GET /api/calls?…`: the search, with times as RFC 3339.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallsQuery {
    /// Arrived at or after (RFC 3339).
    from: Option<String>,
    /// Arrived before (RFC 3339).
    to: Option<String>,
    queue: Option<String>,
    agent: Option<String>,
    #[param(value_type = Option<String>)]
    outcome: Option<Outcome>,
    caller_number: Option<String>,
    customer_id: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/calls?from=&to=&queue=&agent=&outcome=&caller_number=&customer_id=&limit=`:
/// completed calls, newest first (supervisors only: customer data).
///
/// A supervisor limited to some queues sees only calls that queued in one of them.
///
/// # Errors
/// 401 without a supervisor's token, 400 for a bad time, 500 when the database fails.
#[utoipa::path(get, path = "/api/calls", tag = "records", params(CallsQuery), security(("bearer" = [])), responses((status = 200, description = "Completed calls, newest first", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn calls(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Query(q): Query<CallsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = CallFilter {
        from: optional_time(q.from.as_deref(), "from")?,
        to: optional_time(q.to.as_deref(), "to")?,
        queue: q.queue.map(QueueId::new),
        queues: supervisor.scope.queues(),
        agent: q.agent.map(AgentId::new),
        outcome: q.outcome,
        caller_number: q.caller_number,
        customer_id: q.customer_id,
        limit: q.limit.unwrap_or(100),
    };
    let calls = state.store.list_calls(&filter).await?;
    Ok(Json(json!({ "calls": calls })))
}

/// `GET /api/latency`: kefu's own latencies since start, percentiles in microseconds (null
/// before the first value): ESL event → routing decision, decision → ESL command handed to
/// the node writer, decision → screen-pop written to the agent's socket.
#[utoipa::path(get, path = "/api/latency", tag = "live", responses((status = 200, description = "kefu's own latency percentiles since start, in µs", body = Object)))]
pub async fn latency(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    Json(json!({
        "event_to_decision": m.event_to_decision.percentiles(),
        "decision_to_command": m.decision_to_command.percentiles(),
        "decision_to_screen_pop": m.decision_to_pop.percentiles(),
    }))
}

/// `POST /api/flows/reload` (supervisors): loads `flows.dir` again. 200 with the number of
/// flows; 422 with every error when the new set is invalid (the running set stays).
///
/// # Errors
/// 401 without a supervisor's token, 403 for a supervisor limited to some queues (flows
/// serve every queue).
#[utoipa::path(post, path = "/api/flows/reload", tag = "actions", security(("bearer" = [])), responses((status = 200, description = "The flows now in force", body = Object), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 422, description = "Invalid flows: every error; the running set stays", body = Object)))]
pub async fn reload_flows(
    supervisor: Supervisor,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    supervisor.require_all_queues()?;
    let flows = state.flows.clone();
    let _no_directory_changes = state.directory.hold().await;
    let known = state.directory.known();
    // Reading the files blocks: off the async workers.
    let reloaded = tokio::task::spawn_blocking(move || flows.reload(&known))
        .await
        .unwrap_or_else(|e| Err(vec![format!("reload failed: {e}")]));
    let (outcome, response) = match reloaded {
        Ok(count) => {
            tracing::info!(supervisor = %supervisor.id, flows = count, "flows reloaded");
            (
                "done".to_owned(),
                (StatusCode::OK, Json(json!({ "flows": count }))),
            )
        }
        Err(errors) => {
            tracing::warn!(supervisor = %supervisor.id, errors = errors.len(), "flows refused; the running set stays");
            let outcome = format!("refused: {} errors", errors.len());
            let body = json!({
                "code": "invalid_flows",
                "message": "the new flows are invalid; the running set stays",
                "errors": errors,
            });
            (outcome, (StatusCode::UNPROCESSABLE_ENTITY, Json(body)))
        }
    };
    super::supervisor::record(
        &state,
        &supervisor.id,
        "reload_flows",
        "flows".into(),
        json!({}),
        outcome,
    )
    .await;
    Ok(response)
}

/// A query parameter's RFC 3339 time.
///
/// # Errors
/// 400 naming the parameter.
pub(super) fn rfc3339(text: &str, name: &str) -> Result<Timestamp, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| Timestamp::from_micros(d.timestamp_micros()))
        .map_err(|_| ApiError::BadRequest {
            message: format!("{name}: an RFC 3339 time, e.g. 2026-12-04T08:00:00Z"),
        })
}

/// [`rfc3339`] for a parameter that may be absent.
pub(super) fn optional_time(text: Option<&str>, name: &str) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| rfc3339(t, name)).transpose()
}

/// `GET /api/calls/{uuid}`: a completed call's record and timeline.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown call (or one outside a supervisor's
/// queues: its existence is not revealed), 500 when the database fails.
#[utoipa::path(get, path = "/api/calls/{uuid}", tag = "records", params(("uuid" = String, Path, description = "Call id")), security(("bearer" = [])), responses((status = 200, description = "The record and its timeline", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody), (status = 404, description = "No such call, or not in your queues", body = crate::gateway::openapi::ErrorBody)))]
pub async fn call(
    supervisor: Supervisor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let call = CallId::parse(&id).map_err(|_| ApiError::BadRequest {
        message: "call id must be a UUID".into(),
    })?;
    let completed = state
        .store
        .call_with_timeline(call)
        .await?
        .filter(|c| supervisor.scope.covers(c.call.queue.as_ref()))
        .ok_or(ApiError::NotFound { what: "call" })?;
    Ok(Json(completed))
}
