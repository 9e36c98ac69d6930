//! [`FactorStore`](crate::factors::FactorStore) for both backends. The SQL is the same
//! on SQLite and PostgreSQL, so one macro writes both implementations; only how a write
//! transaction begins differs.

use crate::codec::{from_nanos, opt_from_nanos};
use crate::error::StoreError;
use crate::factors::{Ceremony, CeremonyKind, PasskeyRecord, SessionFactor, TrustedDevice};
use tiaki_domain::ids::{PasskeyId, TrustedDeviceId};
use tiaki_domain::{AccountId, SessionId};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub(crate) struct PasskeyRow {
    id: Uuid,
    account_id: Uuid,
    credential_id: Vec<u8>,
    name: String,
    passkey: String,
    created_at_ns: i64,
    last_used_at_ns: Option<i64>,
}

impl TryFrom<PasskeyRow> for PasskeyRecord {
    type Error = StoreError;
    fn try_from(r: PasskeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: PasskeyId::from_uuid(r.id),
            account: AccountId::from_uuid(r.account_id),
            credential_id: r.credential_id,
            name: r.name,
            passkey: r.passkey,
            created_at: from_nanos(r.created_at_ns)?,
            last_used_at: opt_from_nanos(r.last_used_at_ns)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CeremonyRow {
    id: Uuid,
    kind: String,
    account_id: Option<Uuid>,
    session_id: Option<Uuid>,
    state: String,
    expires_at_ns: i64,
}

impl TryFrom<CeremonyRow> for Ceremony {
    type Error = StoreError;
    fn try_from(r: CeremonyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            kind: CeremonyKind::parse(&r.kind)
                .ok_or_else(|| StoreError::corrupt("unknown ceremony kind"))?,
            account: r.account_id.map(AccountId::from_uuid),
            session: r.session_id.map(SessionId::from_uuid),
            state: r.state,
            expires_at: from_nanos(r.expires_at_ns)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeviceRow {
    id: Uuid,
    account_id: Uuid,
    secret_hash: Vec<u8>,
    created_at_ns: i64,
    expires_at_ns: i64,
    last_used_at_ns: Option<i64>,
    revoked_at_ns: Option<i64>,
    address: Option<String>,
    user_agent: Option<String>,
}

impl TryFrom<DeviceRow> for TrustedDevice {
    type Error = StoreError;
    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: TrustedDeviceId::from_uuid(r.id),
            account: AccountId::from_uuid(r.account_id),
            secret_hash: r
                .secret_hash
                .try_into()
                .map_err(|_| StoreError::corrupt("device secret hash is not 32 bytes"))?,
            created_at: from_nanos(r.created_at_ns)?,
            expires_at: from_nanos(r.expires_at_ns)?,
            last_used_at: opt_from_nanos(r.last_used_at_ns)?,
            revoked_at: opt_from_nanos(r.revoked_at_ns)?,
            address: r.address,
            user_agent: r.user_agent,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionFactorRow {
    id: Uuid,
    factor_at_ns: Option<i64>,
    trusted_device_id: Option<Uuid>,
}

impl TryFrom<SessionFactorRow> for SessionFactor {
    type Error = StoreError;
    fn try_from(r: SessionFactorRow) -> Result<Self, StoreError> {
        Ok(Self {
            session: SessionId::from_uuid(r.id),
            factor_at: opt_from_nanos(r.factor_at_ns)?,
            trusted_device: r.trusted_device_id.map(TrustedDeviceId::from_uuid),
        })
    }
}

macro_rules! passkey_columns {
    () => {
        "id, account_id, credential_id, name, passkey, created_at_ns, last_used_at_ns"
    };
}
pub(crate) use passkey_columns;

macro_rules! device_columns {
    () => {
        "id, account_id, secret_hash, created_at_ns, expires_at_ns, last_used_at_ns, \
         revoked_at_ns, address, user_agent"
    };
}
pub(crate) use device_columns;

/// Writes `impl FactorStore for $store`; `$begin` turns the pool into a write
/// transaction.
macro_rules! impl_factor_store {
    ($store:ty, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::factors::FactorStore for $store {
            async fn session_factor_put(
                &self,
                session: ::tiaki_domain::SessionId,
                factor_at: Option<::time::OffsetDateTime>,
                trusted_device: Option<::tiaki_domain::ids::TrustedDeviceId>,
            ) -> Result<(), $crate::error::StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET factor_at_ns = $2, trusted_device_id = $3 \
                     WHERE id = $1",
                )
                .bind(session.as_uuid())
                .bind(factor_at.map($crate::codec::nanos).transpose()?)
                .bind(trusted_device.map(|d| *d.as_uuid()))
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err($crate::error::StoreError::NotFound)
                }
            }

            async fn session_factor(
                &self,
                session: ::tiaki_domain::SessionId,
            ) -> Result<Option<$crate::factors::SessionFactor>, $crate::error::StoreError> {
                let row: Option<$crate::factors_impl::SessionFactorRow> = sqlx::query_as(
                    "SELECT id, factor_at_ns, trusted_device_id FROM sessions WHERE id = $1",
                )
                .bind(session.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::factors::SessionFactor::try_from)
                    .transpose()
            }

            async fn session_factors_of(
                &self,
                account: ::tiaki_domain::AccountId,
            ) -> Result<Vec<$crate::factors::SessionFactor>, $crate::error::StoreError> {
                let rows: Vec<$crate::factors_impl::SessionFactorRow> = sqlx::query_as(
                    "SELECT id, factor_at_ns, trusted_device_id FROM sessions \
                     WHERE account_id = $1 AND revoked_at_ns IS NULL \
                     ORDER BY created_at_ns DESC, id DESC LIMIT 1000",
                )
                .bind(account.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::factors::SessionFactor::try_from)
                    .collect()
            }

            async fn session_step_up(
                &self,
                session: ::tiaki_domain::SessionId,
                new_token_hash: &[u8; 32],
                at: ::time::OffsetDateTime,
            ) -> Result<bool, $crate::error::StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET token_hash = $2, factor_at_ns = $3 \
                     WHERE id = $1 AND revoked_at_ns IS NULL",
                )
                .bind(session.as_uuid())
                .bind(new_token_hash.as_slice())
                .bind($crate::codec::nanos(at)?)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn passkey_insert(
                &self,
                p: &$crate::factors::PasskeyRecord,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::nanos;
                sqlx::query(concat!(
                    "INSERT INTO passkeys (",
                    $crate::factors_impl::passkey_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(p.id.as_uuid())
                .bind(p.account.as_uuid())
                .bind(p.credential_id.as_slice())
                .bind(p.name.as_str())
                .bind(p.passkey.as_str())
                .bind(nanos(p.created_at)?)
                .bind(p.last_used_at.map(nanos).transpose()?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn passkeys_of(
                &self,
                account: ::tiaki_domain::AccountId,
            ) -> Result<Vec<$crate::factors::PasskeyRecord>, $crate::error::StoreError> {
                let rows: Vec<$crate::factors_impl::PasskeyRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::factors_impl::passkey_columns!(),
                    " FROM passkeys WHERE account_id = $1 ORDER BY created_at_ns, id LIMIT 100"
                ))
                .bind(account.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::factors::PasskeyRecord::try_from)
                    .collect()
            }

            async fn passkey_by_credential(
                &self,
                credential_id: &[u8],
            ) -> Result<Option<$crate::factors::PasskeyRecord>, $crate::error::StoreError> {
                let row: Option<$crate::factors_impl::PasskeyRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::factors_impl::passkey_columns!(),
                    " FROM passkeys WHERE credential_id = $1"
                ))
                .bind(credential_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::factors::PasskeyRecord::try_from)
                    .transpose()
            }

            async fn passkey_used(
                &self,
                id: ::tiaki_domain::ids::PasskeyId,
                passkey: &str,
                at: ::time::OffsetDateTime,
            ) -> Result<(), $crate::error::StoreError> {
                let done = sqlx::query(
                    "UPDATE passkeys SET passkey = $2, last_used_at_ns = $3 WHERE id = $1",
                )
                .bind(id.as_uuid())
                .bind(passkey)
                .bind($crate::codec::nanos(at)?)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err($crate::error::StoreError::NotFound)
                }
            }

            async fn passkey_delete(
                &self,
                account: ::tiaki_domain::AccountId,
                id: ::tiaki_domain::ids::PasskeyId,
                totp_counts: bool,
            ) -> Result<$crate::factors::PasskeyDeletion, $crate::error::StoreError> {
                use $crate::factors::PasskeyDeletion;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                // Locks the account's row (a no-op write), so two deletions for one
                // account cannot both see the other's passkey still there.
                sqlx::query("UPDATE accounts SET disabled = disabled WHERE id = $1")
                    .bind(account.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                let (mine, others, totp): (i64, i64, i64) = sqlx::query_as(
                    "SELECT \
                     (SELECT count(*) FROM passkeys WHERE account_id = $1 AND id = $2), \
                     (SELECT count(*) FROM passkeys WHERE account_id = $1 AND id <> $2), \
                     (SELECT count(*) FROM totp_factors WHERE account_id = $1 \
                      AND confirmed_at_ns IS NOT NULL)",
                )
                .bind(account.as_uuid())
                .bind(id.as_uuid())
                .fetch_one(&mut *tx)
                .await?;
                if mine == 0 {
                    return Ok(PasskeyDeletion::NotFound);
                }
                if others == 0 && !(totp_counts && totp > 0) {
                    return Ok(PasskeyDeletion::LastFactor);
                }
                sqlx::query("DELETE FROM passkeys WHERE account_id = $1 AND id = $2")
                    .bind(account.as_uuid())
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(PasskeyDeletion::Deleted)
            }

            async fn ceremony_put(
                &self,
                c: &$crate::factors::Ceremony,
                now: ::time::OffsetDateTime,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::nanos;
                sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at_ns <= $1")
                    .bind(nanos(now)?)
                    .execute(&self.pool)
                    .await?;
                sqlx::query(
                    "INSERT INTO webauthn_ceremonies (id, kind, account_id, session_id, \
                     state, expires_at_ns) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(c.id)
                .bind(c.kind.as_str())
                .bind(c.account.map(|a| *a.as_uuid()))
                .bind(c.session.map(|s| *s.as_uuid()))
                .bind(c.state.as_str())
                .bind(nanos(c.expires_at)?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn ceremony_take(
                &self,
                id: ::uuid::Uuid,
            ) -> Result<Option<$crate::factors::Ceremony>, $crate::error::StoreError> {
                let row: Option<$crate::factors_impl::CeremonyRow> = sqlx::query_as(
                    "DELETE FROM webauthn_ceremonies WHERE id = $1 \
                     RETURNING id, kind, account_id, session_id, state, expires_at_ns",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::factors::Ceremony::try_from).transpose()
            }

            async fn device_insert(
                &self,
                d: &$crate::factors::TrustedDevice,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::nanos;
                sqlx::query(concat!(
                    "INSERT INTO trusted_devices (",
                    $crate::factors_impl::device_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(d.id.as_uuid())
                .bind(d.account.as_uuid())
                .bind(d.secret_hash.as_slice())
                .bind(nanos(d.created_at)?)
                .bind(nanos(d.expires_at)?)
                .bind(d.last_used_at.map(nanos).transpose()?)
                .bind(d.revoked_at.map(nanos).transpose()?)
                .bind(d.address.as_deref())
                .bind(d.user_agent.as_deref())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn device(
                &self,
                id: ::tiaki_domain::ids::TrustedDeviceId,
            ) -> Result<Option<$crate::factors::TrustedDevice>, $crate::error::StoreError> {
                let row: Option<$crate::factors_impl::DeviceRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::factors_impl::device_columns!(),
                    " FROM trusted_devices WHERE id = $1"
                ))
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::factors::TrustedDevice::try_from)
                    .transpose()
            }

            async fn device_used(
                &self,
                id: ::tiaki_domain::ids::TrustedDeviceId,
                at: ::time::OffsetDateTime,
            ) -> Result<(), $crate::error::StoreError> {
                sqlx::query("UPDATE trusted_devices SET last_used_at_ns = $2 WHERE id = $1")
                    .bind(id.as_uuid())
                    .bind($crate::codec::nanos(at)?)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn devices_active(
                &self,
                account: ::tiaki_domain::AccountId,
                now: ::time::OffsetDateTime,
            ) -> Result<Vec<$crate::factors::TrustedDevice>, $crate::error::StoreError> {
                let rows: Vec<$crate::factors_impl::DeviceRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::factors_impl::device_columns!(),
                    " FROM trusted_devices WHERE account_id = $1 AND revoked_at_ns IS NULL \
                     AND expires_at_ns > $2 ORDER BY created_at_ns DESC, id DESC LIMIT 1000"
                ))
                .bind(account.as_uuid())
                .bind($crate::codec::nanos(now)?)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::factors::TrustedDevice::try_from)
                    .collect()
            }

            async fn device_revoke(
                &self,
                account: ::tiaki_domain::AccountId,
                id: ::tiaki_domain::ids::TrustedDeviceId,
                at: ::time::OffsetDateTime,
            ) -> Result<bool, $crate::error::StoreError> {
                let done = sqlx::query(
                    "UPDATE trusted_devices SET revoked_at_ns = $3 WHERE id = $1 \
                     AND account_id = $2 AND revoked_at_ns IS NULL",
                )
                .bind(id.as_uuid())
                .bind(account.as_uuid())
                .bind($crate::codec::nanos(at)?)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn devices_revoke_all(
                &self,
                account: ::tiaki_domain::AccountId,
                at: ::time::OffsetDateTime,
            ) -> Result<u64, $crate::error::StoreError> {
                let done = sqlx::query(
                    "UPDATE trusted_devices SET revoked_at_ns = $2 WHERE account_id = $1 \
                     AND revoked_at_ns IS NULL",
                )
                .bind(account.as_uuid())
                .bind($crate::codec::nanos(at)?)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_factor_store;
