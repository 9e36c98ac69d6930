//! Passkeys (WebAuthn, through `webauthn-rs`): registering one, signing in with one as
//! the second factor after the password, stepping up with one, listing and removing
//! them.
//!
//! Every ceremony has two steps — options for the browser, then its signed answer —
//! and the challenge state between them is kept in the database, bound to the session
//! that asked, good for five minutes and taken at most once. A passkey always verifies
//! its user (PIN or biometric), so it is a whole second factor on its own.
//!
//! Registering needs a fresh second factor when the account already has one (a
//! password-only session cannot add a passkey to an account with an authenticator, or
//! a thief with the password could add theirs). Adding or removing a passkey is a
//! factor change: every other session and every trusted device of the account ends.
//! The last usable factor is never removed.
//!
//! Staff and operators must use a passkey unless the configuration allows TOTP for them
//! ([`Tiaki::totp_allowed`]); their recovery codes still work, as the way back in when
//! a passkey is lost.

use super::factors::new_recovery_codes;
use super::login::{PendingSignIn, SecondFactor};
use crate::mail::Notice;
use crate::sessions::NewSession;
use crate::{CoreError, Tiaki};
use serde::{Deserialize, Serialize};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::ids::PasskeyId;
use tiaki_domain::{AccountId, Action, Actor, ActorKind, SessionId, Target};
use tiaki_store::Account;
use tiaki_store::factors::{Ceremony, CeremonyKind, PasskeyDeletion, PasskeyRecord};
use time::{Duration, OffsetDateTime};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};
use zeroize::Zeroizing;

/// How long a ceremony's challenge is good for.
const CEREMONY_MINUTES: i64 = 5;
/// Longest name a person may give a passkey.
const NAME_MAX_CHARS: usize = 60;

/// The WebAuthn relying party: which site passkeys are bound to. A browser only uses a
/// passkey on the origin it was made for, so these must be the address people type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebauthnConfig {
    /// The relying party id: the site's domain (`localhost` on a laptop; never an IP
    /// address, which WebAuthn does not accept).
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// Origins ceremonies may come from (scheme, host and port), the first being the
    /// main one. Each host must be `rp_id` or under it. With the `localhost` relying
    /// party, any port of these origins is accepted.
    pub origins: Vec<String>,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".to_owned(),
            rp_name: "Tiaki".to_owned(),
            origins: vec!["http://localhost:8080".to_owned()],
        }
    }
}

impl WebauthnConfig {
    /// The relying party, or why the configuration cannot make one.
    pub fn build(&self) -> Result<Webauthn, String> {
        let mut origins = self.origins.iter().map(|o| {
            Url::parse(o).map_err(|e| format!("the WebAuthn origin {o:?} is not a URL: {e}"))
        });
        let first = origins
            .next()
            .ok_or_else(|| "at least one WebAuthn origin is needed".to_owned())??;
        let mut builder = WebauthnBuilder::new(&self.rp_id, &first).map_err(|_| {
            format!(
                "the WebAuthn origin {first} is not on the relying party id {:?} (it must be \
                 that domain or under it, and not an IP address)",
                self.rp_id
            )
        })?;
        for origin in origins {
            let origin = origin?;
            let on_rp = origin
                .domain()
                .is_some_and(|d| d == self.rp_id || d.ends_with(&format!(".{}", self.rp_id)));
            if !on_rp {
                return Err(format!(
                    "the WebAuthn origin {origin} is not on the relying party id {:?}",
                    self.rp_id
                ));
            }
            builder = builder.append_allowed_origin(&origin);
        }
        // On a laptop any port of localhost will do (a site on another local port
        // is already on the machine); elsewhere only the configured origins.
        builder
            .rp_name(&self.rp_name)
            .allow_any_port(self.rp_id == "localhost")
            .build()
            .map_err(|e| format!("the WebAuthn relying party is not valid: {e}"))
    }
}

/// What the browser needs to run a ceremony: its id (sent back with the answer) and
/// the options for `navigator.credentials`.
#[derive(Debug, Clone)]
pub struct PasskeyOptions {
    pub ceremony: uuid::Uuid,
    /// `{"publicKey": {...}}` with binary fields in base64url.
    pub options: serde_json::Value,
}

/// One of the person's passkeys, as their security page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyView {
    pub id: PasskeyId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

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

/// [`Tiaki::totp_allowed`], from the configuration alone.
fn totp_allowed_by(config: &crate::CoreConfig, kind: &ActorKind) -> bool {
    match kind {
        ActorKind::Patient { .. } => true,
        ActorKind::Staff { practice, .. } => {
            config.staff_totp_allowed || config.staff_totp_practices.contains(practice)
        }
        ActorKind::Operator { .. } => config.staff_totp_allowed,
    }
}

fn bad_answer() -> CoreError {
    CoreError::invalid(
        "passkey_failed",
        "That passkey didn't work. Please try again, or use another way to confirm it's you.",
    )
}

fn expired_ceremony() -> CoreError {
    CoreError::invalid(
        "passkey_expired",
        "That passkey request has expired or was already used. Please try again.",
    )
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
    pub(crate) fn webauthn(&self) -> Result<Webauthn, CoreError> {
        self.config.webauthn.build().map_err(CoreError::Unavailable)
    }

    /// Whether accounts of this kind may use an authenticator app (TOTP) as their
    /// second factor: patients always; staff and operators only if the configuration
    /// allows it globally (`staff_totp_allowed`) or, for staff, for their practice
    /// (`staff_totp_practices`).
    #[must_use]
    pub fn totp_allowed(&self, kind: &ActorKind) -> bool {
        totp_allowed_by(&self.config, kind)
    }

    pub(crate) async fn has_passkey(&self, account: AccountId) -> Result<bool, CoreError> {
        Ok(!self.store.passkeys_of(account).await?.is_empty())
    }

    /// Whether the account has a factor that completes a sign-in: a passkey, or an
    /// authenticator app it may use.
    pub(crate) async fn can_complete_sign_in(&self, account: &Account) -> Result<bool, CoreError> {
        Ok(self.has_passkey(account.id).await?
            || (self.totp_allowed(&account.kind) && self.totp_enrolled(account.id).await?))
    }

    /// Whether the account has any factor at all (usable or not, recovery codes
    /// included): if so, adding one needs a fresh factor first.
    pub(crate) async fn has_any_factor(&self, account: AccountId) -> Result<bool, CoreError> {
        Ok(self.has_passkey(account).await?
            || self.totp_enrolled(account).await?
            || self.store.recovery_codes_unused(account).await? > 0)
    }

    async fn put_ceremony(
        &self,
        kind: CeremonyKind,
        account: Option<AccountId>,
        session: Option<SessionId>,
        state: String,
    ) -> Result<uuid::Uuid, CoreError> {
        let now = OffsetDateTime::now_utc();
        let ceremony = Ceremony {
            id: uuid::Uuid::new_v4(),
            kind,
            account,
            session,
            state,
            expires_at: now + Duration::minutes(CEREMONY_MINUTES),
        };
        self.store.ceremony_put(&ceremony, now).await?;
        Ok(ceremony.id)
    }

    /// Takes a ceremony if it is of `kind`, for this account and session, and live.
    pub(crate) async fn take_ceremony(
        &self,
        id: uuid::Uuid,
        kind: CeremonyKind,
        account: Option<AccountId>,
        session: Option<SessionId>,
    ) -> Result<String, CoreError> {
        let taken = self.store.ceremony_take(id).await?;
        match taken {
            Some(c)
                if c.kind == kind
                    && c.account == account
                    && c.session == session
                    && OffsetDateTime::now_utc() < c.expires_at =>
            {
                Ok(c.state)
            }
            _ => Err(expired_ceremony()),
        }
    }

    // --- registration ----------------------------------------------------------------

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

    /// The actor's own account, if the policy lets them manage its factors.
    pub(crate) async fn own_factors_account(&self, actor: &Actor) -> Result<Account, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ManageOwnFactors,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        self.store
            .account(actor.account)
            .await?
            .filter(|a| !a.disabled)
            .ok_or(CoreError::Unauthenticated)
    }

    // --- authentication --------------------------------------------------------------

    pub(crate) async fn authentication_options(
        &self,
        account: AccountId,
        session: SessionId,
    ) -> Result<PasskeyOptions, CoreError> {
        let passkeys = self.stored_passkeys(account).await?;
        if passkeys.is_empty() {
            return Err(CoreError::invalid(
                "no_passkey",
                "This account has no passkey yet. Use your code instead.",
            ));
        }
        let keys: Vec<Passkey> = passkeys.into_iter().map(|(_, k)| k).collect();
        let (options, state) = self
            .webauthn()?
            .start_passkey_authentication(&keys)
            .map_err(|e| CoreError::Unavailable(format!("webauthn: {e}")))?;
        let state = serde_json::to_string(&state)
            .map_err(|e| CoreError::Unavailable(format!("webauthn state: {e}")))?;
        let ceremony = self
            .put_ceremony(
                CeremonyKind::Authenticate,
                Some(account),
                Some(session),
                state,
            )
            .await?;
        Ok(PasskeyOptions {
            ceremony,
            options: serde_json::to_value(&options)
                .map_err(|e| CoreError::Unavailable(format!("webauthn options: {e}")))?,
        })
    }

    async fn stored_passkeys(
        &self,
        account: AccountId,
    ) -> Result<Vec<(PasskeyRecord, Passkey)>, CoreError> {
        self.store
            .passkeys_of(account)
            .await?
            .into_iter()
            .map(|r| {
                let key: Passkey = serde_json::from_str(&r.passkey)
                    .map_err(|_| CoreError::Unavailable("a stored passkey is malformed".into()))?;
                Ok((r, key))
            })
            .collect()
    }

    /// Whether the browser's answer proves possession of one of the account's
    /// passkeys, for the ceremony this session started. Updates the passkey's counter.
    pub(crate) async fn verify_passkey(
        &self,
        account: AccountId,
        session: SessionId,
        ceremony: uuid::Uuid,
        credential: &serde_json::Value,
    ) -> Result<bool, CoreError> {
        let state = self
            .take_ceremony(
                ceremony,
                CeremonyKind::Authenticate,
                Some(account),
                Some(session),
            )
            .await?;
        let state: PasskeyAuthentication = serde_json::from_str(&state)
            .map_err(|_| CoreError::Unavailable("a stored ceremony is malformed".into()))?;
        let Ok(answer) = serde_json::from_value::<PublicKeyCredential>(credential.clone()) else {
            return Ok(false);
        };
        let Ok(result) = self
            .webauthn()?
            .finish_passkey_authentication(&answer, &state)
        else {
            return Ok(false);
        };
        let Some((record, mut key)) = self
            .stored_passkeys(account)
            .await?
            .into_iter()
            .find(|(r, _)| r.credential_id.as_slice() == AsRef::<[u8]>::as_ref(result.cred_id()))
        else {
            return Ok(false);
        };
        key.update_credential(&result);
        let json = serde_json::to_string(&key)
            .map_err(|e| CoreError::Unavailable(format!("passkey: {e}")))?;
        self.store
            .passkey_used(record.id, &json, OffsetDateTime::now_utc())
            .await?;
        Ok(true)
    }

    /// Options to present a passkey as the second factor of a password-only session.
    pub async fn passkey_sign_in_options(
        &self,
        pending: &PendingSignIn,
    ) -> Result<PasskeyOptions, CoreError> {
        let account = self.pending_account(pending).await?;
        self.authentication_options(account.id, pending.session)
            .await
    }

    /// Presents a passkey as the second factor: on success the password-only session
    /// ends and a new one, with a new token, begins. A wrong answer is
    /// [`CoreError::SecondFactorRequired`], counted by the throttle.
    pub async fn finish_passkey_sign_in(
        &self,
        pending: &PendingSignIn,
        ceremony: uuid::Uuid,
        credential: &serde_json::Value,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        let account = self.pending_account(pending).await?;
        let attempt = self.attempt(&account.username, ctx).await?;
        if !self
            .verify_passkey(account.id, pending.session, ceremony, credential)
            .await?
        {
            let event = AuditEvent::named(
                "session.login",
                Some(&pending.actor_for_audit),
                None,
                Outcome::Denied,
                ctx,
            )
            .with_reason("bad_passkey");
            self.audit.record_event(&event).await?;
            return Err(CoreError::SecondFactorRequired);
        }
        self.store
            .session_revoke(pending.session, OffsetDateTime::now_utc())
            .await?;
        self.finish(&account, &attempt, ctx, user_agent).await
    }

    // --- listing and removing --------------------------------------------------------

    /// The actor's own passkeys, oldest first.
    pub async fn passkeys(&self, actor: &Actor) -> Result<Vec<PasskeyView>, CoreError> {
        let account = self.own_factors_account(actor).await?;
        Ok(self
            .store
            .passkeys_of(account.id)
            .await?
            .into_iter()
            .map(|p| PasskeyView {
                id: p.id,
                name: p.name,
                created_at: p.created_at,
                last_used_at: p.last_used_at,
            })
            .collect())
    }

    /// Removes one of the actor's passkeys (needs a fresh factor). Never the last
    /// factor the account can sign in with. A factor change: every other session and
    /// trusted device ends. Someone else's passkey, or none, is
    /// [`CoreError::NotFound`].
    pub async fn remove_passkey(
        &self,
        actor: &Actor,
        id: PasskeyId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let account = self.own_factors_account(actor).await?;
        // Whose it is first, so a missing id answers the same whatever the session.
        let mine = self
            .store
            .passkeys_of(account.id)
            .await?
            .iter()
            .any(|p| p.id == id);
        if mine {
            self.require_fresh_factor(actor).await?;
        }
        let totp_counts = self.totp_allowed(&account.kind);
        let outcome = self
            .store
            .passkey_delete(account.id, id, totp_counts)
            .await?;
        let event = |outcome, reason: &str| {
            AuditEvent::named("factor.passkey.remove", Some(actor), None, outcome, ctx)
                .with_reason(reason)
        };
        match outcome {
            PasskeyDeletion::Deleted => {
                self.factor_changed(account.id, Some(actor.session)).await?;
                self.audit
                    .record_event(&event(Outcome::Allowed, &format!("passkey:{id}")))
                    .await?;
                self.notify_account(
                    account.id,
                    Notice::FactorChanged {
                        what: "A passkey was removed".to_owned(),
                    },
                )
                .await;
                Ok(())
            }
            PasskeyDeletion::NotFound => {
                self.audit
                    .record_event(&event(Outcome::Denied, "no_such_passkey"))
                    .await?;
                Err(CoreError::NotFound)
            }
            PasskeyDeletion::LastFactor => {
                self.audit
                    .record_event(&event(Outcome::Denied, "last_factor"))
                    .await?;
                Err(CoreError::invalid(
                    "last_factor",
                    "This is the only way you have left to confirm it's you, so it can't be \
                     removed. Add another passkey first.",
                ))
            }
        }
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
    use tiaki_domain::{OperatorRole, PatientId, PracticeId, StaffRole};

    #[test]
    fn staff_use_totp_only_where_configured() {
        let x = PracticeId::new();
        let y = PracticeId::new();
        let staff = |practice| ActorKind::Staff {
            practice,
            role: StaffRole::Clinician,
        };
        let operator = ActorKind::Operator {
            role: OperatorRole::PlatformAdmin,
        };
        let patient = ActorKind::Patient {
            patient: PatientId::new(),
            practice: x,
        };
        let default = crate::CoreConfig::default();
        assert!(totp_allowed_by(&default, &patient));
        assert!(!totp_allowed_by(&default, &staff(x)));
        assert!(!totp_allowed_by(&default, &operator));
        let practice_x = crate::CoreConfig {
            staff_totp_practices: vec![x],
            ..Default::default()
        };
        assert!(totp_allowed_by(&practice_x, &staff(x)));
        assert!(!totp_allowed_by(&practice_x, &staff(y)));
        assert!(!totp_allowed_by(&practice_x, &operator));
        let everyone = crate::CoreConfig {
            staff_totp_allowed: true,
            ..Default::default()
        };
        assert!(totp_allowed_by(&everyone, &staff(y)));
        assert!(totp_allowed_by(&everyone, &operator));
    }

    #[test]
    fn the_relying_party_must_match_its_origins() {
        assert!(WebauthnConfig::default().build().is_ok());
        let ip = WebauthnConfig {
            rp_id: "127.0.0.1".to_owned(),
            origins: vec!["http://127.0.0.1:8080".to_owned()],
            ..Default::default()
        };
        assert!(ip.build().is_err());
        let elsewhere = WebauthnConfig {
            rp_id: "tiaki.example".to_owned(),
            origins: vec![
                "https://portal.tiaki.example".to_owned(),
                "https://evil.example".to_owned(),
            ],
            ..Default::default()
        };
        assert!(elsewhere.build().is_err());
        let sub = WebauthnConfig {
            rp_id: "tiaki.example".to_owned(),
            origins: vec![
                "https://portal.tiaki.example".to_owned(),
                "https://tiaki.example".to_owned(),
            ],
            ..Default::default()
        };
        assert!(sub.build().is_ok());
    }

    #[test]
    fn passkey_names_are_one_short_line() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(passkey_name("  Phone ", now).unwrap(), "Phone");
        assert!(passkey_name("", now).unwrap().starts_with("Passkey added "));
        assert!(passkey_name("a\nb", now).is_err());
        assert!(passkey_name(&"x".repeat(61), now).is_err());
    }
}
