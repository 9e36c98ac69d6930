//! Email addresses on accounts, and the security notices sent to them.
//!
//! An address counts only once its owner has opened the single-use, short-lived link
//! sent to it (only the link's SHA-256 is stored). Until then the account keeps its
//! previous address, if any, which hears about the change afterwards.
//!
//! Notices ([`Notice`]) go to the verified address: a sign-in from a device the account
//! has not used before, a change of second factor, a change or reset of password.
//! [`Tiaki::notify_account`] is the hook every other use case calls.

use super::reset::MailBudget;
use crate::mail::{Notice, messages};
use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{generate_token, hash_token};
use tiaki_domain::{AccountId, Action, Actor, Target};
use tiaki_store::{Account, EmailToken, TokenPurpose};
use time::{Duration, OffsetDateTime};

/// Verification emails one account may ask for in an hour.
const VERIFY_PER_HOUR: u32 = 5;

/// What a person's account page shows about their address.
#[derive(Debug, Clone, Default)]
pub struct EmailStatus {
    /// The address notices and reset links go to.
    pub verified: Option<String>,
    /// An address waiting for its link to be opened.
    pub pending: Option<String>,
}

/// The one answer for a link that is unknown, used, superseded or expired.
pub(crate) fn link_invalid() -> CoreError {
    CoreError::invalid(
        "link_invalid",
        "This link has expired or has already been used. Links in Tiaki's emails work once \
         and for a short time: please ask for a new one.",
    )
}

/// An email address as typed, checked: trimmed, at most 254 characters, one `@` with
/// something on both sides, and acceptable to the mail library.
pub fn parse_address(raw: &str) -> Result<String, CoreError> {
    let address = raw.trim();
    let bad = || {
        CoreError::invalid(
            "email_invalid",
            "That doesn't look like an email address. Please check it (it should look like \
             name@example.com).",
        )
    };
    if address.is_empty() || address.chars().count() > 254 || address.contains(char::is_whitespace)
    {
        return Err(bad());
    }
    address.parse::<lettre::Address>().map_err(|_| bad())?;
    Ok(address.to_owned())
}

impl Tiaki {
    /// The actor's verified address and any address waiting to be verified.
    pub async fn email_status(&self, actor: &Actor) -> Result<EmailStatus, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ManageOwnEmail,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let now = OffsetDateTime::now_utc();
        let verified = self.store.email_of(actor.account).await?.map(|e| e.address);
        let pending = self
            .store
            .email_token_pending(actor.account, TokenPurpose::VerifyEmail, now)
            .await?
            .and_then(|t| t.address);
        Ok(EmailStatus { verified, pending })
    }

    /// Sends a verification link to a new address for the actor's account. The address
    /// takes effect only when the link is opened.
    pub async fn add_email(
        &self,
        actor: &Actor,
        address: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ManageOwnEmail,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let address = parse_address(address)?;
        let account = self
            .store
            .account(actor.account)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let budget = MailBudget::check(
            self,
            &[(format!("verify-account:{}", account.id), VERIFY_PER_HOUR)],
        )
        .await?;
        if let Some(retry_after_secs) = budget.refused() {
            return Err(CoreError::Throttled { retry_after_secs });
        }
        let now = OffsetDateTime::now_utc();
        let minutes = self.config.mail.verify_link_minutes;
        let (token, token_hash) = generate_token()?;
        self.store
            .email_token_insert(&EmailToken {
                token_hash,
                purpose: TokenPurpose::VerifyEmail,
                account: account.id,
                address: Some(address.clone()),
                created_at: now,
                expires_at: now + Duration::minutes(minutes),
                used_at: None,
            })
            .await?;
        let link = self.link("/account/email/verify", &token);
        let email = messages::verify_email(&account.username, &link, minutes);
        self.mailer.send(&address, email).map_err(|_| {
            CoreError::invalid("email_invalid", "That email address can't be used.")
        })?;
        let event = AuditEvent::named(
            "account.email.add",
            Some(actor),
            None,
            Outcome::Allowed,
            ctx,
        );
        self.audit.record_event(&event).await?;
        Ok(())
    }

    /// Opens a verification link: its address becomes the account's. Anyone holding the
    /// link may open it (it proves they read that mailbox); it works once.
    pub async fn verify_email(&self, token: &str, ctx: &RequestContext) -> Result<(), CoreError> {
        let hash = hash_token(token.trim()).ok_or_else(link_invalid)?;
        let now = OffsetDateTime::now_utc();
        let previous = match self
            .store
            .email_token_live(&hash, TokenPurpose::VerifyEmail, now)
            .await?
        {
            Some(t) => self.store.email_of(t.account).await?,
            None => None,
        };
        let Some(verified) = self.store.email_verify(&hash, now).await? else {
            let event = AuditEvent::named("account.email.verify", None, None, Outcome::Denied, ctx)
                .with_reason("link_invalid");
            self.audit.record_event(&event).await?;
            return Err(link_invalid());
        };
        let mut event =
            AuditEvent::named("account.email.verify", None, None, Outcome::Allowed, ctx);
        event.actor_account = Some(verified.account);
        self.audit.record_event(&event).await?;
        if let Some(old) = previous
            && !old.address.eq_ignore_ascii_case(&verified.address)
            && let Some(account) = self.store.account(verified.account).await?
        {
            self.send_notice_to(&old.address, &account, &Notice::EmailChanged);
        }
        Ok(())
    }

    /// Gives an account a verified address without a link: for the demo's made-up
    /// addresses and for fixtures.
    pub async fn set_verified_email(
        &self,
        account: AccountId,
        address: &str,
    ) -> Result<(), CoreError> {
        let address = parse_address(address)?;
        self.store
            .email_set_verified(account, &address, OffsetDateTime::now_utc())
            .await?;
        Ok(())
    }

    /// Tells the account's owner, by email, about something that happened to their
    /// account. Accounts without a verified address are not told (there is nowhere to
    /// write). Never fails the caller: a notice that cannot be sent is logged.
    pub async fn notify_account(&self, account: AccountId, notice: Notice) {
        let found = async {
            let email = self.store.email_of(account).await?;
            let account = self.store.account(account).await?;
            Ok::<_, CoreError>(email.zip(account))
        }
        .await;
        match found {
            Ok(Some((email, account))) => self.send_notice_to(&email.address, &account, &notice),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%account, notice = notice.kind(), error = %e, "a notice could not be sent");
            }
        }
    }

    fn send_notice_to(&self, address: &str, account: &Account, notice: &Notice) {
        let email = messages::notice(&account.username, notice);
        if let Err(e) = self.mailer.send(address, email) {
            tracing::warn!(account = %account.id, notice = notice.kind(), error = %e, "a notice could not be sent");
        }
    }

    /// Before a new full session begins: tells the owner if the account has signed in
    /// before, but never from this address with this browser.
    pub(crate) async fn notice_if_new_device(
        &self,
        account: &Account,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) {
        let address = ctx.address.map(|a| a.to_string());
        let agent: Option<String> = user_agent.map(|u| u.chars().take(200).collect());
        let seen = self
            .store
            .sign_in_seen(
                account.id,
                address.as_deref().unwrap_or_default(),
                agent.as_deref().unwrap_or_default(),
            )
            .await;
        match seen {
            // The first sign-in of an account (just registered) is not news.
            Ok((true, false)) => {
                let notice = Notice::NewDeviceSignIn {
                    at: OffsetDateTime::now_utc(),
                    address,
                    device: agent.as_deref().map(messages::device_name),
                };
                self.notify_account(account.id, notice).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(account = %account.id, error = %e, "new-device check failed"),
        }
    }

    /// An absolute link into Tiaki carrying a one-time token.
    pub(crate) fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.config.mail.base_url())
    }
}
