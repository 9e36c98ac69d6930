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
    let leaf_hash =
        tiaki_audit::event_leaf_hash(event).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let seq: i64 = sqlx::query_scalar(concat!(
        "INSERT INTO audit_events (",
        event_columns!(),
        ", leaf_index, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, ",
        "(SELECT coalesce(max(leaf_index) + 1, 0) FROM audit_events), $16) ",
        "RETURNING leaf_index"
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
    .bind(leaf_hash.as_slice())
    .fetch_one(conn)
    .await?;
    to_u64(seq, "leaf index")
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
        "SELECT leaf_index AS seq, ",
        event_columns!(),
        " FROM audit_events WHERE patient_id = $1 ORDER BY leaf_index DESC LIMIT $2"
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

// --- the Merkle log's storage --------------------------------------------------------

fn unavailable(e: StoreError) -> tiaki_audit::AuditError {
    tiaki_audit::AuditError::Unavailable(e.to_string())
}

fn hash32(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::corrupt(format!("{what} is not 32 bytes")))
}

async fn log_size(pool: &PgPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT coalesce(max(leaf_index) + 1, 0) FROM audit_events")
        .fetch_one(pool)
        .await?;
    to_u64(n, "log size")
}

async fn leaf_hashes(pool: &PgPool, from: u64, to: u64) -> Result<Vec<[u8; 32]>, StoreError> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT leaf_hash FROM audit_events WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
    )
    .bind(crate::codec::to_i64(from)?)
    .bind(crate::codec::to_i64(to)?)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|h| hash32(h, "a leaf hash")).collect()
}

async fn log_entries(
    pool: &PgPool,
    from: u64,
    to: u64,
) -> Result<Vec<tiaki_audit::LogEntry>, StoreError> {
    let rows: Vec<AuditRow> = sqlx::query_as(concat!(
        "SELECT leaf_index AS seq, ",
        event_columns!(),
        " FROM audit_events WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index"
    ))
    .bind(crate::codec::to_i64(from)?)
    .bind(crate::codec::to_i64(to)?)
    .fetch_all(pool)
    .await?;
    let events: Vec<(u64, AuditEvent)> = convert_all(rows)?;
    let hashes = leaf_hashes(pool, from, to).await?;
    if hashes.len() != events.len() {
        return Err(StoreError::corrupt("leaf hashes and events disagree"));
    }
    Ok(events
        .into_iter()
        .zip(hashes)
        .map(|((index, event), leaf_hash)| tiaki_audit::LogEntry {
            index,
            event,
            leaf_hash,
        })
        .collect())
}

async fn log_entry_by_id(
    pool: &PgPool,
    id: tiaki_domain::AccessId,
) -> Result<Option<tiaki_audit::LogEntry>, StoreError> {
    let row: Option<AuditRow> = sqlx::query_as(concat!(
        "SELECT leaf_index AS seq, ",
        event_columns!(),
        " FROM audit_events WHERE id = $1"
    ))
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let (index, event): (u64, AuditEvent) = row.try_into()?;
    let leaf_hash = leaf_hashes(pool, index, index + 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::corrupt("an event without its leaf"))?;
    Ok(Some(tiaki_audit::LogEntry {
        index,
        event,
        leaf_hash,
    }))
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    size: i64,
    root: Vec<u8>,
    note: String,
    made_at_ns: i64,
}

impl TryFrom<CheckpointRow> for tiaki_audit::StoredCheckpoint {
    type Error = StoreError;
    fn try_from(r: CheckpointRow) -> Result<Self, StoreError> {
        Ok(Self {
            size: to_u64(r.size, "checkpoint size")?,
            root: hash32(r.root, "a checkpoint root")?,
            note: r.note,
            made_at: crate::codec::from_nanos(r.made_at_ns)?,
        })
    }
}

async fn checkpoint_put(
    pool: &PgPool,
    c: &tiaki_audit::StoredCheckpoint,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (size, root, note, made_at_ns) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING",
    )
    .bind(crate::codec::to_i64(c.size)?)
    .bind(c.root.as_slice())
    .bind(&c.note)
    .bind(crate::codec::nanos(c.made_at)?)
    .execute(pool)
    .await?;
    Ok(())
}

async fn checkpoints_where(
    pool: &PgPool,
    clause: &'static str,
    size: Option<u64>,
) -> Result<Vec<tiaki_audit::StoredCheckpoint>, StoreError> {
    let sql = format!("SELECT size, root, note, made_at_ns FROM audit_checkpoints {clause}");
    // `clause` is one of three constant strings written below, never input.
    let mut query = sqlx::query_as::<_, CheckpointRow>(sqlx::AssertSqlSafe(sql));
    if let Some(size) = size {
        query = query.bind(crate::codec::to_i64(size)?);
    }
    convert_all(query.fetch_all(pool).await?)
}

#[async_trait::async_trait]
impl tiaki_audit::LogStorage for super::PgStore {
    async fn log_size(&self) -> Result<u64, tiaki_audit::AuditError> {
        log_size(&self.pool).await.map_err(unavailable)
    }

    async fn leaf_hashes(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<[u8; 32]>, tiaki_audit::AuditError> {
        leaf_hashes(&self.pool, from, to).await.map_err(unavailable)
    }

    async fn log_entries(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<tiaki_audit::LogEntry>, tiaki_audit::AuditError> {
        log_entries(&self.pool, from, to).await.map_err(unavailable)
    }

    async fn log_entry_by_id(
        &self,
        id: tiaki_domain::AccessId,
    ) -> Result<Option<tiaki_audit::LogEntry>, tiaki_audit::AuditError> {
        log_entry_by_id(&self.pool, id).await.map_err(unavailable)
    }

    async fn checkpoint_put(
        &self,
        c: &tiaki_audit::StoredCheckpoint,
    ) -> Result<(), tiaki_audit::AuditError> {
        checkpoint_put(&self.pool, c).await.map_err(unavailable)
    }

    async fn checkpoint_latest(
        &self,
    ) -> Result<Option<tiaki_audit::StoredCheckpoint>, tiaki_audit::AuditError> {
        let mut found = checkpoints_where(&self.pool, "ORDER BY size DESC LIMIT 1", None)
            .await
            .map_err(unavailable)?;
        Ok(found.pop())
    }

    async fn checkpoint_at(
        &self,
        size: u64,
    ) -> Result<Option<tiaki_audit::StoredCheckpoint>, tiaki_audit::AuditError> {
        let mut found = checkpoints_where(&self.pool, "WHERE size = $1", Some(size))
            .await
            .map_err(unavailable)?;
        Ok(found.pop())
    }

    async fn checkpoints(
        &self,
    ) -> Result<Vec<tiaki_audit::StoredCheckpoint>, tiaki_audit::AuditError> {
        checkpoints_where(&self.pool, "ORDER BY size", None)
            .await
            .map_err(unavailable)
    }

    async fn search(
        &self,
        q: &tiaki_audit::AuditQuery,
    ) -> Result<Vec<(u64, AuditEvent)>, tiaki_audit::AuditError> {
        search(&self.pool, q).await.map_err(unavailable)
    }
}

async fn search(
    pool: &PgPool,
    q: &tiaki_audit::AuditQuery,
) -> Result<Vec<(u64, AuditEvent)>, StoreError> {
    let mut sql = sqlx::QueryBuilder::<sqlx::Postgres>::new(concat!(
        "SELECT leaf_index AS seq, ",
        event_columns!(),
        " FROM audit_events WHERE 1 = 1"
    ));
    if let Some(actor) = q.actor {
        sql.push(" AND actor_account = ")
            .push_bind(*actor.as_uuid());
    }
    if let Some(patient) = q.patient {
        sql.push(" AND patient_id = ").push_bind(*patient.as_uuid());
    }
    if let Some(document) = q.document {
        sql.push(" AND document_id = ")
            .push_bind(*document.as_uuid());
    }
    if let Some((lo, hi)) = q.address_range() {
        sql.push(" AND address BETWEEN ")
            .push_bind(lo.to_vec())
            .push(" AND ")
            .push_bind(hi.to_vec());
    }
    if let Some(from) = q.from {
        sql.push(" AND at_ns >= ")
            .push_bind(crate::codec::nanos(from)?);
    }
    if let Some(to) = q.to {
        sql.push(" AND at_ns < ")
            .push_bind(crate::codec::nanos(to)?);
    }
    sql.push(" ORDER BY at_ns DESC, leaf_index DESC LIMIT ")
        .push_bind(limit(q.limit));
    let rows: Vec<AuditRow> = sql.build_query_as().fetch_all(pool).await?;
    convert_all(rows)
}
