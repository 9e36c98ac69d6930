//! Signing in and out, and turning a presented token into an [`Actor`].
//!
//! Tokens are 256-bit random values; only their SHA-256 is stored, so a database copy
//! cannot be replayed. Password checks run on the hasher's bounded pool and cost the
//! same for unknown usernames as for known ones.

use crate::{CoreError, Tiaki};
use secrecy::SecretString;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{generate_token, hash_token};
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

impl Tiaki {
    /// Checks a username and password and opens a session.
    pub async fn login(
        &self,
        username: &str,
        password: &SecretString,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        let username = username.trim().to_lowercase();
        let account = if username.is_empty() || username.len() > 254 {
            None
        } else {
            self.store.account_by_username(&username).await?
        };
        // Always verify, against a dummy hash when the account is unknown, so the
        // answer takes the same time either way.
        let hash = account.as_ref().map(|a| a.password_hash.as_str());
        let matches = self.hasher.verify(hash, password).await;
        let account = match account {
            Some(a) if matches && !a.disabled => a,
            other => {
                let mut event =
                    AuditEvent::named("session.login", None, None, Outcome::Denied, ctx)
                        .with_reason("bad_credentials");
                event.actor_account = other.map(|a| a.id);
                self.audit.record_event(&event).await?;
                return Err(CoreError::BadCredentials);
            }
        };

        let (token, token_hash) = generate_token()?;
        let now = OffsetDateTime::now_utc();
        let record = SessionRecord {
            id: SessionId::new(),
            account: account.id,
            token_hash,
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::minutes(self.config.session_absolute_minutes),
            revoked_at: None,
            address: ctx.address.map(|a| a.to_string()),
            user_agent: user_agent.map(|u| u.chars().take(200).collect()),
        };
        self.store.session_insert(&record).await?;
        let actor = Actor {
            account: account.id,
            session: record.id,
            kind: account.kind,
        };
        let event = AuditEvent::named("session.login", Some(&actor), None, Outcome::Allowed, ctx);
        self.audit.record_event(&event).await?;
        Ok(NewSession {
            token: SecretString::from(token),
            session: record.id,
            expires_at: record.expires_at,
            actor,
        })
    }

    /// Turns a presented session token into the actor it belongs to. Expired, idle,
    /// revoked, malformed and unknown tokens are all simply unauthenticated.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, CoreError> {
        let hash = hash_token(token).ok_or(CoreError::Unauthenticated)?;
        let session = self
            .store
            .session_by_token_hash(&hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let now = OffsetDateTime::now_utc();
        let idle_limit = session.last_seen_at + Duration::minutes(self.config.session_idle_minutes);
        if session.revoked_at.is_some() || now >= session.expires_at || now >= idle_limit {
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
        Ok(Actor {
            account: account.id,
            session: session.id,
            kind: account.kind,
        })
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

    /// Hashes a new password (used by account creation and the demo).
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
