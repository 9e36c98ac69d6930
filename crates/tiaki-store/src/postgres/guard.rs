//! The guard's tables on PostgreSQL (the SQL is shared with SQLite).

use super::PgStore;

crate::guard_impl::impl_guard_store!(PgStore, many_nodes: true, |pool| pool.begin());
