//! [`IncidentStore`](crate::incidents::IncidentStore) for both backends: the SQL is the
//! same on SQLite and PostgreSQL (uuids bind natively on each), so one macro writes
//! both; only how a write transaction begins differs.

use crate::codec::{from_nanos, ip_from_bytes, opt_from_nanos, to_u64};
use crate::error::StoreError;
use crate::incidents::{Incident, IncidentAccess, IncidentScope, Notice, NoticeState, ScopeQuery};
use tiaki_domain::{AccessId, AccountId, DocumentId, PatientId, PracticeId, SessionId};
use uuid::Uuid;

/// Rows per multi-row insert and per `IN` list: well under SQLite's 32,766 parameters.
pub(crate) const BATCH: usize = 500;

pub(crate) const INCIDENT_COLUMNS: &str =
    "number, title, opened_at_ns, opened_by, published_version, published_at_ns";

#[derive(sqlx::FromRow)]
pub(crate) struct IncidentRow {
    number: i64,
    title: String,
    opened_at_ns: i64,
    opened_by: String,
    published_version: Option<i64>,
    published_at_ns: Option<i64>,
}

impl TryFrom<IncidentRow> for Incident {
    type Error = StoreError;
    fn try_from(r: IncidentRow) -> Result<Self, StoreError> {
        Ok(Self {
            number: to_u64(r.number, "incident number")?,
            title: r.title,
            opened_at: from_nanos(r.opened_at_ns)?,
            opened_by: r.opened_by,
            published_version: r
                .published_version
                .map(|v| to_u64(v, "published version"))
                .transpose()?,
            published_at: opt_from_nanos(r.published_at_ns)?,
        })
    }
}

pub(crate) const SCOPE_COLUMNS: &str = "incident, version, criteria, computed_at_ns, tree_size, \
     checkpoint, accesses, patients, documents, bytes";

#[derive(sqlx::FromRow)]
pub(crate) struct ScopeRow {
    incident: i64,
    version: i64,
    criteria: String,
    computed_at_ns: i64,
    tree_size: i64,
    checkpoint: String,
    accesses: i64,
    patients: i64,
    documents: i64,
    bytes: i64,
}

impl TryFrom<ScopeRow> for IncidentScope {
    type Error = StoreError;
    fn try_from(r: ScopeRow) -> Result<Self, StoreError> {
        Ok(Self {
            incident: to_u64(r.incident, "incident number")?,
            version: to_u64(r.version, "scope version")?,
            criteria: r.criteria,
            computed_at: from_nanos(r.computed_at_ns)?,
            tree_size: to_u64(r.tree_size, "tree size")?,
            checkpoint: r.checkpoint,
            accesses: to_u64(r.accesses, "accesses")?,
            patients: to_u64(r.patients, "patients")?,
            documents: to_u64(r.documents, "documents")?,
            bytes: to_u64(r.bytes, "bytes")?,
        })
    }
}

pub(crate) const ACCESS_COLUMNS: &str = "leaf_index, access_id, at_ns, action, actor_account, \
     actor_role, session_id, address, patient_id, practice_id, document_id, document_kind, \
     document_title, document_at_ns, bytes";

#[derive(sqlx::FromRow)]
pub(crate) struct AccessRow {
    pub(crate) incident: i64,
    leaf_index: i64,
    access_id: Uuid,
    at_ns: i64,
    action: String,
    actor_account: Option<Uuid>,
    actor_role: String,
    session_id: Option<Uuid>,
    address: Option<Vec<u8>>,
    patient_id: Uuid,
    practice_id: Uuid,
    document_id: Option<Uuid>,
    document_kind: Option<String>,
    document_title: Option<String>,
    document_at_ns: Option<i64>,
    bytes: Option<i64>,
}

impl TryFrom<AccessRow> for IncidentAccess {
    type Error = StoreError;
    fn try_from(r: AccessRow) -> Result<Self, StoreError> {
        Ok(Self {
            leaf_index: to_u64(r.leaf_index, "leaf index")?,
            access_id: AccessId::from_uuid(r.access_id),
            at: from_nanos(r.at_ns)?,
            action: r.action,
            actor_account: r.actor_account.map(AccountId::from_uuid),
            actor_role: r.actor_role,
            session: r.session_id.map(SessionId::from_uuid),
            address: r.address.as_deref().map(ip_from_bytes).transpose()?,
            patient: PatientId::from_uuid(r.patient_id),
            practice: PracticeId::from_uuid(r.practice_id),
            document: r.document_id.map(DocumentId::from_uuid),
            document_kind: r.document_kind,
            document_title: r.document_title,
            document_at: opt_from_nanos(r.document_at_ns)?,
            bytes: r.bytes.map(|b| to_u64(b, "bytes")).transpose()?,
        })
    }
}

pub(crate) const NOTICE_COLUMNS: &str = "incident, version, patient_id, practice_id, recipient, \
     subject, body, state, attempts, queued_at_ns, sent_at_ns";

#[derive(sqlx::FromRow)]
pub(crate) struct NoticeRow {
    incident: i64,
    version: i64,
    patient_id: Uuid,
    practice_id: Uuid,
    recipient: Option<String>,
    subject: String,
    body: String,
    state: String,
    attempts: i64,
    queued_at_ns: i64,
    sent_at_ns: Option<i64>,
}

impl TryFrom<NoticeRow> for Notice {
    type Error = StoreError;
    fn try_from(r: NoticeRow) -> Result<Self, StoreError> {
        Ok(Self {
            incident: to_u64(r.incident, "incident number")?,
            version: to_u64(r.version, "scope version")?,
            patient: PatientId::from_uuid(r.patient_id),
            practice: PracticeId::from_uuid(r.practice_id),
            recipient: r.recipient,
            subject: r.subject,
            body: r.body,
            state: NoticeState::parse(&r.state)
                .ok_or_else(|| StoreError::corrupt("notice state"))?,
            attempts: u32::try_from(r.attempts).map_err(|_| StoreError::corrupt("attempts"))?,
            queued_at: from_nanos(r.queued_at_ns)?,
            sent_at: opt_from_nanos(r.sent_at_ns)?,
        })
    }
}

/// The `WHERE` clause of a scope over `audit_events e`, with its parameters numbered
/// from `first`. Identity criteria are alternatives (any one places an event in
/// scope); the window, the actions and the tree size must all hold.
pub(crate) fn scope_filter(q: &ScopeQuery, first: usize) -> String {
    let mut n = first;
    let mut take = || {
        let p = format!("${n}");
        n += 1;
        p
    };
    let mut sql = format!(
        "e.outcome = 'allowed' AND e.patient_id IS NOT NULL AND e.leaf_index < {}",
        take()
    );
    let actions: Vec<String> = q.actions.iter().map(|_| take()).collect();
    sql.push_str(&format!(" AND e.action IN ({})", actions.join(", ")));
    if q.from.is_some() {
        sql.push_str(&format!(" AND e.at_ns >= {}", take()));
    }
    if q.to.is_some() {
        sql.push_str(&format!(" AND e.at_ns < {}", take()));
    }
    let mut any = Vec::new();
    if !q.actors.is_empty() {
        let ps: Vec<String> = q.actors.iter().map(|_| take()).collect();
        any.push(format!("e.actor_account IN ({})", ps.join(", ")));
    }
    if !q.sessions.is_empty() {
        let ps: Vec<String> = q.sessions.iter().map(|_| take()).collect();
        any.push(format!("e.session_id IN ({})", ps.join(", ")));
    }
    for _ in &q.address_ranges {
        let (lo, hi) = (take(), take());
        any.push(format!("(e.address >= {lo} AND e.address <= {hi})"));
    }
    // No identity criterion: nothing is in scope (the core refuses such criteria).
    if any.is_empty() {
        any.push("1 = 0".to_owned());
    }
    sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    // Decoy patients are the guard's tripwires, not people: never in a scope.
    sql.push_str(
        " AND NOT EXISTS (SELECT 1 FROM guard_canaries c WHERE c.id = e.patient_id \
         AND c.kind = 'patient')",
    );
    sql
}

/// Binds a scope's parameters in the order [`scope_filter`] numbered them.
macro_rules! bind_scope {
    ($query:expr, $q:expr) => {{
        use $crate::codec::{nanos, to_i64};
        let q: &$crate::incidents::ScopeQuery = $q;
        let mut query = $query.bind(to_i64(q.tree_size)?);
        for a in &q.actions {
            query = query.bind(a.clone());
        }
        if let Some(from) = q.from {
            query = query.bind(nanos(from)?);
        }
        if let Some(to) = q.to {
            query = query.bind(nanos(to)?);
        }
        for a in &q.actors {
            query = query.bind(*a.as_uuid());
        }
        for s in &q.sessions {
            query = query.bind(*s.as_uuid());
        }
        for (lo, hi) in &q.address_ranges {
            query = query.bind(lo.to_vec()).bind(hi.to_vec());
        }
        query
    }};
}
pub(crate) use bind_scope;

/// `$first, $first+1, …` for `count` parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `impl IncidentStore for $store`; `$begin` turns the pool into a write
/// transaction.
macro_rules! impl_incident_store {
    ($store:ty, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::incidents::IncidentStore for $store {
            async fn incident_open(
                &self,
                title: &str,
                opened_by: &str,
                at: ::time::OffsetDateTime,
            ) -> Result<$crate::incidents::Incident, $crate::error::StoreError> {
                use $crate::codec::nanos;
                use $crate::incidents_impl::{INCIDENT_COLUMNS, IncidentRow};
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let (next,): (i64,) =
                    sqlx::query_as("SELECT COALESCE(MAX(number), 0) + 1 FROM incidents")
                        .fetch_one(&mut *tx)
                        .await?;
                let row: IncidentRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO incidents (number, title, opened_at_ns, opened_by) \
                     VALUES ($1, $2, $3, $4) RETURNING {INCIDENT_COLUMNS}"
                )))
                .bind(next)
                .bind(title)
                .bind(nanos(at)?)
                .bind(opened_by)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn incident(
                &self,
                number: u64,
            ) -> Result<Option<$crate::incidents::Incident>, $crate::error::StoreError> {
                use $crate::codec::to_i64;
                use $crate::incidents_impl::{INCIDENT_COLUMNS, IncidentRow};
                let row: Option<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE number = $1"
                )))
                .bind(to_i64(number)?)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn incidents(
                &self,
            ) -> Result<Vec<$crate::incidents::Incident>, $crate::error::StoreError> {
                use $crate::incidents_impl::{INCIDENT_COLUMNS, IncidentRow};
                let rows: Vec<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY number DESC"
                )))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn incident_scope(
                &self,
                number: u64,
                criteria: &str,
                query: &$crate::incidents::ScopeQuery,
                checkpoint: &str,
                at: ::time::OffsetDateTime,
            ) -> Result<Option<$crate::incidents::IncidentScope>, $crate::error::StoreError>
            {
                use $crate::codec::{nanos, to_i64};
                use $crate::incidents_impl::{SCOPE_COLUMNS, ScopeRow, bind_scope, scope_filter};
                let n = to_i64(number)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let exists: Option<(i64,)> =
                    sqlx::query_as("SELECT number FROM incidents WHERE number = $1")
                        .bind(n)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Ok(None);
                }
                let (version,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM incident_scopes WHERE incident = $1",
                )
                .bind(n)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO incident_scopes (incident, version, criteria, computed_at_ns, \
                     tree_size, checkpoint, accesses, patients, documents, bytes) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, 0)",
                )
                .bind(n)
                .bind(version)
                .bind(criteria)
                .bind(nanos(at)?)
                .bind(to_i64(query.tree_size)?)
                .bind(checkpoint)
                .execute(&mut *tx)
                .await?;
                let filter = scope_filter(query, 3);
                let insert = format!(
                    "INSERT INTO incident_accesses (incident, version, leaf_index, access_id, \
                     at_ns, action, actor_account, actor_role, session_id, address, patient_id, \
                     practice_id, document_id, document_kind, document_title, document_at_ns, \
                     bytes) \
                     SELECT $1, $2, e.leaf_index, e.id, e.at_ns, e.action, e.actor_account, \
                     e.actor_role, e.session_id, e.address, e.patient_id, \
                     COALESCE(e.practice_id, p.practice_id), e.document_id, d.kind, d.title, \
                     d.created_at_ns, e.bytes \
                     FROM audit_events e \
                     JOIN patients p ON p.id = e.patient_id \
                     LEFT JOIN documents d ON d.id = e.document_id \
                     WHERE {filter}"
                );
                let q = sqlx::query(sqlx::AssertSqlSafe(insert)).bind(n).bind(version);
                bind_scope!(q, query).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE incident_scopes SET \
                     accesses = (SELECT COUNT(*) FROM incident_accesses \
                       WHERE incident = $1 AND version = $2), \
                     patients = (SELECT COUNT(DISTINCT patient_id) FROM incident_accesses \
                       WHERE incident = $1 AND version = $2), \
                     documents = (SELECT COUNT(DISTINCT document_id) FROM incident_accesses \
                       WHERE incident = $1 AND version = $2), \
                     bytes = (SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) \
                       FROM incident_accesses WHERE incident = $1 AND version = $2) \
                     WHERE incident = $1 AND version = $2",
                )
                .bind(n)
                .bind(version)
                .execute(&mut *tx)
                .await?;
                let row: ScopeRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {SCOPE_COLUMNS} FROM incident_scopes \
                     WHERE incident = $1 AND version = $2"
                )))
                .bind(n)
                .bind(version)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                // A scope can add a hundred thousand rows at once: refresh the planner's
                // statistics so paging through them uses the indexes.
                sqlx::query("ANALYZE incident_accesses").execute(&self.pool).await?;
                row.try_into().map(Some)
            }

            async fn incident_scopes(
                &self,
                number: u64,
            ) -> Result<Vec<$crate::incidents::IncidentScope>, $crate::error::StoreError> {
                use $crate::codec::to_i64;
                use $crate::incidents_impl::{SCOPE_COLUMNS, ScopeRow};
                let rows: Vec<ScopeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {SCOPE_COLUMNS} FROM incident_scopes WHERE incident = $1 \
                     ORDER BY version"
                )))
                .bind(to_i64(number)?)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn incident_accesses(
                &self,
                number: u64,
                version: u64,
                after_leaf: Option<u64>,
                limit: u32,
            ) -> Result<Vec<$crate::incidents::IncidentAccess>, $crate::error::StoreError>
            {
                use $crate::codec::to_i64;
                use $crate::incidents_impl::{ACCESS_COLUMNS, AccessRow};
                let after = after_leaf.map(to_i64).transpose()?.unwrap_or(-1);
                let rows: Vec<AccessRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT incident, {ACCESS_COLUMNS} FROM incident_accesses \
                     WHERE incident = $1 AND version = $2 AND leaf_index > $3 \
                     ORDER BY leaf_index LIMIT $4"
                )))
                .bind(to_i64(number)?)
                .bind(to_i64(version)?)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn incident_publish(
                &self,
                number: u64,
                version: u64,
                at: ::time::OffsetDateTime,
            ) -> Result<Result<(), $crate::incidents::PublishRefusal>, $crate::error::StoreError>
            {
                use $crate::codec::{nanos, to_i64, to_u64};
                use $crate::incidents::PublishRefusal;
                let (n, v) = (to_i64(number)?, to_i64(version)?);
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let scope: Option<(i64,)> = sqlx::query_as(
                    "SELECT version FROM incident_scopes WHERE incident = $1 AND version = $2",
                )
                .bind(n)
                .bind(v)
                .fetch_optional(&mut *tx)
                .await?;
                if scope.is_none() {
                    return Ok(Err(PublishRefusal::NoSuchScope));
                }
                let other: Option<(i64,)> = sqlx::query_as(
                    "SELECT version FROM incident_notices WHERE incident = $1 AND version <> $2 \
                     LIMIT 1",
                )
                .bind(n)
                .bind(v)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((queued,)) = other {
                    return Ok(Err(PublishRefusal::NoticesQueuedFrom(to_u64(
                        queued,
                        "scope version",
                    )?)));
                }
                sqlx::query(
                    "UPDATE incidents SET published_version = $2, published_at_ns = $3 \
                     WHERE number = $1",
                )
                .bind(n)
                .bind(v)
                .bind(nanos(at)?)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn patient_incidents(
                &self,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<
                Vec<($crate::incidents::Incident, Vec<$crate::incidents::IncidentAccess>)>,
                $crate::error::StoreError,
            > {
                use $crate::codec::to_u64;
                use $crate::incidents::{Incident, IncidentAccess};
                use $crate::incidents_impl::{
                    ACCESS_COLUMNS, AccessRow, INCIDENT_COLUMNS, IncidentRow,
                };
                let columns: String = ACCESS_COLUMNS
                    .split(", ")
                    .map(|c| format!("a.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rows: Vec<AccessRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT a.incident, {columns} FROM incident_accesses a \
                     JOIN incidents i ON i.number = a.incident \
                       AND i.published_version = a.version \
                     WHERE a.patient_id = $1 ORDER BY a.incident, a.leaf_index"
                )))
                .bind(patient.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                let mut out: Vec<(Incident, Vec<IncidentAccess>)> = Vec::new();
                for row in rows {
                    let number = to_u64(row.incident, "incident number")?;
                    let access = IncidentAccess::try_from(row)?;
                    if let Some((incident, accesses)) = out.last_mut()
                        && incident.number == number
                    {
                        accesses.push(access);
                        continue;
                    }
                    let incident: IncidentRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE number = $1"
                    )))
                    .bind($crate::codec::to_i64(number)?)
                    .fetch_one(&self.pool)
                    .await?;
                    out.push((incident.try_into()?, vec![access]));
                }
                Ok(out)
            }

            async fn incident_patients(
                &self,
                number: u64,
                version: u64,
                after: Option<::tiaki_domain::PatientId>,
                limit: u32,
            ) -> Result<Vec<::tiaki_domain::PatientId>, $crate::error::StoreError> {
                use $crate::codec::to_i64;
                let after = after.map_or(::uuid::Uuid::nil(), |p| *p.as_uuid());
                let rows: Vec<(::uuid::Uuid,)> = sqlx::query_as(
                    "SELECT DISTINCT patient_id FROM incident_accesses \
                     WHERE incident = $1 AND version = $2 AND patient_id > $3 \
                     ORDER BY patient_id LIMIT $4",
                )
                .bind(to_i64(number)?)
                .bind(to_i64(version)?)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id,)| ::tiaki_domain::PatientId::from_uuid(id))
                    .collect())
            }

            async fn incident_accesses_of(
                &self,
                number: u64,
                version: u64,
                after: Option<::tiaki_domain::PatientId>,
                through: ::tiaki_domain::PatientId,
            ) -> Result<Vec<$crate::incidents::IncidentAccess>, $crate::error::StoreError>
            {
                use $crate::codec::to_i64;
                use $crate::incidents_impl::{ACCESS_COLUMNS, AccessRow};
                let after = after.map_or(::uuid::Uuid::nil(), |p| *p.as_uuid());
                let rows: Vec<AccessRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT incident, {ACCESS_COLUMNS} FROM incident_accesses \
                     WHERE incident = $1 AND version = $2 AND patient_id > $3 \
                     AND patient_id <= $4 ORDER BY leaf_index"
                )))
                .bind(to_i64(number)?)
                .bind(to_i64(version)?)
                .bind(after)
                .bind(through.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn notice_recipients(
                &self,
                patients: &[::tiaki_domain::PatientId],
            ) -> Result<Vec<$crate::incidents::NoticeRecipient>, $crate::error::StoreError> {
                use $crate::incidents::NoticeRecipient;
                use $crate::incidents_impl::{BATCH, placeholders};
                let mut out = Vec::new();
                for chunk in patients.chunks(BATCH) {
                    let sql = format!(
                        "SELECT p.id, p.practice_id, pr.name, p.given_name, \
                         COALESCE(ae.address, p.email) \
                         FROM patients p JOIN practices pr ON pr.id = p.practice_id \
                         LEFT JOIN accounts a ON a.patient_id = p.id \
                         LEFT JOIN account_emails ae ON ae.account_id = a.id \
                         WHERE p.id IN ({}) ORDER BY p.id",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query_as::<
                        _,
                        (::uuid::Uuid, ::uuid::Uuid, String, String, Option<String>),
                    >(sqlx::AssertSqlSafe(sql));
                    for p in chunk {
                        q = q.bind(*p.as_uuid());
                    }
                    for (patient, practice, practice_name, given_name, address) in
                        q.fetch_all(&self.pool).await?
                    {
                        out.push(NoticeRecipient {
                            patient: ::tiaki_domain::PatientId::from_uuid(patient),
                            practice: ::tiaki_domain::PracticeId::from_uuid(practice),
                            practice_name,
                            given_name,
                            address: address.filter(|a| !a.trim().is_empty()),
                        });
                    }
                }
                Ok(out)
            }

            async fn notices_queue(
                &self,
                number: u64,
                version: u64,
                drafts: &[$crate::incidents::NoticeDraft],
                at: ::time::OffsetDateTime,
            ) -> Result<u64, $crate::error::StoreError> {
                use $crate::codec::{nanos, to_i64};
                use $crate::incidents::NoticeState;
                use $crate::incidents_impl::BATCH;
                let (n, v, at) = (to_i64(number)?, to_i64(version)?, nanos(at)?);
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut added = 0_u64;
                for chunk in drafts.chunks(BATCH) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| {
                            let b = i * 6 + 4;
                            format!(
                                "($1, ${b}, $2, ${}, ${}, ${}, ${}, ${}, 0, $3)",
                                b + 1,
                                b + 2,
                                b + 3,
                                b + 4,
                                b + 5
                            )
                        })
                        .collect();
                    let sql = format!(
                        "INSERT INTO incident_notices (incident, patient_id, version, \
                         practice_id, recipient, subject, body, state, attempts, queued_at_ns) \
                         VALUES {} ON CONFLICT (incident, patient_id) DO NOTHING",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(n).bind(v).bind(at);
                    for d in chunk {
                        let state = if d.recipient.is_some() {
                            NoticeState::Queued
                        } else {
                            NoticeState::NoAddress
                        };
                        q = q
                            .bind(*d.patient.as_uuid())
                            .bind(*d.practice.as_uuid())
                            .bind(d.recipient.clone())
                            .bind(d.subject.clone())
                            .bind(d.body.clone())
                            .bind(state.as_str());
                    }
                    added += q.execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn notices_lease(
                &self,
                number: u64,
                run: ::uuid::Uuid,
                now: ::time::OffsetDateTime,
                until: ::time::OffsetDateTime,
            ) -> Result<bool, $crate::error::StoreError> {
                use $crate::codec::{nanos, to_i64};
                let done = sqlx::query(
                    "UPDATE incidents SET sender_run = $2, sender_until_ns = $4 \
                     WHERE number = $1 AND (sender_run IS NULL OR sender_run = $2 \
                       OR sender_until_ns < $3)",
                )
                .bind(to_i64(number)?)
                .bind(run)
                .bind(nanos(now)?)
                .bind(nanos(until)?)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn notices_release(
                &self,
                number: u64,
                run: ::uuid::Uuid,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::to_i64;
                sqlx::query(
                    "UPDATE incidents SET sender_run = NULL, sender_until_ns = NULL \
                     WHERE number = $1 AND sender_run = $2",
                )
                .bind(to_i64(number)?)
                .bind(run)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn notices_claim(
                &self,
                number: u64,
                limit: u32,
            ) -> Result<Vec<$crate::incidents::Notice>, $crate::error::StoreError> {
                use $crate::codec::to_i64;
                use $crate::incidents_impl::{NOTICE_COLUMNS, NoticeRow};
                let n = to_i64(number)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut rows: Vec<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE incident_notices SET attempts = attempts + 1 \
                     WHERE incident = $1 AND patient_id IN (SELECT patient_id \
                       FROM incident_notices WHERE incident = $1 AND state = 'sending' \
                       ORDER BY patient_id LIMIT $2) \
                     RETURNING {NOTICE_COLUMNS}"
                )))
                .bind(n)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                let room = i64::from(limit) - i64::try_from(rows.len()).unwrap_or(0);
                if room > 0 {
                    let fresh: Vec<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE incident_notices SET state = 'sending', attempts = attempts + 1 \
                         WHERE incident = $1 AND patient_id IN (SELECT patient_id \
                           FROM incident_notices WHERE incident = $1 AND state = 'queued' \
                           ORDER BY patient_id LIMIT $2) \
                         RETURNING {NOTICE_COLUMNS}"
                    )))
                    .bind(n)
                    .bind(room)
                    .fetch_all(&mut *tx)
                    .await?;
                    rows.extend(fresh);
                }
                tx.commit().await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn notice_mark(
                &self,
                number: u64,
                patient: ::tiaki_domain::PatientId,
                state: $crate::incidents::NoticeState,
                at: ::time::OffsetDateTime,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::{nanos, to_i64};
                use $crate::incidents::NoticeState;
                let sent_at = (state == NoticeState::Sent).then(|| nanos(at)).transpose()?;
                sqlx::query(
                    "UPDATE incident_notices SET state = $3, sent_at_ns = $4 \
                     WHERE incident = $1 AND patient_id = $2",
                )
                .bind(to_i64(number)?)
                .bind(patient.as_uuid())
                .bind(state.as_str())
                .bind(sent_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn notice_counts(
                &self,
                number: u64,
            ) -> Result<$crate::incidents::NoticeCounts, $crate::error::StoreError> {
                use $crate::codec::{to_i64, to_u64};
                use $crate::incidents::{NoticeCounts, NoticeState};
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT state, COUNT(*) FROM incident_notices WHERE incident = $1 \
                     GROUP BY state",
                )
                .bind(to_i64(number)?)
                .fetch_all(&self.pool)
                .await?;
                let mut counts = NoticeCounts::default();
                for (state, count) in rows {
                    let count = to_u64(count, "notice count")?;
                    match NoticeState::parse(&state) {
                        Some(NoticeState::Queued) => counts.queued = count,
                        Some(NoticeState::Sending) => counts.sending = count,
                        Some(NoticeState::Sent) => counts.sent = count,
                        Some(NoticeState::NoAddress) => counts.no_address = count,
                        Some(NoticeState::Failed) => counts.failed = count,
                        None => return Err($crate::error::StoreError::corrupt("notice state")),
                    }
                }
                Ok(counts)
            }

            async fn notice_for(
                &self,
                number: u64,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<Option<$crate::incidents::Notice>, $crate::error::StoreError> {
                use $crate::codec::to_i64;
                use $crate::incidents_impl::{NOTICE_COLUMNS, NoticeRow};
                let row: Option<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {NOTICE_COLUMNS} FROM incident_notices \
                     WHERE incident = $1 AND patient_id = $2"
                )))
                .bind(to_i64(number)?)
                .bind(patient.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn notices_for_practice(
                &self,
                number: u64,
                practice: ::tiaki_domain::PracticeId,
            ) -> Result<Vec<$crate::incidents::Notice>, $crate::error::StoreError> {
                use $crate::codec::to_i64;
                use $crate::incidents_impl::{NOTICE_COLUMNS, NoticeRow};
                let rows: Vec<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {NOTICE_COLUMNS} FROM incident_notices \
                     WHERE incident = $1 AND practice_id = $2 ORDER BY patient_id"
                )))
                .bind(to_i64(number)?)
                .bind(practice.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn force_password_reset(
                &self,
                accounts: &[::tiaki_domain::AccountId],
                at: ::time::OffsetDateTime,
            ) -> Result<u64, $crate::error::StoreError> {
                use $crate::codec::nanos;
                use $crate::incidents_impl::{BATCH, placeholders};
                let at = nanos(at)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut changed = 0_u64;
                for chunk in accounts.chunks(BATCH) {
                    let list = placeholders(2, chunk.len());
                    // Not a PHC string: it verifies against the dummy hash (same cost as
                    // any wrong password) and no password matches it.
                    let statements = [
                        format!(
                            "UPDATE accounts SET password_hash = '!reset-forced', \
                             password_reset_forced_at_ns = $1 WHERE id IN ({list})"
                        ),
                        format!(
                            "UPDATE sessions SET revoked_at_ns = $1 \
                             WHERE revoked_at_ns IS NULL AND account_id IN ({list})"
                        ),
                        format!(
                            "UPDATE trusted_devices SET revoked_at_ns = $1 \
                             WHERE revoked_at_ns IS NULL AND account_id IN ({list})"
                        ),
                    ];
                    for (i, sql) in statements.into_iter().enumerate() {
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
                        for a in chunk {
                            q = q.bind(*a.as_uuid());
                        }
                        let done = q.execute(&mut *tx).await?;
                        if i == 0 {
                            changed += done.rows_affected();
                        }
                    }
                }
                tx.commit().await?;
                Ok(changed)
            }

            async fn revoke_sessions(
                &self,
                accounts: Option<&[::tiaki_domain::AccountId]>,
                at: ::time::OffsetDateTime,
            ) -> Result<u64, $crate::error::StoreError> {
                use $crate::codec::nanos;
                use $crate::incidents_impl::{BATCH, placeholders};
                let at = nanos(at)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut revoked = 0_u64;
                match accounts {
                    None => {
                        revoked = sqlx::query(
                            "UPDATE sessions SET revoked_at_ns = $1 \
                             WHERE revoked_at_ns IS NULL AND expires_at_ns > $1",
                        )
                        .bind(at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    Some(accounts) => {
                        for chunk in accounts.chunks(BATCH) {
                            let sql = format!(
                                "UPDATE sessions SET revoked_at_ns = $1 \
                                 WHERE revoked_at_ns IS NULL AND expires_at_ns > $1 \
                                 AND account_id IN ({})",
                                placeholders(2, chunk.len())
                            );
                            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
                            for a in chunk {
                                q = q.bind(*a.as_uuid());
                            }
                            revoked += q.execute(&mut *tx).await?.rows_affected();
                        }
                    }
                }
                tx.commit().await?;
                Ok(revoked)
            }
        }
    };
}
pub(crate) use impl_incident_store;
