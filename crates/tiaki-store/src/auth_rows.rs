//! Rows of the sign-in tables as both backends return them, and the counting rows of
//! the throttle, converted with the same range checks as `rows.rs`.

use crate::auth::{ThrottleFacts, TotpFactor};
use crate::codec::{from_nanos, opt_from_nanos, to_u64};
use crate::crypto_types::KekVersion;
use crate::error::StoreError;
use tiaki_crypto::SealedSecret;
use tiaki_domain::AccountId;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub(crate) struct TotpRow {
    account_id: Uuid,
    kek_version: i64,
    sealed_secret: Vec<u8>,
    created_at_ns: i64,
    confirmed_at_ns: Option<i64>,
    last_step: Option<i64>,
}

impl TryFrom<TotpRow> for TotpFactor {
    type Error = StoreError;
    fn try_from(r: TotpRow) -> Result<Self, StoreError> {
        let version = u32::try_from(r.kek_version)
            .map_err(|_| StoreError::corrupt("kek version out of range"))?;
        Ok(Self {
            account: AccountId::from_uuid(r.account_id),
            secret: SealedSecret {
                kek_version: KekVersion(version),
                bytes: r.sealed_secret,
            },
            created_at: from_nanos(r.created_at_ns)?,
            confirmed_at: opt_from_nanos(r.confirmed_at_ns)?,
            last_step: r.last_step.map(|s| to_u64(s, "totp step")).transpose()?,
        })
    }
}

/// A count as a `u32`, saturating: a throttle only compares counts with small limits.
pub(crate) fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// The raw counts, in the order the backends select them.
#[derive(Debug, Default)]
pub(crate) struct RawFacts {
    pub(crate) pair: (i64, Option<i64>),
    pub(crate) elsewhere: (i64, i64, Option<i64>),
    pub(crate) address: (i64, i64, Option<i64>),
    pub(crate) global: i64,
    pub(crate) known: bool,
}

impl TryFrom<RawFacts> for ThrottleFacts {
    type Error = StoreError;
    fn try_from(r: RawFacts) -> Result<Self, StoreError> {
        Ok(Self {
            pair_failures: count(r.pair.0),
            pair_last_failure: opt_from_nanos(r.pair.1)?,
            account_failures_elsewhere: count(r.elsewhere.0),
            account_addresses_elsewhere: count(r.elsewhere.1),
            account_last_failure_elsewhere: opt_from_nanos(r.elsewhere.2)?,
            address_failures: count(r.address.0),
            address_subjects: count(r.address.1),
            address_last_failure: opt_from_nanos(r.address.2)?,
            global_failures: count(r.global),
            known_address: r.known,
        })
    }
}
