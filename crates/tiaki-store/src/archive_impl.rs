//! [`ArchiveStore`](crate::archive::ArchiveStore) for both backends. The SQL is the same
//! on SQLite and PostgreSQL, so one macro writes both implementations; how a write
//! transaction begins and how an audit event joins it are the backend's (`begin` and
//! `append_in` at the call site).

use crate::archive::{ArchiveEntry, Resolution, RetrievalRequest};
use crate::codec::{from_nanos, opt_from_nanos};
use crate::error::StoreError;
use tiaki_crypto::ArchivedDataKey;
use tiaki_domain::{AccountId, DocumentId, PatientId, PracticeId};
use uuid::Uuid;

macro_rules! archive_document_columns {
    () => {
        "id, patient_id, practice_id, kind, title, filename, content_type, size_bytes, \
         created_at_ns, uploaded_by, blob_key, data_key, state"
    };
}
pub(crate) use archive_document_columns;

pub(crate) const ENTRY_COLUMNS: &str =
    "document_id, patient_id, archive_key, sealed_key, rule, archived_at_ns";

#[derive(sqlx::FromRow)]
pub(crate) struct EntryRow {
    document_id: Uuid,
    patient_id: Uuid,
    archive_key: Vec<u8>,
    sealed_key: Vec<u8>,
    rule: String,
    archived_at_ns: i64,
}

impl TryFrom<EntryRow> for ArchiveEntry {
    type Error = StoreError;
    fn try_from(r: EntryRow) -> Result<Self, StoreError> {
        Ok(Self {
            document: DocumentId::from_uuid(r.document_id),
            patient: PatientId::from_uuid(r.patient_id),
            archive_key: r
                .archive_key
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::corrupt("archive key is not 32 bytes"))?,
            sealed_key: ArchivedDataKey(r.sealed_key),
            rule: r.rule,
            archived_at: from_nanos(r.archived_at_ns)?,
        })
    }
}

pub(crate) const REQUEST_COLUMNS: &str = "id, document_id, patient_id, practice_id, \
     requested_by, requested_at_ns, resolved_at_ns, resolution";

#[derive(sqlx::FromRow)]
pub(crate) struct RequestRow {
    id: Uuid,
    document_id: Uuid,
    patient_id: Uuid,
    practice_id: Uuid,
    requested_by: Uuid,
    requested_at_ns: i64,
    resolved_at_ns: Option<i64>,
    resolution: Option<String>,
}

impl TryFrom<RequestRow> for RetrievalRequest {
    type Error = StoreError;
    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            document: DocumentId::from_uuid(r.document_id),
            patient: PatientId::from_uuid(r.patient_id),
            practice: PracticeId::from_uuid(r.practice_id),
            requested_by: AccountId::from_uuid(r.requested_by),
            requested_at: from_nanos(r.requested_at_ns)?,
            resolved_at: opt_from_nanos(r.resolved_at_ns)?,
            resolution: r
                .resolution
                .map(|s| {
                    Resolution::parse(&s).ok_or_else(|| StoreError::corrupt("request resolution"))
                })
                .transpose()?,
        })
    }
}

/// Writes `impl ArchiveStore for $store`; `$begin` turns the pool into a write
/// transaction, and `append_in(&mut conn, event)` in the calling module adds an audit
/// event to it.
macro_rules! impl_archive_store {
    ($store:ty, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::archive::ArchiveStore for $store {
            async fn archive_due(
                &self,
                cutoff: &$crate::archive::RetentionCutoff,
                after: Option<::tiaki_domain::DocumentId>,
                limit: u32,
            ) -> Result<Vec<$crate::model::DocumentRecord>, $crate::error::StoreError> {
                use $crate::archive::ARCHIVE_LIST_LIMIT;
                let after = after.map_or(::uuid::Uuid::nil(), |d| *d.as_uuid());
                let rows: Vec<$crate::rows::DocumentRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::archive_impl::archive_document_columns!(),
                    " FROM documents WHERE state = 'online' AND kind = $1 \
                     AND created_at_ns < $2 AND id > $3 ORDER BY id LIMIT $4"
                ))
                .bind(cutoff.kind.as_str())
                .bind($crate::codec::nanos(cutoff.before)?)
                .bind(after)
                .bind(i64::from(limit.min(ARCHIVE_LIST_LIMIT)))
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            async fn archive_due_count(
                &self,
                cutoff: &$crate::archive::RetentionCutoff,
            ) -> Result<u64, $crate::error::StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM documents WHERE state = 'online' AND kind = $1 \
                     AND created_at_ns < $2",
                )
                .bind(cutoff.kind.as_str())
                .bind($crate::codec::nanos(cutoff.before)?)
                .fetch_one(&self.pool)
                .await?;
                $crate::codec::to_u64(n, "due documents")
            }

            async fn archive_commit(
                &self,
                items: &[$crate::archive::ArchiveItem],
            ) -> Result<Vec<::tiaki_domain::DocumentId>, $crate::error::StoreError> {
                use $crate::codec::nanos;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut archived = Vec::with_capacity(items.len());
                for item in items {
                    let e = &item.entry;
                    let empty: &[u8] = &[];
                    let changed = sqlx::query(
                        "UPDATE documents SET state = 'archived', data_key = $3 \
                         WHERE id = $1 AND state = 'online' AND data_key = $2",
                    )
                    .bind(e.document.as_uuid())
                    .bind(&item.expected_data_key.0)
                    .bind(empty)
                    .execute(&mut *tx)
                    .await?;
                    if changed.rows_affected() != 1 {
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO document_archive (document_id, patient_id, archive_key, \
                         sealed_key, rule, archived_at_ns) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(e.document.as_uuid())
                    .bind(e.patient.as_uuid())
                    .bind(e.archive_key.as_slice())
                    .bind(&e.sealed_key.0)
                    .bind(&e.rule)
                    .bind(nanos(e.archived_at)?)
                    .execute(&mut *tx)
                    .await?;
                    append_in(&mut tx, &item.event).await?;
                    archived.push(e.document);
                }
                tx.commit().await?;
                Ok(archived)
            }

            async fn archive_entry(
                &self,
                document: ::tiaki_domain::DocumentId,
            ) -> Result<Option<$crate::archive::ArchiveEntry>, $crate::error::StoreError> {
                let row: Option<$crate::archive_impl::EntryRow> =
                    sqlx::query_as(::sqlx::AssertSqlSafe(format!(
                        "SELECT {} FROM document_archive WHERE document_id = $1",
                        $crate::archive_impl::ENTRY_COLUMNS
                    )))
                    .bind(document.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn archive_restore(
                &self,
                document: ::tiaki_domain::DocumentId,
                data_key: &$crate::crypto_types::WrappedDataKey,
                at: ::time::OffsetDateTime,
                event: &::tiaki_audit::AuditEvent,
            ) -> Result<bool, $crate::error::StoreError> {
                if data_key.0.is_empty() {
                    return Err($crate::error::StoreError::Conflict(
                        "a restored document needs a wrapped key".into(),
                    ));
                }
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let changed = sqlx::query(
                    "UPDATE documents SET state = 'online', data_key = $2 \
                     WHERE id = $1 AND state = 'archived'",
                )
                .bind(document.as_uuid())
                .bind(&data_key.0)
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM document_archive WHERE document_id = $1")
                    .bind(document.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE retrieval_requests SET resolved_at_ns = $2, resolution = 'restored' \
                     WHERE document_id = $1 AND resolved_at_ns IS NULL",
                )
                .bind(document.as_uuid())
                .bind($crate::codec::nanos(at)?)
                .execute(&mut *tx)
                .await?;
                append_in(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn patient_erase(
                &self,
                patient: ::tiaki_domain::PatientId,
                reason: &str,
                at: ::time::OffsetDateTime,
                event: &::tiaki_audit::AuditEvent,
            ) -> Result<Option<$crate::archive::Erasure>, $crate::error::StoreError> {
                let at_ns = $crate::codec::nanos(at)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let key = sqlx::query("DELETE FROM patient_keys WHERE patient_id = $1")
                    .bind(patient.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                if key.rows_affected() != 1 {
                    // No such patient, or erased before: nothing to do.
                    return Ok(None);
                }
                let empty: &[u8] = &[];
                let blob_keys: Vec<String> = sqlx::query_scalar(
                    "UPDATE documents SET state = 'erased', data_key = $2 \
                     WHERE patient_id = $1 RETURNING blob_key",
                )
                .bind(patient.as_uuid())
                .bind(empty)
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM document_archive WHERE patient_id = $1")
                    .bind(patient.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE retrieval_requests SET resolved_at_ns = $2, resolution = 'erased' \
                     WHERE patient_id = $1 AND resolved_at_ns IS NULL",
                )
                .bind(patient.as_uuid())
                .bind(at_ns)
                .execute(&mut *tx)
                .await?;
                let documents = u64::try_from(blob_keys.len()).unwrap_or(u64::MAX);
                sqlx::query(
                    "INSERT INTO patient_erasures (patient_id, reason, documents, erased_at_ns) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(patient.as_uuid())
                .bind(reason)
                .bind($crate::codec::to_i64(documents)?)
                .bind(at_ns)
                .execute(&mut *tx)
                .await?;
                append_in(&mut tx, event).await?;
                tx.commit().await?;
                Ok(Some($crate::archive::Erasure {
                    patient,
                    erased_at: at,
                    documents,
                    blob_keys,
                }))
            }

            async fn patient_erased_at(
                &self,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<Option<::time::OffsetDateTime>, $crate::error::StoreError> {
                let at: Option<i64> = sqlx::query_scalar(
                    "SELECT erased_at_ns FROM patient_erasures WHERE patient_id = $1",
                )
                .bind(patient.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                $crate::codec::opt_from_nanos(at)
            }

            async fn retrieval_request(
                &self,
                request: &$crate::archive::RetrievalRequest,
                event: &::tiaki_audit::AuditEvent,
            ) -> Result<$crate::archive::RetrievalRequest, $crate::error::StoreError> {
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                sqlx::query(
                    "INSERT INTO retrieval_requests (id, document_id, patient_id, practice_id, \
                     requested_by, requested_at_ns) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (document_id) WHERE resolved_at_ns IS NULL DO NOTHING",
                )
                .bind(request.id)
                .bind(request.document.as_uuid())
                .bind(request.patient.as_uuid())
                .bind(request.practice.as_uuid())
                .bind(request.requested_by.as_uuid())
                .bind($crate::codec::nanos(request.requested_at)?)
                .execute(&mut *tx)
                .await?;
                let open: $crate::archive_impl::RequestRow =
                    sqlx::query_as(::sqlx::AssertSqlSafe(format!(
                        "SELECT {} FROM retrieval_requests \
                         WHERE document_id = $1 AND resolved_at_ns IS NULL",
                        $crate::archive_impl::REQUEST_COLUMNS
                    )))
                    .bind(request.document.as_uuid())
                    .fetch_one(&mut *tx)
                    .await?;
                append_in(&mut tx, event).await?;
                tx.commit().await?;
                open.try_into()
            }

            async fn retrieval_requests_of(
                &self,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<Vec<$crate::archive::RetrievalRequest>, $crate::error::StoreError> {
                let rows: Vec<$crate::archive_impl::RequestRow> =
                    sqlx::query_as(::sqlx::AssertSqlSafe(format!(
                        "SELECT {} FROM retrieval_requests WHERE patient_id = $1 \
                         ORDER BY requested_at_ns DESC, id DESC LIMIT $2",
                        $crate::archive_impl::REQUEST_COLUMNS
                    )))
                    .bind(patient.as_uuid())
                    .bind(i64::from($crate::archive::ARCHIVE_LIST_LIMIT))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn retrieval_requests_open(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::archive::RetrievalRequest>, $crate::error::StoreError> {
                let limit = limit.min($crate::archive::ARCHIVE_LIST_LIMIT);
                let rows: Vec<$crate::archive_impl::RequestRow> =
                    sqlx::query_as(::sqlx::AssertSqlSafe(format!(
                        "SELECT {} FROM retrieval_requests WHERE resolved_at_ns IS NULL \
                         ORDER BY requested_at_ns, id LIMIT $1",
                        $crate::archive_impl::REQUEST_COLUMNS
                    )))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn documents_with_state_of(
                &self,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<
                Vec<(::tiaki_domain::DocumentMeta, $crate::model::DocumentState)>,
                $crate::error::StoreError,
            > {
                let rows: Vec<$crate::rows::DocumentRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::archive_impl::archive_document_columns!(),
                    " FROM documents WHERE patient_id = $1 ORDER BY created_at_ns DESC, id DESC"
                ))
                .bind(patient.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                let records: Vec<$crate::model::DocumentRecord> = $crate::rows::convert_all(rows)?;
                Ok(records.into_iter().map(|r| (r.meta, r.state)).collect())
            }
        }
    };
}

pub(crate) use impl_archive_store;
