//! Sign-in on SQLite: sessions of an account, second factors, throttle counters.

use super::accounts::session_columns;
use super::{BEGIN_WRITE, SqliteStore};
use crate::auth::{
    AuthStore, LoginFailureId, LoginSubject, ThrottleFacts, ThrottleQuery, TotpFactor,
};
use crate::auth_rows::{RawFacts, TotpRow, count};
use crate::codec::{nanos, to_i64};
use crate::error::StoreError;
use crate::model::SessionRecord;
use crate::rows::{SessionRow, convert_all};
use tiaki_crypto::SealedSecret;
use tiaki_domain::{AccountId, SessionId};
use time::OffsetDateTime;

#[async_trait::async_trait]
impl AuthStore for SqliteStore {
    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.map(SessionRecord::try_from).transpose()
    }

    async fn sessions_active(
        &self,
        account: AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE account_id = $1 AND revoked_at_ns IS NULL \
             AND expires_at_ns > $2 ORDER BY created_at_ns DESC, id DESC LIMIT 1000"
        ))
        .bind(account.as_uuid())
        .bind(nanos(now)?)
        .fetch_all(&self.pool)
        .await?;
        convert_all(rows)
    }

    async fn sessions_revoke_others(
        &self,
        account: AccountId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at_ns = $3 WHERE account_id = $1 \
             AND revoked_at_ns IS NULL AND ($2 IS NULL OR id <> $2)",
        )
        .bind(account.as_uuid())
        .bind(keep.map(|k| *k.as_uuid()))
        .bind(nanos(at)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn totp_factor(&self, account: AccountId) -> Result<Option<TotpFactor>, StoreError> {
        let row: Option<TotpRow> = sqlx::query_as(
            "SELECT account_id, kek_version, sealed_secret, created_at_ns, confirmed_at_ns, \
             last_step FROM totp_factors WHERE account_id = $1",
        )
        .bind(account.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TotpFactor::try_from).transpose()
    }

    async fn totp_put_pending(
        &self,
        account: AccountId,
        secret: &SealedSecret,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO totp_factors (account_id, kek_version, sealed_secret, created_at_ns) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET \
             kek_version = excluded.kek_version, sealed_secret = excluded.sealed_secret, \
             created_at_ns = excluded.created_at_ns, last_step = NULL \
             WHERE totp_factors.confirmed_at_ns IS NULL",
        )
        .bind(account.as_uuid())
        .bind(i64::from(secret.kek_version.0))
        .bind(secret.bytes.as_slice())
        .bind(nanos(at)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn totp_confirm(
        &self,
        account: AccountId,
        step: u64,
        recovery_hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE totp_factors SET confirmed_at_ns = $2, last_step = $3 \
             WHERE account_id = $1 AND confirmed_at_ns IS NULL",
        )
        .bind(account.as_uuid())
        .bind(nanos(at)?)
        .bind(to_i64(step)?)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.as_uuid())
            .execute(&mut *tx)
            .await?;
        for hash in recovery_hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (account_id, code_hash, created_at_ns) \
                 VALUES ($1, $2, $3)",
            )
            .bind(account.as_uuid())
            .bind(hash.as_slice())
            .bind(nanos(at)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn totp_use_step(&self, account: AccountId, step: u64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE totp_factors SET last_step = $2 WHERE account_id = $1 \
             AND confirmed_at_ns IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(account.as_uuid())
        .bind(to_i64(step)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn recovery_codes_replace(
        &self,
        account: AccountId,
        hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.as_uuid())
            .execute(&mut *tx)
            .await?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (account_id, code_hash, created_at_ns) \
                 VALUES ($1, $2, $3)",
            )
            .bind(account.as_uuid())
            .bind(hash.as_slice())
            .bind(nanos(at)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn recovery_code_use(
        &self,
        account: AccountId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at_ns = $3 WHERE account_id = $1 \
             AND code_hash = $2 AND used_at_ns IS NULL",
        )
        .bind(account.as_uuid())
        .bind(hash.as_slice())
        .bind(nanos(at)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn recovery_codes_unused(&self, account: AccountId) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM recovery_codes WHERE account_id = $1 AND used_at_ns IS NULL",
        )
        .bind(account.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        Ok(count(n))
    }

    async fn login_failure_record(
        &self,
        subject: &LoginSubject,
        address: &str,
        at: OffsetDateTime,
    ) -> Result<LoginFailureId, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO login_failures (subject, address, at_ns) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(subject.as_slice())
        .bind(address)
        .bind(nanos(at)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(LoginFailureId(id))
    }

    async fn login_failure_forget(&self, id: LoginFailureId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn login_success_record(
        &self,
        subject: &LoginSubject,
        address: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO known_addresses (subject, address, last_success_ns) VALUES ($1, $2, $3) \
             ON CONFLICT (subject, address) DO UPDATE SET last_success_ns = excluded.last_success_ns",
        )
        .bind(subject.as_slice())
        .bind(address)
        .bind(nanos(at)?)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_failures WHERE subject = $1 AND address = $2")
            .bind(subject.as_slice())
            .bind(address)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn login_throttle_facts(&self, q: &ThrottleQuery) -> Result<ThrottleFacts, StoreError> {
        let since = nanos(q.window_since)?;
        let pool = &self.pool;
        let pair: (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), max(at_ns) FROM login_failures \
             WHERE subject = $1 AND address = $2 AND at_ns >= $3",
        )
        .bind(q.subject.as_slice())
        .bind(&q.address)
        .bind(since)
        .fetch_one(pool)
        .await?;
        let elsewhere: (i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT address), max(at_ns) FROM login_failures \
             WHERE subject = $1 AND address <> $2 AND at_ns >= $3",
        )
        .bind(q.subject.as_slice())
        .bind(&q.address)
        .bind(since)
        .fetch_one(pool)
        .await?;
        let address: (i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT subject), max(at_ns) FROM login_failures \
             WHERE address = $1 AND at_ns >= $2",
        )
        .bind(&q.address)
        .bind(since)
        .fetch_one(pool)
        .await?;
        let global: i64 =
            sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE at_ns >= $1")
                .bind(nanos(q.global_since)?)
                .fetch_one(pool)
                .await?;
        let known: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM known_addresses \
             WHERE subject = $1 AND address = $2 AND last_success_ns >= $3",
        )
        .bind(q.subject.as_slice())
        .bind(&q.address)
        .bind(nanos(q.known_since)?)
        .fetch_one(pool)
        .await?;
        ThrottleFacts::try_from(RawFacts {
            pair,
            elsewhere,
            address,
            global,
            known: known > 0,
        })
    }

    async fn login_failures_prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at_ns < $1")
            .bind(nanos(before)?)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
