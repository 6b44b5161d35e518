//! Agents, queues and skills an admin added through the REST API (`source = 'api'`). Each
//! row keeps its whole definition as JSON in `spec`, in the shape of a `kefu.toml` entry,
//! beside the columns the rest of the schema joins on. The file's entries are written by
//! `seed`, which also turns an API row into the file's when the file defines the same name.

use super::calls::storable;
use super::{Doing, Store, StoreError, with_pool};
use crate::auth::Role;
use crate::config::{AgentConfig, QueueConfig};

/// Rows an admin made.
const FROM_API: &str = "api";

/// Everything admins added, as it was stored.
#[derive(Clone, Debug, Default)]
pub struct ApiEntries {
    /// Agents (password as its argon2id hash).
    pub agents: Vec<AgentConfig>,
    /// Queues.
    pub queues: Vec<QueueConfig>,
    /// Skill names.
    pub skills: Vec<String>,
}

/// A write the database's rules refuse: rows elsewhere still name this one.
fn refusal(error: sqlx::Error, doing: &'static str, why: String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
            StoreError::Refused(why)
        }
        _ => StoreError::Query {
            doing,
            source: error,
        },
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    what: &'static str,
    spec: String,
) -> Result<T, StoreError> {
    serde_json::from_str(&spec).map_err(|_| StoreError::Corrupt { what, value: spec })
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("configuration entries serialize to JSON")
}

impl Store {
    /// The agents, queues and skills admins added.
    ///
    /// # Errors
    /// The database fails, or a stored definition is unreadable.
    pub async fn api_entries(&self) -> Result<ApiEntries, StoreError> {
        let read = |sql: &'static str| async move {
            with_pool!(self, pool => {
                sqlx::query_scalar::<_, String>(sql).bind(FROM_API).fetch_all(pool).await
            })
            .doing("reading the agents, queues and skills admins added")
        };
        let agents = read("SELECT spec FROM agents WHERE source = $1 ORDER BY id").await?;
        let queues = read("SELECT spec FROM queues WHERE source = $1 ORDER BY name").await?;
        let skills = read("SELECT name FROM skills WHERE source = $1 ORDER BY name").await?;
        Ok(ApiEntries {
            agents: (agents.into_iter())
                .map(|spec| parse("agents.spec", spec))
                .collect::<Result<_, _>>()?,
            queues: (queues.into_iter())
                .map(|spec| parse("queues.spec", spec))
                .collect::<Result<_, _>>()?,
            skills,
        })
    }

    /// Writes an agent an admin added or changed, with their skills and their login, in one
    /// transaction. `agent.password` must already be the argon2id hash.
    ///
    /// # Errors
    /// The database fails; nothing is written then.
    pub async fn put_api_agent(&self, agent: &AgentConfig) -> Result<(), StoreError> {
        let spec = to_json(agent);
        with_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO agents (id, name, dial_string, source, spec) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                     name = excluded.name, dial_string = excluded.dial_string, \
                     source = excluded.source, spec = excluded.spec",
                )
                .bind(storable(&agent.id))
                .bind(storable(&agent.name))
                .bind(storable(&agent.dial_string))
                .bind(FROM_API)
                .bind(&spec)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM agent_skills WHERE agent = $1")
                    .bind(storable(&agent.id))
                    .execute(&mut *tx)
                    .await?;
                for (skill, proficiency) in &agent.skills {
                    sqlx::query("INSERT INTO agent_skills (agent, skill, proficiency) VALUES ($1, $2, $3)")
                        .bind(storable(&agent.id))
                        .bind(skill)
                        .bind(*proficiency)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO users (id, role, password_hash, queues, source) \
                     VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (id) DO UPDATE SET \
                     role = excluded.role, password_hash = excluded.password_hash, \
                     queues = NULL, source = excluded.source",
                )
                .bind(storable(&agent.id))
                .bind(Role::Agent.as_str())
                .bind(agent.password.expose())
                .bind(FROM_API)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            .await
        })
        .doing("writing an agent")
    }

    /// Removes an agent an admin added, with their login and sessions.
    ///
    /// # Errors
    /// Refused while customers name the agent as their account manager; the database
    /// fails. Nothing is removed then.
    pub async fn delete_api_agent(&self, id: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM users WHERE id = $1 AND source = $2")
                    .bind(storable(id))
                    .bind(FROM_API)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM agents WHERE id = $1 AND source = $2")
                    .bind(storable(id))
                    .bind(FROM_API)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await
        })
        .map_err(|e| {
            let why = format!(
                "agent `{id}` is the account manager of stored customers; give them another first"
            );
            refusal(e, "removing an agent", why)
        })
    }

    /// Writes a queue an admin added or changed.
    ///
    /// # Errors
    /// The database fails.
    pub async fn put_api_queue(&self, queue: &QueueConfig) -> Result<(), StoreError> {
        let sql = "INSERT INTO queues (name, strategy, priority, max_wait_ms, short_abandon_ms, \
                   overflow, source, spec) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                   ON CONFLICT (name) DO UPDATE SET strategy = excluded.strategy, \
                   priority = excluded.priority, max_wait_ms = excluded.max_wait_ms, \
                   short_abandon_ms = excluded.short_abandon_ms, overflow = excluded.overflow, \
                   source = excluded.source, spec = excluded.spec";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(storable(&queue.name))
                .bind(queue.strategy.as_str())
                .bind(i64::from(queue.priority))
                .bind(super::millis(queue.max_wait))
                .bind(super::millis(queue.short_abandon))
                .bind(to_json(&queue.overflow))
                .bind(FROM_API)
                .bind(to_json(queue))
                .execute(pool)
                .await
                .map(drop)
        })
        .doing("writing a queue")
    }

    /// Removes a queue an admin added. Its calls on record keep its name.
    ///
    /// # Errors
    /// The database fails.
    pub async fn delete_api_queue(&self, name: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM queues WHERE name = $1 AND source = $2";
        with_pool!(self, pool => {
            sqlx::query(sql).bind(storable(name)).bind(FROM_API).execute(pool).await.map(drop)
        })
        .doing("removing a queue")
    }

    /// Writes a skill an admin added.
    ///
    /// # Errors
    /// The database fails.
    pub async fn put_api_skill(&self, name: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO skills (name, source) VALUES ($1, $2) \
                   ON CONFLICT (name) DO UPDATE SET source = excluded.source";
        with_pool!(self, pool => {
            sqlx::query(sql).bind(storable(name)).bind(FROM_API).execute(pool).await.map(drop)
        })
        .doing("writing a skill")
    }

    /// Removes a skill an admin added.
    ///
    /// # Errors
    /// Refused while stored agents (also ones no longer configured) have the skill; the
    /// database fails.
    pub async fn delete_api_skill(&self, name: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM skills WHERE name = $1 AND source = $2";
        with_pool!(self, pool => {
            sqlx::query(sql).bind(storable(name)).bind(FROM_API).execute(pool).await.map(drop)
        })
        .map_err(|e| {
            let why =
                format!("stored agents (some perhaps no longer configured) have skill `{name}`");
            refusal(e, "removing a skill", why)
        })
    }
}
