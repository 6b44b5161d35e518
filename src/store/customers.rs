//! Customers (looked up by caller number or account number for routing and the screen-pop)
//! and the seeding of tiers, skills, queues, agents and customers from configuration.

use super::{Doing, Store, StoreError, millis, with_pool};
use crate::config::Config;
use crate::domain::{AgentId, TierId};

/// A customer as routing and the screen-pop need them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    /// Database id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Phone number (E.164, as FreeSWITCH presents it).
    pub phone: String,
    /// Account number (what callers type in the IVR).
    pub account_number: String,
    /// Tier.
    pub tier: TierId,
    /// Their account manager, if they have one.
    pub account_manager: Option<AgentId>,
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: i64,
    name: String,
    phone: String,
    account_number: String,
    tier: String,
    account_manager: Option<String>,
}

impl From<CustomerRow> for Customer {
    fn from(row: CustomerRow) -> Customer {
        Customer {
            id: row.id,
            name: row.name,
            phone: row.phone,
            account_number: row.account_number,
            tier: TierId::new(&row.tier),
            account_manager: row.account_manager.map(AgentId::new),
        }
    }
}

const SELECT_CUSTOMER: &str =
    "SELECT id, name, phone, account_number, tier, account_manager FROM customers";

impl Store {
    /// The customer calling from `phone`.
    ///
    /// # Errors
    /// The query fails.
    pub async fn find_customer_by_number(
        &self,
        phone: &str,
    ) -> Result<Option<Customer>, StoreError> {
        self.find_customer("phone", phone).await
    }

    /// The customer with account number `account`.
    ///
    /// # Errors
    /// The query fails.
    pub async fn find_customer_by_account(
        &self,
        account: &str,
    ) -> Result<Option<Customer>, StoreError> {
        self.find_customer("account_number", account).await
    }

    async fn find_customer(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let sql = format!("{SELECT_CUSTOMER} WHERE {column} = $1");
        let row: Option<CustomerRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(value).fetch_optional(pool).await
        })
        .doing("looking a customer up")?;
        Ok(row.map(Customer::from))
    }

    /// Writes the configuration's tiers, skills, queues, agents (with their skills) and
    /// customers. Idempotent: rows are upserted by name / id / phone, so a restart with a
    /// changed file updates them. Nothing is deleted.
    ///
    /// # Errors
    /// A statement fails (e.g. two customers with one account number); nothing is written.
    pub async fn seed(&self, config: &Config) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.doing("starting a transaction")?;
            for tier in &config.tiers {
                sqlx::query(
                    "INSERT INTO tiers (name, base_priority, sla_threshold_ms, sla_target) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
                     base_priority = excluded.base_priority, \
                     sla_threshold_ms = excluded.sla_threshold_ms, sla_target = excluded.sla_target",
                )
                .bind(&tier.name)
                .bind(i64::from(tier.base_priority))
                .bind(millis(tier.sla_threshold))
                .bind(tier.sla_target)
                .execute(&mut *tx)
                .await
                .doing("seeding tiers")?;
            }
            for skill in &config.skills.names {
                sqlx::query("INSERT INTO skills (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                    .bind(skill)
                    .execute(&mut *tx)
                    .await
                    .doing("seeding skills")?;
            }
            for queue in &config.queues {
                let overflow = serde_json::to_string(&queue.overflow).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO queues (name, strategy, priority, max_wait_ms, short_abandon_ms, \
                     overflow) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET \
                     strategy = excluded.strategy, priority = excluded.priority, \
                     max_wait_ms = excluded.max_wait_ms, \
                     short_abandon_ms = excluded.short_abandon_ms, overflow = excluded.overflow",
                )
                .bind(&queue.name)
                .bind(queue.strategy.as_str())
                .bind(i64::from(queue.priority))
                .bind(millis(queue.max_wait))
                .bind(millis(queue.short_abandon))
                .bind(overflow)
                .execute(&mut *tx)
                .await
                .doing("seeding queues")?;
            }
            for agent in &config.agents {
                sqlx::query(
                    "INSERT INTO agents (id, name, dial_string) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                     dial_string = excluded.dial_string",
                )
                .bind(&agent.id)
                .bind(&agent.name)
                .bind(&agent.dial_string)
                .execute(&mut *tx)
                .await
                .doing("seeding agents")?;
                sqlx::query("DELETE FROM agent_skills WHERE agent = $1")
                    .bind(&agent.id)
                    .execute(&mut *tx)
                    .await
                    .doing("seeding agent skills")?;
                for (skill, proficiency) in &agent.skills {
                    sqlx::query(
                        "INSERT INTO agent_skills (agent, skill, proficiency) VALUES ($1, $2, $3)",
                    )
                    .bind(&agent.id)
                    .bind(skill)
                    .bind(*proficiency)
                    .execute(&mut *tx)
                    .await
                    .doing("seeding agent skills")?;
                }
            }
            for customer in &config.customers {
                sqlx::query(
                    "INSERT INTO customers (name, phone, account_number, tier, account_manager) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (phone) DO UPDATE SET \
                     name = excluded.name, account_number = excluded.account_number, \
                     tier = excluded.tier, account_manager = excluded.account_manager",
                )
                .bind(&customer.name)
                .bind(&customer.phone)
                .bind(&customer.account)
                .bind(&customer.tier)
                .bind(customer.account_manager.as_deref())
                .execute(&mut *tx)
                .await
                .doing("seeding customers")?;
            }
            tx.commit().await.doing("committing the seed")
        })
    }
}
