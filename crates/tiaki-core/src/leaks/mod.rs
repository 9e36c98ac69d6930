//! Leak tracing: every served copy carries its audit receipt's reference, and every
//! document's content is fingerprinted, so a leaked file can be traced to its document,
//! patient and practice — and, where a mark survives, to the very download: the access
//! id, the account, the session and the time.
//!
//! - [`reference`]: the reference (`TK1…`): access id plus a MAC, so it can be verified.
//! - [`marks`]: per-format marks (PDF footer and invisible text by incremental update,
//!   PNG `tEXt`, JPEG `COM`, a last line of text) and how to take them off again.
//! - [`fingerprints`]: keyed HMAC-SHA256 fingerprints of whole files, PDF streams and
//!   PNG pixels, kept at upload.
//! - `serve`: the read path's watermarking step. `matching`: `tiaki leak match`.
//! - [`pdf`]: the small PDF reader and incremental-update writer underneath.

pub mod fingerprints;
pub mod marks;
mod matching;
pub mod pdf;
pub mod reference;
mod serve;
mod tap;

pub use matching::{AccessReport, DocumentMatch, How, LeakReport, MarkReport};
pub use serve::{MARK_LIMIT, Served};

use crate::{CoreError, Tiaki};
use fingerprints::{Fingerprint, Fingerprinter};
use tiaki_domain::DocumentId;
use tiaki_store::FingerprintCoverage;

impl Tiaki {
    /// This installation's fingerprint maker.
    pub(crate) fn fingerprinter(&self) -> Fingerprinter {
        Fingerprinter::new(&self.vault.mac_key())
    }

    /// Stores a document's fingerprints. Best effort after an upload or a read: a
    /// failure is logged, and the document is fingerprinted again at its next read.
    pub(crate) async fn keep_fingerprints(&self, document: DocumentId, prints: &[Fingerprint]) {
        let rows: Vec<(&str, [u8; 32])> =
            prints.iter().map(|p| (p.kind.as_str(), p.digest)).collect();
        match self.store.fingerprints_put(document, &rows).await {
            Ok(()) => {
                tracing::debug!(document = %document, count = rows.len(), "fingerprints kept")
            }
            Err(e) => {
                tracing::warn!(document = %document, error = %e, "could not keep fingerprints");
            }
        }
    }

    /// How many documents have fingerprints.
    pub async fn fingerprint_coverage(&self) -> Result<FingerprintCoverage, CoreError> {
        Ok(self.store.fingerprint_coverage().await?)
    }

    /// Up to `limit` documents still without fingerprints, after `after` in id order.
    pub async fn documents_unfingerprinted(
        &self,
        after: Option<DocumentId>,
        limit: u32,
    ) -> Result<Vec<DocumentId>, CoreError> {
        Ok(self.store.documents_unfingerprinted(after, limit).await?)
    }
}
