//! Enrolling an authenticator: from a password-only session (the person does it), or
//! provisioned directly (the demo, and test fixtures).
//!
//! The seed is generated here, sealed under the keyring bound to the account, and
//! stored as an enrolment in progress; the same seed is offered again until the person
//! proves they have it by typing a current code. Confirming stores ten recovery codes
//! (shown once, kept only as hashes), ends every other session of the account (a
//! factor change), and opens a new, full session.

use super::TOTP_ISSUER;
use super::login::{PendingSignIn, unix_seconds};
use crate::sessions::NewSession;
use crate::{CoreError, Tiaki};
use secrecy::{ExposeSecret, SecretString};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{SecretPurpose, TotpSecret, generate_recovery_code};
use tiaki_domain::AccountId;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// How many recovery codes an account gets.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// What the enrolment page shows: the seed as text and as an `otpauth://` URI (for the
/// QR code). Secret material: never logged, wiped when dropped.
pub struct TotpEnrolment {
    pub secret_base32: Zeroizing<String>,
    pub otpauth_uri: Zeroizing<String>,
    /// The label the authenticator app will show.
    pub account_name: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

/// A finished enrolment: the new session, and the recovery codes to show once.
#[derive(Debug)]
pub struct Enrolled {
    pub session: NewSession,
    pub recovery_codes: Vec<Zeroizing<String>>,
}

/// Factors provisioned without a session (demo accounts, test fixtures).
#[derive(Debug)]
pub struct ProvisionedFactors {
    pub totp: TotpSecret,
    pub recovery_codes: Vec<Zeroizing<String>>,
}

/// A fresh set of recovery codes: the text to show once, and the hashes to store.
pub(super) struct RecoveryCodes {
    pub(super) shown: Vec<Zeroizing<String>>,
    pub(super) hashes: Vec<[u8; 32]>,
}

pub(super) fn new_recovery_codes() -> Result<RecoveryCodes, CoreError> {
    let mut codes = RecoveryCodes {
        shown: Vec::with_capacity(RECOVERY_CODE_COUNT),
        hashes: Vec::with_capacity(RECOVERY_CODE_COUNT),
    };
    for _ in 0..RECOVERY_CODE_COUNT {
        let (code, hash) = generate_recovery_code()?;
        codes.shown.push(code);
        codes.hashes.push(hash);
    }
    Ok(codes)
}

impl Tiaki {
    /// The authenticator being enrolled for a password-only session: the one already
    /// in progress, or a new one. Refused if the account already has one.
    pub async fn totp_enrolment(
        &self,
        pending: &PendingSignIn,
    ) -> Result<TotpEnrolment, CoreError> {
        let account = self.pending_account(pending).await?;
        self.totp_permitted(&account)?;
        let existing = self.store.totp_factor(account.id).await?;
        if existing.as_ref().is_some_and(|f| f.confirmed_at.is_some()) {
            return Err(CoreError::invalid(
                "already_enrolled",
                "This account already has an authenticator app set up.",
            ));
        }
        let reused = existing.and_then(|f| {
            self.vault
                .open_secret(SecretPurpose::Totp, account.id, &f.secret)
                .ok()
                .and_then(|seed| TotpSecret::from_bytes(&seed))
        });
        let secret = match reused {
            Some(secret) => secret,
            None => {
                let secret = TotpSecret::generate()?;
                let sealed =
                    self.vault
                        .seal_secret(SecretPurpose::Totp, account.id, secret.as_bytes())?;
                let now = OffsetDateTime::now_utc();
                if !self
                    .store
                    .totp_put_pending(account.id, &sealed, now)
                    .await?
                {
                    return Err(CoreError::invalid(
                        "already_enrolled",
                        "This account already has an authenticator app set up.",
                    ));
                }
                secret
            }
        };
        Ok(TotpEnrolment {
            secret_base32: secret.to_base32(),
            otpauth_uri: secret.otpauth_uri(TOTP_ISSUER, &account.username),
            account_name: account.username,
        })
    }

    /// Confirms the enrolment with a current code. Every other session of the account
    /// ends; a new full session begins; the recovery codes are returned to show once.
    pub async fn confirm_totp_enrolment(
        &self,
        pending: &PendingSignIn,
        code: &SecretString,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<Enrolled, CoreError> {
        let account = self.pending_account(pending).await?;
        self.totp_permitted(&account)?;
        let attempt = self.attempt(&account.username, ctx).await?;
        let now = OffsetDateTime::now_utc();
        let step = match self.store.totp_factor(account.id).await? {
            Some(f) if f.confirmed_at.is_none() => {
                let seed = self
                    .vault
                    .open_secret(SecretPurpose::Totp, account.id, &f.secret)?;
                TotpSecret::from_bytes(&seed)
                    .and_then(|s| s.check(code.expose_secret(), unix_seconds(now)))
            }
            _ => None,
        };
        let RecoveryCodes { shown, hashes } = new_recovery_codes()?;
        let confirmed = match step {
            Some(step) => {
                self.store
                    .totp_confirm(account.id, step, &hashes, now)
                    .await?
            }
            None => false,
        };
        if !confirmed {
            let event = AuditEvent::named(
                "factor.totp.enrol",
                Some(&pending.actor_for_audit),
                None,
                Outcome::Denied,
                ctx,
            )
            .with_reason("bad_code");
            self.audit.record_event(&event).await?;
            return Err(CoreError::SecondFactorRequired);
        }
        // A factor change ends every other session, the password-only one included, and
        // every trusted device.
        self.factor_changed(account.id, None).await?;
        let event = AuditEvent::named(
            "factor.totp.enrol",
            Some(&pending.actor_for_audit),
            None,
            Outcome::Allowed,
            ctx,
        );
        self.audit.record_event(&event).await?;
        let session = self.finish(&account, &attempt, ctx, user_agent).await?;
        self.notify_account(
            account.id,
            crate::mail::Notice::FactorChanged {
                what: "An authenticator app was set up".to_owned(),
            },
        )
        .await;
        Ok(Enrolled {
            session,
            recovery_codes: shown,
        })
    }

    /// Staff and operators enrol a passkey instead, unless TOTP is allowed for them.
    fn totp_permitted(&self, account: &tiaki_store::Account) -> Result<(), CoreError> {
        if self.totp_allowed(&account.kind) {
            Ok(())
        } else {
            Err(CoreError::invalid(
                "totp_not_allowed",
                "Your role signs in with a passkey rather than an authenticator app. Please set \
                 up a passkey.",
            ))
        }
    }

    /// Gives an account a confirmed authenticator and fresh recovery codes without a
    /// sign-in: for the demo's accounts (whose seeds go to `demo-logins.json`) and for
    /// test fixtures. Refused if the account already has one.
    pub async fn provision_totp(
        &self,
        account: AccountId,
    ) -> Result<ProvisionedFactors, CoreError> {
        let secret = TotpSecret::generate()?;
        let sealed = self
            .vault
            .seal_secret(SecretPurpose::Totp, account, secret.as_bytes())?;
        let now = OffsetDateTime::now_utc();
        let RecoveryCodes { shown, hashes } = new_recovery_codes()?;
        // Step 0 is long past: the first real code is accepted.
        let stored = self.store.totp_put_pending(account, &sealed, now).await?
            && self.store.totp_confirm(account, 0, &hashes, now).await?;
        if !stored {
            return Err(CoreError::invalid(
                "already_enrolled",
                "This account already has an authenticator app set up.",
            ));
        }
        Ok(ProvisionedFactors {
            totp: secret,
            recovery_codes: shown,
        })
    }
}
