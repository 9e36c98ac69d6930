//! The one error type of the use cases. The web crate maps each variant to an HTTP
//! status once; nothing here carries health data.

use tiaki_audit::AuditError;
use tiaki_crypto::CryptoError;
use tiaki_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Missing and not-allowed are one answer, so ids cannot be probed.
    #[error("not found")]
    NotFound,
    /// No valid session or token.
    #[error("you need to sign in")]
    Unauthenticated,
    /// Wrong username or password (never says which).
    #[error("that username and password do not match an account")]
    BadCredentials,
    /// Signing in needs a right username, password and second factor, and one of them
    /// was missing or wrong (never says which).
    #[error("sign-in needs a username, password and a current second factor")]
    SecondFactorRequired,
    /// Too many failed sign-ins: attempts are refused for a while (never for good).
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    /// The action needs a second factor presented within the last few minutes (a
    /// sensitive change, or a reading pace the guard wants confirmed).
    #[error("please confirm it is you with a current second factor")]
    StepUpRequired,
    /// The account has been contained (frozen) by the guard or an operator.
    #[error("this account is paused for its protection; contact your practice")]
    Frozen,
    /// The module is closed (or read-only) by its kill switch.
    #[error("this part of the portal is paused for maintenance")]
    ModuleClosed,
    /// Input failed validation; `code` is machine-readable, `message` is for people.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("the file is larger than the {limit_mib} MiB limit")]
    TooLarge { limit_mib: u64 },
    #[error("{0}")]
    UnsupportedType(String),
    /// The document exists and may be read, but not online: archived (ask for it back)
    /// or erased. `code` is machine-readable, `message` is for people.
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// The audit log, the store or the keys could not answer: fail closed.
    #[error("the service cannot complete this safely right now")]
    Unavailable(String),
}

impl CoreError {
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            other => Self::Unavailable(format!("store: {other}")),
        }
    }
}

impl From<AuditError> for CoreError {
    fn from(e: AuditError) -> Self {
        Self::Unavailable(format!("audit: {e}"))
    }
}

impl From<CryptoError> for CoreError {
    fn from(e: CryptoError) -> Self {
        Self::Unavailable(format!("crypto: {e}"))
    }
}
