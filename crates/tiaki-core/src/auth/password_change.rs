//! Changing one's password while signed in.
//!
//! A stolen session must not be enough to take the account over, so the change needs
//! the current password *and* a current second factor in the same request (that is
//! this action's step-up), counted by the sign-in throttle like any other guess. On
//! success every other session of the account ends, this one is replaced by a new
//! session with a new token, the owner is told by email, and the change is audited.

use super::SecondFactor;
use super::password_policy;
use crate::mail::Notice;
use crate::sessions::NewSession;
use crate::{CoreError, Tiaki};
use secrecy::{ExposeSecret, SecretString};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::{Action, Actor, Target};
use time::OffsetDateTime;

/// What the person types to change their password.
#[derive(Debug)]
pub struct PasswordChange {
    pub current_password: SecretString,
    /// A code from the authenticator app (or a recovery code), now.
    pub factor: SecondFactor,
    pub new_password: SecretString,
}

impl Tiaki {
    /// Checks a password someone chose against the policy, off the async threads
    /// (zxcvbn's first call builds its dictionaries). A refusal says why.
    pub(crate) async fn check_new_password(
        &self,
        password: &SecretString,
        username: &str,
        display_name: &str,
    ) -> Result<(), CoreError> {
        let candidate = password.clone();
        let personal = [username.to_owned(), display_name.to_owned()];
        let verdict = tokio::task::spawn_blocking(move || {
            let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
            password_policy::check(&candidate, &personal)
        })
        .await
        .map_err(|_| CoreError::Unavailable("the password check stopped".into()))?;
        verdict.map_err(|problem| CoreError::invalid(problem.code(), problem.message()))
    }

    /// Changes the actor's password. Wrong current password or second factor:
    /// `Invalid` with code `reauthentication_failed` (never saying which). Returns the
    /// new session that replaces the actor's.
    pub async fn change_password(
        &self,
        actor: &Actor,
        change: &PasswordChange,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ChangeOwnPassword,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let account = self
            .store
            .account(actor.account)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        if change.new_password.expose_secret() == change.current_password.expose_secret() {
            return Err(CoreError::invalid(
                "password_unchanged",
                "The new password is the same as the current one. Please choose a different \
                 password.",
            ));
        }
        self.check_new_password(
            &change.new_password,
            &account.username,
            &account.display_name,
        )
        .await?;
        let attempt = self.attempt(&account.username, ctx).await?;
        let password_ok = self
            .hasher
            .verify(Some(&account.password_hash), &change.current_password)
            .await;
        let now = OffsetDateTime::now_utc();
        let confirmed = password_ok && self.check_factor(&account, &change.factor, now).await?;
        if !confirmed {
            let event = AuditEvent::named(
                "account.password.change",
                Some(actor),
                None,
                Outcome::Denied,
                ctx,
            )
            .with_reason("bad_current_credentials");
            self.audit.record_event(&event).await?;
            return Err(CoreError::invalid(
                "reauthentication_failed",
                "Your current password or the code from your authenticator app wasn't right. \
                 Please check them and try again.",
            ));
        }
        let password_hash = self.hash_password(&change.new_password).await?;
        self.store
            .account_password_set(account.id, &password_hash)
            .await?;
        // A new session for this device, then every other one (the old one included)
        // ends and every trusted device is forgotten: a thief's copy of any token or
        // device cookie is dead.
        let session = self.finish(&account, &attempt, ctx, user_agent).await?;
        self.factor_changed(account.id, Some(session.session))
            .await?;
        let event = AuditEvent::named(
            "account.password.change",
            Some(&session.actor),
            None,
            Outcome::Allowed,
            ctx,
        );
        self.audit.record_event(&event).await?;
        self.notify_account(account.id, Notice::PasswordChanged)
            .await;
        Ok(session)
    }
}
