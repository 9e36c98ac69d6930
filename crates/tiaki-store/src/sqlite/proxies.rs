//! Proxy and guardian grants on SQLite (the SQL is shared with PostgreSQL).

use super::{BEGIN_WRITE, SqliteStore, audit};
use crate::error::StoreError;
use sqlx::SqliteConnection;
use tiaki_audit::AuditEvent;

/// Adds the grant's audit event to its transaction.
async fn append_in(conn: &mut SqliteConnection, event: &AuditEvent) -> Result<u64, StoreError> {
    audit::insert_event(conn, event).await
}

crate::proxies_impl::impl_proxy_store!(SqliteStore, |pool| pool.begin_with(BEGIN_WRITE));
