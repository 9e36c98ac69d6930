//! [`ProxyStore`](crate::proxies::ProxyStore) for both backends. The SQL is the same on
//! SQLite and PostgreSQL, so one macro writes both implementations; how a write
//! transaction begins and how an audit event joins it are the backend's (`begin` and
//! `append_in` at the call site).

use crate::codec::{from_nanos, opt_from_nanos};
use crate::error::StoreError;
use tiaki_domain::{
    Access, AccountId, PatientId, ProxyAccess, ProxyGrantId, ProxyKind, Scope, Scopes,
};
use uuid::Uuid;

macro_rules! grant_columns {
    () => {
        "id, kind, patient_id, grantee, documents, records, appointments, prescriptions, \
         messages, created_by, created_at_ns, expires_at_ns, revoked_at_ns, revoked_by"
    };
}
pub(crate) use grant_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: Uuid,
    kind: String,
    patient_id: Uuid,
    grantee: Uuid,
    documents: Option<String>,
    records: Option<String>,
    appointments: Option<String>,
    prescriptions: Option<String>,
    messages: Option<String>,
    created_by: Uuid,
    created_at_ns: i64,
    expires_at_ns: i64,
    revoked_at_ns: Option<i64>,
    revoked_by: Option<Uuid>,
}

fn access(column: Option<String>) -> Result<Option<Access>, StoreError> {
    column
        .map(|a| Access::parse(&a).ok_or_else(|| StoreError::corrupt("grant access")))
        .transpose()
}

impl TryFrom<GrantRow> for ProxyAccess {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        let scopes = Scopes::default()
            .with(Scope::Documents, access(r.documents)?)
            .with(Scope::Records, access(r.records)?)
            .with(Scope::Appointments, access(r.appointments)?)
            .with(Scope::Prescriptions, access(r.prescriptions)?)
            .with(Scope::Messages, access(r.messages)?);
        Ok(Self {
            id: ProxyGrantId::from_uuid(r.id),
            kind: ProxyKind::parse(&r.kind).ok_or_else(|| StoreError::corrupt("grant kind"))?,
            patient: PatientId::from_uuid(r.patient_id),
            grantee: AccountId::from_uuid(r.grantee),
            scopes,
            created_by: AccountId::from_uuid(r.created_by),
            created_at: from_nanos(r.created_at_ns)?,
            expires_at: from_nanos(r.expires_at_ns)?,
            revoked_at: opt_from_nanos(r.revoked_at_ns)?,
            revoked_by: r.revoked_by.map(AccountId::from_uuid),
        })
    }
}

pub(crate) fn convert(rows: Vec<GrantRow>) -> Result<Vec<ProxyAccess>, StoreError> {
    rows.into_iter().map(ProxyAccess::try_from).collect()
}

/// One scope's column value.
pub(crate) fn column(scopes: &Scopes, scope: Scope) -> Option<&'static str> {
    scopes.get(scope).map(Access::as_str)
}

/// Writes `impl ProxyStore for $store`; `$begin` turns the pool into a write
/// transaction, and `append_in(&mut conn, event)` in the calling module adds an audit
/// event to it.
macro_rules! impl_proxy_store {
    ($store:ty, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::proxies::ProxyStore for $store {
            async fn proxy_grant_insert(
                &self,
                grant: &::tiaki_domain::ProxyAccess,
                event: &::tiaki_audit::AuditEvent,
            ) -> Result<(), $crate::error::StoreError> {
                use ::tiaki_domain::Scope;
                use $crate::codec::nanos;
                use $crate::proxies_impl::column;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                sqlx::query(
                    "UPDATE proxy_grants SET revoked_at_ns = $3, revoked_by = $4 \
                     WHERE grantee = $1 AND patient_id = $2 AND revoked_at_ns IS NULL",
                )
                .bind(grant.grantee.as_uuid())
                .bind(grant.patient.as_uuid())
                .bind(nanos(grant.created_at)?)
                .bind(grant.created_by.as_uuid())
                .execute(&mut *tx)
                .await?;
                sqlx::query(concat!(
                    "INSERT INTO proxy_grants (",
                    $crate::proxies_impl::grant_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                ))
                .bind(grant.id.as_uuid())
                .bind(grant.kind.as_str())
                .bind(grant.patient.as_uuid())
                .bind(grant.grantee.as_uuid())
                .bind(column(&grant.scopes, Scope::Documents))
                .bind(column(&grant.scopes, Scope::Records))
                .bind(column(&grant.scopes, Scope::Appointments))
                .bind(column(&grant.scopes, Scope::Prescriptions))
                .bind(column(&grant.scopes, Scope::Messages))
                .bind(grant.created_by.as_uuid())
                .bind(nanos(grant.created_at)?)
                .bind(nanos(grant.expires_at)?)
                .bind(grant.revoked_at.map(nanos).transpose()?)
                .bind(grant.revoked_by.map(|a| *a.as_uuid()))
                .execute(&mut *tx)
                .await?;
                append_in(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn proxy_grant_revoke(
                &self,
                id: ::tiaki_domain::ProxyGrantId,
                patient: ::tiaki_domain::PatientId,
                kind: ::tiaki_domain::ProxyKind,
                by: ::tiaki_domain::AccountId,
                at: ::time::OffsetDateTime,
                event: &::tiaki_audit::AuditEvent,
            ) -> Result<bool, $crate::error::StoreError> {
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let done = sqlx::query(
                    "UPDATE proxy_grants SET revoked_at_ns = $3, revoked_by = $4 \
                     WHERE id = $1 AND patient_id = $2 AND kind = $5 \
                     AND revoked_at_ns IS NULL",
                )
                .bind(id.as_uuid())
                .bind(patient.as_uuid())
                .bind($crate::codec::nanos(at)?)
                .bind(by.as_uuid())
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                append_in(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn proxy_grant(
                &self,
                id: ::tiaki_domain::ProxyGrantId,
            ) -> Result<Option<::tiaki_domain::ProxyAccess>, $crate::error::StoreError> {
                let row: Option<$crate::proxies_impl::GrantRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::proxies_impl::grant_columns!(),
                    " FROM proxy_grants WHERE id = $1"
                ))
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map(::tiaki_domain::ProxyAccess::try_from).transpose()
            }

            async fn proxy_grant_between(
                &self,
                grantee: ::tiaki_domain::AccountId,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<Option<::tiaki_domain::ProxyAccess>, $crate::error::StoreError> {
                let row: Option<$crate::proxies_impl::GrantRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::proxies_impl::grant_columns!(),
                    " FROM proxy_grants WHERE grantee = $1 AND patient_id = $2 \
                     AND revoked_at_ns IS NULL"
                ))
                .bind(grantee.as_uuid())
                .bind(patient.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map(::tiaki_domain::ProxyAccess::try_from).transpose()
            }

            async fn proxy_grants_of_patient(
                &self,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<Vec<::tiaki_domain::ProxyAccess>, $crate::error::StoreError> {
                let rows: Vec<$crate::proxies_impl::GrantRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::proxies_impl::grant_columns!(),
                    " FROM proxy_grants WHERE patient_id = $1 \
                     ORDER BY created_at_ns DESC, id DESC LIMIT $2"
                ))
                .bind(patient.as_uuid())
                .bind(i64::from($crate::proxies::GRANTS_LIMIT))
                .fetch_all(&self.pool)
                .await?;
                $crate::proxies_impl::convert(rows)
            }

            async fn proxy_grants_held(
                &self,
                grantee: ::tiaki_domain::AccountId,
            ) -> Result<Vec<::tiaki_domain::ProxyAccess>, $crate::error::StoreError> {
                let rows: Vec<$crate::proxies_impl::GrantRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::proxies_impl::grant_columns!(),
                    " FROM proxy_grants WHERE grantee = $1 AND revoked_at_ns IS NULL \
                     ORDER BY created_at_ns DESC, id DESC LIMIT $2"
                ))
                .bind(grantee.as_uuid())
                .bind(i64::from($crate::proxies::GRANTS_LIMIT))
                .fetch_all(&self.pool)
                .await?;
                $crate::proxies_impl::convert(rows)
            }
        }
    };
}
pub(crate) use impl_proxy_store;
