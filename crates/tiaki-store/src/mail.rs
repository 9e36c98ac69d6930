//! What email-based account care keeps in the database: verified addresses, one-time
//! links (address verification, password reset), invitations to register, and the
//! counters that throttle requests for them. A sub-trait of [`crate::Store`], so every
//! backend has it and the conformance suite (`tests/store/mail.rs`) runs on both.
//!
//! Every token is kept only as the SHA-256 of its 256 random bits. Everything that must
//! happen at most once is decided by the database in one transaction: a link is
//! redeemed once ([`MailStore::email_verify`], [`MailStore::password_reset_complete`]),
//! an invitation makes at most one account, and an enrolled patient has at most one
//! login (a unique index).

use crate::error::StoreError;
use crate::model::Account;
use std::fmt;
use tiaki_domain::{AccountId, InvitationId, PatientId, PracticeId};
use time::OffsetDateTime;

/// What a one-time link sent by email is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Proves the person reads the address they added.
    VerifyEmail,
    /// Lets the person choose a new password.
    PasswordReset,
}

impl TokenPurpose {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify_email" => Some(Self::VerifyEmail),
            "password_reset" => Some(Self::PasswordReset),
            _ => None,
        }
    }
}

/// An account's verified address.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountEmail {
    pub account: AccountId,
    pub address: String,
    pub verified_at: OffsetDateTime,
}

impl fmt::Debug for AccountEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountEmail")
            .field("account", &self.account)
            .field("verified_at", &self.verified_at)
            .finish_non_exhaustive()
    }
}

/// A one-time link, as stored (without its token, which is never kept).
#[derive(Clone, PartialEq, Eq)]
pub struct EmailToken {
    pub token_hash: [u8; 32],
    pub purpose: TokenPurpose,
    pub account: AccountId,
    /// The address being verified (`VerifyEmail` only).
    pub address: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

impl fmt::Debug for EmailToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailToken")
            .field("purpose", &self.purpose)
            .field("account", &self.account)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// An invitation for an enrolled patient to register.
#[derive(Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub token_hash: [u8; 32],
    pub patient: PatientId,
    pub practice: PracticeId,
    /// Where the practice sent it; it becomes the new account's verified address.
    pub address: String,
    pub created_by: AccountId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// The account it made, once used.
    pub account: Option<AccountId>,
}

impl Invitation {
    /// Whether it can still be used at `now`.
    #[must_use]
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("patient", &self.patient)
            .field("practice", &self.practice)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// How a redemption went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// The account exists now, with the invitation's address verified.
    Created,
    /// Unknown, used, revoked or expired: nothing changed.
    NotLive,
    /// The username is taken: nothing changed, the invitation is still good.
    UsernameTaken,
    /// The patient has a login already: nothing changed.
    AlreadyRegistered,
}

#[async_trait::async_trait]
pub trait MailStore: Send + Sync {
    // --- addresses -------------------------------------------------------------------

    /// The account's verified address, if it has one.
    async fn email_of(&self, account: AccountId) -> Result<Option<AccountEmail>, StoreError>;
    /// Accounts whose verified address is `address` (ignoring case), at most 20.
    async fn accounts_by_email(&self, address: &str) -> Result<Vec<AccountId>, StoreError>;
    /// Sets (or replaces) the account's verified address directly: for demo accounts and
    /// fixtures, whose addresses are made up.
    async fn email_set_verified(
        &self,
        account: AccountId,
        address: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    // --- one-time links --------------------------------------------------------------

    /// Stores a new link; every earlier unused link of the same account and purpose
    /// stops working (one transaction), so only the newest email counts.
    async fn email_token_insert(&self, token: &EmailToken) -> Result<(), StoreError>;
    /// The link with this hash, if it is for `purpose` and still usable at `now`.
    async fn email_token_live(
        &self,
        hash: &[u8; 32],
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<EmailToken>, StoreError>;
    /// The newest link of the account for `purpose` still usable at `now`.
    async fn email_token_pending(
        &self,
        account: AccountId,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<EmailToken>, StoreError>;
    /// Redeems a verification link and makes its address the account's verified one, in
    /// one transaction. `None` (nothing changed) if the link is not usable at `now`.
    async fn email_verify(
        &self,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<AccountEmail>, StoreError>;
    /// Redeems a reset link, sets the account's password hash and revokes every session
    /// of the account, in one transaction. `None` (nothing changed) if the link is not
    /// usable at `now`.
    async fn password_reset_complete(
        &self,
        hash: &[u8; 32],
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<AccountId>, StoreError>;
    /// Sets the account's password hash; `NotFound` if there is no such account.
    async fn account_password_set(
        &self,
        account: AccountId,
        password_hash: &str,
    ) -> Result<(), StoreError>;

    // --- new-device notices ----------------------------------------------------------

    /// Whether the account has completed a sign-in before, and whether one of them came
    /// from this address with this user agent (`""` stands for none).
    async fn sign_in_seen(
        &self,
        account: AccountId,
        address: &str,
        user_agent: &str,
    ) -> Result<(bool, bool), StoreError>;

    // --- invitations -----------------------------------------------------------------

    /// Stores a new invitation and revokes the patient's earlier live ones (one
    /// transaction).
    async fn invitation_insert(&self, invitation: &Invitation) -> Result<(), StoreError>;
    async fn invitation_by_token(&self, hash: &[u8; 32]) -> Result<Option<Invitation>, StoreError>;
    /// A patient's invitations, newest first (at most 100).
    async fn invitations_of(&self, patient: PatientId) -> Result<Vec<Invitation>, StoreError>;
    /// The patient's login, if they have one.
    async fn account_of_patient(&self, patient: PatientId)
    -> Result<Option<AccountId>, StoreError>;
    /// Uses the invitation: marks it used, creates `account` (a patient account for the
    /// invitation's patient) and makes the invitation's address its verified one, in
    /// one transaction.
    async fn invitation_redeem(
        &self,
        hash: &[u8; 32],
        account: &Account,
        now: OffsetDateTime,
    ) -> Result<Redeemed, StoreError>;

    // --- throttling ------------------------------------------------------------------

    /// Records one request in each scope and returns, per scope, how many were recorded
    /// at or after `since` (this one included). Prunes rows older than a day.
    async fn mail_requests_count(
        &self,
        scopes: &[String],
        at: OffsetDateTime,
        since: OffsetDateTime,
    ) -> Result<Vec<u32>, StoreError>;
}
