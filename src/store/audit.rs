//! The audit trail of supervisors' actions.

use serde::Serialize;

use super::calls::storable;
use super::{Doing, Store, StoreError, with_pool};
use crate::domain::Timestamp;

/// One action, as `GET /api/audit` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// When (µs since the epoch).
    pub at: Timestamp,
    /// Who: the supervisor's login.
    pub actor: String,
    /// What: `agent_state`, `move_call`, `set_priority`, `reload_flows`.
    pub action: String,
    /// To what: an agent id, a call UUID, `flows`.
    pub target: String,
    /// The request's details.
    pub detail: serde_json::Value,
    /// `done`, or why it was refused.
    pub outcome: String,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    at: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
    outcome: String,
}

impl Store {
    /// Appends one entry.
    ///
    /// # Errors
    /// The database fails.
    pub async fn insert_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let sql = "INSERT INTO audit (at, actor, action, target, detail, outcome) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(entry.at.as_micros())
                .bind(storable(&entry.actor))
                .bind(storable(&entry.action))
                .bind(storable(&entry.target))
                .bind(storable(&entry.detail.to_string()))
                .bind(storable(&entry.outcome))
                .execute(pool)
                .await
                .map(drop)
        })
        .doing("writing the audit trail")
    }

    /// Entries from `from` (inclusive) to `to` (exclusive), newest first, at most `limit`.
    ///
    /// # Errors
    /// The database fails.
    pub async fn audit_entries(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = "SELECT at, actor, action, target, detail, outcome FROM audit \
                   WHERE at >= $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3";
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(from.as_micros())
                .bind(to.as_micros())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })
        .doing("reading the audit trail")?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                at: Timestamp::from_micros(r.at),
                actor: r.actor,
                action: r.action,
                target: r.target,
                // Written by kefu as JSON; anything else is shown as the text it is.
                detail: serde_json::from_str(&r.detail)
                    .unwrap_or(serde_json::Value::String(r.detail)),
                outcome: r.outcome,
            })
            .collect())
    }
}
