//! What every test here needs: a world with a vault and an audit log that issues real
//! receipts, and helpers that push bytes through the stream adapters in odd pieces.

pub use bytes::Bytes;
pub use futures::executor::block_on;
pub use futures::{StreamExt, stream};
pub use proptest::prelude::*;
pub use std::convert::Infallible;
pub use std::path::Path;
pub use std::sync::Arc;
pub use std::sync::atomic::{AtomicU64, Ordering};
pub use tiaki_audit::{AuditLog, MemorySink, Receipt, RequestContext};
pub use tiaki_crypto::{
    CHUNK_SIZE, CryptoError, DocumentContext, HEADER_LEN, KekVersion, Keyring, KeyringError,
    PasswordHasher, SEALED_CHUNK_SIZE, SecretString, TAG_LEN, Vault, WrappedDataKey,
    WrappedPatientKey, generate_token, hash_token, open_stream, seal_stream, sealed_len,
};
pub use tiaki_domain::{
    AccountId, Action, Actor, ActorKind, DocumentId, PatientId, PracticeId, SessionId, Target,
    authorize,
};

/// One patient at one practice, with a vault and an audit log that issues real receipts.
pub struct World {
    pub vault: Vault,
    pub log: AuditLog,
    pub patient: PatientId,
    pub practice: PracticeId,
    pub patient_key: WrappedPatientKey,
}

impl World {
    pub fn new() -> Self {
        Self::with_vault(Vault::new(Keyring::generate().unwrap()))
    }

    pub fn with_vault(vault: Vault) -> Self {
        let patient = PatientId::new();
        let practice = PracticeId::new();
        let patient_key = vault.new_patient_key(patient, practice).unwrap();
        Self {
            vault,
            log: AuditLog::new(Arc::new(MemorySink::default())),
            patient,
            practice,
            patient_key,
        }
    }

    pub fn document(&self) -> DocumentContext {
        DocumentContext {
            document: DocumentId::new(),
            patient: self.patient,
            practice: self.practice,
        }
    }

    /// A receipt the real way: the patient's own grant from the policy, then a durable
    /// append to the audit log.
    pub fn receipt(&self, ctx: &DocumentContext, action: Action) -> Receipt {
        receipt_for(&self.log, ctx, action)
    }

    pub fn seal(&self, ctx: &DocumentContext, plaintext: &[u8]) -> (WrappedDataKey, Vec<u8>) {
        seal_with(
            &self.vault,
            &self.patient_key,
            ctx,
            plaintext,
            &[CHUNK_SIZE / 3],
        )
    }

    pub fn open(
        &self,
        ctx: &DocumentContext,
        data_key: &WrappedDataKey,
        blob: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let receipt = self.receipt(ctx, Action::ReadDocumentContent);
        open_with(
            &self.vault,
            &receipt,
            &self.patient_key,
            data_key,
            ctx,
            blob,
            &[7777],
        )
    }
}

pub fn receipt_for(log: &AuditLog, ctx: &DocumentContext, action: Action) -> Receipt {
    let actor = Actor {
        account: AccountId::new(),
        session: SessionId::new(),
        kind: ActorKind::Patient {
            patient: ctx.patient,
            practice: ctx.practice,
        },
    };
    let target = Target::Document {
        document: ctx.document,
        patient: ctx.patient,
        practice: ctx.practice,
    };
    let grant = authorize(&actor, action, target).unwrap();
    block_on(log.record(&grant, &RequestContext::default(), None)).unwrap()
}

/// `data` cut into pieces whose sizes cycle through `sizes`, optionally with empty pieces
/// between them (streams may yield those).
pub fn pieces(data: &Bytes, sizes: &[usize], empties: bool) -> Vec<Result<Bytes, Infallible>> {
    let mut out = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= data.len() {
            break;
        }
        let end = (at + size.max(&1)).min(data.len());
        out.push(Ok(data.slice(at..end)));
        if empties {
            out.push(Ok(Bytes::new()));
        }
        at = end;
    }
    out
}

pub fn seal_with(
    vault: &Vault,
    patient_key: &WrappedPatientKey,
    ctx: &DocumentContext,
    plaintext: &[u8],
    sizes: &[usize],
) -> (WrappedDataKey, Vec<u8>) {
    let (data_key, sealer) = vault.seal_document(patient_key, ctx).unwrap();
    let input = pieces(&Bytes::copy_from_slice(plaintext), sizes, false);
    let out: Vec<Result<Bytes, CryptoError>> =
        block_on(seal_stream(sealer, stream::iter(input)).collect());
    let mut blob = Vec::new();
    for item in out {
        blob.extend_from_slice(&item.unwrap());
    }
    (data_key, blob)
}

pub fn open_with(
    vault: &Vault,
    receipt: &Receipt,
    patient_key: &WrappedPatientKey,
    data_key: &WrappedDataKey,
    ctx: &DocumentContext,
    blob: &[u8],
    sizes: &[usize],
) -> Result<Vec<u8>, CryptoError> {
    let opener = vault.open_document(receipt, patient_key, data_key, ctx)?;
    let input = pieces(&Bytes::copy_from_slice(blob), sizes, false);
    let out: Vec<Result<Bytes, CryptoError>> =
        block_on(open_stream(opener, stream::iter(input)).collect());
    let mut plain = Vec::new();
    let count = out.len();
    for (i, item) in out.into_iter().enumerate() {
        match item {
            Ok(chunk) => plain.extend_from_slice(&chunk),
            Err(e) => {
                // The first error is the stream's last item: nothing follows tampering.
                assert_eq!(i + 1, count, "items after an error");
                return Err(e);
            }
        }
    }
    Ok(plain)
}

pub fn sample(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
