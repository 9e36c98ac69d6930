//! Email addresses, one-time links and invitations on SQLite (the SQL is shared with
//! PostgreSQL).

use super::{BEGIN_WRITE, SqliteStore};

crate::mail_impl::impl_mail_store!(SqliteStore, |pool| pool.begin_with(BEGIN_WRITE));
