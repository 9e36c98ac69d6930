//! The audit log on PostgreSQL: appends (a batch in one transaction, in sequence order) and the reads the
//! portal and the operators need.

use crate::codec::{EventColumns, limit, to_u64};
use crate::error::StoreError;
use crate::rows::{AuditRow, convert_all};
use sqlx::{PgConnection, PgPool};
use tiaki_audit::AuditEvent;
use tiaki_domain::PatientId;

macro_rules! event_columns {
    () => {
        "id, at_ns, actor_account, actor_role, actor_practice, session_id, action, outcome, \
         patient_id, practice_id, document_id, address, purpose, reason, bytes"
    };
}

/// Any number that identifies Tiaki's audit append lock among advisory locks ("TIAKI").
const AUDIT_LOCK: i64 = 0x0054_4941_4b49;

/// Serialises audit appends until the transaction ends, so events commit in sequence
/// order: identity values are handed out at insert, and without the lock a reader could
/// see event n+1 committed while event n is still in flight.
pub(super) async fn lock_sequence(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts one event on an open transaction and returns its sequence number.
pub(super) async fn insert_event(
    conn: &mut PgConnection,
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
pub(super) async fn append(pool: &PgPool, events: &[AuditEvent]) -> Result<Vec<u64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await?;
    lock_sequence(&mut tx).await?;
    let mut sequences = Vec::with_capacity(events.len());
    for event in events {
        sequences.push(insert_event(&mut tx, event).await?);
    }
    tx.commit().await?;
    Ok(sequences)
}

pub(super) async fn events_of_patient(
    pool: &PgPool,
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

pub(super) async fn count(pool: &PgPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(pool)
        .await?;
    to_u64(n, "count")
}
