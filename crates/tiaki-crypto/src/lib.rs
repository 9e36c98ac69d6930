//! Tiaki's cryptography: the keyring, envelope encryption of documents, streaming
//! AEAD, password hashing, session/CSRF tokens, sealed account secrets and second
//! factors (TOTP, recovery codes).
//!
//! This crate carries two of Tiaki's invariants:
//!
//! - **Ciphertext at rest, always** (invariant 4). Each document is sealed under its own
//!   random data key, which is wrapped by a per-patient key, which is wrapped by a
//!   versioned key-encryption key from the [`Keyring`]. Every wrap binds the ids of the
//!   row it belongs to, so ciphertexts and wrapped keys cannot be swapped between rows.
//! - **No plaintext without a decision and a receipt** (invariant 1).
//!   [`Vault::open_document`] is the only public path from ciphertext to plaintext, and
//!   it demands an audit [`tiaki_audit::Receipt`] for reading exactly that document's
//!   content. Every unwrapping function is private to this crate.

mod envelope;
mod error;
mod factors;
pub mod hpke;
mod keyring;
mod passwords;
mod random;
mod tokens;

pub use envelope::{ARCHIVED_LEN, ArchivedDataKey};
pub use envelope::{
    CHUNK_SIZE, ChunkOpener, ChunkSealer, DocumentContext, HEADER_LEN, SEALED_CHUNK_SIZE,
    SealedSecret, SecretPurpose, TAG_LEN, Vault, WrappedDataKey, WrappedPatientKey, open_stream,
    seal_stream, sealed_len,
};
pub use envelope::{DEFAULT_REFRESH, Refresh};
pub use envelope::{EntryContext, EntryOpener, EntryPurpose, MAX_ENTRY_LEN};
pub use error::CryptoError;
pub use factors::{
    TOTP_SECRET_LEN, TOTP_STEP_SECONDS, TotpSecret, generate_recovery_code, hash_recovery_code,
    totp_step,
};
pub use keyring::{
    FileKeySource, KekVersion, KeyLock, KeySource, Keyring, KeyringError, SourceStamp,
};
pub use passwords::PasswordHasher;
pub use secrecy::{ExposeSecret, SecretString};
pub use tokens::{MacKey, generate_token, hash_token};
