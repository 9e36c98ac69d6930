//! What retention, the cold archive and crypto-shredding keep in the database. A
//! sub-trait of [`crate::Store`], so every backend has it and the conformance suite
//! (`tests/store/archive.rs`) runs on both.
//!
//! Every change of a document's state commits with its audit event, in one
//! transaction, and only from the state it was read in: a document archived, restored
//! or erased by someone else meanwhile is skipped, never clobbered. The database itself
//! refuses an archived or erased row that still carries a wrapped data key.

use crate::crypto_types::WrappedDataKey;
use crate::error::StoreError;
use crate::model::{DocumentRecord, DocumentState};
use tiaki_audit::AuditEvent;
use tiaki_crypto::ArchivedDataKey;
use tiaki_domain::{AccountId, DocumentId, DocumentKind, DocumentMeta, PatientId, PracticeId};
use time::OffsetDateTime;

/// The most rows one listing returns.
pub const ARCHIVE_LIST_LIMIT: u32 = 1_000;

/// One retention rule made concrete: online documents of `kind` created before
/// `before` are due for the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionCutoff {
    pub kind: DocumentKind,
    pub before: OffsetDateTime,
}

/// An archived document's sealed data key, and to which archive key it was sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    pub document: DocumentId,
    pub patient: PatientId,
    /// The X25519 public key the data key was sealed to.
    pub archive_key: [u8; 32],
    pub sealed_key: ArchivedDataKey,
    /// Which rule archived it (e.g. `discharge_summary:6y`).
    pub rule: String,
    pub archived_at: OffsetDateTime,
}

/// One document to archive: its entry, the wrapped key its row must still hold (so a
/// row changed meanwhile is skipped), and the audit event to record with it.
#[derive(Debug, Clone)]
pub struct ArchiveItem {
    pub entry: ArchiveEntry,
    pub expected_data_key: WrappedDataKey,
    pub event: AuditEvent,
}

/// How a retrieval request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The document was brought back online.
    Restored,
    /// The patient's record was erased: there is nothing to bring back.
    Erased,
}

impl Resolution {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restored => "restored",
            Self::Erased => "erased",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Restored, Self::Erased]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A request to bring an archived document back online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrievalRequest {
    pub id: uuid::Uuid,
    pub document: DocumentId,
    pub patient: PatientId,
    pub practice: PracticeId,
    pub requested_by: AccountId,
    pub requested_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolution: Option<Resolution>,
}

/// What erasing a patient did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub patient: PatientId,
    pub erased_at: OffsetDateTime,
    /// How many documents became unreadable.
    pub documents: u64,
    /// Their ciphertext, for the caller to delete (the sweep removes any it misses).
    pub blob_keys: Vec<String>,
}

#[async_trait::async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Online documents `cutoff` makes due whose id is above `after`, by id; at most
    /// `limit` (and never more than [`ARCHIVE_LIST_LIMIT`]).
    async fn archive_due(
        &self,
        cutoff: &RetentionCutoff,
        after: Option<DocumentId>,
        limit: u32,
    ) -> Result<Vec<DocumentRecord>, StoreError>;

    /// How many online documents `cutoff` makes due.
    async fn archive_due_count(&self, cutoff: &RetentionCutoff) -> Result<u64, StoreError>;

    /// Archives a batch in one transaction: each document still online with exactly
    /// its expected wrapped key loses that key, becomes archived, gets its sealed key
    /// stored and its event recorded. Returns the ids archived; the others had changed
    /// meanwhile and are left as they are.
    async fn archive_commit(&self, items: &[ArchiveItem]) -> Result<Vec<DocumentId>, StoreError>;

    /// The sealed key of an archived document.
    async fn archive_entry(&self, document: DocumentId)
    -> Result<Option<ArchiveEntry>, StoreError>;

    /// Brings an archived document back online with `data_key`, in one transaction
    /// with `event`: the sealed key is dropped and an open retrieval request resolved.
    /// `false` (and nothing changed) if the document is not archived.
    async fn archive_restore(
        &self,
        document: DocumentId,
        data_key: &WrappedDataKey,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Crypto-shredding, in one transaction with `event`: the patient's key is deleted,
    /// every document of theirs becomes erased (no wrapped key left), their archived
    /// keys are deleted, open retrieval requests resolved, and the erasure recorded with
    /// the operator's `reason`. `None` (and nothing changed) if there is no such
    /// patient or they were erased before.
    async fn patient_erase(
        &self,
        patient: PatientId,
        reason: &str,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<Option<Erasure>, StoreError>;

    /// When a patient was erased, if they were.
    async fn patient_erased_at(
        &self,
        patient: PatientId,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Records a retrieval request with its event, in one transaction. If one is
    /// already open for the document, that one is answered and nothing is stored (the
    /// event is still recorded: someone asked).
    async fn retrieval_request(
        &self,
        request: &RetrievalRequest,
        event: &AuditEvent,
    ) -> Result<RetrievalRequest, StoreError>;

    /// A patient's retrieval requests, open and resolved, newest first; at most
    /// [`ARCHIVE_LIST_LIMIT`].
    async fn retrieval_requests_of(
        &self,
        patient: PatientId,
    ) -> Result<Vec<RetrievalRequest>, StoreError>;

    /// Open retrieval requests everywhere, oldest first; at most `limit`.
    async fn retrieval_requests_open(
        &self,
        limit: u32,
    ) -> Result<Vec<RetrievalRequest>, StoreError>;

    /// A patient's documents with their states, newest first.
    async fn documents_with_state_of(
        &self,
        patient: PatientId,
    ) -> Result<Vec<(DocumentMeta, DocumentState)>, StoreError>;
}
