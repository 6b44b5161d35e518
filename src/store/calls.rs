//! Completed calls and their timelines: written in batches by the recorder, read by the API
//! and the screen-pop.

use serde::de::DeserializeOwned;

use super::{Doing, Store, StoreError, with_pool};
use crate::domain::{AgentId, CallId, Disposition, NodeId, Outcome, QueueId, TierId, Timestamp};
use crate::recorder::writer::CompletedCall;
use crate::recorder::{CallRecord, TimelineEntry};

const INSERT_CALLS: &str = "INSERT INTO calls (call_id, node, caller_number, destination, \
    customer_id, tier, queue, agent, outcome, arrived_at, enqueued_at, answered_at, \
    talk_ended_at, ended_at, wrap_up_ended_at, wait_ms, ivr_ms, talk_ms, acw_ms, sla_met, \
    short_abandon, hangup_cause, offers, ivr_path, category, resolved, notes, survey_score) ";

const INSERT_EVENTS: &str = "INSERT INTO call_events (call_id, at, kind, detail) ";

/// Rows per INSERT: a statement per row cost a round trip to the database (for SQLite, a
/// hand-over to its worker thread) per timeline entry, about fifteen per call. These keep
/// the bound values (28 per call, 4 per entry) well under SQLite's 32,766 and PostgreSQL's
/// 65,535.
const CALLS_PER_INSERT: usize = 200;
const EVENTS_PER_INSERT: usize = 1000;

const SELECT_CALL: &str = "SELECT call_id, node, caller_number, destination, customer_id, \
    tier, queue, agent, outcome, arrived_at, enqueued_at, answered_at, talk_ended_at, \
    ended_at, wrap_up_ended_at, wait_ms, ivr_ms, talk_ms, acw_ms, sla_met, short_abandon, \
    hangup_cause, offers, ivr_path, category, resolved, notes, survey_score FROM calls";

/// The most calls one search returns.
pub const MAX_LIST: u32 = 1000;

/// What `list_calls` searches for; every given field must match.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct CallFilter {
    /// Arrived at or after.
    pub from: Option<Timestamp>,
    /// Arrived before.
    pub to: Option<Timestamp>,
    /// Queue.
    pub queue: Option<QueueId>,
    /// Only these queues (a supervisor limited to some): calls that never queued are left
    /// out too.
    #[serde(default)]
    pub queues: Option<Vec<QueueId>>,
    /// Agent who answered.
    pub agent: Option<AgentId>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Caller number, exactly.
    pub caller_number: Option<String>,
    /// Customer id.
    pub customer_id: Option<i64>,
    /// At most this many (1 to 1,000).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// A bound value of a search.
pub(super) enum Bind {
    Int(i64),
    Text(String),
    /// For `column IN ?`: one placeholder per value (none matches nothing).
    TextIn(Vec<String>),
}

/// ` WHERE a AND b …` with `$n` placeholders numbered in order, and the values to bind.
fn where_clause(conditions: Vec<(&str, Bind)>) -> (String, Vec<Bind>) {
    let mut texts = Vec::new();
    let mut binds = Vec::new();
    for (condition, value) in conditions {
        if let Bind::TextIn(values) = value {
            let marks: Vec<String> = values
                .into_iter()
                .map(|v| {
                    binds.push(Bind::Text(v));
                    format!("${}", binds.len())
                })
                .collect();
            texts.push(if marks.is_empty() {
                "1 = 0".to_owned()
            } else {
                condition.replace('?', &format!("({})", marks.join(", ")))
            });
        } else {
            binds.push(value);
            texts.push(condition.replace('?', &format!("${}", binds.len())));
        }
    }
    let filters = if texts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", texts.join(" AND "))
    };
    (filters, binds)
}

/// Binds the values in order.
fn bound<'q, DB, O>(
    mut query: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.as_str()),
            // Expanded into `Text`s by `where_clause`.
            Bind::TextIn(_) => query,
        };
    }
    query
}

/// One stored call in brief (the screen-pop's history, the load test's check).
#[derive(Clone, Debug, PartialEq)]
pub struct CallSummary {
    /// The call.
    pub call: CallId,
    /// When it arrived.
    pub arrived_at: Timestamp,
    /// The tier it was routed with.
    pub tier: TierId,
    /// Who answered.
    pub agent: Option<AgentId>,
    /// How it ended.
    pub outcome: Outcome,
    /// The agent's disposition, when given.
    pub disposition: Option<Disposition>,
}

impl Store {
    /// Stores completed calls with their timelines in one transaction. A call already
    /// stored is skipped whole, so a retried batch never duplicates rows.
    ///
    /// # Errors
    /// The transaction fails; nothing of the batch is stored then.
    pub async fn insert_calls(&self, batch: &[CompletedCall]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.doing("starting a transaction")?;
            let mut inserted = std::collections::HashSet::new();
            for chunk in batch.chunks(CALLS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::new(INSERT_CALLS);
                insert.push_values(chunk, |mut row, CompletedCall { call, .. }| {
                    let (category, resolved, notes) = match &call.disposition {
                        Some(d) => (Some(d.category.as_str()), Some(d.resolved), Some(storable(&d.notes))),
                        None => (None, None, None),
                    };
                    row.push_bind(call.call.to_string())
                        .push_bind(call.node.as_str())
                        .push_bind(storable(&call.caller_number))
                        .push_bind(storable(&call.destination))
                        .push_bind(call.customer_id)
                        .push_bind(call.tier.as_str())
                        .push_bind(call.queue.as_ref().map(|q| q.as_str()))
                        .push_bind(call.agent.as_ref().map(|a| a.as_str()))
                        .push_bind(call.outcome.as_str())
                        .push_bind(call.arrived_at.as_micros())
                        .push_bind(call.enqueued_at.map(Timestamp::as_micros))
                        .push_bind(call.answered_at.map(Timestamp::as_micros))
                        .push_bind(call.talk_ended_at.map(Timestamp::as_micros))
                        .push_bind(call.ended_at.as_micros())
                        .push_bind(call.wrap_up_ended_at.map(Timestamp::as_micros))
                        .push_bind(call.wait_ms)
                        .push_bind(call.ivr_ms)
                        .push_bind(call.talk_ms)
                        .push_bind(call.acw_ms)
                        .push_bind(call.sla_met)
                        .push_bind(call.short_abandon)
                        .push_bind(storable(&call.hangup_cause))
                        .push_bind(i64::from(call.offers))
                        .push_bind(call.ivr_path.to_string())
                        .push_bind(category)
                        .push_bind(resolved)
                        .push_bind(notes)
                        .push_bind(call.survey_score.map(i64::from));
                });
                // Calls stored by an earlier try of this batch are skipped, with their
                // timelines.
                insert.push(" ON CONFLICT (call_id) DO NOTHING RETURNING call_id");
                let ids: Vec<String> = insert
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .doing("storing calls")?;
                inserted.extend(ids);
            }
            let events: Vec<_> = batch
                .iter()
                .filter(|c| inserted.contains(&c.call.call.to_string()))
                .flat_map(|c| &c.timeline)
                .collect();
            for chunk in events.chunks(EVENTS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::new(INSERT_EVENTS);
                insert.push_values(chunk, |mut row, entry| {
                    row.push_bind(entry.call.to_string())
                        .push_bind(entry.at.as_micros())
                        .push_bind(entry.kind.as_str())
                        .push_bind(entry.detail.to_string());
                });
                insert
                    .build()
                    .execute(&mut *tx)
                    .await
                    .doing("storing the calls' timelines")?;
            }
            tx.commit().await.doing("committing calls")
        })
    }

    /// A stored call and its timeline in time order.
    ///
    /// # Errors
    /// The query fails or the stored row cannot be read back.
    pub async fn call_with_timeline(
        &self,
        call: CallId,
    ) -> Result<Option<CompletedCall>, StoreError> {
        let id = call.to_string();
        let sql = format!("{SELECT_CALL} WHERE call_id = $1");
        let row: Option<CallRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(&id).fetch_optional(pool).await
        })
        .doing("reading a call")?;
        let Some(row) = row else { return Ok(None) };
        let events: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT at, kind, detail FROM call_events WHERE call_id = $1 ORDER BY at, id",
            )
            .bind(&id)
            .fetch_all(pool)
            .await
        })
        .doing("reading a call's timeline")?;
        let timeline = events
            .into_iter()
            .map(|e| {
                Ok(TimelineEntry {
                    call,
                    at: Timestamp::from_micros(e.at),
                    kind: e.kind,
                    detail: json_column("call_events.detail", &e.detail)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(CompletedCall {
            call: row.into_record()?,
            timeline,
        }))
    }

    /// Stored calls matching `filter`, newest first.
    ///
    /// # Errors
    /// The query fails or a row cannot be read back.
    pub async fn list_calls(&self, filter: &CallFilter) -> Result<Vec<CallRecord>, StoreError> {
        let mut conditions = Vec::new();
        if let Some(from) = filter.from {
            conditions.push(("arrived_at >= ?", Bind::Int(from.as_micros())));
        }
        if let Some(to) = filter.to {
            conditions.push(("arrived_at < ?", Bind::Int(to.as_micros())));
        }
        if let Some(queue) = &filter.queue {
            conditions.push(("queue = ?", Bind::Text(queue.to_string())));
        }
        if let Some(queues) = &filter.queues {
            let names = queues.iter().map(ToString::to_string).collect();
            conditions.push(("queue IN ?", Bind::TextIn(names)));
        }
        if let Some(agent) = &filter.agent {
            conditions.push(("agent = ?", Bind::Text(agent.to_string())));
        }
        if let Some(outcome) = filter.outcome {
            conditions.push(("outcome = ?", Bind::Text(outcome.as_str().to_owned())));
        }
        if let Some(caller) = &filter.caller_number {
            conditions.push(("caller_number = ?", Bind::Text(caller.clone())));
        }
        if let Some(customer) = filter.customer_id {
            conditions.push(("customer_id = ?", Bind::Int(customer)));
        }
        let limit = i64::from(filter.limit.clamp(1, MAX_LIST));
        let (filters, mut binds) = where_clause(conditions);
        binds.push(Bind::Int(limit));
        let sql = format!(
            "{SELECT_CALL}{filters} ORDER BY arrived_at DESC, call_id LIMIT ${}",
            binds.len()
        );
        let rows: Vec<CallRow> = with_pool!(self, pool => {
            bound(sqlx::query_as(&sql), &binds).fetch_all(pool).await
        })
        .doing("searching calls")?;
        rows.into_iter().map(CallRow::into_record).collect()
    }

    /// Streams every stored call matching `conditions` (SQL with one `?` for its value)
    /// into `each`, without holding them all in memory.
    ///
    /// # Errors
    /// The query fails or a row cannot be read back.
    pub(super) async fn each_call(
        &self,
        conditions: Vec<(&str, Bind)>,
        doing: &'static str,
        mut each: impl FnMut(CallRecord) + Send,
    ) -> Result<(), StoreError> {
        use futures_util::TryStreamExt;
        let (filters, binds) = where_clause(conditions);
        let sql = format!("{SELECT_CALL}{filters}");
        with_pool!(self, pool => {
            let mut rows = bound(sqlx::query_as::<_, CallRow>(&sql), &binds).fetch(pool);
            while let Some(row) = rows.try_next().await.doing(doing)? {
                each(row.into_record()?);
            }
        });
        Ok(())
    }

    /// Every stored call's id, outcome and enqueue time, oldest first (load-test checks).
    ///
    /// # Errors
    /// The query fails or a row cannot be read back.
    pub async fn call_outcomes(&self) -> Result<Vec<CallSummary>, StoreError> {
        let sql = format!("{SELECT_CALL} ORDER BY arrived_at, call_id");
        let rows: Vec<CallRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await
        })
        .doing("reading call outcomes")?;
        rows.into_iter()
            .map(|row| Ok(CallSummary::from(row.into_record()?)))
            .collect()
    }

    /// The stored calls whose timeline has a `kind` entry at or after `from` (load-test
    /// checks: `caller_left_for_callback`).
    ///
    /// # Errors
    /// The query fails.
    pub async fn calls_with_event(
        &self,
        kind: &str,
        from: Timestamp,
    ) -> Result<Vec<CallId>, StoreError> {
        let sql = "SELECT DISTINCT call_id FROM call_events WHERE kind = $1 AND at >= $2";
        let ids: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(kind)
                .bind(from.as_micros())
                .fetch_all(pool)
                .await
        })
        .doing("reading calls by timeline entry")?;
        Ok(ids
            .into_iter()
            .filter_map(|(id,)| CallId::parse(&id).ok())
            .collect())
    }

    /// A customer's latest calls, newest first.
    ///
    /// # Errors
    /// The query fails or a row cannot be read back.
    pub async fn recent_calls(
        &self,
        customer_id: i64,
        limit: u32,
    ) -> Result<Vec<CallSummary>, StoreError> {
        let sql = format!(
            "{SELECT_CALL} WHERE customer_id = $1 ORDER BY arrived_at DESC, call_id LIMIT $2"
        );
        self.summaries(&sql, customer_id, limit).await
    }

    /// A customer's complaint calls that were not resolved, newest first.
    ///
    /// # Errors
    /// The query fails or a row cannot be read back.
    pub async fn open_complaints(
        &self,
        customer_id: i64,
        limit: u32,
    ) -> Result<Vec<CallSummary>, StoreError> {
        let sql = format!(
            "{SELECT_CALL} WHERE customer_id = $1 AND category = 'complaint' \
             AND resolved = FALSE ORDER BY arrived_at DESC, call_id LIMIT $2"
        );
        self.summaries(&sql, customer_id, limit).await
    }

    async fn summaries(
        &self,
        sql: &str,
        customer_id: i64,
        limit: u32,
    ) -> Result<Vec<CallSummary>, StoreError> {
        let rows: Vec<CallRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(customer_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })
        .doing("reading a customer's calls")?;
        rows.into_iter()
            .map(|row| Ok(CallSummary::from(row.into_record()?)))
            .collect()
    }
}

impl From<CallRecord> for CallSummary {
    fn from(record: CallRecord) -> CallSummary {
        CallSummary {
            call: record.call,
            arrived_at: record.arrived_at,
            tier: record.tier,
            agent: record.agent,
            outcome: record.outcome,
            disposition: record.disposition,
        }
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    at: i64,
    kind: String,
    detail: String,
}

/// A `calls` row as stored; `into_record` checks every value on the way back.
#[derive(sqlx::FromRow)]
struct CallRow {
    call_id: String,
    node: String,
    caller_number: String,
    destination: String,
    customer_id: Option<i64>,
    tier: String,
    queue: Option<String>,
    agent: Option<String>,
    outcome: String,
    arrived_at: i64,
    enqueued_at: Option<i64>,
    answered_at: Option<i64>,
    talk_ended_at: Option<i64>,
    ended_at: i64,
    wrap_up_ended_at: Option<i64>,
    wait_ms: Option<i64>,
    ivr_ms: i64,
    talk_ms: Option<i64>,
    acw_ms: Option<i64>,
    sla_met: Option<bool>,
    short_abandon: bool,
    hangup_cause: String,
    offers: i64,
    ivr_path: String,
    category: Option<String>,
    resolved: Option<bool>,
    notes: Option<String>,
    survey_score: Option<i64>,
}

impl CallRow {
    fn into_record(self) -> Result<CallRecord, StoreError> {
        let corrupt = |what: &'static str, value: String| StoreError::Corrupt { what, value };
        let call = self
            .call_id
            .parse()
            .map(CallId)
            .map_err(|_| corrupt("calls.call_id", self.call_id.clone()))?;
        let disposition = match (self.category, self.resolved) {
            (Some(category), Some(resolved)) => Some(Disposition {
                category: word("calls.category", &category)?,
                resolved,
                notes: self.notes.unwrap_or_default(),
            }),
            _ => None,
        };
        let micros = |t: Option<i64>| t.map(Timestamp::from_micros);
        Ok(CallRecord {
            call,
            node: NodeId::new(&self.node),
            caller_number: self.caller_number,
            destination: self.destination,
            customer_id: self.customer_id,
            tier: TierId::new(&self.tier),
            queue: self.queue.map(QueueId::new),
            agent: self.agent.map(AgentId::new),
            outcome: word("calls.outcome", &self.outcome)?,
            arrived_at: Timestamp::from_micros(self.arrived_at),
            enqueued_at: micros(self.enqueued_at),
            answered_at: micros(self.answered_at),
            talk_ended_at: micros(self.talk_ended_at),
            ended_at: Timestamp::from_micros(self.ended_at),
            wrap_up_ended_at: micros(self.wrap_up_ended_at),
            wait_ms: self.wait_ms,
            ivr_ms: self.ivr_ms,
            talk_ms: self.talk_ms,
            acw_ms: self.acw_ms,
            sla_met: self.sla_met,
            short_abandon: self.short_abandon,
            hangup_cause: self.hangup_cause,
            offers: u32::try_from(self.offers)
                .map_err(|_| corrupt("calls.offers", self.offers.to_string()))?,
            ivr_path: json_column("calls.ivr_path", &self.ivr_path)?,
            disposition,
            survey_score: self
                .survey_score
                .map(|s| u8::try_from(s).map_err(|_| corrupt("calls.survey_score", s.to_string())))
                .transpose()?,
        })
    }
}

/// Text as both databases take it: PostgreSQL refuses NUL in text, and a caller number or
/// a note with one (both come from outside) must not block the writer, so it becomes U+FFFD.
pub(super) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A stored snake_case word back into its enum (`answered` → `Outcome::Answered`).
pub(super) fn word<T: DeserializeOwned>(what: &'static str, value: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).map_err(|_| {
        StoreError::Corrupt {
            what,
            value: value.to_owned(),
        }
    })
}

fn json_column(what: &'static str, value: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(value).map_err(|_| StoreError::Corrupt {
        what,
        value: value.to_owned(),
    })
}
