//! Password reset by an emailed link.
//!
//! - Asking: by username or email address. The answer is always the same, and so is
//!   its time: the request is counted, then the lookup, the link and the email happen
//!   in the background, whether or not an account matches. Requests are limited per
//!   address (too many: a 429 that says nothing about accounts) and per username or
//!   address asked about (past the limit nothing more is sent, so nobody can flood an
//!   inbox).
//! - The link: 256 random bits, stored as SHA-256, good once and for
//!   `reset_link_minutes` (30 by default); a newer link replaces older ones.
//! - Using it: the new password must pass the policy; then, in one transaction, the
//!   link is spent, the password set and every session of the account revoked. It
//!   does not sign anyone in, and the next sign-in still needs the second factor.

use super::email::link_invalid;
use crate::mail::{Notice, messages};
use crate::{CoreError, Tiaki};
use secrecy::SecretString;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{generate_token, hash_token};
use tiaki_store::{Account, EmailToken, TokenPurpose};
use time::{Duration, OffsetDateTime};

/// The window every email-sending limit counts over.
const WINDOW: Duration = Duration::hours(1);
/// Reset requests one network address may make in the window.
const RESET_PER_ADDRESS: u32 = 20;
/// Reset emails one username or email address may be sent in the window.
const RESET_PER_SUBJECT: u32 = 3;

/// Counts of email-sending requests against their limits.
pub(crate) struct MailBudget {
    over: Vec<bool>,
}

impl MailBudget {
    /// Records one request in each scope and compares the counts with the limits.
    pub(crate) async fn check(tiaki: &Tiaki, limits: &[(String, u32)]) -> Result<Self, CoreError> {
        let now = OffsetDateTime::now_utc();
        let scopes: Vec<String> = limits.iter().map(|(s, _)| s.clone()).collect();
        let counts = tiaki
            .store
            .mail_requests_count(&scopes, now, now - WINDOW)
            .await?;
        Ok(Self {
            over: counts
                .iter()
                .zip(limits)
                .map(|(count, (_, limit))| count > limit)
                .collect(),
        })
    }

    /// Whether the `i`th limit is exceeded.
    pub(crate) fn over(&self, i: usize) -> bool {
        self.over.get(i).copied().unwrap_or(true)
    }

    /// Seconds to wait if the first limit is exceeded.
    pub(crate) fn refused(&self) -> Option<u64> {
        self.over(0)
            .then(|| u64::try_from(WINDOW.whole_seconds()).unwrap_or(3600))
    }
}

impl Tiaki {
    /// Asks for a reset link for the account with this username or verified email
    /// address. Succeeds the same way whether or not one exists; only a flood from one
    /// address is refused ([`CoreError::Throttled`]).
    pub async fn request_password_reset(
        &self,
        username_or_email: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let normalized = username_or_email.trim().to_lowercase();
        if normalized.is_empty() || normalized.chars().count() > 254 {
            return Err(CoreError::invalid(
                "identifier_missing",
                "Please enter your username or the email address on your account.",
            ));
        }
        let subject: String = self
            .vault
            .mac_key()
            .tag("password-reset-subject", normalized.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let address = ctx.address.map(|a| a.to_string()).unwrap_or_default();
        let budget = MailBudget::check(
            self,
            &[
                (format!("reset-address:{address}"), RESET_PER_ADDRESS),
                (format!("reset-subject:{subject}"), RESET_PER_SUBJECT),
            ],
        )
        .await?;
        if let Some(retry_after_secs) = budget.refused() {
            let event = AuditEvent::named(
                "account.password.reset.request",
                None,
                None,
                Outcome::Denied,
                ctx,
            )
            .with_reason("throttled_address");
            self.audit.record_event(&event).await?;
            return Err(CoreError::Throttled { retry_after_secs });
        }
        let send = !budget.over(1);
        let event = AuditEvent::named(
            "account.password.reset.request",
            None,
            None,
            if send {
                Outcome::Allowed
            } else {
                Outcome::Denied
            },
            ctx,
        );
        let event = if send {
            event
        } else {
            event.with_reason("throttled_subject")
        };
        self.audit.record_event(&event).await?;
        if send {
            let this = self.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                if let Err(e) = this.send_reset_links(&normalized, &ctx).await {
                    tracing::warn!(error = %e, "sending a password-reset link failed");
                }
            });
        }
        Ok(())
    }

    /// The background half of a reset request: a link for each matching account that
    /// has a verified address.
    async fn send_reset_links(
        &self,
        normalized: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let accounts: Vec<Account> = if normalized.contains('@') {
            let mut found = Vec::new();
            for id in self.store.accounts_by_email(normalized).await? {
                if let Some(account) = self.store.account(id).await? {
                    found.push(account);
                }
            }
            found
        } else {
            self.store
                .account_by_username(normalized)
                .await?
                .into_iter()
                .collect()
        };
        for account in accounts.into_iter().filter(|a| !a.disabled) {
            self.send_reset_link(&account, false, ctx).await?;
        }
        Ok(())
    }

    /// Emails `account` a one-time link to set a new password, if it has a verified
    /// address; returns whether a link was sent. `wait_for_delivery` waits for the relay or outbox
    /// (for console commands, which exit when done) instead of queueing.
    pub(crate) async fn send_reset_link(
        &self,
        account: &Account,
        wait_for_delivery: bool,
        ctx: &RequestContext,
    ) -> Result<bool, CoreError> {
        let Some(email) = self.store.email_of(account.id).await? else {
            return Ok(false);
        };
        let now = OffsetDateTime::now_utc();
        let minutes = self.config.mail.reset_link_minutes;
        let (token, token_hash) = generate_token()?;
        self.store
            .email_token_insert(&EmailToken {
                token_hash,
                purpose: TokenPurpose::PasswordReset,
                account: account.id,
                address: None,
                created_at: now,
                expires_at: now + Duration::minutes(minutes),
                used_at: None,
            })
            .await?;
        let link = self.link("/password-reset/complete", &token);
        let message = messages::password_reset(&account.username, &link, minutes);
        let sent = if wait_for_delivery {
            self.mailer.deliver(&email.address, message).await
        } else {
            self.mailer.send(&email.address, message)
        };
        if let Err(e) = sent {
            tracing::warn!(account = %account.id, error = %e, "a reset link could not be sent");
            return Ok(false);
        }
        let mut event = AuditEvent::named(
            "account.password.reset.sent",
            None,
            None,
            Outcome::Allowed,
            ctx,
        );
        event.actor_account = Some(account.id);
        self.audit.record_event(&event).await?;
        Ok(true)
    }

    /// Whether a reset link can still be used (for showing its form).
    pub async fn password_reset_link_valid(&self, token: &str) -> Result<bool, CoreError> {
        let Some(hash) = hash_token(token.trim()) else {
            return Ok(false);
        };
        Ok(self
            .store
            .email_token_live(
                &hash,
                TokenPurpose::PasswordReset,
                OffsetDateTime::now_utc(),
            )
            .await?
            .is_some())
    }

    /// Uses a reset link: sets the new password (which must pass the policy) and signs
    /// the account out everywhere. An unknown, used, replaced or expired link is
    /// `Invalid` with code `link_invalid`; a refused password leaves the link usable.
    pub async fn complete_password_reset(
        &self,
        token: &str,
        new_password: &SecretString,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let now = OffsetDateTime::now_utc();
        let hash = hash_token(token.trim()).ok_or_else(link_invalid)?;
        let live = self
            .store
            .email_token_live(&hash, TokenPurpose::PasswordReset, now)
            .await?;
        let account = match live {
            Some(t) => self.store.account(t.account).await?,
            None => None,
        };
        let Some(account) = account.filter(|a| !a.disabled) else {
            let event =
                AuditEvent::named("account.password.reset", None, None, Outcome::Denied, ctx)
                    .with_reason("link_invalid");
            self.audit.record_event(&event).await?;
            return Err(link_invalid());
        };
        self.check_new_password(new_password, &account.username, &account.display_name)
            .await?;
        let password_hash = self.hash_password(new_password).await?;
        let done = self
            .store
            .password_reset_complete(&hash, &password_hash, OffsetDateTime::now_utc())
            .await?;
        if done.is_some() {
            // Sessions went with the reset; trusted devices go too.
            self.factor_changed(account.id, None).await?;
        }
        let mut event = AuditEvent::named(
            "account.password.reset",
            None,
            None,
            if done.is_some() {
                Outcome::Allowed
            } else {
                Outcome::Denied
            },
            ctx,
        );
        event.actor_account = Some(account.id);
        if done.is_none() {
            self.audit
                .record_event(&event.with_reason("link_invalid"))
                .await?;
            return Err(link_invalid());
        }
        self.audit.record_event(&event).await?;
        self.notify_account(account.id, Notice::PasswordReset).await;
        Ok(())
    }
}
