//! What readers see of archived and erased documents: their state in listings, a clear
//! refusal instead of content, and a request to bring an archived one back.
//!
//! Everything here passes the one policy first, exactly as the documents module does:
//! a document's state is only ever shown to someone allowed to see the document, so it
//! reveals nothing to a prober. Asking for retrieval is allowed to whoever may read the
//! content (the patient, a proxy with document access, their practice), is recorded
//! as a request row and an audit event together, and is seen by the practice on the
//! patient's documents page and by operators in `tiaki archive requests`.

use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::{Action, Actor, DocumentId, DocumentMeta, Grant, PatientId, Target};
use tiaki_store::{DocumentRecord, DocumentState, RetrievalRequest};
use time::OffsetDateTime;

/// A document as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDocument {
    pub meta: DocumentMeta,
    pub state: DocumentState,
    /// When someone asked for this archived document back, if a request is open.
    pub retrieval_requested_at: Option<OffsetDateTime>,
}

/// What the reader is told instead of content.
fn gone(state: DocumentState) -> Option<CoreError> {
    match state {
        DocumentState::Online => None,
        DocumentState::Archived => Some(CoreError::Gone {
            code: "archived",
            message: "This document has been moved to the archive and cannot be opened online. \
                      Ask your practice to bring it back: use \"Ask for this document\" on its \
                      page, or contact them."
                .to_owned(),
        }),
        DocumentState::Erased => Some(CoreError::Gone {
            code: "erased",
            message: "This document was erased and can no longer be opened.".to_owned(),
        }),
    }
}

impl Tiaki {
    /// A patient's documents with their states, newest first (metadata only).
    pub async fn list_documents_with_state(
        &self,
        actor: &Actor,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<Vec<ListedDocument>, CoreError> {
        let target = self
            .patient_target(actor, Action::ListDocuments, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::ListDocuments, target, ctx)
            .await?;
        let admission = self.admit(&grant, ctx, None).await?;
        self.record_admitted(&grant, admission, ctx, None).await?;
        let documents = self.store.documents_with_state_of(patient).await?;
        let requests = if documents.iter().any(|(_, s)| *s == DocumentState::Archived) {
            self.store.retrieval_requests_of(patient).await?
        } else {
            Vec::new()
        };
        Ok(documents
            .into_iter()
            .map(|(meta, state)| {
                let retrieval_requested_at = open_request_at(&requests, meta.id);
                ListedDocument {
                    meta,
                    state,
                    retrieval_requested_at,
                }
            })
            .collect())
    }

    /// One document's metadata with its state.
    pub async fn document_with_state(
        &self,
        actor: &Actor,
        document: DocumentId,
        ctx: &RequestContext,
    ) -> Result<ListedDocument, CoreError> {
        let (record, grant) = self
            .load_document(actor, Action::ReadDocumentMeta, document, ctx)
            .await?;
        let admission = self.admit(&grant, ctx, None).await?;
        self.record_admitted(&grant, admission, ctx, None).await?;
        let retrieval_requested_at = if record.state == DocumentState::Archived {
            let requests = self
                .store
                .retrieval_requests_of(record.meta.patient)
                .await?;
            open_request_at(&requests, document)
        } else {
            None
        };
        Ok(ListedDocument {
            meta: record.meta,
            state: record.state,
            retrieval_requested_at,
        })
    }

    /// The read path's early check: a document that is not online is refused with a
    /// clear answer before any guard count, receipt or key. The refusal is audited.
    pub(crate) async fn refuse_offline(
        &self,
        record: &DocumentRecord,
        grant: &Grant,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let Some(refusal) = gone(record.state) else {
            return Ok(());
        };
        let event = AuditEvent::named(
            "document.read_offline",
            Some(grant.actor()),
            Some(grant.target()),
            Outcome::Denied,
            ctx,
        )
        .attributed_to(grant)
        .with_reason(record.state.as_str());
        self.audit.record_event(&event).await?;
        Err(refusal)
    }

    /// Asks for an archived document to be brought back. Asking again while a request
    /// is open answers that request.
    pub async fn request_retrieval(
        &self,
        actor: &Actor,
        document: DocumentId,
        ctx: &RequestContext,
    ) -> Result<RetrievalRequest, CoreError> {
        let (record, grant) = self
            .load_document(actor, Action::ReadDocumentContent, document, ctx)
            .await?;
        self.admit_write(&grant, ctx).await?;
        match record.state {
            DocumentState::Archived => {}
            DocumentState::Online => {
                return Err(CoreError::invalid(
                    "not_archived",
                    "This document is online: open it from its page.",
                ));
            }
            DocumentState::Erased => {
                return Err(CoreError::invalid(
                    "erased",
                    "This document was erased and cannot be brought back.",
                ));
            }
        }
        let m = &record.meta;
        let target = Target::Document {
            document: m.id,
            patient: m.patient,
            practice: m.practice,
        };
        let event = AuditEvent::named(
            "document.retrieval_request",
            Some(grant.actor()),
            Some(&target),
            Outcome::Allowed,
            ctx,
        )
        .attributed_to(&grant);
        let request = RetrievalRequest {
            id: uuid::Uuid::now_v7(),
            document: m.id,
            patient: m.patient,
            practice: m.practice,
            requested_by: actor.account,
            requested_at: OffsetDateTime::now_utc(),
            resolved_at: None,
            resolution: None,
        };
        let stored = self.store.retrieval_request(&request, &event).await?;
        tracing::info!(document = %m.id, request = %stored.id, "retrieval requested");
        Ok(stored)
    }

    /// Open retrieval requests, oldest first (the server console).
    pub async fn open_retrieval_requests(
        &self,
        limit: u32,
    ) -> Result<Vec<RetrievalRequest>, CoreError> {
        Ok(self.store.retrieval_requests_open(limit).await?)
    }
}

fn open_request_at(requests: &[RetrievalRequest], document: DocumentId) -> Option<OffsetDateTime> {
    requests
        .iter()
        .find(|r| r.document == document && r.resolved_at.is_none())
        .map(|r| r.requested_at)
}
