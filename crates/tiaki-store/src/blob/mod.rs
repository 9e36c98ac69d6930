//! The blob store: document ciphertext, by key, in a local directory or any
//! S3-compatible object store.
//!
//! Only ciphertext ever reaches it (the vault encrypts before `put_stream`). Uploads
//! stream in fixed-size parts so memory stays flat, and an object becomes visible only
//! when complete: a staging file renamed into place locally, a completed multipart
//! upload on S3. A failed upload is aborted and leaves nothing behind.

mod sweep;
mod upload;

pub use sweep::SweepReport;

use crate::error::StoreError;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as BlobPath;
use object_store::{BackoffConfig, ClientOptions, GetOptions, ObjectStore, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where an S3-compatible bucket is and how to sign requests to it.
#[derive(Clone)]
pub struct S3Config {
    /// `None` for AWS itself; e.g. `http://127.0.0.1:9000` for MinIO, Garage or s3s-fs.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Allow a plain-HTTP endpoint (local test servers only).
    pub allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Ciphertext storage. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// Where the blobs are, for `Debug`: a directory, or an endpoint and bucket.
    location: String,
    /// For a local store, its directory: the sweep also clears staging files that an
    /// upload killed mid-write left behind (the object store's listing hides them).
    local_dir: Option<std::path::PathBuf>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Objects up to this size are read in one request rather than streamed.
const WHOLE_READ_MAX: u64 = 1024 * 1024;

impl BlobStore {
    /// Blobs as files under `dir` (created if missing). Writes are fsynced, file and
    /// directory, before an upload counts as stored.
    pub fn local(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        // No automatic clean-up of emptied directories: it would race with an upload
        // creating its staging file in the same directory.
        let fs = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
        Ok(Self {
            inner: Arc::new(fs),
            location: format!("file://{}", dir.display()),
            local_dir: Some(dir.to_owned()),
        })
    }

    /// Blobs in an S3-compatible bucket (path-style requests when an endpoint is given).
    pub fn s3(cfg: &S3Config) -> Result<Self, StoreError> {
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 4,
            retry_timeout: Duration::from_secs(30),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(cfg.secret_access_key.expose_secret())
            .with_retry(retry)
            .with_client_options(ClientOptions::new().with_allow_http(cfg.allow_http));
        if let Some(endpoint) = &cfg.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let s3 = builder.build()?;
        Ok(Self {
            local_dir: None,
            inner: Arc::new(s3),
            location: format!(
                "s3://{}/{}",
                cfg.endpoint.as_deref().unwrap_or("aws"),
                cfg.bucket
            ),
        })
    }

    /// The object's bytes as a stream; `NotFound` if there is no such object.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let path = blob_path(key)?;
        let got = self.inner.get_opts(&path, GetOptions::default()).await?;
        // Most documents are small: one read costs far less than the local store's
        // streaming, which hands every 8 KiB piece to the blocking pool. Large objects
        // still stream, so memory stays flat whatever the file size.
        if got.meta.size <= WHOLE_READ_MAX {
            let bytes = got.bytes().await?;
            return Ok(futures::stream::once(async move { Ok(bytes) }).boxed());
        }
        Ok(got
            .into_stream()
            .map(|chunk| chunk.map_err(StoreError::from))
            .boxed())
    }

    /// Deletes the object; deleting what is not there is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = blob_path(key)?;
        self.delete_path(path).await
    }

    /// The object's size, or `None` if there is no such object.
    pub async fn head_size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = blob_path(key)?;
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.inner.get_opts(&path, options).await {
            Ok(got) => Ok(Some(got.meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_path(&self, path: BlobPath) -> Result<(), StoreError> {
        let mut deleted = self
            .inner
            .delete_stream(futures::stream::iter([Ok(path)]).boxed());
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A blob key as an object path. Keys are made by Tiaki (ids), so anything that is not
/// a clean relative path is refused rather than normalised.
fn blob_path(key: &str) -> Result<BlobPath, StoreError> {
    let path = BlobPath::parse(key).map_err(|_| StoreError::corrupt("invalid blob key"))?;
    if path.as_ref() != key || key.is_empty() {
        return Err(StoreError::corrupt("invalid blob key"));
    }
    Ok(path)
}
