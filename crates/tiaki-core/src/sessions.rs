//! Sessions: turning a presented token into an [`Actor`] (or, for a password-only
//! session, into a [`PendingSignIn`]), signing out, and a person's own list of
//! sessions with revoke one / revoke all others.
//!
//! Tokens are 256-bit random values; only their SHA-256 is stored, so a database copy
//! cannot be replayed. Signing in is in [`crate::auth`].

use crate::auth::PendingSignIn;
use crate::{CoreError, Tiaki};
use secrecy::SecretString;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::hash_token;
use tiaki_domain::{AccountId, Action, Actor, SessionId, Target};
use tiaki_store::{Account, SessionRecord};
use time::{Duration, OffsetDateTime};

/// A fresh session: the token goes to the client once and is never stored.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretString,
    pub session: SessionId,
    pub expires_at: OffsetDateTime,
    pub actor: Actor,
}

/// Who a session belongs to, for display.
#[derive(Debug, Clone)]
pub struct Me {
    pub actor: Actor,
    pub account: Account,
}

/// One of a person's active sessions, as their sessions page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: SessionId,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// The session making this request.
    pub current: bool,
    /// False for a password-only session still waiting for its second factor: someone
    /// who knows the password, perhaps not the person.
    pub second_factor: bool,
    /// Opened from a trusted device with the password alone (no second factor).
    pub trusted_device: bool,
}

impl Tiaki {
    /// Turns a presented session token into the actor it belongs to. Expired, idle,
    /// revoked, malformed, unknown and password-only tokens are all simply
    /// unauthenticated.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, CoreError> {
        let (session, account) = self.live_session(token).await?;
        if session.mfa_verified_at.is_none() {
            return Err(CoreError::Unauthenticated);
        }
        Ok(Actor {
            account: account.id,
            session: session.id,
            kind: account.kind,
        })
    }

    /// Turns a password-only session token into the sign-in it is part of. Full
    /// sessions are not pending: they are unauthenticated here.
    pub async fn authenticate_pending(&self, token: &str) -> Result<PendingSignIn, CoreError> {
        let (session, account) = self.live_session(token).await?;
        if session.mfa_verified_at.is_some() {
            return Err(CoreError::Unauthenticated);
        }
        Ok(PendingSignIn {
            account: account.id,
            session: session.id,
            enrolled: self.can_complete_sign_in(&account).await?,
            actor_for_audit: Actor {
                account: account.id,
                session: session.id,
                kind: account.kind,
            },
        })
    }

    async fn live_session(&self, token: &str) -> Result<(SessionRecord, Account), CoreError> {
        let hash = hash_token(token).ok_or(CoreError::Unauthenticated)?;
        let session = self
            .store
            .session_by_token_hash(&hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let now = OffsetDateTime::now_utc();
        if !self.is_live(&session, now) {
            return Err(CoreError::Unauthenticated);
        }
        let account = self
            .store
            .account(session.account)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        if account.disabled {
            return Err(CoreError::Unauthenticated);
        }
        // Touch at most once a minute: the idle timer needs no finer grain, and a
        // write per request would cost every read.
        if now - session.last_seen_at > Duration::minutes(1) {
            self.store.session_touch(session.id, now).await?;
        }
        Ok((session, account))
    }

    fn is_live(&self, session: &SessionRecord, now: OffsetDateTime) -> bool {
        let idle_limit = session.last_seen_at + Duration::minutes(self.config.session_idle_minutes);
        session.revoked_at.is_none() && now < session.expires_at && now < idle_limit
    }

    /// Ends the actor's session server-side; the token is dead from now on.
    pub async fn logout(&self, actor: &Actor, ctx: &RequestContext) -> Result<(), CoreError> {
        self.store
            .session_revoke(actor.session, OffsetDateTime::now_utc())
            .await?;
        let event = AuditEvent::named("session.logout", Some(actor), None, Outcome::Allowed, ctx);
        self.audit.record_event(&event).await?;
        Ok(())
    }

    /// The signed-in account, through the policy like everything else.
    pub async fn me(&self, actor: &Actor) -> Result<Me, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ViewOwnAccount,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let account = self
            .store
            .account(actor.account)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        Ok(Me {
            actor: *actor,
            account,
        })
    }

    /// The actor's own active sessions, newest first.
    pub async fn sessions(&self, actor: &Actor) -> Result<Vec<SessionView>, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ManageOwnSessions,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let now = OffsetDateTime::now_utc();
        let sessions = self.store.sessions_active(actor.account, now).await?;
        let from_devices: std::collections::HashSet<SessionId> = self
            .store
            .session_factors_of(actor.account)
            .await?
            .into_iter()
            .filter(|f| f.trusted_device.is_some())
            .map(|f| f.session)
            .collect();
        Ok(sessions
            .into_iter()
            .filter(|s| self.is_live(s, now))
            .map(|s| SessionView {
                trusted_device: from_devices.contains(&s.id),
                current: s.id == actor.session,
                second_factor: s.mfa_verified_at.is_some(),
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                address: s.address,
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// Revokes one of the actor's own sessions (one already over stays over: revoking
    /// is idempotent). Someone else's session and an unknown id both answer
    /// [`CoreError::NotFound`].
    pub async fn revoke_session(
        &self,
        actor: &Actor,
        id: SessionId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let now = OffsetDateTime::now_utc();
        let record = self.store.session(id).await?;
        let owner = record.as_ref().map_or_else(AccountId::new, |r| r.account);
        let target = Target::Account(owner);
        let decision = tiaki_domain::authorize(actor, Action::ManageOwnSessions, target);
        if record.is_none() || decision.is_err() {
            let reason = if record.is_none() {
                "no_such_session"
            } else {
                "not_own_session"
            };
            let event =
                AuditEvent::named("session.revoke", Some(actor), None, Outcome::Denied, ctx)
                    .with_reason(reason);
            self.audit.record_event(&event).await?;
            return Err(CoreError::NotFound);
        }
        self.store.session_revoke(id, now).await?;
        let event = AuditEvent::named("session.revoke", Some(actor), None, Outcome::Allowed, ctx);
        self.audit.record_event(&event).await?;
        Ok(())
    }

    /// Revokes every session of the actor's account but the current one.
    pub async fn revoke_other_sessions(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
    ) -> Result<u64, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ManageOwnSessions,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let revoked = self
            .store
            .sessions_revoke_others(
                actor.account,
                Some(actor.session),
                OffsetDateTime::now_utc(),
            )
            .await?;
        let event = AuditEvent::named(
            "session.revoke_others",
            Some(actor),
            None,
            Outcome::Allowed,
            ctx,
        );
        self.audit.record_event(&event).await?;
        Ok(revoked)
    }

    /// Hashes a new password (used by account creation and the demo). Call
    /// [`crate::auth::password_policy::check`] first for anything a person chose.
    pub async fn hash_password(&self, password: &SecretString) -> Result<String, CoreError> {
        Ok(self.hasher.hash(password).await?)
    }

    /// The CSRF token bound to a session.
    #[must_use]
    pub fn csrf_token(&self, session: SessionId) -> String {
        self.vault.csrf_token(&session)
    }

    #[must_use]
    pub fn csrf_valid(&self, session: SessionId, presented: &str) -> bool {
        self.vault.verify_csrf(&session, presented)
    }

    /// Looks up an account's display name (for pages).
    pub async fn account_name(&self, id: AccountId) -> Result<Option<String>, CoreError> {
        Ok(self.store.account(id).await?.map(|a| a.display_name))
    }
}
