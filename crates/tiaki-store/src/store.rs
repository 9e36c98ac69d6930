//! The `Store` trait: everything Tiaki keeps in its database, one backend chosen at
//! start-up. Both backends pass the same conformance suite (`tests/store.rs`).

use crate::crypto_types::WrappedPatientKey;
use crate::error::StoreError;
use crate::model::{Account, DocumentRecord, Patient, Practice, PracticeCounts, SessionRecord};
use std::collections::HashSet;
use tiaki_audit::{AuditEvent, AuditSink};
use tiaki_domain::{AccountId, DocumentId, DocumentMeta, PatientId, PracticeId, SessionId};
use time::OffsetDateTime;

/// Tiaki's database. The audit log appends through the same store (it is an
/// [`AuditSink`]), so a document and the event recording its upload commit together.
#[async_trait::async_trait]
pub trait Store:
    AuditSink
    + tiaki_audit::LogStorage
    + crate::auth::AuthStore
    + crate::factors::FactorStore
    + crate::mail::MailStore
    + crate::guard::GuardStore
    + crate::incidents::IncidentStore
    + crate::keys::KeyStore
    + crate::leaks::LeakStore
    + crate::proxies::ProxyStore
    + crate::archive::ArchiveStore
    + Send
    + Sync
    + 'static
{
    // --- practices -------------------------------------------------------------------

    async fn practice_insert(&self, p: &Practice) -> Result<(), StoreError>;
    /// All practices, by name.
    async fn practices(&self) -> Result<Vec<Practice>, StoreError>;
    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError>;

    // --- patients --------------------------------------------------------------------

    /// Inserts the patient and its wrapped key in one transaction.
    async fn patient_insert(&self, p: &Patient, key: &WrappedPatientKey) -> Result<(), StoreError>;
    async fn patient(&self, id: PatientId) -> Result<Option<Patient>, StoreError>;
    async fn patient_key(&self, id: PatientId) -> Result<Option<WrappedPatientKey>, StoreError>;
    /// Patients of `practice` only. A query that parses as an NHI matches that NHI
    /// exactly; anything else is a case- and macron-insensitive prefix of the given
    /// name, the family name or "given family". An empty query matches nobody (a list
    /// of every patient is not a search). Ordered by family name, then given name; at
    /// most `limit` rows, and never more than 1,000.
    async fn patient_search(
        &self,
        practice: PracticeId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Patient>, StoreError>;
    /// Every practice with its numbers of patients, documents and staff accounts.
    async fn platform_counts(&self) -> Result<Vec<PracticeCounts>, StoreError>;

    // --- accounts and sessions -------------------------------------------------------

    /// Stores the username lower-cased; a taken username is a `Conflict`.
    async fn account_insert(&self, a: &Account) -> Result<(), StoreError>;
    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// Case-insensitive.
    async fn account_by_username(&self, username: &str) -> Result<Option<Account>, StoreError>;
    async fn session_insert(&self, s: &SessionRecord) -> Result<(), StoreError>;
    async fn session_by_token_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Sets `last_seen_at`; `NotFound` if there is no such session.
    async fn session_touch(&self, id: SessionId, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Sets `revoked_at` (the first revocation time is kept); `NotFound` if there is no
    /// such session.
    async fn session_revoke(&self, id: SessionId, at: OffsetDateTime) -> Result<(), StoreError>;

    // --- documents -------------------------------------------------------------------

    /// Metadata, wrapped data key and the audit event in one transaction; returns the
    /// event's sequence number. Either all of it is durable or none of it.
    async fn document_insert(
        &self,
        doc: &DocumentRecord,
        event: &AuditEvent,
    ) -> Result<u64, StoreError>;
    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRecord>, StoreError>;
    /// A patient's documents, newest first.
    async fn documents_of(&self, patient: PatientId) -> Result<Vec<DocumentMeta>, StoreError>;
    /// Which of `keys` some document row references (the orphan sweep asks in batches).
    /// An erased document's blob counts as unreferenced: its key is gone, so is it.
    async fn blob_keys_known(&self, keys: &[String]) -> Result<HashSet<String>, StoreError>;

    // --- audit -----------------------------------------------------------------------

    /// Events about `patient`, newest first, with their sequence numbers; at most
    /// `limit` (and never more than 1,000).
    async fn audit_events_of_patient(
        &self,
        patient: PatientId,
        limit: u32,
    ) -> Result<Vec<(u64, AuditEvent)>, StoreError>;
    async fn audit_count(&self) -> Result<u64, StoreError>;

    // --- settings and health ---------------------------------------------------------

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Inserts or replaces.
    async fn setting_put(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}
