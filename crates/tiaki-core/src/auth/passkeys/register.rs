//! Registering a passkey: from a password-only session (the account's first usable
//! factor, which completes the sign-in), or from a signed-in session with a fresh
//! factor. Either way it is a factor change.

use super::{PasskeyOptions, bad_answer};
use crate::auth::factors::new_recovery_codes;
use crate::auth::login::{PendingSignIn, SecondFactor};
use crate::mail::Notice;
use crate::sessions::NewSession;
use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::ids::PasskeyId;
use tiaki_domain::{AccountId, Actor, SessionId};
use tiaki_store::Account;
use tiaki_store::factors::{CeremonyKind, PasskeyRecord};
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PasskeyRegistration, RegisterPublicKeyCredential,
};
use zeroize::Zeroizing;

/// Longest name a person may give a passkey.
const NAME_MAX_CHARS: usize = 60;

/// What the second-factor page can offer a password-only session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInChoices {
    /// An authenticator app code completes the sign-in.
    pub totp: bool,
    /// A passkey completes the sign-in.
    pub passkey: bool,
    /// The account may use an authenticator app at all (else it must use passkeys).
    pub totp_allowed: bool,
    /// The account must register a passkey but has other factors: it presents one of
    /// them first ([`Tiaki::confirm_for_enrolment`]).
    pub must_confirm_before_enrolling: bool,
    /// "Trust this device" lasts this many days (0: not offered).
    pub trusted_device_days: i64,
}

/// A passkey registered from a password-only session: the sign-in it completes, and
/// recovery codes to show once if the account had none left.
#[derive(Debug)]
pub struct PasskeyEnrolled {
    pub session: NewSession,
    pub recovery_codes: Vec<Zeroizing<String>>,
}

/// A name for a passkey: trimmed, one line, at most 60 characters; empty gets a
/// default.
fn passkey_name(raw: &str, now: OffsetDateTime) -> Result<String, CoreError> {
    let name = raw.trim();
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "invalid_passkey_name",
            "A passkey's name must be one line of text.",
        ));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(CoreError::invalid(
            "invalid_passkey_name",
            format!(
                "Please give the passkey a shorter name (at most {NAME_MAX_CHARS} characters)."
            ),
        ));
    }
    if name.is_empty() {
        return Ok(format!("Passkey added {}", now.date()));
    }
    Ok(name.to_owned())
}

impl Tiaki {
    async fn registration_options(
        &self,
        account: &Account,
        session: SessionId,
    ) -> Result<PasskeyOptions, CoreError> {
        let existing = self.store.passkeys_of(account.id).await?;
        let exclude = existing
            .iter()
            .map(|p| p.credential_id.clone())
            .collect::<Vec<_>>();
        let (options, state) = self
            .webauthn()?
            .start_passkey_registration(
                *account.id.as_uuid(),
                &account.username,
                &account.display_name,
                Some(exclude),
            )
            .map_err(|e| CoreError::Unavailable(format!("webauthn: {e}")))?;
        let state = serde_json::to_string(&state)
            .map_err(|e| CoreError::Unavailable(format!("webauthn state: {e}")))?;
        let ceremony = self
            .put_ceremony(
                CeremonyKind::Register,
                Some(account.id),
                Some(session),
                state,
            )
            .await?;
        Ok(PasskeyOptions {
            ceremony,
            options: discoverable_if_possible(&options)?,
        })
    }

    /// Checks the browser's answer to a registration and stores the passkey.
    async fn register(
        &self,
        account: &Account,
        session: SessionId,
        ceremony: uuid::Uuid,
        name: &str,
        credential: &serde_json::Value,
    ) -> Result<PasskeyRecord, CoreError> {
        let now = OffsetDateTime::now_utc();
        let name = passkey_name(name, now)?;
        let state = self
            .take_ceremony(
                ceremony,
                CeremonyKind::Register,
                Some(account.id),
                Some(session),
            )
            .await?;
        let state: PasskeyRegistration = serde_json::from_str(&state)
            .map_err(|_| CoreError::Unavailable("a stored ceremony is malformed".into()))?;
        let answer: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| bad_answer())?;
        let passkey = self
            .webauthn()?
            .finish_passkey_registration(&answer, &state)
            .map_err(|_| bad_answer())?;
        let record = PasskeyRecord {
            id: PasskeyId::new(),
            account: account.id,
            credential_id: passkey.cred_id().to_vec(),
            name,
            passkey: serde_json::to_string(&passkey)
                .map_err(|e| CoreError::Unavailable(format!("passkey: {e}")))?,
            created_at: now,
            last_used_at: None,
        };
        match self.store.passkey_insert(&record).await {
            Ok(()) => Ok(record),
            Err(tiaki_store::StoreError::Conflict(_)) => Err(CoreError::invalid(
                "passkey_already_registered",
                "That passkey is already registered. Each passkey can be added once.",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// What the second-factor page of a password-only session can offer.
    pub async fn sign_in_choices(
        &self,
        pending: &PendingSignIn,
    ) -> Result<SignInChoices, CoreError> {
        let account = self.pending_account(pending).await?;
        let totp_allowed = self.totp_allowed(&account.kind);
        let passkey = self.has_passkey(account.id).await?;
        let totp = totp_allowed && self.totp_enrolled(account.id).await?;
        let must_confirm = !passkey
            && !totp
            && self.has_any_factor(account.id).await?
            && !self.session_fresh(pending.session).await?;
        Ok(SignInChoices {
            totp,
            passkey,
            totp_allowed,
            must_confirm_before_enrolling: must_confirm,
            trusted_device_days: self.config.trusted_device_days.max(0),
        })
    }

    /// A password-only session of an account with no factor it may sign in with (say,
    /// staff with only an authenticator app where TOTP is not allowed for staff)
    /// proves it holds an existing one — an authenticator code or a recovery code —
    /// so that it may register a passkey. It does not complete the sign-in. A wrong
    /// code is [`CoreError::SecondFactorRequired`], counted by the throttle.
    pub async fn confirm_for_enrolment(
        &self,
        pending: &PendingSignIn,
        factor: &SecondFactor,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let account = self.pending_account(pending).await?;
        let attempt = self.attempt(&account.username, ctx).await?;
        let now = OffsetDateTime::now_utc();
        let ok = self.check_any_factor(&account, factor, now).await?;
        let outcome = if ok {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        let event = AuditEvent::named(
            "factor.confirm_for_enrolment",
            Some(&pending.actor_for_audit),
            None,
            outcome,
            ctx,
        );
        self.audit.record_event(&event).await?;
        if !ok {
            return Err(CoreError::SecondFactorRequired);
        }
        self.store.login_failure_forget(attempt.failure).await?;
        self.store
            .session_factor_put(pending.session, Some(now), None)
            .await?;
        Ok(())
    }

    /// Options to register a passkey from a password-only session: allowed when the
    /// account has no factor at all, or once the session has presented one (see
    /// [`Tiaki::confirm_for_enrolment`]); otherwise [`CoreError::StepUpRequired`].
    pub async fn passkey_enrolment_options(
        &self,
        pending: &PendingSignIn,
    ) -> Result<PasskeyOptions, CoreError> {
        let account = self.pending_account(pending).await?;
        self.may_enrol_while_pending(&account, pending.session)
            .await?;
        self.registration_options(&account, pending.session).await
    }

    async fn may_enrol_while_pending(
        &self,
        account: &Account,
        session: SessionId,
    ) -> Result<(), CoreError> {
        if self.has_any_factor(account.id).await? && !self.session_fresh(session).await? {
            return Err(CoreError::StepUpRequired);
        }
        Ok(())
    }

    /// Finishes registering a passkey from a password-only session, which completes the
    /// sign-in: a factor change (every other session and trusted device ends), and a
    /// new session. Recovery codes come with it if the account had none left.
    pub async fn finish_passkey_enrolment(
        &self,
        pending: &PendingSignIn,
        ceremony: uuid::Uuid,
        name: &str,
        credential: &serde_json::Value,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<PasskeyEnrolled, CoreError> {
        let account = self.pending_account(pending).await?;
        let attempt = self.attempt(&account.username, ctx).await?;
        self.may_enrol_while_pending(&account, pending.session)
            .await?;
        let added = self
            .register(&account, pending.session, ceremony, name, credential)
            .await;
        let record = match added {
            Ok(record) => record,
            Err(e) => {
                let event = AuditEvent::named(
                    "factor.passkey.add",
                    Some(&pending.actor_for_audit),
                    None,
                    Outcome::Denied,
                    ctx,
                )
                .with_reason("bad_answer");
                self.audit.record_event(&event).await?;
                return Err(e);
            }
        };
        let recovery_codes = self.recovery_codes_if_none_left(account.id).await?;
        self.factor_changed(account.id, None).await?;
        self.audit_passkey_added(&pending.actor_for_audit, &record, ctx)
            .await?;
        let session = self.finish(&account, &attempt, ctx, user_agent).await?;
        Ok(PasskeyEnrolled {
            session,
            recovery_codes,
        })
    }

    /// Options to add a passkey from a signed-in session (needs a fresh factor).
    pub async fn passkey_registration_options(
        &self,
        actor: &Actor,
    ) -> Result<PasskeyOptions, CoreError> {
        let account = self.own_factors_account(actor).await?;
        self.require_fresh_factor(actor).await?;
        self.registration_options(&account, actor.session).await
    }

    /// Adds a passkey from a signed-in session (needs a fresh factor): a factor
    /// change, so every other session and trusted device ends. Returns recovery codes
    /// to show once if the account had none left.
    pub async fn finish_passkey_registration(
        &self,
        actor: &Actor,
        ceremony: uuid::Uuid,
        name: &str,
        credential: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<Vec<Zeroizing<String>>, CoreError> {
        let account = self.own_factors_account(actor).await?;
        self.require_fresh_factor(actor).await?;
        let record = match self
            .register(&account, actor.session, ceremony, name, credential)
            .await
        {
            Ok(record) => record,
            Err(e) => {
                let event = AuditEvent::named(
                    "factor.passkey.add",
                    Some(actor),
                    None,
                    Outcome::Denied,
                    ctx,
                )
                .with_reason("bad_answer");
                self.audit.record_event(&event).await?;
                return Err(e);
            }
        };
        let codes = self.recovery_codes_if_none_left(account.id).await?;
        self.factor_changed(account.id, Some(actor.session)).await?;
        self.audit_passkey_added(actor, &record, ctx).await?;
        Ok(codes)
    }

    async fn audit_passkey_added(
        &self,
        actor: &Actor,
        record: &PasskeyRecord,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let event = AuditEvent::named(
            "factor.passkey.add",
            Some(actor),
            None,
            Outcome::Allowed,
            ctx,
        )
        .with_reason(&format!("passkey:{}", record.id));
        self.audit.record_event(&event).await?;
        self.notify_account(
            actor.account,
            Notice::FactorChanged {
                what: "A passkey was added".to_owned(),
            },
        )
        .await;
        Ok(())
    }

    async fn recovery_codes_if_none_left(
        &self,
        account: AccountId,
    ) -> Result<Vec<Zeroizing<String>>, CoreError> {
        if self.store.recovery_codes_unused(account).await? > 0 {
            return Ok(Vec::new());
        }
        let codes = new_recovery_codes()?;
        self.store
            .recovery_codes_replace(account, &codes.hashes, OffsetDateTime::now_utc())
            .await?;
        Ok(codes.shown)
    }
}

/// The registration options with a discoverable credential preferred, so the passkey
/// can later sign in without a username where the authenticator supports it (the
/// library asks for non-discoverable ones; it does not check which it got).
fn discoverable_if_possible(
    options: &CreationChallengeResponse,
) -> Result<serde_json::Value, CoreError> {
    let mut value = serde_json::to_value(options)
        .map_err(|e| CoreError::Unavailable(format!("webauthn options: {e}")))?;
    if let Some(selection) = value
        .get_mut("publicKey")
        .and_then(|p| p.get_mut("authenticatorSelection"))
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".to_owned(), "preferred".into());
        selection.insert("requireResidentKey".to_owned(), false.into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkey_names_are_one_short_line() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(passkey_name("  Phone ", now).unwrap(), "Phone");
        assert!(passkey_name("", now).unwrap().starts_with("Passkey added "));
        assert!(passkey_name("a\nb", now).is_err());
        assert!(passkey_name(&"x".repeat(61), now).is_err());
    }
}
