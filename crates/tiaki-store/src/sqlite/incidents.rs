//! Incidents, scopes and notices on SQLite (the SQL is shared with PostgreSQL).

use super::{BEGIN_WRITE, SqliteStore};

crate::incidents_impl::impl_incident_store!(SqliteStore, |pool| pool.begin_with(BEGIN_WRITE));
