//! Retention, the cold archive and erasure on SQLite (the SQL is shared with
//! PostgreSQL).

use super::{BEGIN_WRITE, SqliteStore, audit};
use crate::error::StoreError;
use sqlx::SqliteConnection;
use tiaki_audit::AuditEvent;

/// Adds an audit event to the transaction that makes the change it records.
async fn append_in(conn: &mut SqliteConnection, event: &AuditEvent) -> Result<u64, StoreError> {
    audit::insert_event(conn, event).await
}

crate::archive_impl::impl_archive_store!(SqliteStore, |pool| pool.begin_with(BEGIN_WRITE));
