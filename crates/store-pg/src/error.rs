//! The store's error type.

use call_domain::DirectoryError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be obtained from the pool in time (database down or unreachable).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answers, but this many requests already wait (the overload limit): the
    /// request was shed.
    #[error("database busy: {0} requests already waiting")]
    Busy(usize),
    /// The operation did not finish within the configured timeout.
    #[error("database operation timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Establishing a connection failed.
    #[error("database connection failed: {0}")]
    Connection(#[from] diesel::ConnectionError),
    /// Running the migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// A record cannot be stored as given (for example, more participations than a column
    /// can number).
    #[error("invalid record: {0}")]
    Invalid(String),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(_) => DirectoryError::busy(e.to_string()),
            e => DirectoryError::unavailable(e.to_string()),
        }
    }
}
