//! The guard's tables on SQLite (the SQL is shared with PostgreSQL).

use super::{BEGIN_WRITE, SqliteStore};

crate::guard_impl::impl_guard_store!(SqliteStore, many_nodes: false, |pool| pool.begin_with(BEGIN_WRITE));
