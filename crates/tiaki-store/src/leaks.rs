//! What leak tracing keeps in the database: keyed fingerprints of each document's
//! plaintext, looked up by digest. A sub-trait of [`crate::Store`], so every backend
//! has it and the conformance suite (`tests/store/leaks.rs`) runs on both.
//!
//! The store never sees plaintext or the key: digests are opaque 32-byte values made by
//! the core, and `kind` is one of `file`, `pdf_stream`, `pixels` (checked by the schema).

use crate::error::StoreError;
use tiaki_domain::DocumentId;

/// Most digests one lookup asks about (the core splits larger sets).
pub const LOOKUP_BATCH: usize = 500;

/// A stored fingerprint that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintHit {
    pub document: DocumentId,
    pub kind: String,
    pub digest: [u8; 32],
}

/// How many documents are indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FingerprintCoverage {
    pub documents: u64,
    pub fingerprinted: u64,
}

#[async_trait::async_trait]
pub trait LeakStore: Send + Sync {
    /// Adds `document`'s fingerprints, `(kind, digest)`, in one transaction. Adding one
    /// already there changes nothing, so indexing twice is harmless. An unknown
    /// document or kind is an error and adds nothing.
    async fn fingerprints_put(
        &self,
        document: DocumentId,
        prints: &[(&str, [u8; 32])],
    ) -> Result<(), StoreError>;

    /// Every stored fingerprint whose digest is among `digests` (at most
    /// [`LOOKUP_BATCH`]; more is an error).
    async fn fingerprints_find(
        &self,
        digests: &[[u8; 32]],
    ) -> Result<Vec<FingerprintHit>, StoreError>;

    /// Whether `document` has any fingerprint.
    async fn document_fingerprinted(&self, document: DocumentId) -> Result<bool, StoreError>;

    /// Up to `limit` documents without fingerprints whose id sorts after `after`, in id
    /// order: a resumable walk over what is left to index.
    async fn documents_unfingerprinted(
        &self,
        after: Option<DocumentId>,
        limit: u32,
    ) -> Result<Vec<DocumentId>, StoreError>;

    async fn fingerprint_coverage(&self) -> Result<FingerprintCoverage, StoreError>;
}
