//! Accounts and sessions on PostgreSQL.

use crate::codec::{KindColumns, nanos};
use crate::error::StoreError;
use crate::model::{Account, SessionRecord};
use crate::rows::{AccountRow, SessionRow};
use sqlx::PgPool;
use tiaki_domain::{AccountId, SessionId};
use time::OffsetDateTime;

macro_rules! account_columns {
    () => {
        "id, username, display_name, password_hash, kind, patient_id, practice_id, role, \
         disabled, created_at_ns"
    };
}

macro_rules! session_columns {
    () => {
        "id, account_id, token_hash, created_at_ns, last_seen_at_ns, expires_at_ns, \
         revoked_at_ns, address, user_agent, mfa_verified_at_ns"
    };
}
pub(super) use session_columns;

pub(super) async fn account_insert(pool: &PgPool, a: &Account) -> Result<(), StoreError> {
    let kind = KindColumns::from(&a.kind);
    sqlx::query(concat!(
        "INSERT INTO accounts (",
        account_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(a.id.as_uuid())
    .bind(a.username.to_lowercase())
    .bind(&a.display_name)
    .bind(&a.password_hash)
    .bind(kind.kind)
    .bind(kind.patient)
    .bind(kind.practice)
    .bind(kind.role)
    .bind(a.disabled)
    .bind(nanos(a.created_at)?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn account(pool: &PgPool, id: AccountId) -> Result<Option<Account>, StoreError> {
    let row: Option<AccountRow> = sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = $1"
    ))
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await?;
    row.map(Account::try_from).transpose()
}

pub(super) async fn account_by_username(
    pool: &PgPool,
    username: &str,
) -> Result<Option<Account>, StoreError> {
    let row: Option<AccountRow> = sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE username = $1"
    ))
    .bind(username.to_lowercase())
    .fetch_optional(pool)
    .await?;
    row.map(Account::try_from).transpose()
}

pub(super) async fn session_insert(pool: &PgPool, s: &SessionRecord) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO sessions (",
        session_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(s.id.as_uuid())
    .bind(s.account.as_uuid())
    .bind(s.token_hash.as_slice())
    .bind(nanos(s.created_at)?)
    .bind(nanos(s.last_seen_at)?)
    .bind(nanos(s.expires_at)?)
    .bind(s.revoked_at.map(nanos).transpose()?)
    .bind(s.address.as_deref())
    .bind(s.user_agent.as_deref())
    .bind(s.mfa_verified_at.map(nanos).transpose()?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn session_by_token_hash(
    pool: &PgPool,
    hash: &[u8; 32],
) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE token_hash = $1"
    ))
    .bind(hash.as_slice())
    .fetch_optional(pool)
    .await?;
    row.map(SessionRecord::try_from).transpose()
}

pub(super) async fn session_touch(
    pool: &PgPool,
    id: SessionId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE sessions SET last_seen_at_ns = $2 WHERE id = $1")
        .bind(id.as_uuid())
        .bind(nanos(at)?)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn session_revoke(
    pool: &PgPool,
    id: SessionId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    // The first revocation time is the one that matters for an incident timeline.
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at_ns = coalesce(revoked_at_ns, $2) WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(nanos(at)?)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
