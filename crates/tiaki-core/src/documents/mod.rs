//! The Health Documents module: list, describe, read and upload.
//!
//! Every entry point follows DESIGN.md's read path: load the facts (missing -> 404),
//! ask the policy (deny -> the same 404, audited), record the access (no receipt, no
//! content), and only then touch the vault.

mod read;
mod upload;

pub use read::OpenedDocument;
pub use upload::{Upload, UploadSource};

use crate::guard::Refusal;
use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::{
    Action, Actor, DocumentId, DocumentMeta, Grant, PatientId, Target, authorize_with,
};
use tiaki_store::DocumentRecord;

impl Tiaki {
    /// A patient's documents, newest first (metadata only).
    pub async fn list_documents(
        &self,
        actor: &Actor,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<Vec<DocumentMeta>, CoreError> {
        let target = self
            .patient_target(actor, Action::ListDocuments, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::ListDocuments, target, ctx)
            .await?;
        let admission = self.admit(&grant, ctx, None).await?;
        self.record_admitted(&grant, admission, ctx, None).await?;
        Ok(self.store.documents_of(patient).await?)
    }

    /// One document's metadata.
    pub async fn document_meta(
        &self,
        actor: &Actor,
        document: DocumentId,
        ctx: &RequestContext,
    ) -> Result<DocumentMeta, CoreError> {
        let (record, grant) = self
            .load_document(actor, Action::ReadDocumentMeta, document, ctx)
            .await?;
        let admission = self.admit(&grant, ctx, None).await?;
        self.record_admitted(&grant, admission, ctx, None).await?;
        Ok(record.meta)
    }

    /// Loads a document and decides on it. Missing and denied both become
    /// `NotFound`, and both are audited.
    pub(crate) async fn load_document(
        &self,
        actor: &Actor,
        action: Action,
        document: DocumentId,
        ctx: &RequestContext,
    ) -> Result<(DocumentRecord, Grant), CoreError> {
        let Some(record) = self.store.document(document).await? else {
            let mut event = AuditEvent::new(Some(actor), action, None, Outcome::NotFound, ctx);
            event.document = Some(document);
            self.audit.record_event(&event).await?;
            self.guard_refused(actor, ctx, Refusal::Missing).await?;
            return Err(CoreError::NotFound);
        };
        let target = Target::Document {
            document,
            patient: record.meta.patient,
            practice: record.meta.practice,
        };
        let grant = self.decide(actor, action, target, ctx).await?;
        Ok((record, grant))
    }

    /// The target for an action on a patient's record; a missing patient is audited
    /// and answered exactly like a refused one.
    pub(crate) async fn patient_target(
        &self,
        actor: &Actor,
        action: Action,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<Target, CoreError> {
        match self.store.patient(patient).await? {
            Some(p) => Ok(Target::Patient {
                patient: p.id,
                practice: p.practice,
            }),
            None => {
                let mut event = AuditEvent::new(Some(actor), action, None, Outcome::NotFound, ctx);
                event.patient = Some(patient);
                self.audit.record_event(&event).await?;
                self.guard_refused(actor, ctx, Refusal::Missing).await?;
                Err(CoreError::NotFound)
            }
        }
    }

    /// Asks the one policy; a refusal is audited and becomes `NotFound`.
    pub(crate) async fn decide(
        &self,
        actor: &Actor,
        action: Action,
        target: Target,
        ctx: &RequestContext,
    ) -> Result<Grant, CoreError> {
        let facts = self.policy_facts(actor, &target).await?;
        match authorize_with(actor, action, target, &facts) {
            Ok(grant) => Ok(grant),
            Err(denied) => {
                tracing::info!(
                    account = %actor.account,
                    action = action.as_str(),
                    reason = denied.as_str(),
                    "access denied"
                );
                self.audit
                    .record_denied(actor, action, &target, denied, ctx)
                    .await?;
                self.guard_refused(actor, ctx, Refusal::Denied(denied))
                    .await?;
                Err(CoreError::NotFound)
            }
        }
    }
}
