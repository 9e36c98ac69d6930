//! Tiaki's storage: the [`Store`] trait with its SQLite and PostgreSQL backends, and the
//! [`BlobStore`] that holds document ciphertext.
//!
//! The backend is chosen once, at start-up, from a URL ([`open_store`]); both run the
//! same conformance suite (`tests/store.rs`). The database holds metadata, wrapped keys
//! and the audit log; blobs hold only ciphertext. Nothing here logs or reports a name,
//! an NHI or a password: errors carry ids and constraint names only.

pub mod archive;
mod archive_impl;
pub mod auth;
mod auth_rows;
pub mod blob;
mod codec;
pub mod crypto_types;
mod error;
pub mod factors;
mod factors_impl;
pub mod guard;
mod guard_impl;
pub mod incidents;
mod incidents_impl;
pub mod keys;
mod keys_impl;
pub mod leaks;
mod leaks_impl;
pub mod mail;
mod mail_impl;
pub mod model;
mod open;
pub mod postgres;
pub mod proxies;
mod proxies_impl;
mod rows;
mod search;
pub mod sqlite;
mod store;
pub mod testing;

pub use archive::{
    ArchiveEntry, ArchiveItem, ArchiveStore, Erasure, Resolution, RetentionCutoff, RetrievalRequest,
};
pub use auth::{AuthStore, LoginFailureId, LoginSubject, ThrottleFacts, ThrottleQuery, TotpFactor};
pub use blob::{BlobStore, S3Config, SweepReport};
pub use crypto_types::{KekVersion, WrappedDataKey, WrappedPatientKey};
pub use error::StoreError;
pub use guard::{
    Alert, Canary, CanaryKind, Containment, CounterDelta, CounterTotals, Counts, GuardStore,
    ModuleState, ModuleSwitch, Severity,
};
pub use incidents::{
    Incident, IncidentAccess, IncidentScope, IncidentStore, Notice, NoticeCounts, NoticeDraft,
    NoticeRecipient, NoticeState, PublishRefusal, ScopeQuery,
};
pub use keys::{
    KekNode, KekRows, KeyStore, PatientKeyRewrap, PatientKeyRow, SealedSecretRewrap,
    SealedSecretRow,
};
pub use leaks::{FingerprintCoverage, FingerprintHit, LeakStore};
pub use mail::{AccountEmail, EmailToken, Invitation, MailStore, Redeemed, TokenPurpose};
pub use model::{
    Account, DocumentRecord, DocumentState, Patient, Practice, PracticeCounts, SessionRecord,
};
pub use open::open_store;
pub use postgres::PgStore;
pub use proxies::ProxyStore;
pub use sqlite::SqliteStore;
pub use store::Store;
