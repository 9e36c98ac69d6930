//! The one error type of the storage layer.
//!
//! Messages are for operators' logs, so they carry ids, constraint names and error codes
//! but never a value from a row: no names, NHIs, e-mail addresses or password hashes.
//! That is why database errors are described by code and constraint, not by the
//! driver's message (PostgreSQL's detail lines quote the offending values).

use tiaki_audit::AuditError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or referential constraint refused the write (username taken, duplicate
    /// NHI, a row that references a missing one).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row or object to update, revoke or read does not exist.
    #[error("not found")]
    NotFound,
    /// The database or the blob store could not be reached or failed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored row or object failed to parse back into its type.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt(what.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) => from_database(db.as_ref()),
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::ColumnDecode { index, .. } => {
                Self::Corrupt(format!("column {index} failed to decode"))
            }
            sqlx::Error::ColumnNotFound(column) => {
                Self::Corrupt(format!("column {column} is missing"))
            }
            sqlx::Error::Decode(_) => Self::Corrupt("a value failed to decode".into()),
            sqlx::Error::Encode(_) => Self::Unavailable("a value failed to encode".into()),
            sqlx::Error::Io(io) => Self::Unavailable(format!("database i/o: {}", io.kind())),
            sqlx::Error::PoolTimedOut => Self::Unavailable("database pool timed out".into()),
            sqlx::Error::PoolClosed => Self::Unavailable("database pool closed".into()),
            sqlx::Error::Tls(_) => Self::Unavailable("database tls failed".into()),
            sqlx::Error::Protocol(_) => Self::Unavailable("database protocol error".into()),
            sqlx::Error::Configuration(_) => {
                Self::Unavailable("database configuration is invalid".into())
            }
            sqlx::Error::Migrate(m) => Self::Unavailable(format!("migration failed: {m}")),
            other => Self::Unavailable(format!("database error: {}", error_kind_name(&other))),
        }
    }
}

fn from_database(db: &dyn sqlx::error::DatabaseError) -> StoreError {
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    // PostgreSQL names the constraint; SQLite's message names only `table.column`.
    let constraint = db
        .constraint()
        .map(str::to_owned)
        .or_else(|| sqlite_constraint_columns(db.message()))
        .map_or_else(String::new, |c| format!(" ({c})"));
    match db.kind() {
        sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict(format!("already exists{constraint}"))
        }
        sqlx::error::ErrorKind::ForeignKeyViolation => {
            StoreError::Conflict(format!("references a missing row{constraint}"))
        }
        _ => StoreError::Unavailable(format!(
            "the database refused the statement (code {code}){constraint}"
        )),
    }
}

/// `UNIQUE constraint failed: patients.nhi` -> `patients.nhi`. SQLite never quotes the
/// values in these messages, only table and column names.
fn sqlite_constraint_columns(message: &str) -> Option<String> {
    message
        .strip_prefix("UNIQUE constraint failed: ")
        .map(str::to_owned)
}

fn error_kind_name(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::InvalidArgument(_) => "invalid argument",
        sqlx::Error::TypeNotFound { .. } => "type not found",
        sqlx::Error::ColumnIndexOutOfBounds { .. } => "column index out of bounds",
        sqlx::Error::WorkerCrashed => "worker crashed",
        _ => "other",
    }
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound,
            // Object store errors name paths (blob keys, which are ids) and causes, never
            // content; they are safe to log.
            other => Self::Unavailable(format!("blob store: {other}")),
        }
    }
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        AuditError::Unavailable(e.to_string())
    }
}
