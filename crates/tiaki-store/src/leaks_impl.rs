//! [`LeakStore`](crate::leaks::LeakStore) for both backends. The SQL is the same on
//! SQLite and PostgreSQL (`ON CONFLICT DO NOTHING`, blobs and uuids bind natively), so
//! one macro writes both implementations; only how a write transaction begins differs.

use crate::codec::to_u64;
use crate::error::StoreError;
use crate::leaks::{FingerprintCoverage, FingerprintHit};
use tiaki_domain::DocumentId;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub(crate) struct HitRow {
    document_id: Uuid,
    kind: String,
    digest: Vec<u8>,
}

impl TryFrom<HitRow> for FingerprintHit {
    type Error = StoreError;
    fn try_from(r: HitRow) -> Result<Self, StoreError> {
        Ok(Self {
            document: DocumentId::from_uuid(r.document_id),
            kind: r.kind,
            digest: r
                .digest
                .try_into()
                .map_err(|_| StoreError::corrupt("fingerprint digest"))?,
        })
    }
}

/// `SELECT … WHERE digest IN ($1, …, $n)` for `n` digests.
pub(crate) fn find_sql(n: usize) -> String {
    let params: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!(
        "SELECT document_id, kind, digest FROM document_fingerprints WHERE digest IN ({}) \
         ORDER BY document_id, kind, digest",
        params.join(", ")
    )
}

pub(crate) fn coverage(
    documents: i64,
    fingerprinted: i64,
) -> Result<FingerprintCoverage, StoreError> {
    Ok(FingerprintCoverage {
        documents: to_u64(documents, "document count")?,
        fingerprinted: to_u64(fingerprinted, "fingerprinted count")?,
    })
}

pub(crate) fn too_many(n: usize) -> StoreError {
    StoreError::Unavailable(format!(
        "at most {} digests per lookup, not {n}",
        crate::leaks::LOOKUP_BATCH
    ))
}

/// Writes `impl LeakStore for $store`; `$begin` turns the pool into a write transaction.
macro_rules! impl_leak_store {
    ($store:ty, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::leaks::LeakStore for $store {
            async fn fingerprints_put(
                &self,
                document: ::tiaki_domain::DocumentId,
                prints: &[(&str, [u8; 32])],
            ) -> Result<(), $crate::error::StoreError> {
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                for (kind, digest) in prints {
                    sqlx::query(
                        "INSERT INTO document_fingerprints (document_id, kind, digest) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(document.as_uuid())
                    .bind(*kind)
                    .bind(digest.as_slice())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn fingerprints_find(
                &self,
                digests: &[[u8; 32]],
            ) -> Result<Vec<$crate::leaks::FingerprintHit>, $crate::error::StoreError> {
                if digests.is_empty() {
                    return Ok(Vec::new());
                }
                if digests.len() > $crate::leaks::LOOKUP_BATCH {
                    return Err($crate::leaks_impl::too_many(digests.len()));
                }
                let sql = $crate::leaks_impl::find_sql(digests.len());
                let mut query =
                    sqlx::query_as::<_, $crate::leaks_impl::HitRow>(sqlx::AssertSqlSafe(sql));
                for digest in digests {
                    query = query.bind(digest.as_slice());
                }
                let rows = query.fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map($crate::leaks::FingerprintHit::try_from)
                    .collect()
            }

            async fn document_fingerprinted(
                &self,
                document: ::tiaki_domain::DocumentId,
            ) -> Result<bool, $crate::error::StoreError> {
                let row: Option<(i32,)> = sqlx::query_as(
                    "SELECT 1 FROM document_fingerprints WHERE document_id = $1 LIMIT 1",
                )
                .bind(document.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn documents_unfingerprinted(
                &self,
                after: Option<::tiaki_domain::DocumentId>,
                limit: u32,
            ) -> Result<Vec<::tiaki_domain::DocumentId>, $crate::error::StoreError> {
                let after = after.map_or(::uuid::Uuid::nil(), |d| *d.as_uuid());
                let rows: Vec<(::uuid::Uuid,)> = sqlx::query_as(
                    "SELECT d.id FROM documents d WHERE d.id > $1 AND NOT EXISTS \
                     (SELECT 1 FROM document_fingerprints f WHERE f.document_id = d.id) \
                     ORDER BY d.id LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id,)| ::tiaki_domain::DocumentId::from_uuid(id))
                    .collect())
            }

            async fn fingerprint_coverage(
                &self,
            ) -> Result<$crate::leaks::FingerprintCoverage, $crate::error::StoreError> {
                let (documents,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM documents")
                    .fetch_one(&self.pool)
                    .await?;
                let (fingerprinted,): (i64,) =
                    sqlx::query_as("SELECT COUNT(DISTINCT document_id) FROM document_fingerprints")
                        .fetch_one(&self.pool)
                        .await?;
                $crate::leaks_impl::coverage(documents, fingerprinted)
            }
        }
    };
}
pub(crate) use impl_leak_store;
