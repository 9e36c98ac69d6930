//! [`MailStore`](crate::mail::MailStore) for both backends. The SQL is the same on SQLite
//! and PostgreSQL, so one macro writes both implementations; only how a write
//! transaction begins differs.

use crate::codec::{from_nanos, opt_from_nanos};
use crate::error::StoreError;
use crate::mail::{AccountEmail, EmailToken, Invitation, TokenPurpose};
use tiaki_domain::{AccountId, InvitationId, PatientId, PracticeId};
use uuid::Uuid;

/// Pruned after this long: the throttle looks back far less.
pub(crate) const REQUEST_RETENTION: time::Duration = time::Duration::days(1);

pub(crate) fn hash_of(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::corrupt("token hash is not 32 bytes"))
}

pub(crate) fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountEmailRow {
    account_id: Uuid,
    address: String,
    verified_at_ns: i64,
}

impl TryFrom<AccountEmailRow> for AccountEmail {
    type Error = StoreError;
    fn try_from(r: AccountEmailRow) -> Result<Self, StoreError> {
        Ok(Self {
            account: AccountId::from_uuid(r.account_id),
            address: r.address,
            verified_at: from_nanos(r.verified_at_ns)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EmailTokenRow {
    token_hash: Vec<u8>,
    purpose: String,
    account_id: Uuid,
    address: Option<String>,
    created_at_ns: i64,
    expires_at_ns: i64,
    used_at_ns: Option<i64>,
}

impl TryFrom<EmailTokenRow> for EmailToken {
    type Error = StoreError;
    fn try_from(r: EmailTokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            token_hash: hash_of(r.token_hash)?,
            purpose: TokenPurpose::parse(&r.purpose)
                .ok_or_else(|| StoreError::corrupt("token purpose"))?,
            account: AccountId::from_uuid(r.account_id),
            address: r.address,
            created_at: from_nanos(r.created_at_ns)?,
            expires_at: from_nanos(r.expires_at_ns)?,
            used_at: opt_from_nanos(r.used_at_ns)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    id: Uuid,
    token_hash: Vec<u8>,
    patient_id: Uuid,
    practice_id: Uuid,
    address: String,
    created_by: Uuid,
    created_at_ns: i64,
    expires_at_ns: i64,
    used_at_ns: Option<i64>,
    revoked_at_ns: Option<i64>,
    account_id: Option<Uuid>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;
    fn try_from(r: InvitationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: InvitationId::from_uuid(r.id),
            token_hash: hash_of(r.token_hash)?,
            patient: PatientId::from_uuid(r.patient_id),
            practice: PracticeId::from_uuid(r.practice_id),
            address: r.address,
            created_by: AccountId::from_uuid(r.created_by),
            created_at: from_nanos(r.created_at_ns)?,
            expires_at: from_nanos(r.expires_at_ns)?,
            used_at: opt_from_nanos(r.used_at_ns)?,
            revoked_at: opt_from_nanos(r.revoked_at_ns)?,
            account: r.account_id.map(AccountId::from_uuid),
        })
    }
}

macro_rules! invitation_columns {
    () => {
        "id, token_hash, patient_id, practice_id, address, created_by, created_at_ns, \
         expires_at_ns, used_at_ns, revoked_at_ns, account_id"
    };
}
pub(crate) use invitation_columns;

macro_rules! token_columns {
    () => {
        "token_hash, purpose, account_id, address, created_at_ns, expires_at_ns, used_at_ns"
    };
}
pub(crate) use token_columns;

/// Writes `impl MailStore for $store`; `$begin` turns the pool into a write transaction.
macro_rules! impl_mail_store {
    ($store:ty, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::mail::MailStore for $store {
            async fn email_of(
                &self,
                account: ::tiaki_domain::AccountId,
            ) -> Result<Option<$crate::mail::AccountEmail>, $crate::error::StoreError> {
                let row: Option<$crate::mail_impl::AccountEmailRow> = sqlx::query_as(
                    "SELECT account_id, address, verified_at_ns FROM account_emails \
                     WHERE account_id = $1",
                )
                .bind(account.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::mail::AccountEmail::try_from).transpose()
            }

            async fn accounts_by_email(
                &self,
                address: &str,
            ) -> Result<Vec<::tiaki_domain::AccountId>, $crate::error::StoreError> {
                let rows: Vec<(::uuid::Uuid,)> = sqlx::query_as(
                    "SELECT account_id FROM account_emails WHERE address_key = $1 \
                     ORDER BY account_id LIMIT 20",
                )
                .bind(address.trim().to_lowercase())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id,)| ::tiaki_domain::AccountId::from_uuid(id))
                    .collect())
            }

            async fn email_set_verified(
                &self,
                account: ::tiaki_domain::AccountId,
                address: &str,
                at: ::time::OffsetDateTime,
            ) -> Result<(), $crate::error::StoreError> {
                sqlx::query(
                    "INSERT INTO account_emails (account_id, address, address_key, \
                     verified_at_ns) VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO \
                     UPDATE SET address = excluded.address, address_key = \
                     excluded.address_key, verified_at_ns = excluded.verified_at_ns",
                )
                .bind(account.as_uuid())
                .bind(address.trim())
                .bind(address.trim().to_lowercase())
                .bind($crate::codec::nanos(at)?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn email_token_insert(
                &self,
                token: &$crate::mail::EmailToken,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::nanos;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                sqlx::query(
                    "UPDATE email_tokens SET used_at_ns = $3 WHERE account_id = $1 \
                     AND purpose = $2 AND used_at_ns IS NULL",
                )
                .bind(token.account.as_uuid())
                .bind(token.purpose.as_str())
                .bind(nanos(token.created_at)?)
                .execute(&mut *tx)
                .await?;
                sqlx::query(concat!(
                    "INSERT INTO email_tokens (",
                    $crate::mail_impl::token_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(token.token_hash.as_slice())
                .bind(token.purpose.as_str())
                .bind(token.account.as_uuid())
                .bind(token.address.as_deref())
                .bind(nanos(token.created_at)?)
                .bind(nanos(token.expires_at)?)
                .bind(token.used_at.map(nanos).transpose()?)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn email_token_live(
                &self,
                hash: &[u8; 32],
                purpose: $crate::mail::TokenPurpose,
                now: ::time::OffsetDateTime,
            ) -> Result<Option<$crate::mail::EmailToken>, $crate::error::StoreError> {
                let row: Option<$crate::mail_impl::EmailTokenRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::mail_impl::token_columns!(),
                    " FROM email_tokens WHERE token_hash = $1 AND purpose = $2 \
                     AND used_at_ns IS NULL AND expires_at_ns > $3"
                ))
                .bind(hash.as_slice())
                .bind(purpose.as_str())
                .bind($crate::codec::nanos(now)?)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::mail::EmailToken::try_from).transpose()
            }

            async fn email_token_pending(
                &self,
                account: ::tiaki_domain::AccountId,
                purpose: $crate::mail::TokenPurpose,
                now: ::time::OffsetDateTime,
            ) -> Result<Option<$crate::mail::EmailToken>, $crate::error::StoreError> {
                let row: Option<$crate::mail_impl::EmailTokenRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::mail_impl::token_columns!(),
                    " FROM email_tokens WHERE account_id = $1 AND purpose = $2 \
                     AND used_at_ns IS NULL AND expires_at_ns > $3 \
                     ORDER BY created_at_ns DESC LIMIT 1"
                ))
                .bind(account.as_uuid())
                .bind(purpose.as_str())
                .bind($crate::codec::nanos(now)?)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::mail::EmailToken::try_from).transpose()
            }

            async fn email_verify(
                &self,
                hash: &[u8; 32],
                now: ::time::OffsetDateTime,
            ) -> Result<Option<$crate::mail::AccountEmail>, $crate::error::StoreError> {
                let at = $crate::codec::nanos(now)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let used: Option<(::uuid::Uuid, Option<String>)> = sqlx::query_as(
                    "UPDATE email_tokens SET used_at_ns = $2 WHERE token_hash = $1 \
                     AND purpose = 'verify_email' AND used_at_ns IS NULL \
                     AND expires_at_ns > $2 RETURNING account_id, address",
                )
                .bind(hash.as_slice())
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((account, Some(address))) = used else {
                    return Ok(None);
                };
                sqlx::query(
                    "INSERT INTO account_emails (account_id, address, address_key, \
                     verified_at_ns) VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO \
                     UPDATE SET address = excluded.address, address_key = \
                     excluded.address_key, verified_at_ns = excluded.verified_at_ns",
                )
                .bind(account)
                .bind(&address)
                .bind(address.to_lowercase())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some($crate::mail::AccountEmail {
                    account: ::tiaki_domain::AccountId::from_uuid(account),
                    address,
                    verified_at: now,
                }))
            }

            async fn password_reset_complete(
                &self,
                hash: &[u8; 32],
                password_hash: &str,
                now: ::time::OffsetDateTime,
            ) -> Result<Option<::tiaki_domain::AccountId>, $crate::error::StoreError> {
                let at = $crate::codec::nanos(now)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let used: Option<(::uuid::Uuid,)> = sqlx::query_as(
                    "UPDATE email_tokens SET used_at_ns = $2 WHERE token_hash = $1 \
                     AND purpose = 'password_reset' AND used_at_ns IS NULL \
                     AND expires_at_ns > $2 RETURNING account_id",
                )
                .bind(hash.as_slice())
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((account,)) = used else {
                    return Ok(None);
                };
                sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
                    .bind(account)
                    .bind(password_hash)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE sessions SET revoked_at_ns = $2 WHERE account_id = $1 \
                     AND revoked_at_ns IS NULL",
                )
                .bind(account)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(::tiaki_domain::AccountId::from_uuid(account)))
            }

            async fn account_password_set(
                &self,
                account: ::tiaki_domain::AccountId,
                password_hash: &str,
            ) -> Result<(), $crate::error::StoreError> {
                let done = sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
                    .bind(account.as_uuid())
                    .bind(password_hash)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StoreError::NotFound);
                }
                Ok(())
            }

            async fn sign_in_seen(
                &self,
                account: ::tiaki_domain::AccountId,
                address: &str,
                user_agent: &str,
            ) -> Result<(bool, bool), $crate::error::StoreError> {
                let (any,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM (SELECT 1 FROM sessions WHERE account_id = $1 \
                     AND mfa_verified_at_ns IS NOT NULL LIMIT 1) AS s",
                )
                .bind(account.as_uuid())
                .fetch_one(&self.pool)
                .await?;
                let (same,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM (SELECT 1 FROM sessions WHERE account_id = $1 \
                     AND mfa_verified_at_ns IS NOT NULL AND coalesce(address, '') = $2 \
                     AND coalesce(user_agent, '') = $3 LIMIT 1) AS s",
                )
                .bind(account.as_uuid())
                .bind(address)
                .bind(user_agent)
                .fetch_one(&self.pool)
                .await?;
                Ok((any > 0, same > 0))
            }

            async fn invitation_insert(
                &self,
                i: &$crate::mail::Invitation,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::nanos;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                sqlx::query(
                    "UPDATE invitations SET revoked_at_ns = $2 WHERE patient_id = $1 \
                     AND used_at_ns IS NULL AND revoked_at_ns IS NULL",
                )
                .bind(i.patient.as_uuid())
                .bind(nanos(i.created_at)?)
                .execute(&mut *tx)
                .await?;
                sqlx::query(concat!(
                    "INSERT INTO invitations (",
                    $crate::mail_impl::invitation_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(i.id.as_uuid())
                .bind(i.token_hash.as_slice())
                .bind(i.patient.as_uuid())
                .bind(i.practice.as_uuid())
                .bind(&i.address)
                .bind(i.created_by.as_uuid())
                .bind(nanos(i.created_at)?)
                .bind(nanos(i.expires_at)?)
                .bind(i.used_at.map(nanos).transpose()?)
                .bind(i.revoked_at.map(nanos).transpose()?)
                .bind(i.account.map(|a| *a.as_uuid()))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn invitation_by_token(
                &self,
                hash: &[u8; 32],
            ) -> Result<Option<$crate::mail::Invitation>, $crate::error::StoreError> {
                let row: Option<$crate::mail_impl::InvitationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::mail_impl::invitation_columns!(),
                    " FROM invitations WHERE token_hash = $1"
                ))
                .bind(hash.as_slice())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::mail::Invitation::try_from).transpose()
            }

            async fn invitations_of(
                &self,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<Vec<$crate::mail::Invitation>, $crate::error::StoreError> {
                let rows: Vec<$crate::mail_impl::InvitationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::mail_impl::invitation_columns!(),
                    " FROM invitations WHERE patient_id = $1 \
                     ORDER BY created_at_ns DESC LIMIT 100"
                ))
                .bind(patient.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::mail::Invitation::try_from)
                    .collect()
            }

            async fn account_of_patient(
                &self,
                patient: ::tiaki_domain::PatientId,
            ) -> Result<Option<::tiaki_domain::AccountId>, $crate::error::StoreError> {
                let row: Option<(::uuid::Uuid,)> =
                    sqlx::query_as("SELECT id FROM accounts WHERE patient_id = $1 LIMIT 1")
                        .bind(patient.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(id,)| ::tiaki_domain::AccountId::from_uuid(id)))
            }

            async fn invitation_redeem(
                &self,
                hash: &[u8; 32],
                account: &$crate::model::Account,
                now: ::time::OffsetDateTime,
            ) -> Result<$crate::mail::Redeemed, $crate::error::StoreError> {
                use $crate::mail::Redeemed;
                let at = $crate::codec::nanos(now)?;
                let ::tiaki_domain::ActorKind::Patient { patient, practice } = account.kind
                else {
                    return Ok(Redeemed::NotLive);
                };
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                // Taking the invitation first locks its row (PostgreSQL), so a second
                // redemption waits and then finds it used.
                let used: Option<(String,)> = sqlx::query_as(
                    "UPDATE invitations SET used_at_ns = $2 \
                     WHERE token_hash = $1 AND used_at_ns IS NULL AND revoked_at_ns IS NULL \
                     AND expires_at_ns > $2 AND patient_id = $3 AND practice_id = $4 \
                     RETURNING address",
                )
                .bind(hash.as_slice())
                .bind(at)
                .bind(patient.as_uuid())
                .bind(practice.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
                let Some((address,)) = used else {
                    return Ok(Redeemed::NotLive);
                };
                let (registered,): (i64,) =
                    sqlx::query_as("SELECT count(*) FROM accounts WHERE patient_id = $1")
                        .bind(patient.as_uuid())
                        .fetch_one(&mut *tx)
                        .await?;
                if registered > 0 {
                    return Ok(Redeemed::AlreadyRegistered);
                }
                let username = account.username.to_lowercase();
                let (taken,): (i64,) =
                    sqlx::query_as("SELECT count(*) FROM accounts WHERE username = $1")
                        .bind(&username)
                        .fetch_one(&mut *tx)
                        .await?;
                if taken > 0 {
                    return Ok(Redeemed::UsernameTaken);
                }
                let kind = $crate::codec::KindColumns::from(&account.kind);
                sqlx::query(
                    "INSERT INTO accounts (id, username, display_name, password_hash, kind, \
                     patient_id, practice_id, role, disabled, created_at_ns) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(account.id.as_uuid())
                .bind(&username)
                .bind(&account.display_name)
                .bind(&account.password_hash)
                .bind(kind.kind)
                .bind(kind.patient)
                .bind(kind.practice)
                .bind(kind.role)
                .bind(account.disabled)
                .bind($crate::codec::nanos(account.created_at)?)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO account_emails (account_id, address, address_key, \
                     verified_at_ns) VALUES ($1, $2, $3, $4)",
                )
                .bind(account.id.as_uuid())
                .bind(&address)
                .bind(address.to_lowercase())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE invitations SET account_id = $2 WHERE token_hash = $1")
                    .bind(hash.as_slice())
                    .bind(account.id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Redeemed::Created)
            }

            async fn mail_requests_count(
                &self,
                scopes: &[String],
                at: ::time::OffsetDateTime,
                since: ::time::OffsetDateTime,
            ) -> Result<Vec<u32>, $crate::error::StoreError> {
                use $crate::codec::nanos;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                sqlx::query("DELETE FROM mail_requests WHERE at_ns < $1")
                    .bind(nanos(at - $crate::mail_impl::REQUEST_RETENTION)?)
                    .execute(&mut *tx)
                    .await?;
                let mut counts = Vec::with_capacity(scopes.len());
                for scope in scopes {
                    sqlx::query("INSERT INTO mail_requests (scope, at_ns) VALUES ($1, $2)")
                        .bind(scope)
                        .bind(nanos(at)?)
                        .execute(&mut *tx)
                        .await?;
                    let (n,): (i64,) = sqlx::query_as(
                        "SELECT count(*) FROM mail_requests WHERE scope = $1 AND at_ns >= $2",
                    )
                    .bind(scope)
                    .bind(nanos(since)?)
                    .fetch_one(&mut *tx)
                    .await?;
                    counts.push($crate::mail_impl::count_u32(n));
                }
                tx.commit().await?;
                Ok(counts)
            }
        }
    };
}
pub(crate) use impl_mail_store;
