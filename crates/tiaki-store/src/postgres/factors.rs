//! Passkeys, WebAuthn ceremonies, trusted devices and session factor marks on
//! PostgreSQL (the SQL is shared with SQLite).

use super::PgStore;

crate::factors_impl::impl_factor_store!(PgStore, |pool| pool.begin());
