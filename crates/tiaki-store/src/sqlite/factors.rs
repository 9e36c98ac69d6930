//! Passkeys, WebAuthn ceremonies, trusted devices and session factor marks on SQLite
//! (the SQL is shared with PostgreSQL).

use super::{BEGIN_WRITE, SqliteStore};

crate::factors_impl::impl_factor_store!(SqliteStore, |pool| pool.begin_with(BEGIN_WRITE));
