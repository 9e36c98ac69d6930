//! Leak-tracing fingerprints on SQLite (the SQL is shared with PostgreSQL).

use super::{BEGIN_WRITE, SqliteStore};

crate::leaks_impl::impl_leak_store!(SqliteStore, |pool| pool.begin_with(BEGIN_WRITE));
