//! Documents on PostgreSQL: the atomic insert with its audit event, and the lookups.

use super::audit;
use crate::codec::{nanos, to_i64};
use crate::error::StoreError;
use crate::model::DocumentRecord;
use crate::rows::{DocumentRow, convert_all};
use sqlx::PgPool;
use std::collections::HashSet;
use tiaki_audit::AuditEvent;
use tiaki_domain::{DocumentId, DocumentMeta, PatientId};

macro_rules! document_columns {
    () => {
        "id, patient_id, practice_id, kind, title, filename, content_type, size_bytes, \
         created_at_ns, uploaded_by, blob_key, data_key, state"
    };
}

pub(super) async fn document_insert(
    pool: &PgPool,
    doc: &DocumentRecord,
    event: &AuditEvent,
) -> Result<u64, StoreError> {
    let m = &doc.meta;
    let mut tx = pool.begin().await?;
    sqlx::query(concat!(
        "INSERT INTO documents (",
        document_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(m.id.as_uuid())
    .bind(m.patient.as_uuid())
    .bind(m.practice.as_uuid())
    .bind(m.kind.as_str())
    .bind(m.title.as_str())
    .bind(m.filename.as_str())
    .bind(m.content_type.mime())
    .bind(to_i64(m.size_bytes)?)
    .bind(nanos(m.created_at)?)
    .bind(m.uploaded_by.as_uuid())
    .bind(&doc.blob_key)
    .bind(&doc.data_key.0)
    .bind(doc.state.as_str())
    .execute(&mut *tx)
    .await?;
    audit::lock_sequence(&mut tx).await?;
    let seq = audit::insert_event(&mut tx, event).await?;
    // Dropping `tx` on any error above rolls everything back.
    tx.commit().await?;
    Ok(seq)
}

pub(super) async fn document(
    pool: &PgPool,
    id: DocumentId,
) -> Result<Option<DocumentRecord>, StoreError> {
    let row: Option<DocumentRow> = sqlx::query_as(concat!(
        "SELECT ",
        document_columns!(),
        " FROM documents WHERE id = $1"
    ))
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await?;
    row.map(DocumentRecord::try_from).transpose()
}

pub(super) async fn documents_of(
    pool: &PgPool,
    patient: PatientId,
) -> Result<Vec<DocumentMeta>, StoreError> {
    let rows: Vec<DocumentRow> = sqlx::query_as(concat!(
        "SELECT ",
        document_columns!(),
        " FROM documents WHERE patient_id = $1 ORDER BY created_at_ns DESC, id DESC"
    ))
    .bind(patient.as_uuid())
    .fetch_all(pool)
    .await?;
    let records: Vec<DocumentRecord> = convert_all(rows)?;
    Ok(records.into_iter().map(|r| r.meta).collect())
}

pub(super) async fn blob_keys_known(
    pool: &PgPool,
    keys: &[String],
) -> Result<HashSet<String>, StoreError> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    // One statement for the whole batch: the keys travel as a text[].
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT blob_key FROM documents WHERE blob_key = ANY($1) AND state <> 'erased'",
    )
    .bind(keys)
    .fetch_all(pool)
    .await?;
    Ok(known.into_iter().collect())
}
