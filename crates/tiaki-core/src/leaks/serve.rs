//! The read path's last step: the plaintext, opened with a receipt, is marked with the
//! receipt's reference before it is served.
//!
//! A document up to [`MARK_LIMIT`] is read whole (the PDF's structure is at its end),
//! marked, and served with its exact length. A larger one, or one that cannot be marked
//! safely (encrypted, damaged, an unreadable structure), is served unmarked — a read is
//! never refused because a mark could not be made — with the reference still in the
//! response headers, and a `document.unmarked` audit event saying why. The plaintext
//! read here also fills in the fingerprints of a document that has none yet (one stored
//! before fingerprints were kept).

use super::marks::{self, Label};
use super::reference::Reference;
use crate::{CoreError, Tiaki};
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use tiaki_audit::{AuditEvent, Outcome, Receipt, RequestContext};
use tiaki_domain::DocumentMeta;
use time::macros::format_description;

/// Documents up to this size are marked; larger ones stream through unmarked.
pub const MARK_LIMIT: u64 = 32 * 1024 * 1024;

/// What goes out: the (marked) content, its length and the reference.
pub struct Served {
    pub content: BoxStream<'static, Result<Bytes, CoreError>>,
    pub length: u64,
    /// The reference (`TK1…`) this copy carries, or would have carried.
    pub reference: String,
    /// Whether the content carries the mark.
    pub marked: bool,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("length", &self.length)
            .field("marked", &self.marked)
            .finish_non_exhaustive()
    }
}

impl Tiaki {
    /// Marks an opened document's content for the reader its receipt names.
    pub(crate) async fn serve_marked(
        &self,
        meta: &DocumentMeta,
        receipt: &Receipt,
        ctx: &RequestContext,
        content: BoxStream<'static, Result<Bytes, CoreError>>,
    ) -> Result<Served, CoreError> {
        let reference = Reference::issue(&self.vault.mac_key(), receipt.access_id()).to_string();
        if meta.size_bytes > MARK_LIMIT {
            self.record_unmarked(meta, receipt, ctx, "too_large")
                .await?;
            return Ok(Served {
                content,
                length: meta.size_bytes,
                reference,
                marked: false,
            });
        }
        let plaintext = collect(content, meta.size_bytes).await?;
        let label = self.label(receipt, &reference).await;
        let fill = match self.store.document_fingerprinted(meta.id).await {
            Ok(done) => !done,
            Err(e) => {
                tracing::warn!(document = %meta.id, error = %e, "could not check fingerprints");
                false
            }
        };
        let content_type = meta.content_type;
        let fingerprinter = self.fingerprinter();
        let work = tokio::task::spawn_blocking(move || {
            let marked = marks::mark(content_type, &plaintext, &label);
            let prints = fill.then(|| fingerprinter.all(content_type, &plaintext));
            (marked, prints, plaintext)
        })
        .await
        .map_err(|e| CoreError::Unavailable(format!("marking stopped: {e}")))?;
        let (marked, prints, plaintext) = work;
        if let Some(prints) = prints {
            self.keep_fingerprints(meta.id, &prints).await;
        }
        let (body, was_marked) = match marked {
            Ok(body) => (body, true),
            Err(code) => {
                self.record_unmarked(meta, receipt, ctx, code).await?;
                (plaintext, false)
            }
        };
        let length = body.len() as u64;
        Ok(Served {
            content: stream::iter([Ok(Bytes::from(body))]).boxed(),
            length,
            reference,
            marked: was_marked,
        })
    }

    /// Who the copy is for, as the footer names them.
    async fn label(&self, receipt: &Receipt, reference: &str) -> Label {
        let actor = receipt.actor();
        let name = match self.store.account(actor.account).await {
            Ok(Some(account)) => account.display_name,
            // The reference still names the account through the audit log.
            _ => format!("account {}", actor.account),
        };
        let at = receipt
            .recorded_at()
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap_or_default();
        Label {
            name,
            role: actor.role_name().to_owned(),
            at,
            reference: reference.to_owned(),
        }
    }

    /// Records that a copy went out without its mark, and why (the access id ties it to
    /// the read's own event).
    async fn record_unmarked(
        &self,
        meta: &DocumentMeta,
        receipt: &Receipt,
        ctx: &RequestContext,
        code: &str,
    ) -> Result<(), CoreError> {
        tracing::warn!(
            document = %meta.id,
            access_id = %receipt.access_id(),
            reason = code,
            "document served unmarked"
        );
        let mut event = AuditEvent::named(
            "document.unmarked",
            Some(receipt.actor()),
            None,
            Outcome::Allowed,
            ctx,
        )
        .with_reason(&format!("{code}:{}", receipt.access_id()));
        event.document = Some(meta.id);
        self.audit.record_event(&event).await?;
        Ok(())
    }
}

/// The whole content, refusing more than the document's recorded size.
async fn collect(
    mut content: BoxStream<'static, Result<Bytes, CoreError>>,
    size: u64,
) -> Result<Vec<u8>, CoreError> {
    let mut all = Vec::with_capacity(usize::try_from(size.min(MARK_LIMIT)).unwrap_or(0));
    while let Some(piece) = content.next().await {
        all.extend_from_slice(&piece?);
        if all.len() as u64 > size.max(MARK_LIMIT) {
            return Err(CoreError::Unavailable(
                "content longer than recorded".into(),
            ));
        }
    }
    Ok(all)
}
