//! The audit log on SQLite: appends (a batch in one transaction) and the reads the
//! portal and the operators need.

use super::BEGIN_WRITE;
use crate::codec::{EventColumns, limit, to_u64};
use crate::error::StoreError;
use crate::rows::{AuditRow, convert_all};
use sqlx::{SqliteConnection, SqlitePool};
use tiaki_audit::AuditEvent;
use tiaki_domain::PatientId;

macro_rules! event_columns {
    () => {
        "id, at_ns, actor_account, actor_role, actor_practice, session_id, action, outcome, \
         patient_id, practice_id, document_id, address, purpose, reason, bytes"
    };
}

/// Inserts one event on an open transaction and returns its sequence number.
pub(super) async fn insert_event(
    conn: &mut SqliteConnection,
    event: &AuditEvent,
) -> Result<u64, StoreError> {
    let c = EventColumns::encode(event)?;
    let seq: i64 = sqlx::query_scalar(concat!(
        "INSERT INTO audit_events (",
        event_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ",
        "RETURNING seq"
    ))
    .bind(c.id)
    .bind(c.at_ns)
    .bind(c.actor_account)
    .bind(c.actor_role)
    .bind(c.actor_practice)
    .bind(c.session)
    .bind(c.action)
    .bind(c.outcome)
    .bind(c.patient)
    .bind(c.practice)
    .bind(c.document)
    .bind(c.address)
    .bind(c.purpose)
    .bind(c.reason)
    .bind(c.bytes)
    .fetch_one(conn)
    .await?;
    to_u64(seq, "sequence")
}

/// All of `events` or none; the sequence numbers are returned only after the commit.
pub(super) async fn append(
    pool: &SqlitePool,
    events: &[AuditEvent],
) -> Result<Vec<u64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let mut sequences = Vec::with_capacity(events.len());
    for event in events {
        sequences.push(insert_event(&mut tx, event).await?);
    }
    tx.commit().await?;
    Ok(sequences)
}

pub(super) async fn events_of_patient(
    pool: &SqlitePool,
    patient: PatientId,
    max: u32,
) -> Result<Vec<(u64, AuditEvent)>, StoreError> {
    let rows: Vec<AuditRow> = sqlx::query_as(concat!(
        "SELECT seq, ",
        event_columns!(),
        " FROM audit_events WHERE patient_id = $1 ORDER BY seq DESC LIMIT $2"
    ))
    .bind(patient.as_uuid())
    .bind(limit(max))
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}

pub(super) async fn count(pool: &SqlitePool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(pool)
        .await?;
    to_u64(n, "count")
}
