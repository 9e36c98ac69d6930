//! The rows the store keeps, as the rest of Tiaki sees them.
//!
//! `Debug` is written by hand wherever a row holds a name, an NHI, an e-mail address, a
//! password hash or a token hash, so `{:?}` in a log line shows ids only.

use crate::crypto_types::WrappedDataKey;
use std::fmt;
use tiaki_domain::{AccountId, ActorKind, DocumentMeta, Nhi, PatientId, PracticeId, SessionId};
use time::{Date, OffsetDateTime};

/// A general practice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practice {
    pub id: PracticeId,
    pub name: String,
    pub region: String,
}

/// A patient enrolled at one practice.
#[derive(Clone, PartialEq, Eq)]
pub struct Patient {
    pub id: PatientId,
    pub practice: PracticeId,
    pub nhi: Nhi,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Date,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for Patient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Patient")
            .field("id", &self.id)
            .field("practice", &self.practice)
            .finish_non_exhaustive()
    }
}

/// A login account. `username` is stored lower-case; lookups ignore case.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub kind: ActorKind,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// One server-side session. Only the hash of the bearer token is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub account: AccountId,
    pub token_hash: [u8; 32],
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// When a second factor was presented. `None`: a password-only session, which can
    /// do nothing but finish signing in.
    pub mfa_verified_at: Option<OffsetDateTime>,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("mfa_verified_at", &self.mfa_verified_at)
            .finish_non_exhaustive()
    }
}

/// A document's metadata with where its ciphertext lives and its wrapped data key.
#[derive(Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub meta: DocumentMeta,
    pub blob_key: String,
    /// Empty unless the document is [`DocumentState::Online`].
    pub data_key: WrappedDataKey,
    pub state: DocumentState,
}

/// Whether a document can be read online (see `archive.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentState {
    /// Its data key is wrapped by the patient key: readable with a receipt.
    Online,
    /// Its data key is sealed to the offline archive key; nothing online opens it.
    Archived,
    /// The patient's key was destroyed (crypto-shredding): nothing anywhere opens it.
    Erased,
}

impl DocumentState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Archived => "archived",
            Self::Erased => "erased",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Online, Self::Archived, Self::Erased]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl fmt::Debug for DocumentRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The title can itself be health information ("HIV test result").
        f.debug_struct("DocumentRecord")
            .field("id", &self.meta.id)
            .field("patient", &self.meta.patient)
            .field("practice", &self.meta.practice)
            .field("blob_key", &self.blob_key)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What an operator sees of a practice: counts, never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeCounts {
    pub practice: Practice,
    pub patients: u64,
    pub documents: u64,
    pub staff: u64,
}
