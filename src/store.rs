//! TEMPORARY stand-in for the store; replaced when the store branch merges.

use crate::domain::{AgentId, TierId};

/// A customer.
#[derive(Clone, Debug)]
pub struct Customer {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: String,
    /// Account number.
    pub account_number: String,
    /// Tier.
    pub tier: TierId,
    /// Account manager.
    pub account_manager: Option<AgentId>,
}

/// Stand-in error.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable")]
pub struct StoreError;

/// The store.
#[derive(Clone, Debug)]
pub struct Store;

impl Store {
    /// Lookup.
    ///
    /// # Errors
    /// Never.
    pub async fn find_customer_by_number(&self, _n: &str) -> Result<Option<Customer>, StoreError> {
        Ok(None)
    }
    /// Lookup.
    ///
    /// # Errors
    /// Never.
    pub async fn find_customer_by_account(&self, _n: &str) -> Result<Option<Customer>, StoreError> {
        Ok(None)
    }
}

impl Store {
    /// Ping.
    ///
    /// # Errors
    /// Never.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Call.
    ///
    /// # Errors
    /// Never.
    pub async fn call_with_timeline(
        &self,
        _call: crate::domain::CallId,
    ) -> Result<
        Option<(
            crate::recorder::CallRecord,
            Vec<crate::recorder::TimelineEntry>,
        )>,
        StoreError,
    > {
        Ok(None)
    }
}

impl Store {
    /// Connect.
    ///
    /// # Errors
    /// Never.
    pub async fn connect(_url: &crate::config::Secret) -> Result<Store, StoreError> {
        Ok(Store)
    }
    /// Migrate.
    ///
    /// # Errors
    /// Never.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
