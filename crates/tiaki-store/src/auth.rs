//! What sign-in keeps in the database: second factors, an account's sessions, and the
//! failure counters that throttle guessing. A sub-trait of [`crate::Store`], so every
//! backend has it and the conformance suite (`tests/store/auth.rs`) runs on both.
//!
//! Everything that must hold across web nodes is decided by the database in one
//! statement: a TOTP step is accepted at most once (`totp_use_step`), a recovery code
//! is used at most once (`recovery_code_use`), an enrolment is confirmed at most once.

use crate::error::StoreError;
use crate::model::SessionRecord;
use std::fmt;
use tiaki_crypto::SealedSecret;
use tiaki_domain::{AccountId, SessionId};
use time::OffsetDateTime;

/// An account's TOTP authenticator. The seed is sealed; the store never sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub account: AccountId,
    pub secret: SealedSecret,
    pub created_at: OffsetDateTime,
    /// `None` while enrolment is in progress (the person has not yet shown a code).
    pub confirmed_at: Option<OffsetDateTime>,
    /// The newest step a code was accepted for.
    pub last_step: Option<u64>,
}

impl fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpFactor")
            .field("account", &self.account)
            .field("kek_version", &self.secret.kek_version)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// A keyed MAC of a normalised username: what throttling counts by, so an unknown
/// username is counted exactly like a known one.
pub type LoginSubject = [u8; 32];

/// One recorded failure, so an attempt that turns out right can take its own row back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailureId(pub i64);

/// What to count for one sign-in attempt.
#[derive(Debug, Clone)]
pub struct ThrottleQuery {
    pub subject: LoginSubject,
    /// The address the attempt comes from (`""` when there is none).
    pub address: String,
    /// Failures at or after this instant count for the per-account and per-address
    /// rules.
    pub window_since: OffsetDateTime,
    /// Failures at or after this instant count for the global rule.
    pub global_since: OffsetDateTime,
    /// A successful sign-in from this address at or after this instant makes it known.
    pub known_since: OffsetDateTime,
}

/// The counts the throttle decides on (see `tiaki-core`'s `auth::throttle`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThrottleFacts {
    /// Failures of this subject from this address.
    pub pair_failures: u32,
    pub pair_last_failure: Option<OffsetDateTime>,
    /// Failures of this subject from every other address, and how many addresses.
    pub account_failures_elsewhere: u32,
    pub account_addresses_elsewhere: u32,
    pub account_last_failure_elsewhere: Option<OffsetDateTime>,
    /// Failures from this address for any subject, and how many distinct subjects.
    pub address_failures: u32,
    pub address_subjects: u32,
    pub address_last_failure: Option<OffsetDateTime>,
    /// Failures everywhere since `global_since`.
    pub global_failures: u32,
    /// Whether this subject has signed in from this address since `known_since`.
    pub known_address: bool,
}

#[async_trait::async_trait]
pub trait AuthStore: Send + Sync {
    // --- sessions --------------------------------------------------------------------

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError>;
    /// The account's sessions that are neither revoked nor past their absolute expiry
    /// at `now`, newest first (at most 1,000).
    async fn sessions_active(
        &self,
        account: AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Revokes every unrevoked session of `account` except `keep`; returns how many.
    async fn sessions_revoke_others(
        &self,
        account: AccountId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    // --- second factors --------------------------------------------------------------

    async fn totp_factor(&self, account: AccountId) -> Result<Option<TotpFactor>, StoreError>;
    /// Stores (or replaces) an enrolment in progress. Returns false, changing nothing,
    /// if the account already has a confirmed authenticator.
    async fn totp_put_pending(
        &self,
        account: AccountId,
        secret: &SealedSecret,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Confirms the enrolment in progress, accepting `step`, and replaces the account's
    /// recovery codes with `recovery_hashes`, in one transaction. Returns false,
    /// changing nothing, if there is no enrolment in progress.
    async fn totp_confirm(
        &self,
        account: AccountId,
        step: u64,
        recovery_hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Accepts `step` for a confirmed authenticator if it is later than every step
    /// accepted before. False means a replay (or no confirmed authenticator).
    async fn totp_use_step(&self, account: AccountId, step: u64) -> Result<bool, StoreError>;
    /// Replaces every recovery code of the account.
    async fn recovery_codes_replace(
        &self,
        account: AccountId,
        hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Marks an unused code used. False if there is no such unused code.
    async fn recovery_code_use(
        &self,
        account: AccountId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    async fn recovery_codes_unused(&self, account: AccountId) -> Result<u32, StoreError>;

    // --- throttling ------------------------------------------------------------------

    async fn login_failure_record(
        &self,
        subject: &LoginSubject,
        address: &str,
        at: OffsetDateTime,
    ) -> Result<LoginFailureId, StoreError>;
    /// Removes one failure row (an attempt recorded pessimistically that succeeded).
    async fn login_failure_forget(&self, id: LoginFailureId) -> Result<(), StoreError>;
    /// A completed sign-in: the address becomes known for the subject, and the
    /// subject's failures from that address are cleared.
    async fn login_success_record(
        &self,
        subject: &LoginSubject,
        address: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    async fn login_throttle_facts(&self, q: &ThrottleQuery) -> Result<ThrottleFacts, StoreError>;
    /// Deletes failures older than `before`; returns how many.
    async fn login_failures_prune(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
