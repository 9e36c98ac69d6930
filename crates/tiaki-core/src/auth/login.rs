//! The sign-in steps: the password, the second factor, or both at once (the API).

use super::throttle;
use crate::sessions::NewSession;
use crate::{CoreError, Tiaki};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{SecretPurpose, TotpSecret, generate_token, hash_recovery_code};
use tiaki_domain::{AccountId, Actor, SessionId};
use tiaki_store::{Account, LoginFailureId, LoginSubject, SessionRecord, ThrottleQuery};
use time::{Duration, OffsetDateTime};

/// Failures older than this are pruned (the throttle looks back far less).
const FAILURE_RETENTION: Duration = Duration::days(1);

/// A second factor as the person presents it.
pub enum SecondFactor {
    /// The 6-digit code an authenticator app shows now.
    Totp(SecretString),
    /// One of the account's one-time recovery codes.
    RecoveryCode(SecretString),
}

impl fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "SecondFactor::Totp([redacted])",
            Self::RecoveryCode(_) => "SecondFactor::RecoveryCode([redacted])",
        })
    }
}

/// A password-only session, as [`Tiaki::authenticate_pending`] finds it. It is not an
/// `Actor`: nothing but enrolling or presenting a second factor accepts it.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub account: AccountId,
    pub session: SessionId,
    /// Whether the account has a confirmed authenticator (else it must enrol one).
    pub enrolled: bool,
    pub(crate) actor_for_audit: Actor,
}

/// The password was right: a password-only session, good for a few minutes.
#[derive(Debug)]
pub struct PasswordAccepted {
    pub token: SecretString,
    pub session: SessionId,
    pub expires_at: OffsetDateTime,
    /// Whether the account has an authenticator to ask for (else: enrolment).
    pub enrolled: bool,
}

/// One attempt that passed the throttle, recorded as a failure until it succeeds.
pub(crate) struct Attempt {
    pub(crate) subject: LoginSubject,
    pub(crate) address: String,
    pub(crate) failure: LoginFailureId,
}

pub(crate) fn unix_seconds(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0)
}

pub(crate) fn normalize(username: &str) -> Option<String> {
    let username = username.trim().to_lowercase();
    (!username.is_empty() && username.len() <= 254).then_some(username)
}

impl Tiaki {
    /// Step one on the web: checks the password and opens a password-only session.
    /// A wrong password or unknown username is [`CoreError::BadCredentials`].
    pub async fn login_password(
        &self,
        username: &str,
        password: &SecretString,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<PasswordAccepted, CoreError> {
        let normalized = normalize(username).unwrap_or_default();
        let attempt = self.attempt(&normalized, ctx).await?;
        let (account, targeted) = self.check_password(&normalized, password).await?;
        let Some(account) = account else {
            self.refuse("bad_credentials", targeted, ctx).await?;
            return Err(CoreError::BadCredentials);
        };
        self.password_accepted(&account, &attempt, ctx, user_agent)
            .await
    }

    /// The password was right: a password-only session, waiting for the second factor.
    pub(crate) async fn password_accepted(
        &self,
        account: &Account,
        attempt: &Attempt,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<PasswordAccepted, CoreError> {
        // The password was right: this attempt is not a failure. A wrong code later is.
        self.store.login_failure_forget(attempt.failure).await?;
        let enrolled = self.can_complete_sign_in(account).await?;
        let now = OffsetDateTime::now_utc();
        let expires_at = now + Duration::minutes(self.config.second_factor_minutes);
        let (token, record) = self
            .new_session(account, None, expires_at, ctx, user_agent)
            .await?;
        let actor = actor_of(account, record.id);
        let event = AuditEvent::named(
            "session.password",
            Some(&actor),
            None,
            Outcome::Allowed,
            ctx,
        );
        self.audit.record_event(&event).await?;
        Ok(PasswordAccepted {
            token,
            session: record.id,
            expires_at,
            enrolled,
        })
    }

    /// Signs in with one call (the JSON API): username, password and a second factor.
    /// Every failure is [`CoreError::SecondFactorRequired`], or
    /// [`CoreError::Throttled`] when attempts are being refused for a while.
    pub async fn login(
        &self,
        username: &str,
        password: &SecretString,
        factor: Option<&SecondFactor>,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        let normalized = normalize(username).unwrap_or_default();
        let attempt = self.attempt(&normalized, ctx).await?;
        let (account, targeted) = self.check_password(&normalized, password).await?;
        let now = OffsetDateTime::now_utc();
        let reason = match (account, factor) {
            (None, _) => "bad_credentials",
            (Some(_), None) => "no_second_factor",
            (Some(a), Some(f)) => {
                if self.check_factor(&a, f, now).await? {
                    return self.finish(&a, &attempt, ctx, user_agent).await;
                }
                "bad_second_factor"
            }
        };
        self.refuse(reason, targeted, ctx).await?;
        Err(CoreError::SecondFactorRequired)
    }

    /// Step two on the web: a second factor for a password-only session. On success
    /// that session ends and a new one, with a new token, begins.
    pub async fn complete_sign_in(
        &self,
        pending: &PendingSignIn,
        factor: &SecondFactor,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        let account = self.pending_account(pending).await?;
        let attempt = self.attempt(&account.username, ctx).await?;
        let now = OffsetDateTime::now_utc();
        if !self.check_factor(&account, factor, now).await? {
            let event = AuditEvent::named(
                "session.login",
                Some(&pending.actor_for_audit),
                None,
                Outcome::Denied,
                ctx,
            )
            .with_reason("bad_second_factor");
            self.audit.record_event(&event).await?;
            return Err(CoreError::SecondFactorRequired);
        }
        self.store.session_revoke(pending.session, now).await?;
        self.finish(&account, &attempt, ctx, user_agent).await
    }

    /// The account behind a password-only session, if it may still sign in.
    pub(crate) async fn pending_account(
        &self,
        pending: &PendingSignIn,
    ) -> Result<Account, CoreError> {
        match self.store.account(pending.account).await? {
            Some(a) if !a.disabled => Ok(a),
            _ => Err(CoreError::Unauthenticated),
        }
    }

    /// The throttle's check, then the attempt recorded as a failure before anything is
    /// verified, so concurrent guesses count against each other.
    pub(crate) async fn attempt(
        &self,
        normalized_username: &str,
        ctx: &RequestContext,
    ) -> Result<Attempt, CoreError> {
        let subject = self
            .vault
            .mac_key()
            .tag("login-subject", normalized_username.as_bytes());
        let address = ctx.address.map(|a| a.to_string()).unwrap_or_default();
        let now = OffsetDateTime::now_utc();
        let limits = &self.config.throttle;
        let facts = self
            .store
            .login_throttle_facts(&ThrottleQuery {
                subject,
                address: address.clone(),
                window_since: now - Duration::minutes(limits.window_minutes),
                global_since: now - Duration::seconds(limits.global_window_seconds),
                known_since: now - Duration::days(limits.known_address_days),
            })
            .await?;
        if let Some(refusal) = throttle::decide(limits, &facts, now) {
            self.refuse(refusal.rule.reason(), None, ctx).await?;
            return Err(CoreError::Throttled {
                retry_after_secs: refusal.retry_after_secs(),
            });
        }
        let failure = self
            .store
            .login_failure_record(&subject, &address, now)
            .await?;
        Ok(Attempt {
            subject,
            address,
            failure,
        })
    }

    /// Verifies the password, against a dummy hash for unknown usernames so both take
    /// the same time. The account only if it exists, is enabled and matches; and, for
    /// the audit log only, the id of the account the attempt was aimed at, if any.
    pub(crate) async fn check_password(
        &self,
        normalized: &str,
        password: &SecretString,
    ) -> Result<(Option<Account>, Option<AccountId>), CoreError> {
        let account = if normalized.is_empty() {
            None
        } else {
            self.store.account_by_username(normalized).await?
        };
        let hash = account.as_ref().map(|a| a.password_hash.as_str());
        let matches = self.hasher.verify(hash, password).await;
        let targeted = account.as_ref().map(|a| a.id);
        Ok((account.filter(|a| matches && !a.disabled), targeted))
    }

    /// Whether `factor` is right for `account` now, consuming it: a TOTP step is
    /// accepted once, a recovery code used once.
    pub(crate) async fn check_factor(
        &self,
        account: &Account,
        factor: &SecondFactor,
        now: OffsetDateTime,
    ) -> Result<bool, CoreError> {
        match factor {
            // Staff and operators use passkeys unless TOTP is allowed for them.
            SecondFactor::Totp(_) if !self.totp_allowed(&account.kind) => Ok(false),
            _ => self.check_any_factor(account, factor, now).await,
        }
    }

    /// [`Tiaki::check_factor`] without the rule that staff and operators may not use
    /// TOTP: for proving possession of an authenticator before registering a passkey.
    pub(crate) async fn check_any_factor(
        &self,
        account: &Account,
        factor: &SecondFactor,
        now: OffsetDateTime,
    ) -> Result<bool, CoreError> {
        match factor {
            SecondFactor::Totp(code) => {
                let Some(stored) = self.store.totp_factor(account.id).await? else {
                    return Ok(false);
                };
                if stored.confirmed_at.is_none() {
                    return Ok(false);
                }
                let seed =
                    self.vault
                        .open_secret(SecretPurpose::Totp, account.id, &stored.secret)?;
                let Some(secret) = TotpSecret::from_bytes(&seed) else {
                    return Err(CoreError::Unavailable(
                        "a stored TOTP seed is malformed".into(),
                    ));
                };
                match secret.check(code.expose_secret(), unix_seconds(now)) {
                    Some(step) => Ok(self.store.totp_use_step(account.id, step).await?),
                    None => Ok(false),
                }
            }
            SecondFactor::RecoveryCode(code) => match hash_recovery_code(code.expose_secret()) {
                Some(hash) => Ok(self.store.recovery_code_use(account.id, &hash, now).await?),
                None => Ok(false),
            },
        }
    }

    pub(crate) async fn totp_enrolled(&self, account: AccountId) -> Result<bool, CoreError> {
        Ok(self
            .store
            .totp_factor(account)
            .await?
            .is_some_and(|f| f.confirmed_at.is_some()))
    }

    /// A completed sign-in: the address becomes known, the throttle forgets this
    /// account's failures from it, and a full session begins.
    pub(crate) async fn finish(
        &self,
        account: &Account,
        attempt: &Attempt,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        self.finish_signed_in(account, attempt, ctx, user_agent, None, None)
            .await
    }

    /// [`Tiaki::finish`], or, with `device`, a sign-in from that trusted device
    /// without a second factor (the session is marked so, and is not fresh for
    /// step-up). `reason` goes on the audit event.
    pub(crate) async fn finish_signed_in(
        &self,
        account: &Account,
        attempt: &Attempt,
        ctx: &RequestContext,
        user_agent: Option<&str>,
        device: Option<tiaki_domain::ids::TrustedDeviceId>,
        reason: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        let now = OffsetDateTime::now_utc();
        self.store
            .login_success_record(&attempt.subject, &attempt.address, now)
            .await?;
        self.store
            .login_failures_prune(now - FAILURE_RETENTION)
            .await?;
        // Before the new session exists, so it does not count as seen.
        self.notice_if_new_device(account, ctx, user_agent).await;
        let expires_at = now + Duration::minutes(self.config.session_absolute_minutes);
        let (token, record) = self
            .new_session(account, Some(now), expires_at, ctx, user_agent)
            .await?;
        let factor_at = if device.is_some() { None } else { Some(now) };
        self.store
            .session_factor_put(record.id, factor_at, device)
            .await?;
        let actor = actor_of(account, record.id);
        let mut event =
            AuditEvent::named("session.login", Some(&actor), None, Outcome::Allowed, ctx);
        if let Some(reason) = reason {
            event = event.with_reason(reason);
        }
        self.audit.record_event(&event).await?;
        Ok(NewSession {
            token,
            session: record.id,
            expires_at,
            actor,
        })
    }

    async fn new_session(
        &self,
        account: &Account,
        verified_at: Option<OffsetDateTime>,
        expires_at: OffsetDateTime,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<(SecretString, SessionRecord), CoreError> {
        let (token, token_hash) = generate_token()?;
        let now = OffsetDateTime::now_utc();
        let record = SessionRecord {
            id: SessionId::new(),
            account: account.id,
            token_hash,
            created_at: now,
            last_seen_at: now,
            expires_at,
            revoked_at: None,
            address: ctx.address.map(|a| a.to_string()),
            user_agent: user_agent.map(|u| u.chars().take(200).collect()),
            mfa_verified_at: verified_at,
        };
        self.store.session_insert(&record).await?;
        Ok((SecretString::from(token), record))
    }

    /// Records a refused sign-in in the audit log (ids and a reason code only).
    pub(crate) async fn refuse(
        &self,
        reason: &str,
        account: Option<AccountId>,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let mut event = AuditEvent::named("session.login", None, None, Outcome::Denied, ctx)
            .with_reason(reason);
        event.actor_account = account;
        self.audit.record_event(&event).await?;
        Ok(())
    }
}

pub(crate) fn actor_of(account: &Account, session: SessionId) -> Actor {
    Actor {
        account: account.id,
        session,
        kind: account.kind,
    }
}
