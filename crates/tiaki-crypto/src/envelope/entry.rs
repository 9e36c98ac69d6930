//! Small clinical texts sealed under the patient's key: health record entries, message
//! bodies, repeat prescription notes. The database holds only their ciphertext, so a
//! copy of it (or a backup) reads as nothing without the keyring; erasing the patient's
//! key erases them with everything else of theirs.
//!
//! The AES key is not the patient key itself but a subkey derived from it
//! (`HMAC-SHA256(patient key, "tiaki/v1/kdf" 0x00 "entry")`), so nothing sealed here can
//! be confused with a wrapped data key. The associated data names the kind of entry,
//! its id, the patient and the practice: a sealed body copied onto another row, another
//! patient or another kind fails to open.
//!
//! Invariant 1 holds here as for documents: sealing needs no receipt (it yields only
//! ciphertext), but the only way to open is an [`EntryOpener`], which the vault makes
//! only for an audit [`Receipt`] of an allowed read of exactly this patient's record.
//!
//! A sealed entry is `0x01 ‖ nonce (12) ‖ AES-256-GCM(body) ‖ tag (16)`.

use super::{Vault, WrappedPatientKey};
use crate::error::CryptoError;
use crate::random;
use crate::tokens::keyed_hmac;
use aes_gcm::aead::{AeadInOut, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit};
use hmac::Mac;
use tiaki_audit::Receipt;
use tiaki_domain::{Action, PatientId, PracticeId, Target};
use uuid::Uuid;
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The largest body sealed here (a long visit summary or message); larger content
/// belongs in a document.
pub const MAX_ENTRY_LEN: usize = 64 * 1024;

/// What a sealed body is. Bound into the associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryPurpose {
    /// One entry of the health record.
    Record,
    /// One secure message's body.
    Message,
    /// A repeat prescription request's note and the clinician's reason.
    Prescription,
}

impl EntryPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Record => b"record",
            Self::Message => b"message",
            Self::Prescription => b"prescription",
        }
    }

    /// Whether a receipt for `action` lets its holder read bodies of this purpose.
    fn opened_by(self, action: Action) -> bool {
        match self {
            Self::Record => matches!(
                action,
                Action::ReadRecords | Action::ViewPrescriptions | Action::RequestPrescription
            ),
            Self::Message => action == Action::ReadMessages,
            Self::Prescription => action == Action::ViewPrescriptions,
        }
    }
}

/// The row a sealed body belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryContext {
    pub purpose: EntryPurpose,
    pub id: Uuid,
    pub patient: PatientId,
    pub practice: PracticeId,
}

fn associated_data(ctx: &EntryContext) -> Vec<u8> {
    let mut ad = Vec::with_capacity(80);
    ad.extend_from_slice(b"tiaki/v1/entry\0");
    ad.extend_from_slice(ctx.purpose.label());
    ad.push(0);
    ad.extend_from_slice(ctx.id.as_bytes());
    ad.extend_from_slice(ctx.patient.as_uuid().as_bytes());
    ad.extend_from_slice(ctx.practice.as_uuid().as_bytes());
    ad
}

fn subkey(patient_key: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut mac = keyed_hmac(patient_key);
    mac.update(b"tiaki/v1/kdf\0entry");
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// Opens the sealed bodies of one patient's record, for the read one receipt recorded.
/// Holds the derived key only as long as it lives; `Debug` shows nothing secret.
pub struct EntryOpener {
    key: Zeroizing<[u8; 32]>,
    patient: PatientId,
    practice: PracticeId,
    action: Action,
}

impl std::fmt::Debug for EntryOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryOpener")
            .field("patient", &self.patient)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl EntryOpener {
    /// Opens one sealed body of this patient. A body of another patient or practice, of
    /// a purpose this read does not cover, or altered in any way, fails.
    pub fn open(
        &self,
        ctx: &EntryContext,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if ctx.patient != self.patient
            || ctx.practice != self.practice
            || !ctx.purpose.opened_by(self.action)
        {
            return Err(CryptoError::NotAuthorized);
        }
        let malformed = || CryptoError::Malformed("a sealed entry has the wrong shape");
        let (format, rest) = sealed.split_first().ok_or_else(malformed)?;
        if *format != FORMAT || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(malformed());
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| malformed())?;
        let tag = Tag::<Aes256Gcm>::try_from(tag).map_err(|_| malformed())?;
        let mut plain = Zeroizing::new(body.to_vec());
        Aes256Gcm::new((&*self.key).into())
            .decrypt_inout_detached(
                &nonce,
                &associated_data(ctx),
                plain.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| CryptoError::Unwrap("record entry"))?;
        Ok(plain)
    }
}

impl Vault {
    /// Seals a small clinical body for its row. Needs no receipt: the result is
    /// ciphertext.
    pub fn seal_entry(
        &self,
        patient_key: &WrappedPatientKey,
        ctx: &EntryContext,
        body: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if body.len() > MAX_ENTRY_LEN {
            return Err(CryptoError::Misuse("a record entry is too long to seal"));
        }
        let patient = self.unwrap_patient_key(patient_key, ctx.patient, ctx.practice)?;
        let key = subkey(&patient);
        let nonce = random::nonce()?;
        let mut text = body.to_vec();
        let tag = Aes256Gcm::new((&*key).into())
            .encrypt_inout_detached(
                &Nonce::<Aes256Gcm>::from(nonce),
                &associated_data(ctx),
                text.as_mut_slice().into(),
            )
            .map_err(|_| CryptoError::Misuse("sealing rejected its input"))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + text.len() + TAG_LEN);
        sealed.push(FORMAT);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&text);
        sealed.extend_from_slice(tag.as_slice());
        Ok(sealed)
    }

    /// An opener for the record of the patient `receipt` is about: the receipt must
    /// record an allowed read of a patient's record (records, messages or prescriptions)
    /// whose patient and practice are the key's.
    pub fn entry_opener(
        &self,
        receipt: &Receipt,
        patient_key: &WrappedPatientKey,
    ) -> Result<EntryOpener, CryptoError> {
        let Target::Patient { patient, practice } = *receipt.target() else {
            return Err(CryptoError::NotAuthorized);
        };
        let action = receipt.action();
        if ![
            EntryPurpose::Record,
            EntryPurpose::Message,
            EntryPurpose::Prescription,
        ]
        .into_iter()
        .any(|p| p.opened_by(action))
        {
            return Err(CryptoError::NotAuthorized);
        }
        let key = subkey(&*self.unwrap_patient_key(patient_key, patient, practice)?);
        Ok(EntryOpener {
            key,
            patient,
            practice,
            action,
        })
    }
}
