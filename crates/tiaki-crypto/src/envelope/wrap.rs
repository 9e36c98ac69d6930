//! Wrapping one 256-bit key under another, and the associated data that ties each
//! wrapped key to its row.
//!
//! A wrapped key is `0x01 ‖ nonce (12) ‖ AES-256-GCM(key) (32) ‖ tag (16)`, 61 bytes.
//! Nonces are random: a KEK wraps at most a few million patient keys and a patient key
//! a few thousand data keys, far below the 2^32 messages at which random 96-bit nonces
//! start to risk a repeat.
//!
//! Every label ends in a NUL and every id is a fixed 16 bytes, so no two different
//! (label, ids) tuples can produce the same associated data. Everything here is private
//! to the crate: unwrapping is reachable only through the vault.

use crate::envelope::DocumentContext;
use crate::error::CryptoError;
use crate::keyring::KekVersion;
use crate::random;
use aes_gcm::aead::{AeadInOut, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit};
use tiaki_domain::{PatientId, PracticeId};
use zeroize::Zeroizing;

const WRAP_FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
pub(super) const WRAPPED_LEN: usize = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;

/// What a wrapped key is, for error messages.
#[derive(Clone, Copy)]
pub(super) enum KeyKind {
    Patient,
    Data,
}

impl KeyKind {
    fn name(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Data => "document data",
        }
    }
}

/// Associated data of a patient key wrapped by a KEK: the patient, the practice holding
/// the record, and the KEK version (so a wrapped key relabelled with another version
/// fails to open rather than being tried under the wrong KEK).
pub(super) fn patient_key_ad(
    patient: PatientId,
    practice: PracticeId,
    version: KekVersion,
) -> Vec<u8> {
    let mut ad = Vec::with_capacity(64);
    ad.extend_from_slice(b"tiaki/v1/patient-key\0");
    ad.extend_from_slice(patient.as_uuid().as_bytes());
    ad.extend_from_slice(practice.as_uuid().as_bytes());
    ad.extend_from_slice(&version.0.to_be_bytes());
    ad
}

/// Associated data of a document's data key wrapped by the patient key: the document,
/// patient and practice. Deliberately not the KEK version: the patient key's own wrap is
/// bound to that, and binding it here too would make every document unreadable after
/// the online re-wrap that KEK rotation performs.
pub(super) fn data_key_ad(ctx: &DocumentContext) -> Vec<u8> {
    let mut ad = Vec::with_capacity(72);
    ad.extend_from_slice(b"tiaki/v1/data-key\0");
    push_context(&mut ad, ctx);
    ad
}

/// Associated data of every chunk of a document body: the context and the blob header.
pub(super) fn chunk_ad(ctx: &DocumentContext, header: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(96);
    ad.extend_from_slice(b"tiaki/v1/document-chunk\0");
    push_context(&mut ad, ctx);
    ad.extend_from_slice(header);
    ad
}

fn push_context(ad: &mut Vec<u8>, ctx: &DocumentContext) {
    ad.extend_from_slice(ctx.document.as_uuid().as_bytes());
    ad.extend_from_slice(ctx.patient.as_uuid().as_bytes());
    ad.extend_from_slice(ctx.practice.as_uuid().as_bytes());
}

/// Wraps `key` under `wrapping_key`, bound to `ad`.
pub(super) fn wrap(
    wrapping_key: &[u8; 32],
    key: &[u8; 32],
    ad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(wrapping_key.into());
    let nonce = random::nonce()?;
    let mut body = Zeroizing::new(*key);
    let tag = cipher
        .encrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(nonce),
            ad,
            body.as_mut_slice().into(),
        )
        // Only over-long inputs fail, and these are fixed-size.
        .map_err(|_| CryptoError::Misuse("key wrapping rejected its input"))?;
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.push(WRAP_FORMAT);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(body.as_slice());
    out.extend_from_slice(tag.as_slice());
    Ok(out)
}

/// Unwraps a key made by [`wrap`] with the same wrapping key and associated data.
pub(super) fn unwrap(
    wrapping_key: &[u8; 32],
    wrapped: &[u8],
    ad: &[u8],
    kind: KeyKind,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let malformed = || CryptoError::Malformed("a wrapped key has the wrong length or format");
    if wrapped.len() != WRAPPED_LEN {
        return Err(malformed());
    }
    let (format, rest) = wrapped.split_first().ok_or_else(malformed)?;
    if *format != WRAP_FORMAT {
        return Err(malformed());
    }
    let (nonce, rest) = rest.split_at_checked(NONCE_LEN).ok_or_else(malformed)?;
    let (body, tag) = rest.split_at_checked(KEY_LEN).ok_or_else(malformed)?;
    let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| malformed())?;
    let tag = Tag::<Aes256Gcm>::try_from(tag).map_err(|_| malformed())?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(body);
    Aes256Gcm::new(wrapping_key.into())
        .decrypt_inout_detached(&nonce, ad, key.as_mut_slice().into(), &tag)
        .map_err(|_| CryptoError::Unwrap(kind.name()))?;
    Ok(key)
}
