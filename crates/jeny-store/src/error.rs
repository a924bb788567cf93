//! Store errors. Every sqlx error is classified once, here: unreachable database -> `Unavailable`
//! (the HTTP layer answers 503 and the request can be retried), unique violation -> `Conflict`
//! (the concept turns it into its own domain error), anything else -> `Database` (a 500 whose
//! details are logged, never sent).

use jeny_core::{DomainError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("a row with the same unique key already exists ({constraint})")]
    Conflict { constraint: String },
    #[error("text with a NUL character cannot be stored or searched for")]
    InvalidText(#[source] sqlx::Error),
    /// PostgreSQL gave up on a transaction to keep others consistent (a serialization failure,
    /// 40001, or a deadlock, 40P01): running it again normally succeeds. `Store::write` does so.
    #[error("the database aborted a transaction that collided with another; retry it")]
    Contention(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("stored data is not what jeny expects: {0}")]
    Corrupt(String),
    #[error("migration {version} ({name}) differs from the one applied to this database")]
    MigrationChanged { version: i64, name: String },
    #[error("this database has migration {0}, newer than this jeny knows; upgrade jeny")]
    MigrationFromTheFuture(i64),
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// A collision between transactions that running the transaction again resolves.
    pub fn is_contention(&self) -> bool {
        matches!(self, StoreError::Contention(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        if let Some(database_error) = error.as_database_error() {
            if database_error.is_unique_violation() {
                let constraint = database_error
                    .constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| database_error.message().to_owned());
                return StoreError::Conflict { constraint };
            }
            let code = database_error.code().unwrap_or_default();
            // PostgreSQL refuses NUL bytes in text (22021, 22P05); SQLite stores them. Input that
            // reaches a query with one is the client's mistake, not jeny's.
            if code == "22021" || code == "22P05" {
                return StoreError::InvalidText(error);
            }
            if code == "40001" || code == "40P01" {
                return StoreError::Contention(error);
            }
            // PostgreSQL: class 08 connection exceptions, 57P admin shutdown / cannot connect now,
            // 53 insufficient resources. SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED after the timeout.
            // SQLite reports extended codes as decimal numbers (261 = BUSY_RECOVERY, 517 =
            // BUSY_SNAPSHOT, ...) whose low byte is the primary code; PostgreSQL's SQLSTATEs always
            // have five characters, SQLite's codes at most four digits.
            let sqlite_primary = (code.len() < 5)
                .then(|| code.parse::<i64>().ok())
                .flatten()
                .map(|extended| extended & 0xff);
            let unreachable = code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || matches!(sqlite_primary, Some(5 | 6));
            if unreachable {
                return StoreError::Unavailable(error);
            }
            return StoreError::Database(error);
        }
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            other => StoreError::Database(other),
        }
    }
}

/// An error that may be a store's contention error, so that `Store::write` knows when running
/// a transaction again can help.
pub trait MaybeContention {
    fn is_contention(&self) -> bool;
}

impl MaybeContention for StoreError {
    fn is_contention(&self) -> bool {
        StoreError::is_contention(self)
    }
}

impl DomainError for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::Unavailable(_) | StoreError::Contention(_) => ErrorCode::Unavailable,
            StoreError::Conflict { .. } => ErrorCode::Conflict,
            StoreError::InvalidText(_) => ErrorCode::InvalidInput,
            _ => ErrorCode::Internal,
        }
    }
}
