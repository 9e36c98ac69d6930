//! Retention, the cold archive and erasure on PostgreSQL (the SQL is shared with
//! SQLite).

use super::{PgStore, audit};
use crate::error::StoreError;
use sqlx::PgConnection;
use tiaki_audit::AuditEvent;

/// Adds an audit event to the transaction that makes the change it records, in
/// sequence order.
async fn append_in(conn: &mut PgConnection, event: &AuditEvent) -> Result<u64, StoreError> {
    audit::lock_sequence(conn).await?;
    audit::insert_event(conn, event).await
}

crate::archive_impl::impl_archive_store!(PgStore, |pool| pool.begin());
