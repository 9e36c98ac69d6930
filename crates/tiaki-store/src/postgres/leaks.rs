//! Leak-tracing fingerprints on PostgreSQL (the SQL is shared with SQLite).

use super::PgStore;

crate::leaks_impl::impl_leak_store!(PgStore, |pool| pool.begin());
