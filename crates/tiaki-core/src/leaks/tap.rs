//! Fingerprints made at upload, from the plaintext as it streams past on its way to
//! encryption: the whole-file fingerprint piece by piece, and for formats with
//! structure (PDF, PNG) a copy up to [`MARK_LIMIT`](super::MARK_LIMIT) to read it from
//! once the upload is complete.

use super::MARK_LIMIT;
use super::fingerprints::FileHasher;
use crate::Tiaki;
use crate::documents::UploadSource;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use tiaki_domain::{ContentType, DocumentId};

/// What an upload's tap has seen.
#[derive(Debug, Clone)]
pub(crate) struct Tap {
    content_type: ContentType,
    state: Arc<Mutex<TapState>>,
}

#[derive(Debug)]
struct TapState {
    hasher: FileHasher,
    /// The plaintext so far, while it is worth keeping.
    copy: Option<Vec<u8>>,
}

impl Tiaki {
    /// Passes `source` through unchanged, fingerprinting what goes by.
    pub(crate) fn fingerprint_tap<'a>(
        &self,
        content_type: ContentType,
        source: UploadSource<'a>,
    ) -> (UploadSource<'a>, Tap) {
        let structured = matches!(content_type, ContentType::Pdf | ContentType::Png);
        let state = Arc::new(Mutex::new(TapState {
            hasher: self.fingerprinter().file_hasher(),
            copy: structured.then(Vec::new),
        }));
        let seen = state.clone();
        let tapped = source
            .map(move |piece| {
                if let (Ok(bytes), Ok(mut state)) = (&piece, seen.lock()) {
                    state.hasher.update(bytes);
                    let too_big = state
                        .copy
                        .as_ref()
                        .is_some_and(|c| (c.len() + bytes.len()) as u64 > MARK_LIMIT);
                    if too_big {
                        state.copy = None;
                    } else if let Some(copy) = state.copy.as_mut() {
                        copy.extend_from_slice(bytes);
                    }
                }
                piece
            })
            .boxed();
        (
            tapped,
            Tap {
                content_type,
                state,
            },
        )
    }

    /// Keeps the fingerprints of a stored upload (best effort: a document left without
    /// them is fingerprinted at its next read).
    pub(crate) async fn keep_upload_fingerprints(&self, document: DocumentId, tap: Tap) {
        // No lock guard (nor a poisoned lock's error, which holds one) may live across
        // an await: the upload future must stay Send.
        let taken = match tap.state.lock() {
            Ok(mut s) => Some((s.hasher.clone(), s.copy.take())),
            Err(_) => None,
        };
        let Some((hasher, copy)) = taken else {
            tracing::warn!(document = %document, "fingerprint tap poisoned");
            return;
        };
        let fingerprinter = self.fingerprinter();
        let content_type = tap.content_type;
        let prints = tokio::task::spawn_blocking(move || {
            let mut prints = vec![hasher.finish()];
            if let Some(copy) = copy {
                prints.extend(fingerprinter.structural(content_type, &copy));
            }
            prints
        })
        .await;
        match prints {
            Ok(prints) => self.keep_fingerprints(document, &prints).await,
            Err(e) => tracing::warn!(document = %document, error = %e, "fingerprinting stopped"),
        }
    }
}
