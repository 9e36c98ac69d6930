//! Reading a document's content: the hot path, and the only way to plaintext.

use crate::{CoreError, Tiaki};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use tiaki_audit::{Receipt, RequestContext};
use tiaki_crypto::{CryptoError, DocumentContext, open_stream};
use tiaki_domain::{Action, Actor, DocumentId, DocumentMeta};

/// A document ready to stream to its reader, with the receipt that allowed it.
pub struct OpenedDocument {
    pub meta: DocumentMeta,
    pub receipt: Receipt,
    /// The content as served: marked with the receipt's reference where it could be.
    pub content: BoxStream<'static, Result<Bytes, CoreError>>,
    /// The served length (the stored size plus the mark).
    pub length: u64,
    /// The reference the copy carries (`TK1…`), also for an unmarked copy.
    pub reference: String,
    pub marked: bool,
}

impl std::fmt::Debug for OpenedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedDocument")
            .field("document", &self.meta.id)
            .field("access_id", &self.receipt.access_id())
            .finish_non_exhaustive()
    }
}

impl Tiaki {
    /// Opens a document for reading: policy, then a durable audit record, then the
    /// vault. If the audit log cannot record the access, nothing is decrypted.
    pub async fn open_document(
        &self,
        actor: &Actor,
        document: DocumentId,
        ctx: &RequestContext,
    ) -> Result<OpenedDocument, CoreError> {
        let (record, grant) = self
            .load_document(actor, Action::ReadDocumentContent, document, ctx)
            .await?;
        self.refuse_offline(&record, &grant, ctx).await?;
        let size = Some(record.meta.size_bytes);
        let admission = self.admit(&grant, ctx, size).await?;
        let receipt = self.record_admitted(&grant, admission, ctx, size).await?;
        let patient_key = self
            .store
            .patient_key(record.meta.patient)
            .await?
            .ok_or_else(|| CoreError::Unavailable("patient key missing".into()))?;
        let doc_ctx = DocumentContext {
            document: record.meta.id,
            patient: record.meta.patient,
            practice: record.meta.practice,
        };
        let opener =
            self.vault
                .open_document(&receipt, &patient_key, &record.data_key, &doc_ctx)?;
        let ciphertext = self.blobs.get_stream(&record.blob_key).await?;
        let ciphertext = ciphertext.map(|piece| piece.map_err(|e| e.to_string()));
        let mut content = open_stream(opener, ciphertext)
            .map(|piece| {
                piece.map_err(|e: CryptoError| {
                    tracing::error!(error = %e, "document failed to decrypt");
                    CoreError::Unavailable(format!("crypto: {e}"))
                })
            })
            .boxed();
        // Open the first chunk before answering, so a blob that fails to authenticate
        // (swapped, corrupted) is a clear 503 rather than a cut-off 200.
        let first = match content.next().await {
            Some(Err(e)) => return Err(e),
            first => first,
        };
        let content = futures::stream::iter(first).chain(content).boxed();
        let served = self
            .serve_marked(&record.meta, &receipt, ctx, content)
            .await?;
        Ok(OpenedDocument {
            meta: record.meta,
            receipt,
            content: served.content,
            length: served.length,
            reference: served.reference,
            marked: served.marked,
        })
    }
}
