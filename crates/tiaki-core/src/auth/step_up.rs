//! Step-up: a fresh second factor for sensitive actions (changing the password or
//! factors, granting proxy access, bulk or export downloads).
//!
//! A session is *fresh* when it presented a second factor within the configured window
//! (`step_up_minutes`, default 5): at sign-in, or by stepping up since. A session
//! opened from a trusted device without a factor is never fresh until it steps up.
//! Use cases that change something sensitive call [`Tiaki::require_fresh_factor`]
//! first; the answer when it is stale is [`CoreError::StepUpRequired`], which the web
//! maps to 403 `step_up_required`.
//!
//! Stepping up is a privilege change, so the session gets a new token: the old one is
//! dead from that moment, and the new one is returned (the web replaces the cookie,
//! the API answers it). The session's id, and so its place in the sessions list and
//! its CSRF token, stay the same.

use super::SecondFactor;
use crate::{CoreError, Tiaki};
use secrecy::SecretString;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::generate_token;
use tiaki_domain::{Actor, SessionId};
use time::{Duration, OffsetDateTime};

/// A stepped-up session: its new token (the old one is dead) and until when its factor
/// counts as fresh.
#[derive(Debug)]
pub struct SteppedUp {
    pub token: SecretString,
    pub session: SessionId,
    pub fresh_until: OffsetDateTime,
}

impl Tiaki {
    fn step_up_window(&self) -> Duration {
        Duration::minutes(self.config.step_up_minutes)
    }

    /// Until when the session's last second factor counts as fresh, if it ever
    /// presented one.
    pub(crate) async fn fresh_until(
        &self,
        session: SessionId,
    ) -> Result<Option<OffsetDateTime>, CoreError> {
        let marks = self
            .store
            .session_factor(session)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        Ok(marks.factor_at.map(|at| at + self.step_up_window()))
    }

    pub(crate) async fn session_fresh(&self, session: SessionId) -> Result<bool, CoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .fresh_until(session)
            .await?
            .is_some_and(|until| now <= until))
    }

    /// `Ok` only if the actor's session presented a second factor within the step-up
    /// window; otherwise [`CoreError::StepUpRequired`]. A session that is gone is
    /// [`CoreError::Unauthenticated`].
    pub async fn require_fresh_factor(&self, actor: &Actor) -> Result<(), CoreError> {
        if self.session_fresh(actor.session).await? {
            Ok(())
        } else {
            Err(CoreError::StepUpRequired)
        }
    }

    /// Until when the actor's session counts as fresh (`None`: it is not fresh now).
    pub async fn factor_fresh_until(
        &self,
        actor: &Actor,
    ) -> Result<Option<OffsetDateTime>, CoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .fresh_until(actor.session)
            .await?
            .filter(|until| now <= *until))
    }

    /// Steps up with a code from the authenticator app or a recovery code, counted by
    /// the sign-in throttle. A wrong code is `Invalid` (`step_up_failed`).
    pub async fn step_up(
        &self,
        actor: &Actor,
        factor: &SecondFactor,
        ctx: &RequestContext,
    ) -> Result<SteppedUp, CoreError> {
        let account = self.own_factors_account(actor).await?;
        let attempt = self.attempt(&account.username, ctx).await?;
        let now = OffsetDateTime::now_utc();
        if !self.check_factor(&account, factor, now).await? {
            return Err(self
                .step_up_refused(actor, "bad_second_factor", ctx)
                .await?);
        }
        self.store.login_failure_forget(attempt.failure).await?;
        self.stepped_up(actor, ctx).await
    }

    /// Options to step up with a passkey.
    pub async fn passkey_step_up_options(
        &self,
        actor: &Actor,
    ) -> Result<super::PasskeyOptions, CoreError> {
        let account = self.own_factors_account(actor).await?;
        self.authentication_options(account.id, actor.session).await
    }

    /// Steps up with a passkey (the answer to [`Tiaki::passkey_step_up_options`]).
    pub async fn finish_passkey_step_up(
        &self,
        actor: &Actor,
        ceremony: uuid::Uuid,
        credential: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<SteppedUp, CoreError> {
        let account = self.own_factors_account(actor).await?;
        let attempt = self.attempt(&account.username, ctx).await?;
        if !self
            .verify_passkey(account.id, actor.session, ceremony, credential)
            .await?
        {
            return Err(self.step_up_refused(actor, "bad_passkey", ctx).await?);
        }
        self.store.login_failure_forget(attempt.failure).await?;
        self.stepped_up(actor, ctx).await
    }

    async fn step_up_refused(
        &self,
        actor: &Actor,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<CoreError, CoreError> {
        let event = AuditEvent::named("session.step_up", Some(actor), None, Outcome::Denied, ctx)
            .with_reason(reason);
        self.audit.record_event(&event).await?;
        Ok(CoreError::invalid(
            "step_up_failed",
            "That didn't confirm it's you. Check the code your authenticator app shows now, \
             or use a recovery code or your passkey.",
        ))
    }

    /// Marks the session fresh and gives it a new token.
    async fn stepped_up(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
    ) -> Result<SteppedUp, CoreError> {
        let (token, hash) = generate_token()?;
        let now = OffsetDateTime::now_utc();
        if !self
            .store
            .session_step_up(actor.session, &hash, now)
            .await?
        {
            return Err(CoreError::Unauthenticated);
        }
        let event = AuditEvent::named("session.step_up", Some(actor), None, Outcome::Allowed, ctx);
        self.audit.record_event(&event).await?;
        Ok(SteppedUp {
            token: SecretString::from(token),
            session: actor.session,
            fresh_until: now + self.step_up_window(),
        })
    }
}
