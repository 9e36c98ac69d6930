//! Streaming uploads: fixed-size parts, bounded memory, visible only when complete.

use super::{BlobStore, blob_path};
use crate::error::StoreError;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{PutMultipartOptions, WriteMultipart};
use std::fmt::Display;
use std::pin::pin;

/// S3's smallest part size (except the last); also a sensible local write size.
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts uploading at once. Memory is bounded by about `(PARTS_IN_FLIGHT + 1) *
/// PART_SIZE` per upload, whatever the object's size.
const PARTS_IN_FLIGHT: usize = 2;

impl BlobStore {
    /// Stores the stream under `key` and returns its length in bytes.
    ///
    /// If the input yields an error, or a part fails, the upload is aborted and nothing
    /// is left under `key` (nor any staging file or pending multipart upload). The
    /// input's error message is kept in the `Unavailable` it becomes.
    pub async fn put_stream<S, E>(&self, key: &str, data: S) -> Result<u64, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let path = blob_path(key)?;
        let upload = self
            .inner
            .put_multipart_opts(&path, PutMultipartOptions::default())
            .await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut data = pin!(data);
        let mut written: u64 = 0;
        while let Some(item) = data.next().await {
            // Described at once, so the caller's error type is never held across an
            // await (the future stays `Send` whatever `E` is).
            let chunk = match item.map_err(|e| format!("upload input failed: {e}")) {
                Ok(chunk) => chunk,
                Err(message) => {
                    abort(writer).await;
                    return Err(StoreError::Unavailable(message));
                }
            };
            // Back-pressure: wait for a part to finish before buffering the next one.
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                abort(writer).await;
                return Err(e.into());
            }
            written = written.saturating_add(chunk.len() as u64);
            writer.put(chunk);
        }
        // `finish` aborts the upload itself if a part or the completion fails.
        writer.finish().await?;
        Ok(written)
    }
}

async fn abort(writer: WriteMultipart) {
    if let Err(e) = writer.abort().await {
        // The object never became visible; only a staging file or pending multipart
        // upload may remain, and the store's own expiry rules collect those.
        tracing::warn!(error = %e, "aborting a failed upload failed");
    }
}
