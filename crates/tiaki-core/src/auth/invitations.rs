//! Registration by invitation. Nobody links themselves to a patient record: a practice,
//! which has checked who the patient is, invites an enrolled patient who has no login
//! yet, and the invitation alone decides which record the new account belongs to.
//!
//! An invitation is 256 random bits (kept as SHA-256), good once and for
//! `invitation_days`; a newer one for the same patient revokes the older. It goes by
//! email to the address the practice enters, and is shown once to the staff member as
//! a link and a code (for a patient at the desk). The patient chooses a username and a
//! password (the policy applies) and goes straight on to set up an authenticator app:
//! the new account has a password-only session, which can do nothing else.
//!
//! Unknown, used, revoked and expired invitations all get the same answer.

use super::PasswordAccepted;
use super::email::parse_address;
use crate::mail::messages;
use crate::{CoreError, Tiaki};
use secrecy::SecretString;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{generate_token, hash_token};
use tiaki_domain::{AccountId, Action, Actor, ActorKind, InvitationId, PatientId};
use tiaki_store::{Account, Invitation, Redeemed};
use time::{Duration, OffsetDateTime};

/// A new invitation, to show once.
#[derive(Debug)]
pub struct IssuedInvitation {
    pub id: InvitationId,
    /// The link that was emailed.
    pub link: String,
    /// The same token, to type at `/register` (a patient at the front desk).
    pub code: String,
    pub expires_at: OffsetDateTime,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Used,
    Revoked,
    Expired,
}

impl InvitationStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Used => "used",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// One invitation as staff see it (never its token).
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub id: InvitationId,
    pub address: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub status: InvitationStatus,
}

/// Whether a patient has registered, and their invitations.
#[derive(Debug, Clone)]
pub struct PatientRegistration {
    pub registered: bool,
    pub invitations: Vec<InvitationView>,
}

/// What the registration page may say about a live invitation.
#[derive(Debug, Clone)]
pub struct InvitationPreview {
    pub practice_name: String,
    pub expires_at: OffsetDateTime,
}

/// The one answer for an invitation that cannot be used, whatever the reason.
fn invitation_invalid() -> CoreError {
    CoreError::invalid(
        "invitation_invalid",
        "This invitation can't be used: it may have expired or already been used. Please \
         ask your practice to send you a new one.",
    )
}

/// A username as chosen: 3 to 64 characters of lower-case letters, digits, `.`, `-`
/// and `_` (no `@`, so a username is never mistaken for an email address).
pub fn parse_username(raw: &str) -> Result<String, CoreError> {
    let username = raw.trim().to_lowercase();
    let ok = (3..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c));
    if ok {
        Ok(username)
    } else {
        Err(CoreError::invalid(
            "username_invalid",
            "Please choose a username of 3 to 64 characters using letters, numbers, dots, \
             dashes or underscores.",
        ))
    }
}

fn view(i: &Invitation, now: OffsetDateTime) -> InvitationView {
    let status = if i.used_at.is_some() {
        InvitationStatus::Used
    } else if i.revoked_at.is_some() {
        InvitationStatus::Revoked
    } else if now >= i.expires_at {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    };
    InvitationView {
        id: i.id,
        address: i.address.clone(),
        created_at: i.created_at,
        expires_at: i.expires_at,
        status,
    }
}

impl Tiaki {
    /// Invites an enrolled patient without a login to register: emails the link to
    /// `address` and returns it to show once. Staff the policy allows, at the
    /// patient's practice; anyone else, or a missing patient, is `NotFound`.
    pub async fn invite_patient(
        &self,
        actor: &Actor,
        patient: PatientId,
        address: &str,
        ctx: &RequestContext,
    ) -> Result<IssuedInvitation, CoreError> {
        let target = self
            .patient_target(actor, Action::InvitePatient, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::InvitePatient, target, ctx)
            .await?;
        let address = parse_address(address)?;
        if self.store.account_of_patient(patient).await?.is_some() {
            return Err(CoreError::invalid(
                "already_registered",
                "This patient already has a Tiaki account. If they have lost their password \
                 they can reset it from the sign-in page.",
            ));
        }
        let practice_id = target.practice().ok_or(CoreError::NotFound)?;
        let practice = self
            .store
            .practice(practice_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        self.audit.record(&grant, ctx, None).await?;
        let now = OffsetDateTime::now_utc();
        let days = self.config.mail.invitation_days;
        let (token, token_hash) = generate_token()?;
        let invitation = Invitation {
            id: InvitationId::new(),
            token_hash,
            patient,
            practice: practice_id,
            address: address.clone(),
            created_by: actor.account,
            created_at: now,
            expires_at: now + Duration::days(days),
            used_at: None,
            revoked_at: None,
            account: None,
        };
        self.store.invitation_insert(&invitation).await?;
        let link = self.link("/register", &token);
        let email = messages::invitation(&practice.name, &link, days);
        if let Err(e) = self.mailer.send(&address, email) {
            tracing::warn!(invitation = %invitation.id, error = %e, "an invitation could not be emailed");
        }
        Ok(IssuedInvitation {
            id: invitation.id,
            link,
            code: token,
            expires_at: invitation.expires_at,
        })
    }

    /// Whether a patient has registered, and their invitations (staff who may invite).
    pub async fn patient_registration(
        &self,
        actor: &Actor,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<PatientRegistration, CoreError> {
        let target = self
            .patient_target(actor, Action::InvitePatient, patient, ctx)
            .await?;
        self.decide(actor, Action::InvitePatient, target, ctx)
            .await?;
        let now = OffsetDateTime::now_utc();
        Ok(PatientRegistration {
            registered: self.store.account_of_patient(patient).await?.is_some(),
            invitations: self
                .store
                .invitations_of(patient)
                .await?
                .iter()
                .map(|i| view(i, now))
                .collect(),
        })
    }

    /// A live invitation, for the registration page; anything else is
    /// `invitation_invalid`.
    pub async fn invitation_preview(&self, token: &str) -> Result<InvitationPreview, CoreError> {
        let invitation = self.live_invitation(token).await?;
        let practice = self
            .store
            .practice(invitation.practice)
            .await?
            .ok_or_else(invitation_invalid)?;
        Ok(InvitationPreview {
            practice_name: practice.name,
            expires_at: invitation.expires_at,
        })
    }

    async fn live_invitation(&self, token: &str) -> Result<Invitation, CoreError> {
        let hash = hash_token(token.trim()).ok_or_else(invitation_invalid)?;
        let invitation = self
            .store
            .invitation_by_token(&hash)
            .await?
            .filter(|i| i.is_live(OffsetDateTime::now_utc()))
            .ok_or_else(invitation_invalid)?;
        if self
            .store
            .account_of_patient(invitation.patient)
            .await?
            .is_some()
        {
            return Err(invitation_invalid());
        }
        Ok(invitation)
    }

    /// Registers with an invitation: creates the patient's account (the invitation's
    /// address becomes its verified one) and opens a password-only session, whose only
    /// way on is setting up an authenticator.
    pub async fn register_with_invitation(
        &self,
        token: &str,
        username: &str,
        password: &SecretString,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<PasswordAccepted, CoreError> {
        let invitation = match self.live_invitation(token).await {
            Ok(i) => i,
            Err(e) => {
                let event = AuditEvent::named("account.register", None, None, Outcome::Denied, ctx)
                    .with_reason("invitation_invalid");
                self.audit.record_event(&event).await?;
                return Err(e);
            }
        };
        let username = parse_username(username)?;
        let patient = self
            .store
            .patient(invitation.patient)
            .await?
            .ok_or_else(invitation_invalid)?;
        let display_name = format!("{} {}", patient.given_name, patient.family_name);
        self.check_new_password(password, &username, &display_name)
            .await?;
        let now = OffsetDateTime::now_utc();
        let account = Account {
            id: AccountId::new(),
            username: username.clone(),
            display_name,
            password_hash: self.hash_password(password).await?,
            kind: ActorKind::Patient {
                patient: invitation.patient,
                practice: invitation.practice,
            },
            disabled: false,
            created_at: now,
        };
        let hash = invitation.token_hash;
        match self.store.invitation_redeem(&hash, &account, now).await? {
            Redeemed::Created => {}
            Redeemed::UsernameTaken => {
                return Err(CoreError::invalid(
                    "username_taken",
                    "That username is already taken. Please choose another.",
                ));
            }
            Redeemed::NotLive | Redeemed::AlreadyRegistered => return Err(invitation_invalid()),
        }
        let mut event = AuditEvent::named("account.register", None, None, Outcome::Allowed, ctx);
        event.actor_account = Some(account.id);
        event.patient = Some(invitation.patient);
        event.practice = Some(invitation.practice);
        self.audit.record_event(&event).await?;
        self.login_password(&username, password, ctx, user_agent)
            .await
    }
}
