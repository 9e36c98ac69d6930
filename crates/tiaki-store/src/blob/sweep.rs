//! The orphan sweep: ciphertext with no document row is deleted once it is old enough.
//!
//! An orphan is what a crash between "blob stored" and "row committed" leaves behind
//! (invariant 8). The grace period protects uploads in flight: their blob exists
//! before their row does, so only blobs last modified longer ago than the grace period
//! are candidates. Keys are checked against the database in batches, so the sweep's
//! memory grows with the number of orphans, not of blobs.

use super::BlobStore;
use crate::error::StoreError;
use crate::store::Store;
use futures::StreamExt;
use object_store::path::Path as BlobPath;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many keys one `blob_keys_known` query checks.
const BATCH: usize = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Blobs listed.
    pub examined: u64,
    /// Orphans deleted.
    pub deleted: u64,
}

impl BlobStore {
    /// Deletes every blob that no document row references and that was last modified
    /// more than `older_than` ago.
    ///
    /// The listing is checked against the database in batches and only orphans are
    /// kept; they are deleted after the listing ends (deleting while a directory is
    /// being walked can break the walk), each batch checked once more first.
    pub async fn sweep_orphans(
        &self,
        store: &dyn Store,
        older_than: Duration,
    ) -> Result<SweepReport, StoreError> {
        let cutoff_ms = cutoff_millis(older_than);
        let mut report = SweepReport::default();
        let mut candidates: Vec<BlobPath> = Vec::with_capacity(BATCH);
        let mut orphans: Vec<BlobPath> = Vec::new();
        let mut listing = self.inner.list(None);
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            report.examined += 1;
            if meta.last_modified.timestamp_millis() < cutoff_ms {
                candidates.push(meta.location);
            }
            if candidates.len() >= BATCH {
                orphans.extend(unreferenced(store, &mut candidates).await?);
            }
        }
        drop(listing);
        orphans.extend(unreferenced(store, &mut candidates).await?);
        for batch in orphans.chunks(BATCH) {
            let mut batch = batch.to_vec();
            let still = unreferenced(store, &mut batch).await?;
            report.deleted += self.delete_all(still).await?;
        }
        if let Some(dir) = self.local_dir.clone() {
            let staged = tokio::task::spawn_blocking(move || sweep_staging(&dir, older_than))
                .await
                .map_err(|e| StoreError::Unavailable(format!("staging sweep: {e}")))?;
            report.deleted += staged;
        }
        tracing::info!(
            examined = report.examined,
            deleted = report.deleted,
            "orphan sweep"
        );
        Ok(report)
    }

    /// Deletes `paths` in one bulk request where the backend has one (S3 deletes up to
    /// 1,000 objects per call) and counts what was deleted.
    async fn delete_all(&self, paths: Vec<BlobPath>) -> Result<u64, StoreError> {
        let paths = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut results = self.inner.delete_stream(paths);
        let mut deleted = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok(path) => {
                    tracing::info!(blob_key = %path, "deleted orphan blob");
                    deleted += 1;
                }
                // Gone already (another node's sweep): nothing to do.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }
}

/// Empties the batch, returning the paths no document row references.
async fn unreferenced(
    store: &dyn Store,
    candidates: &mut Vec<BlobPath>,
) -> Result<Vec<BlobPath>, StoreError> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = candidates.iter().map(|p| p.as_ref().to_owned()).collect();
    let known = store.blob_keys_known(&keys).await?;
    Ok(candidates
        .drain(..)
        .filter(|p| !known.contains(p.as_ref()))
        .collect())
}

/// Now minus the grace period, in Unix milliseconds.
fn cutoff_millis(older_than: Duration) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(older_than);
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Whether a file name is a local upload's staging file (`<key>#<digits>`).
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(stem, n)| {
        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Deletes staging files older than `older_than` under `dir`: what an upload killed
/// mid-write leaves. They hold only partial ciphertext, but they are never a document.
fn sweep_staging(dir: &std::path::Path, older_than: Duration) -> u64 {
    let cutoff = SystemTime::now()
        .checked_sub(older_than)
        .unwrap_or(UNIX_EPOCH);
    let mut deleted = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let name = entry.file_name();
            let old = meta.modified().is_ok_and(|m| m <= cutoff);
            if old && name.to_str().is_some_and(is_staging) && std::fs::remove_file(&path).is_ok() {
                tracing::info!(file = %path.display(), "deleted an interrupted upload's staging file");
                deleted += 1;
            }
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::is_staging;

    #[test]
    fn staging_names_are_recognised() {
        assert!(is_staging("0190-abc#1"));
        assert!(is_staging("x#12"));
        assert!(!is_staging("0190-abc"));
        assert!(!is_staging("#1"));
        assert!(!is_staging("x#"));
        assert!(!is_staging("x#1a"));
    }
}
