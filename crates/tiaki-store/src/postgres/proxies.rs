//! Proxy and guardian grants on PostgreSQL (the SQL is shared with SQLite).

use super::{PgStore, audit};
use crate::error::StoreError;
use sqlx::PgConnection;
use tiaki_audit::AuditEvent;

/// Adds the grant's audit event to its transaction, in sequence order.
async fn append_in(conn: &mut PgConnection, event: &AuditEvent) -> Result<u64, StoreError> {
    audit::lock_sequence(conn).await?;
    audit::insert_event(conn, event).await
}

crate::proxies_impl::impl_proxy_store!(PgStore, |pool| pool.begin());
