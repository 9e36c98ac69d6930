//! Passkeys (WebAuthn, through `webauthn-rs`): registering one, signing in with one as
//! the second factor after the password (or alone, a discoverable passkey), stepping up
//! with one, listing and removing them.
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
//!
//! `register` has registration (from a password-only session or a signed-in one),
//! `sign_in` has signing in (and the checks stepping up shares).

mod register;
mod sign_in;

pub use register::{PasskeyEnrolled, SignInChoices};

use crate::mail::Notice;
use crate::{CoreError, Tiaki};
use serde::{Deserialize, Serialize};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::ids::PasskeyId;
use tiaki_domain::{AccountId, Action, Actor, ActorKind, SessionId, Target};
use tiaki_store::Account;
use tiaki_store::factors::{Ceremony, CeremonyKind, PasskeyDeletion};
use time::{Duration, OffsetDateTime};
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

/// How long a ceremony's challenge is good for.
const CEREMONY_MINUTES: i64 = 5;

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

/// [`Tiaki::totp_allowed`], from the configuration alone.
fn totp_allowed_by(config: &crate::CoreConfig, kind: &ActorKind) -> bool {
    match kind {
        ActorKind::Patient { .. } => true,
        ActorKind::Staff { practice, .. } => {
            config.staff_totp_allowed || config.staff_totp_practices.contains(practice)
        }
        ActorKind::Operator { .. } => config.staff_totp_allowed,
        // Practice systems sign in with a signed assertion, never a second factor.
        ActorKind::Integration { .. } => false,
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
}
