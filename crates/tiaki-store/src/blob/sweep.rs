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
