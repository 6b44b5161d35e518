//! The database adapter: sqlx on SQLite (the default, a file created if missing) or
//! PostgreSQL (`postgres://…`). One set of SQL text serves both dialects (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`); only the migrations differ (`migrations/sqlite`,
//! `migrations/postgres`). Times are stored as µs since the epoch, durations as ms.
//!
//! `calls` holds the completed-call queries, `customers` the lookups and the seeding from
//! configuration, `reports` what the queue and agent reports read, `audit` the trail of
//! supervisors' actions.

mod audit;
mod callbacks;
mod calls;
mod customers;
mod directory;
mod reports;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use audit::AuditEntry;
pub use calls::{CallFilter, CallSummary, MAX_LIST};
pub use customers::{Customer, CustomerFields, CustomerFilter};
pub use directory::ApiEntries;
pub use users::User;

use crate::config::Secret;

/// Runs the same body against whichever pool the store holds. The body is compiled once
/// per dialect, so every query is type-checked for both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The database.
#[derive(Clone, Debug)]
pub enum Store {
    /// SQLite (single file, WAL).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// A database failure, with what kefu was doing. Never carries the URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `database.url` names no supported database.
    #[error("database.url: unsupported scheme `{0}` (use sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    /// A query or connection failed.
    #[error("{doing}: {source}")]
    Query {
        /// What was being done.
        doing: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("migrating: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database's rules refuse the write (a duplicate, or rows that depend on it).
    #[error("{0}")]
    Refused(String),
    /// A stored value kefu cannot read back (edited by hand, or a newer kefu wrote it).
    #[error("stored {what} is invalid: {value}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// The value.
        value: String,
    },
}

/// Adds what was being done to a driver error.
pub(crate) trait Doing<T> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { doing, source })
    }
}

/// Connections per pool: the writer batches, lookups are short.
const MAX_CONNECTIONS: u32 = 8;
/// How long a query waits for a connection (or SQLite for its write lock).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens the database `url` names. A SQLite file (and its folder) is created if missing.
    ///
    /// # Errors
    /// An unsupported scheme, a malformed URL or an unreachable server.
    pub async fn connect(url: &Secret) -> Result<Store, StoreError> {
        let url = url.expose();
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .doing("reading database.url")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(ACQUIRE_TIMEOUT)
                .foreign_keys(true);
            if let Some(folder) = options.get_filename().parent() {
                std::fs::create_dir_all(folder).map_err(|e| StoreError::Query {
                    doing: "creating the database folder",
                    source: sqlx::Error::Io(e),
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .doing("opening the SQLite database")?;
            Ok(Store::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).doing("reading database.url")?;
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .doing("connecting to PostgreSQL")?;
            Ok(Store::Postgres(pool))
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StoreError::UnsupportedUrl(scheme.to_owned()))
        }
    }

    /// Opens the database `url` names if it is there: a SQLite file that does not exist is
    /// `None`, not created (for commands that only read, such as `kefu flows check`).
    ///
    /// # Errors
    /// As [`Store::connect`].
    pub async fn connect_existing(url: &Secret) -> Result<Option<Store>, StoreError> {
        let raw = url.expose();
        if raw.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(raw).doing("reading database.url")?;
            if !options.get_filename().exists() {
                return Ok(None);
            }
        }
        Store::connect(url).await.map(Some)
    }

    /// Applies the pending migrations of this dialect.
    ///
    /// # Errors
    /// A migration fails or the database holds a newer version than this kefu knows.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Store::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// One round trip, for `/readyz`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
            .doing("pinging the database")
    }

    /// Closes every connection (tests, shutdown).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

/// A duration in whole milliseconds, as stored.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
