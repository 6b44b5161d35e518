//! Callbacks not yet made: the only record of a call that no FreeSWITCH channel holds
//! (the caller hung up to be called back). Written when the call starts waiting without a
//! channel and after each try, removed when its record is written.

use super::calls::storable;
use super::{Doing, Store, StoreError, with_pool};
use crate::clock;
use crate::domain::CallId;

impl Store {
    /// Keeps (or replaces) a waiting callback's session, as JSON.
    ///
    /// # Errors
    /// The database fails.
    pub async fn save_callback(&self, call: CallId, session: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO callbacks (call_id, session, saved_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (call_id) DO UPDATE \
                   SET session = excluded.session, saved_at = excluded.saved_at";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(call.to_string())
                .bind(storable(session))
                .bind(clock::now().as_micros())
                .execute(pool)
                .await
                .map(drop)
        })
        .doing("saving a callback")
    }

    /// Forgets a callback whose call is over (its record is written).
    ///
    /// # Errors
    /// The database fails.
    pub async fn delete_callback(&self, call: CallId) -> Result<(), StoreError> {
        let sql = "DELETE FROM callbacks WHERE call_id = $1";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(call.to_string())
                .execute(pool)
                .await
                .map(drop)
        })
        .doing("removing a callback")
    }

    /// Every callback not yet made, oldest saved first: (call, session JSON).
    ///
    /// # Errors
    /// The database fails.
    pub async fn pending_callbacks(&self) -> Result<Vec<(String, String)>, StoreError> {
        let sql = "SELECT call_id, session FROM callbacks ORDER BY saved_at";
        with_pool!(self, pool => {
            sqlx::query_as(sql).fetch_all(pool).await
        })
        .doing("reading the callbacks not yet made")
    }
}
