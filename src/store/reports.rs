//! What the reports read: calls by the interval they entered a queue or were answered, the
//! calls that decide first-contact resolution, and agents' state spans.

use futures_util::TryStreamExt;

use super::calls::{Bind, storable, word};
use super::{Doing, Store, StoreError, with_pool};
use crate::domain::{AgentId, QueueId, TierId};
use crate::recorder::AgentStateSpan;
use crate::recorder::report::{AgentReport, Contacts, FCR_WINDOW, Period, QueueReport};

const INSERT_STATE: &str = "INSERT INTO agent_states (agent, state, reason, started_at, ended_at) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent, started_at) DO NOTHING";

impl Store {
    /// Stores agents' state spans in one transaction; a span already stored is skipped.
    ///
    /// # Errors
    /// The transaction fails; nothing of the batch is stored then.
    pub async fn insert_agent_states(&self, batch: &[AgentStateSpan]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.doing("starting a transaction")?;
            for span in batch {
                sqlx::query(INSERT_STATE)
                    .bind(span.agent.as_str())
                    .bind(span.state.as_str())
                    .bind(span.reason.as_deref().map(storable))
                    .bind(span.started_at.as_micros())
                    .bind(span.ended_at.as_micros())
                    .execute(&mut *tx)
                    .await
                    .doing("storing an agent state")?;
            }
            tx.commit().await.doing("committing agent states")
        })
    }

    /// Counts the calls that entered a queue in the report's range (of one queue and tier,
    /// when given) into `report`.
    ///
    /// # Errors
    /// The query fails or a row cannot be read back.
    pub async fn fill_queue_report(
        &self,
        report: &mut QueueReport,
        period: &Period,
        queue: Option<&QueueId>,
        tier: Option<&TierId>,
    ) -> Result<(), StoreError> {
        let mut conditions = vec![
            ("enqueued_at >= ?", Bind::Int(period.from().as_micros())),
            ("enqueued_at < ?", Bind::Int(period.to().as_micros())),
        ];
        if let Some(queue) = queue {
            conditions.push(("queue = ?", Bind::Text(queue.to_string())));
        }
        if let Some(tier) = tier {
            conditions.push(("tier = ?", Bind::Text(tier.to_string())));
        }
        self.each_call(conditions, "reading calls for a queue report", |call| {
            report.add(&call);
        })
        .await
    }

    /// Counts the calls answered in the report's range (by one agent, when given) and the
    /// agents' state spans overlapping it into `report`.
    ///
    /// # Errors
    /// A query fails or a row cannot be read back.
    pub async fn fill_agent_report(
        &self,
        report: &mut AgentReport,
        period: &Period,
        agent: Option<&AgentId>,
    ) -> Result<(), StoreError> {
        let contacts = self.contacts(period).await?;
        let (from, to) = (period.from().as_micros(), period.to().as_micros());
        let mut conditions = vec![
            ("answered_at >= ?", Bind::Int(from)),
            ("answered_at < ?", Bind::Int(to)),
        ];
        if let Some(agent) = agent {
            conditions.push(("agent = ?", Bind::Text(agent.to_string())));
        }
        self.each_call(conditions, "reading calls for an agent report", |call| {
            report.add_call(&call, &contacts);
        })
        .await?;
        let mut sql = "SELECT agent, state, reason, started_at, ended_at FROM agent_states \
            WHERE ended_at > $1 AND started_at < $2"
            .to_owned();
        if agent.is_some() {
            sql.push_str(" AND agent = $3");
        }
        let agent = agent.map(AgentId::as_str);
        with_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, StateRow>(&sql).bind(from).bind(to);
            if let Some(agent) = agent {
                query = query.bind(agent);
            }
            let mut rows = query.fetch(pool);
            while let Some(row) = rows.try_next().await.doing("reading agent states")? {
                report.add_span(&row.into_span()?);
            }
        });
        Ok(())
    }

    /// Every categorised call from the range's start to 7 days after its end: who called
    /// again about the same matter.
    async fn contacts(&self, period: &Period) -> Result<Contacts, StoreError> {
        let until = period.to().plus(FCR_WINDOW.to_std().unwrap_or_default());
        let conditions = vec![
            ("arrived_at >= ?", Bind::Int(period.from().as_micros())),
            ("arrived_at < ?", Bind::Int(until.as_micros())),
            // NULL <> '' is not true: only calls with a disposition.
            ("category <> ?", Bind::Text(String::new())),
        ];
        let mut contacts = Contacts::default();
        self.each_call(conditions, "reading repeat calls", |call| {
            contacts.add(&call);
        })
        .await?;
        Ok(contacts)
    }
}

#[derive(sqlx::FromRow)]
struct StateRow {
    agent: String,
    state: String,
    reason: Option<String>,
    started_at: i64,
    ended_at: i64,
}

impl StateRow {
    fn into_span(self) -> Result<AgentStateSpan, StoreError> {
        Ok(AgentStateSpan {
            agent: AgentId::new(&self.agent),
            state: word("agent_states.state", &self.state)?,
            reason: self.reason,
            started_at: crate::domain::Timestamp::from_micros(self.started_at),
            ended_at: crate::domain::Timestamp::from_micros(self.ended_at),
        })
    }
}
