//! What passkeys, trusted devices and step-up keep in the database: registered
//! passkeys, WebAuthn ceremonies in progress, devices an account trusts for a while,
//! and when each session last presented a second factor. A sub-trait of
//! [`crate::Store`], so every backend has it and the conformance suite
//! (`tests/store/factors.rs`) runs on both.
//!
//! What must hold across web nodes is decided by the database: a ceremony is taken at
//! most once ([`FactorStore::ceremony_take`]), a credential belongs to one account
//! (a unique constraint), and an account's last usable factor is never deleted
//! ([`FactorStore::passkey_delete`] decides it in one transaction that locks the
//! account's row).

use crate::error::StoreError;
use std::fmt;
use tiaki_domain::ids::{PasskeyId, TrustedDeviceId};
use tiaki_domain::{AccountId, SessionId};
use time::OffsetDateTime;
use uuid::Uuid;

/// A registered passkey. `passkey` is the credential as the WebAuthn library keeps it
/// (JSON; public key and signature counter): public data, no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    pub id: PasskeyId,
    pub account: AccountId,
    pub credential_id: Vec<u8>,
    /// The person's name for it ("Phone", "YubiKey").
    pub name: String,
    pub passkey: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// What a WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a new passkey.
    Register,
    /// Signing in (or stepping up) with one of a known account's passkeys.
    Authenticate,
    /// Signing in with a discoverable passkey, no username given.
    Discover,
}

impl CeremonyKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
            Self::Discover => "discover",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(Self::Register),
            "authenticate" => Some(Self::Authenticate),
            "discover" => Some(Self::Discover),
            _ => None,
        }
    }
}

/// A ceremony in progress: the library's challenge state, kept server-side between
/// the options and the browser's answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub id: Uuid,
    pub kind: CeremonyKind,
    pub account: Option<AccountId>,
    /// The session that started it (none for a discoverable sign-in).
    pub session: Option<SessionId>,
    pub state: String,
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceremony")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("account", &self.account)
            .field("session", &self.session)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A device an account trusts to skip the second factor until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedDevice {
    pub id: TrustedDeviceId,
    pub account: AccountId,
    /// SHA-256 of the secret in the device's cookie.
    pub secret_hash: [u8; 32],
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl fmt::Debug for TrustedDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedDevice")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// How a session was opened and when it last presented a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFactor {
    pub session: SessionId,
    /// When the session last presented a second factor (sign-in or step-up).
    pub factor_at: Option<OffsetDateTime>,
    /// The trusted device it was opened from without a second factor, if it was.
    pub trusted_device: Option<TrustedDeviceId>,
}

/// What [`FactorStore::passkey_delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyDeletion {
    Deleted,
    /// No such passkey of that account.
    NotFound,
    /// It is the account's last usable factor: kept.
    LastFactor,
}

#[async_trait::async_trait]
pub trait FactorStore: Send + Sync {
    // --- sessions --------------------------------------------------------------------

    /// Records how a session was opened: when it presented a second factor, or the
    /// trusted device it came from. `NotFound` if there is no such session.
    async fn session_factor_put(
        &self,
        session: SessionId,
        factor_at: Option<OffsetDateTime>,
        trusted_device: Option<TrustedDeviceId>,
    ) -> Result<(), StoreError>;
    async fn session_factor(&self, session: SessionId)
    -> Result<Option<SessionFactor>, StoreError>;
    /// The factor marks of the account's unrevoked sessions (at most 1,000).
    async fn session_factors_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<SessionFactor>, StoreError>;
    /// A step-up: the session presented a second factor at `at` and from now on
    /// answers to a new token (the old one is dead). False, changing nothing, if the
    /// session is revoked or gone.
    async fn session_step_up(
        &self,
        session: SessionId,
        new_token_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    // --- passkeys --------------------------------------------------------------------

    /// A credential already registered (to any account) is a `Conflict`.
    async fn passkey_insert(&self, p: &PasskeyRecord) -> Result<(), StoreError>;
    /// The account's passkeys, oldest first (at most 100).
    async fn passkeys_of(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, StoreError>;
    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError>;
    /// After a sign-in with it: the updated credential (signature counter) and when.
    async fn passkey_used(
        &self,
        id: PasskeyId,
        passkey: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Deletes one of the account's passkeys unless it is the last usable factor: some
    /// other passkey remains, or (only when `totp_counts`) a confirmed authenticator.
    async fn passkey_delete(
        &self,
        account: AccountId,
        id: PasskeyId,
        totp_counts: bool,
    ) -> Result<PasskeyDeletion, StoreError>;

    // --- WebAuthn ceremonies ---------------------------------------------------------

    /// Stores a ceremony, pruning every expired one.
    async fn ceremony_put(&self, c: &Ceremony, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Removes and returns a ceremony: each is finished at most once.
    async fn ceremony_take(&self, id: Uuid) -> Result<Option<Ceremony>, StoreError>;

    // --- trusted devices -------------------------------------------------------------

    async fn device_insert(&self, d: &TrustedDevice) -> Result<(), StoreError>;
    async fn device(&self, id: TrustedDeviceId) -> Result<Option<TrustedDevice>, StoreError>;
    async fn device_used(&self, id: TrustedDeviceId, at: OffsetDateTime) -> Result<(), StoreError>;
    /// The account's devices neither revoked nor expired at `now`, newest first (at
    /// most 1,000).
    async fn devices_active(
        &self,
        account: AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<TrustedDevice>, StoreError>;
    /// Revokes one of the account's devices. False if it has no such unrevoked device.
    async fn device_revoke(
        &self,
        account: AccountId,
        id: TrustedDeviceId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Revokes every device of the account; returns how many.
    async fn devices_revoke_all(
        &self,
        account: AccountId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}
