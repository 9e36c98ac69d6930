//! Crypto-shredding: erasing a patient deletes their key. Every document of theirs —
//! online or archived — is wrapped under that key or sealed beside it, so all of them
//! become unreadable at the same instant, in every copy and backup of the ciphertext.
//! The documents are marked erased, their archived keys deleted, open retrieval
//! requests closed, and the erasure audited, in one transaction; the ciphertext is then
//! deleted (the orphan sweep removes any blob this misses).
//!
//! The metadata rows stay, so the audit log's references still resolve and the portal
//! can say the document was erased rather than that it never existed.

use super::console_event;
use crate::{CoreError, Tiaki};
use tiaki_audit::RequestContext;
use tiaki_domain::{PatientId, Target};
use tiaki_store::Erasure;
use time::OffsetDateTime;

const MAX_REASON: usize = 500;

/// What erasing a patient did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureReport {
    pub erasure: Erasure,
    /// Ciphertext blobs deleted now (the rest go with the next sweep).
    pub blobs_deleted: u64,
}

impl Tiaki {
    /// Erases `patient`'s key and so every document of theirs. Needs a reason, kept
    /// with the erasure.
    pub async fn erase_patient(
        &self,
        patient: PatientId,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<ErasureReport, CoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(CoreError::invalid(
                "reason_required",
                "Erasing a patient needs a reason (--reason); it is kept with the erasure.",
            ));
        }
        if reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "reason_invalid",
                format!("A reason is one line of at most {MAX_REASON} characters."),
            ));
        }
        let record = self.store.patient(patient).await?.ok_or_else(|| {
            CoreError::invalid("unknown_patient", format!("There is no patient {patient}."))
        })?;
        if let Some(at) = self.store.patient_erased_at(patient).await? {
            return Err(CoreError::invalid(
                "already_erased",
                format!("Patient {patient} was erased at {at}."),
            ));
        }
        let target = Target::Patient {
            patient,
            practice: record.practice,
        };
        let event = console_event("patient.erase", &target, ctx).with_reason("crypto_shred");
        let erasure = self
            .store
            .patient_erase(patient, reason, OffsetDateTime::now_utc(), &event)
            .await?
            .ok_or_else(|| {
                CoreError::invalid(
                    "already_erased",
                    format!("Patient {patient} has no key to erase."),
                )
            })?;
        let mut blobs_deleted = 0;
        for key in &erasure.blob_keys {
            match self.blobs.delete(key).await {
                Ok(()) => blobs_deleted += 1,
                Err(e) => {
                    tracing::warn!(blob = %key, error = %e, "erased document's ciphertext left for the sweep");
                }
            }
        }
        tracing::info!(patient = %patient, documents = erasure.documents, "patient erased");
        Ok(ErasureReport {
            erasure,
            blobs_deleted,
        })
    }
}
