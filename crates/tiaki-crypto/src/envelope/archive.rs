//! The cold archive: a document's data key sealed to an offline public key.
//!
//! Archiving unwraps the data key (with the patient key, through the KEK) and seals it
//! with HPKE (RFC 9180, see `hpke.rs`) to the archive's X25519 public key; the caller
//! then destroys the online wrapped copy. From then on nothing the online system holds —
//! database, blobs, keyring — opens the document: only the offline private key does.
//!
//! An archived key is `0x01 ‖ enc (32) ‖ ChaCha20Poly1305(data key) (32) ‖ tag (16)`,
//! 81 bytes. The HPKE `info` and the AEAD's associated data both name the document,
//! patient and practice, so an archived key copied onto another row fails to open.
//!
//! Restoring opens it with the private key and wraps the data key again under the
//! patient's key (itself under the current KEK). The data key never leaves this module.

use super::wrap::{self, KeyKind, data_key_ad};
use super::{DocumentContext, Vault, WrappedDataKey, WrappedPatientKey};
use crate::error::CryptoError;
use crate::hpke::{self, KEY_LEN, PrivateKey, PublicKey, TAG_LEN};
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
/// The length of an archived data key.
pub const ARCHIVED_LEN: usize = 1 + KEY_LEN + 32 + TAG_LEN;

/// A document's data key sealed to the archive's public key. Stored online; opens only
/// with the offline private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedDataKey(pub Vec<u8>);

fn info(ctx: &DocumentContext) -> Vec<u8> {
    let mut info = Vec::with_capacity(80);
    info.extend_from_slice(b"tiaki/v1/archived-data-key\0");
    info.extend_from_slice(ctx.document.as_uuid().as_bytes());
    info.extend_from_slice(ctx.patient.as_uuid().as_bytes());
    info.extend_from_slice(ctx.practice.as_uuid().as_bytes());
    info
}

impl Vault {
    /// Seals the data key of the document in `ctx` to `archive`. The wrapped keys must
    /// be the document's own (they are authenticated against `ctx` while unwrapping).
    pub fn archive_data_key(
        &self,
        patient_key: &WrappedPatientKey,
        data_key: &WrappedDataKey,
        ctx: &DocumentContext,
        archive: &PublicKey,
    ) -> Result<ArchivedDataKey, CryptoError> {
        let patient = self.unwrap_patient_key(patient_key, ctx.patient, ctx.practice)?;
        let data = wrap::unwrap(&patient, &data_key.0, &data_key_ad(ctx), KeyKind::Data)?;
        let sealed = hpke::seal(archive, &info(ctx), &data_key_ad(ctx), data.as_slice())?;
        let mut out = Vec::with_capacity(ARCHIVED_LEN);
        out.push(FORMAT);
        out.extend_from_slice(&sealed.enc);
        out.extend_from_slice(&sealed.ciphertext);
        Ok(ArchivedDataKey(out))
    }

    /// Opens an archived data key with the offline private key and wraps it again under
    /// the patient's key, ready to go back on the document's row. A wrong private key,
    /// or an archived key from another row, fails here and changes nothing.
    pub fn restore_data_key(
        &self,
        archived: &ArchivedDataKey,
        archive: &PrivateKey,
        patient_key: &WrappedPatientKey,
        ctx: &DocumentContext,
    ) -> Result<WrappedDataKey, CryptoError> {
        let malformed = || CryptoError::Malformed("an archived key has the wrong length or format");
        if archived.0.len() != ARCHIVED_LEN {
            return Err(malformed());
        }
        let (format, rest) = archived.0.split_first().ok_or_else(malformed)?;
        if *format != FORMAT {
            return Err(malformed());
        }
        let (enc, ciphertext) = rest.split_at_checked(KEY_LEN).ok_or_else(malformed)?;
        let enc: [u8; KEY_LEN] = enc.try_into().map_err(|_| malformed())?;
        let opened = hpke::open(archive, &enc, &info(ctx), &data_key_ad(ctx), ciphertext)?;
        let mut data = Zeroizing::new([0u8; 32]);
        if opened.len() != data.len() {
            return Err(malformed());
        }
        data.copy_from_slice(&opened);
        let patient = self.unwrap_patient_key(patient_key, ctx.patient, ctx.practice)?;
        Ok(WrappedDataKey(wrap::wrap(
            &patient,
            &data,
            &data_key_ad(ctx),
        )?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::keyring::Keyring;
    use tiaki_domain::{DocumentId, PatientId, PracticeId};

    struct Fixture {
        vault: Vault,
        patient_key: WrappedPatientKey,
        data_key: WrappedDataKey,
        ctx: DocumentContext,
    }

    fn fixture() -> Fixture {
        let vault = Vault::new(Keyring::generate().unwrap());
        let ctx = DocumentContext {
            document: DocumentId::new(),
            patient: PatientId::new(),
            practice: PracticeId::new(),
        };
        let patient_key = vault.new_patient_key(ctx.patient, ctx.practice).unwrap();
        let (data_key, _) = vault.seal_document(&patient_key, &ctx).unwrap();
        Fixture {
            vault,
            patient_key,
            data_key,
            ctx,
        }
    }

    /// The plaintext data key a wrapped one holds (tests only: nothing public does this).
    fn plain(f: &Fixture, wrapped: &WrappedDataKey) -> [u8; 32] {
        let patient = f
            .vault
            .unwrap_patient_key(&f.patient_key, f.ctx.patient, f.ctx.practice)
            .unwrap();
        *wrap::unwrap(&patient, &wrapped.0, &data_key_ad(&f.ctx), KeyKind::Data).unwrap()
    }

    #[test]
    fn the_offline_key_restores_the_same_data_key() {
        let f = fixture();
        let private = PrivateKey::generate().unwrap();
        let archived = f
            .vault
            .archive_data_key(&f.patient_key, &f.data_key, &f.ctx, &private.public_key())
            .unwrap();
        assert_eq!(archived.0.len(), ARCHIVED_LEN);
        let restored = f
            .vault
            .restore_data_key(&archived, &private, &f.patient_key, &f.ctx)
            .unwrap();
        assert_ne!(restored, f.data_key, "wrapped afresh, with a new nonce");
        assert_eq!(plain(&f, &restored), plain(&f, &f.data_key));
    }

    #[test]
    fn nothing_else_opens_an_archived_key() {
        let f = fixture();
        let private = PrivateKey::generate().unwrap();
        let archived = f
            .vault
            .archive_data_key(&f.patient_key, &f.data_key, &f.ctx, &private.public_key())
            .unwrap();
        let restore = |key: &PrivateKey, archived: &ArchivedDataKey, ctx: &DocumentContext| {
            f.vault.restore_data_key(archived, key, &f.patient_key, ctx)
        };
        // Another private key.
        assert!(restore(&PrivateKey::generate().unwrap(), &archived, &f.ctx).is_err());
        // Another row: document, patient or practice.
        for other in [
            DocumentContext {
                document: DocumentId::new(),
                ..f.ctx
            },
            DocumentContext {
                patient: PatientId::new(),
                ..f.ctx
            },
            DocumentContext {
                practice: PracticeId::new(),
                ..f.ctx
            },
        ] {
            assert!(restore(&private, &archived, &other).is_err());
        }
        // Any flipped byte, a cut or a wrong format.
        for i in 0..ARCHIVED_LEN {
            let mut tampered = archived.clone();
            tampered.0[i] ^= 0x40;
            assert!(restore(&private, &tampered, &f.ctx).is_err(), "byte {i}");
        }
        let cut = ArchivedDataKey(archived.0[..ARCHIVED_LEN - 1].to_vec());
        assert!(restore(&private, &cut, &f.ctx).is_err());
        // The archived key is no wrapped data key either.
        assert!(
            f.vault
                .archive_data_key(
                    &f.patient_key,
                    &WrappedDataKey(archived.0.clone()),
                    &f.ctx,
                    &private.public_key()
                )
                .is_err()
        );
    }

    #[test]
    fn archiving_needs_the_documents_own_keys() {
        let f = fixture();
        let public = PrivateKey::generate().unwrap().public_key();
        let other = DocumentContext {
            document: DocumentId::new(),
            ..f.ctx
        };
        assert!(
            f.vault
                .archive_data_key(&f.patient_key, &f.data_key, &other, &public)
                .is_err()
        );
        assert!(
            f.vault
                .archive_data_key(&f.patient_key, &WrappedDataKey(Vec::new()), &f.ctx, &public)
                .is_err(),
            "an archived row (no wrapped key) cannot be archived again"
        );
    }
}
