//! Email addresses, one-time links and invitations on PostgreSQL (the SQL is shared with
//! SQLite).

use super::PgStore;

crate::mail_impl::impl_mail_store!(PgStore, |pool| pool.begin());
