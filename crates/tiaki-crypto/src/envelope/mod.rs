//! Envelope encryption of documents: the vault.
//!
//! Three layers of keys (invariant 4):
//!
//! ```text
//! KEK (keyring, versioned)  --wraps-->  patient key (one per patient, in the database)
//! patient key               --wraps-->  data key (one per document, in the database)
//! data key                  --seals-->  the document body (blob store, see chunk.rs)
//! ```
//!
//! Each wrap is AES-256-GCM whose associated data names the row it belongs to (see
//! `wrap.rs`), so a wrapped key or a blob copied onto another row fails to open.
//!
//! Invariant 1 lives here: [`Vault::open_document`] is the only public way from
//! ciphertext to plaintext, and it requires an audit [`Receipt`] for
//! [`Action::ReadDocumentContent`] on exactly this document. Sealing needs no receipt:
//! it yields only ciphertext and a wrapped key. Nothing in the public API returns an
//! unwrapped key.
//!
//! Key rotation happens under a running vault: a vault that follows its key source
//! (see `live.rs`) takes up new KEK versions without a restart, wraps only with the
//! newest active version, and looks again at once when it meets a row wrapped under a
//! version it does not hold yet.

mod archive;
mod chunk;
mod entry;
mod live;
mod secret;
mod stream;
mod wrap;

pub use archive::{ARCHIVED_LEN, ArchivedDataKey};
pub use chunk::{
    CHUNK_SIZE, ChunkOpener, ChunkSealer, HEADER_LEN, SEALED_CHUNK_SIZE, TAG_LEN, sealed_len,
};
pub use entry::{EntryContext, EntryOpener, EntryPurpose, MAX_ENTRY_LEN};
pub use live::{DEFAULT_REFRESH, Refresh};
pub use secret::{SealedSecret, SecretPurpose};
pub use stream::{open_stream, seal_stream};

use crate::error::CryptoError;
use crate::keyring::{KekVersion, KeySource, Keyring, KeyringError};
use crate::random;
use crate::tokens::MacKey;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tiaki_audit::Receipt;
use tiaki_domain::{Action, DocumentId, PatientId, PracticeId, SessionId, Target};
use wrap::{KeyKind, data_key_ad, patient_key_ad};
use zeroize::Zeroizing;

/// A patient key wrapped by the KEK of `kek_version`. Stored in the database beside the
/// patient; useless without the keyring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedPatientKey {
    pub kek_version: KekVersion,
    pub bytes: Vec<u8>,
}

/// A document's data key wrapped by its patient's key. Stored beside the document's
/// metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedDataKey(pub Vec<u8>);

/// The row a document belongs to. Bound into the data key's wrap and every chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentContext {
    pub document: DocumentId,
    pub patient: PatientId,
    pub practice: PracticeId,
}

/// Seals and opens documents with the keys of one keyring. Cheap to clone (clones share
/// the keys, and whatever source they follow).
#[derive(Clone)]
pub struct Vault {
    keys: Arc<live::LiveKeys>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("keyring", &self.keys.current())
            .field("source", &self.keys.source())
            .finish()
    }
}

impl Vault {
    /// A vault with a fixed keyring. Call [`Vault::follow`] to have it take up changes
    /// (the server does, so a rotation needs no restart).
    #[must_use]
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keys: Arc::new(live::LiveKeys::new(keyring)),
        }
    }

    /// Follows `source` from now on (see `live.rs` for when it looks): before a wrap
    /// if it last looked more than `every` ago, and at once on meeting a KEK version it
    /// does not hold. Every clone of this vault follows it. Returns false, changing
    /// nothing, if the vault already follows a source.
    pub fn follow(&self, source: Arc<dyn KeySource>, every: Duration) -> bool {
        self.keys.follow(source, every)
    }

    /// Looks at the followed source now and takes up a changed keyring.
    pub fn refresh(&self) -> Result<Refresh, KeyringError> {
        self.keys.refresh()
    }

    /// The source this vault follows, if any.
    #[must_use]
    pub fn source(&self) -> Option<Arc<dyn KeySource>> {
        self.keys.source()
    }

    /// The file the vault's keyring was loaded from, if it came from one.
    #[must_use]
    pub fn keyring_path(&self) -> Option<PathBuf> {
        self.keys.current().path().map(ToOwned::to_owned)
    }

    /// The KEK version new patient keys are wrapped under.
    #[must_use]
    pub fn active_version(&self) -> KekVersion {
        self.keys.current().active_version()
    }

    /// Every KEK version the keyring holds.
    #[must_use]
    pub fn versions(&self) -> Vec<KekVersion> {
        self.keys.current().versions()
    }

    /// The keyring's MAC handle (CSRF tokens, cookies, fingerprints). The MAC key never
    /// changes under a running vault: a keyring with another one is refused.
    #[must_use]
    pub fn mac_key(&self) -> MacKey {
        self.keys.current().mac_key()
    }

    /// A CSRF token bound to `session`. See [`MacKey::csrf_token`].
    #[must_use]
    pub fn csrf_token(&self, session: &SessionId) -> String {
        self.keys.current().csrf_token(session)
    }

    /// Whether `presented` is the CSRF token for `session`. See [`MacKey::verify_csrf`].
    #[must_use]
    pub fn verify_csrf(&self, session: &SessionId, presented: &str) -> bool {
        self.keys.current().verify_csrf(session, presented)
    }

    /// A new random patient key, wrapped by the active KEK and bound to the patient and
    /// the practice holding their record.
    pub fn new_patient_key(
        &self,
        patient: PatientId,
        practice: PracticeId,
    ) -> Result<WrappedPatientKey, CryptoError> {
        let key = random::key()?;
        self.wrap_patient_key(&key, patient, practice)
    }

    /// Re-wraps a patient key under the active KEK (KEK rotation). The key itself does not
    /// change, so every data key it wraps stays valid; no plaintext key leaves the vault.
    /// A key already under the active version is wrapped afresh all the same.
    pub fn rewrap_patient_key(
        &self,
        wrapped: &WrappedPatientKey,
        patient: PatientId,
        practice: PracticeId,
    ) -> Result<WrappedPatientKey, CryptoError> {
        let key = self.unwrap_patient_key(wrapped, patient, practice)?;
        self.wrap_patient_key(&key, patient, practice)
    }

    /// Starts sealing a new document: a fresh random data key, wrapped by the patient's
    /// key and bound to `ctx`, and a sealer that encrypts the body under it. Store the
    /// wrapped data key with the document's metadata.
    pub fn seal_document(
        &self,
        patient_key: &WrappedPatientKey,
        ctx: &DocumentContext,
    ) -> Result<(WrappedDataKey, ChunkSealer), CryptoError> {
        let patient = self.unwrap_patient_key(patient_key, ctx.patient, ctx.practice)?;
        let data_key = random::key()?;
        let wrapped = wrap::wrap(&patient, &data_key, &data_key_ad(ctx))?;
        Ok((WrappedDataKey(wrapped), ChunkSealer::new(&data_key, ctx)))
    }

    /// Opens a document for reading — the only way to plaintext. The receipt must record
    /// an allowed [`Action::ReadDocumentContent`] of exactly this document, patient and
    /// practice; anything else is refused before any key is touched. The keys and blob
    /// must then belong to `ctx`, or opening fails cryptographically.
    pub fn open_document(
        &self,
        receipt: &Receipt,
        patient_key: &WrappedPatientKey,
        data_key: &WrappedDataKey,
        ctx: &DocumentContext,
    ) -> Result<ChunkOpener, CryptoError> {
        if !receipt_covers(receipt, ctx) {
            return Err(CryptoError::NotAuthorized);
        }
        let patient = self.unwrap_patient_key(patient_key, ctx.patient, ctx.practice)?;
        let data = wrap::unwrap(&patient, &data_key.0, &data_key_ad(ctx), KeyKind::Data)?;
        Ok(ChunkOpener::new(&data, ctx))
    }

    fn wrap_patient_key(
        &self,
        key: &[u8; 32],
        patient: PatientId,
        practice: PracticeId,
    ) -> Result<WrappedPatientKey, CryptoError> {
        let keys = self.keys.for_wrapping();
        let (version, kek) = keys
            .active_kek()
            .ok_or(CryptoError::UnknownKeyVersion(keys.active_version()))?;
        let bytes = wrap::wrap(
            kek.expose(),
            key,
            &patient_key_ad(patient, practice, version),
        )?;
        Ok(WrappedPatientKey {
            kek_version: version,
            bytes,
        })
    }

    /// Private by design: a plaintext patient key never leaves this module.
    fn unwrap_patient_key(
        &self,
        wrapped: &WrappedPatientKey,
        patient: PatientId,
        practice: PracticeId,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let keys = self
            .keys
            .holding(wrapped.kek_version)
            .ok_or(CryptoError::UnknownKeyVersion(wrapped.kek_version))?;
        let kek = keys
            .kek(wrapped.kek_version)
            .ok_or(CryptoError::UnknownKeyVersion(wrapped.kek_version))?;
        wrap::unwrap(
            kek.expose(),
            &wrapped.bytes,
            &patient_key_ad(patient, practice, wrapped.kek_version),
            KeyKind::Patient,
        )
    }
}

/// Whether `receipt` records reading the content of exactly the document in `ctx`.
fn receipt_covers(receipt: &Receipt, ctx: &DocumentContext) -> bool {
    receipt.action() == Action::ReadDocumentContent
        && *receipt.target()
            == Target::Document {
                document: ctx.document,
                patient: ctx.patient,
                practice: ctx.practice,
            }
}
