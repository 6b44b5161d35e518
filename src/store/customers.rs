//! Customers (looked up by caller number or account number for routing and the screen-pop)
//! and the seeding of tiers, skills, queues, agents and customers from configuration.

use super::calls::storable;
use super::{Doing, Store, StoreError, millis, with_pool};
use crate::config::Config;
use crate::domain::{AgentId, TierId};

/// A customer as routing and the screen-pop need them (and as `/api/customers` shows them).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Customer {
    /// Database id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Phone number (E.164, as FreeSWITCH presents it).
    pub phone: String,
    /// Account number (what callers type in the IVR).
    #[serde(rename = "account")]
    pub account_number: String,
    /// Tier.
    #[schema(value_type = String)]
    pub tier: TierId,
    /// Their account manager, if they have one.
    #[schema(value_type = Option<String>)]
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

/// A customer's fields, to create or replace one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerFields {
    /// Name.
    pub name: String,
    /// Phone number, unique.
    pub phone: String,
    /// Account number, unique.
    pub account: String,
    /// Tier.
    #[schema(value_type = String)]
    pub tier: TierId,
    /// Account manager.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub account_manager: Option<AgentId>,
}

/// Which customers `/api/customers` lists.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerFilter {
    /// Phone number, exactly.
    pub phone: Option<String>,
    /// Account number, exactly.
    pub account: Option<String>,
    /// Tier.
    pub tier: Option<String>,
    /// Ids above this one (paging: the last id of the previous page).
    pub after: Option<i64>,
    /// At most this many (1 to 1,000; 100).
    pub limit: Option<u32>,
}

/// A write the database's rules refuse: a phone or account number another customer has,
/// or a customer whose calls are on record.
fn refusal(error: sqlx::Error, doing: &'static str) -> StoreError {
    let kind = match &error {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    };
    match kind {
        Some(sqlx::error::ErrorKind::UniqueViolation) => {
            StoreError::Refused("another customer has this phone or account number".into())
        }
        Some(sqlx::error::ErrorKind::ForeignKeyViolation) => StoreError::Refused(
            "the customer's calls are on record; they are kept with the customer".into(),
        ),
        _ => StoreError::Query {
            doing,
            source: error,
        },
    }
}

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

    /// One customer by id.
    ///
    /// # Errors
    /// The query fails.
    pub async fn customer(&self, id: i64) -> Result<Option<Customer>, StoreError> {
        let sql = format!("{SELECT_CUSTOMER} WHERE id = $1");
        let row: Option<CustomerRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await
        })
        .doing("reading a customer")?;
        Ok(row.map(Customer::from))
    }

    /// Customers matching the filter, by id.
    ///
    /// # Errors
    /// The query fails.
    pub async fn list_customers(
        &self,
        filter: &CustomerFilter,
    ) -> Result<Vec<Customer>, StoreError> {
        let sql = format!(
            "{SELECT_CUSTOMER} WHERE ($1 IS NULL OR phone = $1) \
             AND ($2 IS NULL OR account_number = $2) AND ($3 IS NULL OR tier = $3) \
             AND id > $4 ORDER BY id LIMIT $5"
        );
        let limit = i64::from(filter.limit.unwrap_or(100).clamp(1, 1000));
        let rows: Vec<CustomerRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(filter.phone.as_deref().map(storable))
                .bind(filter.account.as_deref().map(storable))
                .bind(filter.tier.as_deref().map(storable))
                .bind(filter.after.unwrap_or(0))
                .bind(limit)
                .fetch_all(pool)
                .await
        })
        .doing("listing customers")?;
        Ok(rows.into_iter().map(Customer::from).collect())
    }

    /// Adds a customer.
    ///
    /// # Errors
    /// Refused when the phone or account number is taken; the query fails.
    pub async fn insert_customer(&self, fields: &CustomerFields) -> Result<Customer, StoreError> {
        let sql = "INSERT INTO customers (name, phone, account_number, tier, account_manager) \
                   VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let id: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(storable(&fields.name))
                .bind(storable(&fields.phone))
                .bind(storable(&fields.account))
                .bind(fields.tier.as_str())
                .bind(fields.account_manager.as_ref().map(AgentId::as_str))
                .fetch_one(pool)
                .await
        })
        .map_err(|e| refusal(e, "adding a customer"))?;
        Ok(Customer {
            id,
            name: fields.name.clone(),
            phone: fields.phone.clone(),
            account_number: fields.account.clone(),
            tier: fields.tier.clone(),
            account_manager: fields.account_manager.clone(),
        })
    }

    /// Replaces a customer's fields; `None` when there is no such customer.
    ///
    /// # Errors
    /// Refused when the phone or account number is taken; the query fails.
    pub async fn update_customer(
        &self,
        id: i64,
        fields: &CustomerFields,
    ) -> Result<Option<Customer>, StoreError> {
        let sql = "UPDATE customers SET name = $1, phone = $2, account_number = $3, tier = $4, \
                   account_manager = $5 WHERE id = $6";
        let changed = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(storable(&fields.name))
                .bind(storable(&fields.phone))
                .bind(storable(&fields.account))
                .bind(fields.tier.as_str())
                .bind(fields.account_manager.as_ref().map(AgentId::as_str))
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(|e| refusal(e, "changing a customer"))?;
        if changed == 0 {
            return Ok(None);
        }
        self.customer(id).await
    }

    /// Removes a customer with no calls on record; whether there was one.
    ///
    /// # Errors
    /// Refused when calls reference the customer; the query fails.
    pub async fn delete_customer(&self, id: i64) -> Result<bool, StoreError> {
        let sql = "DELETE FROM customers WHERE id = $1";
        let deleted = with_pool!(self, pool => {
            sqlx::query(sql).bind(id).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(|e| refusal(e, "removing a customer"))?;
        Ok(deleted > 0)
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
                sqlx::query(
                    "INSERT INTO skills (name, source) VALUES ($1, 'config') \
                     ON CONFLICT (name) DO UPDATE SET source = 'config'",
                )
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
                     short_abandon_ms = excluded.short_abandon_ms, overflow = excluded.overflow, \
                     source = 'config', spec = NULL",
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
                     dial_string = excluded.dial_string, source = 'config', spec = NULL",
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
