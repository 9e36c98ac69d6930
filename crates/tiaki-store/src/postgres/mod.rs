//! The scale backend: PostgreSQL.
//!
//! Same schema shape and semantics as SQLite (see `migrations/postgres`), so the
//! conformance suite runs unchanged; PostgreSQL-specific pieces are the `date` and
//! `COLLATE "C"` columns, `= ANY($1)` batches, and the advisory lock that keeps audit
//! sequence numbers in commit order.

mod accounts;
mod archive;
mod audit;
mod auth;
mod documents;
mod factors;
mod guard;
mod incidents;
mod keys;
mod leaks;
mod mail;
mod patients;
mod proxies;

use crate::crypto_types::WrappedPatientKey;
use crate::error::StoreError;
use crate::model::{Account, DocumentRecord, Patient, Practice, PracticeCounts, SessionRecord};
use crate::store::Store;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tiaki_audit::{AuditError, AuditEvent, AuditSink};
use tiaki_domain::{AccountId, DocumentId, DocumentMeta, PatientId, PracticeId, SessionId};
use time::OffsetDateTime;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Tiaki's store in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    host: String,
    port: u16,
    database: Option<String>,
    username: String,
}

/// Shows where the store points, never the password.
impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names and brings its schema up to
    /// date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("tiaki");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        Ok(Self {
            pool,
            host: options.get_host().to_owned(),
            port: options.get_port(),
            database: options.get_database().map(str::to_owned),
            username: options.get_username().to_owned(),
        })
    }

    /// Closes the pool's connections (tests call it before dropping their database).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait::async_trait]
impl AuditSink for PgStore {
    async fn append(&self, events: &[AuditEvent]) -> Result<Vec<u64>, AuditError> {
        Ok(audit::append(&self.pool, events).await?)
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn practice_insert(&self, p: &Practice) -> Result<(), StoreError> {
        patients::practice_insert(&self.pool, p).await
    }

    async fn practices(&self) -> Result<Vec<Practice>, StoreError> {
        patients::practices(&self.pool).await
    }

    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError> {
        patients::practice(&self.pool, id).await
    }

    async fn patient_insert(&self, p: &Patient, key: &WrappedPatientKey) -> Result<(), StoreError> {
        patients::patient_insert(&self.pool, p, key).await
    }

    async fn patient(&self, id: PatientId) -> Result<Option<Patient>, StoreError> {
        patients::patient(&self.pool, id).await
    }

    async fn patient_key(&self, id: PatientId) -> Result<Option<WrappedPatientKey>, StoreError> {
        patients::patient_key(&self.pool, id).await
    }

    async fn patient_search(
        &self,
        practice: PracticeId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Patient>, StoreError> {
        patients::search(&self.pool, practice, query, limit).await
    }

    async fn platform_counts(&self) -> Result<Vec<PracticeCounts>, StoreError> {
        patients::platform_counts(&self.pool).await
    }

    async fn account_insert(&self, a: &Account) -> Result<(), StoreError> {
        accounts::account_insert(&self.pool, a).await
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        accounts::account(&self.pool, id).await
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<Account>, StoreError> {
        accounts::account_by_username(&self.pool, username).await
    }

    async fn session_insert(&self, s: &SessionRecord) -> Result<(), StoreError> {
        accounts::session_insert(&self.pool, s).await
    }

    async fn session_by_token_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        accounts::session_by_token_hash(&self.pool, hash).await
    }

    async fn session_touch(&self, id: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        accounts::session_touch(&self.pool, id, at).await
    }

    async fn session_revoke(&self, id: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        accounts::session_revoke(&self.pool, id, at).await
    }

    async fn document_insert(
        &self,
        doc: &DocumentRecord,
        event: &AuditEvent,
    ) -> Result<u64, StoreError> {
        documents::document_insert(&self.pool, doc, event).await
    }

    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRecord>, StoreError> {
        documents::document(&self.pool, id).await
    }

    async fn documents_of(&self, patient: PatientId) -> Result<Vec<DocumentMeta>, StoreError> {
        documents::documents_of(&self.pool, patient).await
    }

    async fn blob_keys_known(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        documents::blob_keys_known(&self.pool, keys).await
    }

    async fn audit_events_of_patient(
        &self,
        patient: PatientId,
        limit: u32,
    ) -> Result<Vec<(u64, AuditEvent)>, StoreError> {
        audit::events_of_patient(&self.pool, patient, limit).await
    }

    async fn audit_count(&self) -> Result<u64, StoreError> {
        audit::count(&self.pool).await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn setting_put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
