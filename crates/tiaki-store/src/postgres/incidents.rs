//! Incidents, scopes and notices on PostgreSQL (the SQL is shared with SQLite).

use super::PgStore;

crate::incidents_impl::impl_incident_store!(PgStore, |pool| pool.begin());
