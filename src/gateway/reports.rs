//! `GET /api/reports/queues` and `GET /api/reports/agents`: interval reports from the
//! database, as JSON or (with `Accept: text/csv` or `format=csv`) as CSV. Supervisors only;
//! one limited to some queues gets those queues' rows and the agents who serve them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::auth::{Authenticated, Supervisor};
use super::{ApiError, AppState};
use crate::auth::Role;
use crate::config::Config;
use crate::domain::{AgentId, QueueId, TierId, Timestamp};
use crate::recorder::report::{AgentReport, Interval, Period, QueueReport, TierTarget};

/// What the reports take from the configuration.
#[derive(Clone, Debug)]
pub struct ReportSettings {
    /// Days start at this zone's midnight unless the request names another.
    pub time_zone: Tz,
    /// Each tier's SL rule.
    pub targets: Arc<HashMap<TierId, TierTarget>>,
}

impl ReportSettings {
    /// From `[reports]` and `[[tiers]]`.
    pub fn from_config(config: &Config) -> ReportSettings {
        let targets = config
            .tiers
            .iter()
            .map(|t| {
                let target = TierTarget {
                    threshold_ms: crate::store::millis(t.sla_threshold),
                    target: t.sla_target,
                };
                (TierId::new(&t.name), target)
            })
            .collect();
        ReportSettings {
            time_zone: config.reports.time_zone,
            targets: Arc::new(targets),
        }
    }
}

/// The query both reports take.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start: an RFC 3339 time, or a date (its local midnight). Default: today's midnight.
    from: Option<String>,
    /// End (excluded), the same forms. Default: one day after `from`'s day began.
    to: Option<String>,
    /// `15m` (default), `1h` or `1d`.
    #[param(value_type = Option<String>)]
    interval: Option<Interval>,
    /// IANA time zone for dates and day boundaries; default `[reports] time_zone`.
    tz: Option<String>,
    /// Only this queue (queue report).
    queue: Option<String>,
    /// Only this tier (queue report).
    tier: Option<String>,
    /// Only this agent (agent report).
    agent: Option<String>,
    /// `csv` for CSV whatever the Accept header says.
    format: Option<String>,
}

/// The report's envelope in JSON.
#[derive(Serialize)]
struct Envelope<R> {
    from: String,
    to: String,
    interval: Interval,
    time_zone: &'static str,
    rows: Vec<R>,
}

/// `GET /api/reports/queues?from=&to=&interval=15m|1h|1d&queue=&tier=&tz=`: per interval,
/// queue and tier (plus all tiers together, unless `tier` is given): offered, answered,
/// abandoned, short abandons, SL against the tier's target, ASA, abandon rate, AHT, wait
/// p50/p90/p99, CSAT.
///
/// # Errors
/// 401 without supervisor credentials, 400 for a bad range, 500 when the database fails.
#[utoipa::path(get, path = "/api/reports/queues", tag = "records", params(ReportQuery), security(("bearer" = [])), responses((status = 200, description = "Per interval, queue and tier (JSON, or CSV when asked)", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn queues(
    supervisor: Supervisor,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let period = period(&q, &state.reports)?;
    let queue = q.queue.as_deref().map(QueueId::new);
    if queue.as_ref().is_some_and(|q| !supervisor.scope.allows(q)) {
        return Err(ApiError::Forbidden);
    }
    let tier = q.tier.as_deref().map(TierId::new);
    let targets = state.reports.targets.as_ref().clone();
    let mut report = QueueReport::new(period, targets, tier.is_some());
    state
        .store
        .fill_queue_report(&mut report, &period, queue.as_ref(), tier.as_ref())
        .await?;
    let mut rows = report.rows();
    rows.retain(|row| supervisor.scope.allows(&row.queue));
    respond(&headers, q.format.as_deref(), &period, rows)
}

/// `GET /api/reports/agents?from=&to=&interval=&agent=&tz=`: per interval and agent:
/// handled, AHT, talk, ACW, state times, occupancy, FCR, CSAT.
///
/// # Errors
/// 401 without supervisor credentials, 400 for a bad range, 500 when the database fails.
#[utoipa::path(get, path = "/api/reports/agents", tag = "records", params(ReportQuery), security(("bearer" = [])), responses((status = 200, description = "Per interval and agent (JSON, or CSV when asked)", body = Object), (status = 400, description = "A bad parameter or body", body = crate::gateway::openapi::ErrorBody), (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody), (status = 403, description = "The role or queues do not allow it", body = crate::gateway::openapi::ErrorBody)))]
pub async fn agents(
    supervisor: Supervisor,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let period = period(&q, &state.reports)?;
    let agent = q.agent.as_deref().map(AgentId::new);
    let mut report = AgentReport::new(period);
    state
        .store
        .fill_agent_report(&mut report, &period, agent.as_ref())
        .await?;
    let mut rows = report.rows();
    let directory = state.directory.load();
    rows.retain(|row| directory.agent_in_scope(&supervisor.scope, &row.agent));
    respond(&headers, q.format.as_deref(), &period, rows)
}

/// `GET /api/me/today`: the logged-in agent's own figures today (in the report time zone):
/// the agent report's row for the day, or `null` before their first call or state change.
///
/// # Errors
/// 401 without a token, 403 for anyone but an agent, 500 when the database fails.
#[utoipa::path(get, path = "/api/me/today", tag = "records", security(("bearer" = [])), responses(
    (status = 200, description = "`{date, time_zone, figures}`: handled, AHT, talk, ACW, state times, occupancy, FCR, CSAT", body = Object),
    (status = 401, description = "No valid token", body = crate::gateway::openapi::ErrorBody),
    (status = 403, description = "Not an agent", body = crate::gateway::openapi::ErrorBody)))]
pub async fn my_day(
    Authenticated(principal): Authenticated,
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if principal.role != Role::Agent {
        return Err(ApiError::Forbidden);
    }
    let today = ReportQuery {
        from: None,
        to: None,
        interval: Some(Interval::Day),
        tz: None,
        queue: None,
        tier: None,
        agent: None,
        format: None,
    };
    let period = period(&today, &state.reports)?;
    let agent = AgentId::new(&principal.id);
    let mut report = AgentReport::new(period);
    state
        .store
        .fill_agent_report(&mut report, &period, Some(&agent))
        .await?;
    let figures = report.rows().into_iter().find(|row| row.agent == agent);
    Ok(Json(serde_json::json!({
        "date": period.label(period.from()),
        "time_zone": period.time_zone().name(),
        "figures": figures,
    })))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        message: message.into(),
    }
}

/// The request's range, intervals and time zone.
fn period(q: &ReportQuery, settings: &ReportSettings) -> Result<Period, ApiError> {
    let tz = match &q.tz {
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| bad(format!("tz: unknown time zone `{name}` (an IANA name)")))?,
        None => settings.time_zone,
    };
    let today = crate::clock::now().to_utc().with_timezone(&tz).date_naive();
    let from = match &q.from {
        Some(text) => time(text, tz, "from")?,
        None => midnight(today, tz),
    };
    let to = match &q.to {
        Some(text) => time(text, tz, "to")?,
        None => {
            let day = from.to_utc().with_timezone(&tz).date_naive();
            midnight(day.succ_opt().unwrap_or(day), tz)
        }
    };
    Period::new(from, to, q.interval.unwrap_or(Interval::Quarter), tz)
        .map_err(|e| bad(e.to_string()))
}

/// An RFC 3339 time, or a date meaning its midnight in `tz`.
fn time(text: &str, tz: Tz, name: &str) -> Result<Timestamp, ApiError> {
    if let Ok(at) = super::api::rfc3339(text, name) {
        return Ok(at);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| midnight(date, tz))
        .map_err(|_| {
            bad(format!(
                "{name}: an RFC 3339 time (2026-12-04T08:00:00Z) or a date (2026-12-04)"
            ))
        })
}

/// The first moment of `date` in `tz` (midnight, or the first time after a DST gap).
fn midnight(date: NaiveDate, tz: Tz) -> Timestamp {
    let start = (0..3).find_map(|hour| {
        let naive = date.and_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&naive).earliest()
    });
    start.map_or_else(
        || {
            Timestamp::from_micros(
                date.and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_micros(),
            )
        },
        |t| Timestamp::from_micros(t.timestamp_micros()),
    )
}

/// JSON by default; CSV (one header line, one line per row) when asked for.
fn respond<R: Serialize>(
    headers: &HeaderMap,
    format: Option<&str>,
    period: &Period,
    rows: Vec<R>,
) -> Result<Response, ApiError> {
    let wants_csv = format == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv"));
    if wants_csv {
        let body = csv_text(&rows).map_err(|e| {
            tracing::error!(error = %e, "writing a CSV report failed");
            bad("the report cannot be written as CSV")
        })?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(Envelope {
        from: period.label(period.from()),
        to: period.label(period.to()),
        interval: period.interval(),
        time_zone: period.time_zone().name(),
        rows,
    })
    .into_response())
}

fn csv_text<R: Serialize>(rows: &[R]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
