//! `tiaki archive restore`: bring one archived document back online with the offline
//! private key. The data key is opened from its sealed copy and wrapped again under the
//! patient's key (itself under the current KEK); the row, the dropped sealed key, the
//! resolved retrieval request and the audit event commit together. A wrong key file, an
//! unknown document or one that is not archived is refused and changes nothing.

use super::console_event;
use crate::{CoreError, Tiaki};
use tiaki_audit::RequestContext;
use tiaki_crypto::DocumentContext;
use tiaki_crypto::hpke::PrivateKey;
use tiaki_domain::{DocumentId, DocumentMeta, Target};
use tiaki_store::DocumentState;
use time::OffsetDateTime;

impl Tiaki {
    /// Restores `document` with the archive's private key.
    pub async fn archive_restore(
        &self,
        document: DocumentId,
        private_key: &PrivateKey,
        ctx: &RequestContext,
    ) -> Result<DocumentMeta, CoreError> {
        let record = self.store.document(document).await?.ok_or_else(|| {
            CoreError::invalid(
                "unknown_document",
                format!("There is no document {document}."),
            )
        })?;
        match record.state {
            DocumentState::Archived => {}
            DocumentState::Online => {
                return Err(CoreError::invalid(
                    "not_archived",
                    format!("Document {document} is online already."),
                ));
            }
            DocumentState::Erased => {
                return Err(CoreError::invalid(
                    "erased",
                    format!("Document {document} was erased with its patient's key."),
                ));
            }
        }
        let entry = self.store.archive_entry(document).await?.ok_or_else(|| {
            CoreError::Unavailable(format!("archived document {document} has no sealed key"))
        })?;
        let offered = private_key.public_key();
        if offered.to_bytes() != entry.archive_key {
            return Err(CoreError::invalid(
                "wrong_archive_key",
                format!(
                    "This private key (public key {}) is not the archive key document {document} \
                     was sealed to (public key {}).",
                    offered.to_hex(),
                    hex_of(&entry.archive_key)
                ),
            ));
        }
        let m = &record.meta;
        let patient_key = self
            .store
            .patient_key(m.patient)
            .await?
            .ok_or_else(|| CoreError::Unavailable("patient key missing".into()))?;
        let doc_ctx = DocumentContext {
            document: m.id,
            patient: m.patient,
            practice: m.practice,
        };
        let data_key = self
            .vault
            .restore_data_key(&entry.sealed_key, private_key, &patient_key, &doc_ctx)
            .map_err(|e| {
                CoreError::invalid(
                    "archive_key_did_not_open",
                    format!("The archived key of document {document} did not open: {e}"),
                )
            })?;
        let target = Target::Document {
            document: m.id,
            patient: m.patient,
            practice: m.practice,
        };
        let event = console_event("document.restore", &target, ctx).with_reason(&entry.rule);
        let restored = self
            .store
            .archive_restore(document, &data_key, OffsetDateTime::now_utc(), &event)
            .await?;
        if !restored {
            return Err(CoreError::invalid(
                "not_archived",
                format!("Document {document} changed while it was being restored; try again."),
            ));
        }
        tracing::info!(document = %document, "document restored from the archive");
        Ok(record.meta)
    }
}

fn hex_of(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
