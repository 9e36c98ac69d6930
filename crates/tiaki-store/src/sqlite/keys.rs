//! Key rotation's tables on SQLite (the SQL is shared with PostgreSQL). The retirement
//! fence needs no lock of its own: `BEGIN IMMEDIATE` already waits for, and then holds
//! off, every other writer.

use super::{BEGIN_WRITE, SqliteStore};

crate::keys_impl::impl_key_store!(
    SqliteStore,
    catalog: "SELECT m.name FROM sqlite_schema AS m JOIN pragma_table_info(m.name) AS c \
              WHERE m.type = 'table' AND c.name = 'kek_version' ORDER BY m.name",
    fence: [],
    |pool| pool.begin_with(BEGIN_WRITE)
);
