//! Key rotation's tables on PostgreSQL (the SQL is shared with SQLite). The retirement
//! fence locks the wrapped-key tables against writers for the moment it takes: it waits
//! for writes in flight, and any write after it sees the retired version and is refused.

use super::PgStore;

crate::keys_impl::impl_key_store!(
    PgStore,
    catalog: "SELECT table_name::text FROM information_schema.columns \
              WHERE table_schema = current_schema() AND column_name = 'kek_version' \
              ORDER BY table_name",
    fence: ["LOCK TABLE patient_keys, totp_factors IN SHARE ROW EXCLUSIVE MODE"],
    |pool| pool.begin()
);
