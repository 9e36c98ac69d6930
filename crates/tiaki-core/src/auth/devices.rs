//! Trusted devices: "trust this device for N days" (`trusted_device_days`, default 30;
//! 0 turns it off). A sign-in with the right password from a trusted device skips the
//! second-factor prompt; the session it opens is marked as such (listed as "trusted
//! device") and is never fresh for step-up, so nothing sensitive can be done from it
//! without a second factor.
//!
//! The device keeps a cookie, one per account (its name is derived from the account,
//! so two people sharing a browser each keep theirs):
//! `<device id>.<256-bit secret>.<HMAC>`, the HMAC made with the keyring's MAC key over
//! the account id, device id and secret. The server keeps only the secret's SHA-256,
//! with when, where from and what device, so the person can list and revoke it.
//! A cookie with a wrong MAC (tampered, or made for another account), an unknown,
//! revoked or expired device, or a secret that does not match is simply ignored: the
//! second factor is asked for as usual. Every device of an account is revoked on any
//! factor change ([`Tiaki::factor_changed`], which a password change should call too).

use super::login::{Attempt, PasswordAccepted};
use crate::sessions::NewSession;
use crate::{CoreError, Tiaki};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{generate_token, hash_token};
use tiaki_domain::ids::TrustedDeviceId;
use tiaki_domain::{AccountId, Action, Actor, SessionId, Target};
use tiaki_store::Account;
use tiaki_store::factors::TrustedDevice;
use time::{Duration, OffsetDateTime};

/// Every trusted-device cookie's name starts with this; the rest is derived from the
/// account.
pub const DEVICE_COOKIE_PREFIX: &str = "__Host-tiaki_device_";
/// How many device cookies a sign-in looks at, at most.
const MAX_COOKIES: usize = 16;

/// A cookie to set on the device: name, value (secret) and lifetime.
#[derive(Debug)]
pub struct DeviceCookie {
    pub name: String,
    pub value: SecretString,
    pub max_age: Duration,
}

/// A trusted device, as the sessions page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDeviceView {
    pub id: TrustedDeviceId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// What a right password leads to.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// A second factor is needed: a password-only session.
    SecondFactor(PasswordAccepted),
    /// The device is trusted: signed in, without a fresh factor.
    SignedIn(NewSession),
}

fn mac_message(account: AccountId, device: TrustedDeviceId, secret: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(32 + secret.len());
    message.extend_from_slice(account.as_uuid().as_bytes());
    message.extend_from_slice(device.as_uuid().as_bytes());
    message.extend_from_slice(secret.as_bytes());
    message
}

impl Tiaki {
    /// The name of the account's device cookie on this installation.
    fn device_cookie_name(&self, account: AccountId) -> String {
        let tag = self
            .vault
            .mac_key()
            .tag("trusted-device-cookie-name", account.as_uuid().as_bytes());
        let short: String = tag.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{DEVICE_COOKIE_PREFIX}{short}")
    }

    /// The trusted device a cookie stands for, if the cookie is genuine, for this
    /// account, and the device is still trusted.
    async fn trusted_device(
        &self,
        account: AccountId,
        cookies: &[(String, String)],
        now: OffsetDateTime,
    ) -> Result<Option<TrustedDevice>, CoreError> {
        if self.config.trusted_device_days <= 0 {
            return Ok(None);
        }
        let name = self.device_cookie_name(account);
        let Some((_, value)) = cookies.iter().take(MAX_COOKIES).find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let mut parts = value.splitn(3, '.');
        let (Some(id), Some(secret), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(None);
        };
        let (Ok(id), Ok(tag)) = (id.parse::<TrustedDeviceId>(), URL_SAFE_NO_PAD.decode(tag)) else {
            return Ok(None);
        };
        let genuine = self.vault.mac_key().verify_tag(
            "trusted-device",
            &mac_message(account, id, secret),
            &tag,
        );
        let Some(hash) = hash_token(secret).filter(|_| genuine) else {
            return Ok(None);
        };
        Ok(self.store.device(id).await?.filter(|d| {
            d.account == account
                && d.revoked_at.is_none()
                && now < d.expires_at
                && d.secret_hash == hash
        }))
    }

    /// Step one on the web, with the device's cookies: a right password from a trusted
    /// device signs in directly; otherwise a password-only session as
    /// [`Tiaki::login_password`] makes. Errors as `login_password`.
    pub async fn login_password_on_device(
        &self,
        username: &str,
        password: &SecretString,
        device_cookies: &[(String, String)],
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<PasswordOutcome, CoreError> {
        let normalized = super::login::normalize(username).unwrap_or_default();
        let attempt = self.attempt(&normalized, ctx).await?;
        let (account, targeted) = self.check_password(&normalized, password).await?;
        let Some(account) = account else {
            self.refuse("bad_credentials", targeted, ctx).await?;
            return Err(CoreError::BadCredentials);
        };
        let now = OffsetDateTime::now_utc();
        if let Some(device) = self.trusted_device(account.id, device_cookies, now).await? {
            let session = self
                .sign_in_from_device(&account, &attempt, &device, ctx, user_agent)
                .await?;
            return Ok(PasswordOutcome::SignedIn(session));
        }
        self.password_accepted(&account, &attempt, ctx, user_agent)
            .await
            .map(PasswordOutcome::SecondFactor)
    }

    async fn sign_in_from_device(
        &self,
        account: &Account,
        attempt: &Attempt,
        device: &TrustedDevice,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        let session = self
            .finish_signed_in(
                account,
                attempt,
                ctx,
                user_agent,
                Some(device.id),
                Some("trusted_device"),
            )
            .await?;
        self.store
            .device_used(device.id, OffsetDateTime::now_utc())
            .await?;
        Ok(session)
    }

    /// Trusts the device the actor's session is on for `trusted_device_days`: needs a
    /// fresh second factor (it is offered right after one). Returns the cookie to set.
    pub async fn trust_device(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<DeviceCookie, CoreError> {
        if self.config.trusted_device_days <= 0 {
            return Err(CoreError::invalid(
                "trusted_devices_off",
                "Trusting a device is turned off here.",
            ));
        }
        tiaki_domain::authorize(
            actor,
            Action::ManageOwnSessions,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        self.require_fresh_factor(actor).await?;
        let (secret, secret_hash) = generate_token()?;
        let now = OffsetDateTime::now_utc();
        let lifetime = Duration::days(self.config.trusted_device_days);
        let device = TrustedDevice {
            id: TrustedDeviceId::new(),
            account: actor.account,
            secret_hash,
            created_at: now,
            expires_at: now + lifetime,
            last_used_at: None,
            revoked_at: None,
            address: ctx.address.map(|a| a.to_string()),
            user_agent: user_agent.map(|u| u.chars().take(200).collect()),
        };
        self.store.device_insert(&device).await?;
        let tag = self.vault.mac_key().tag(
            "trusted-device",
            &mac_message(actor.account, device.id, &secret),
        );
        let event = AuditEvent::named("device.trust", Some(actor), None, Outcome::Allowed, ctx)
            .with_reason(&format!("device:{}", device.id));
        self.audit.record_event(&event).await?;
        Ok(DeviceCookie {
            name: self.device_cookie_name(actor.account),
            value: SecretString::from(format!(
                "{}.{secret}.{}",
                device.id,
                URL_SAFE_NO_PAD.encode(tag)
            )),
            max_age: lifetime,
        })
    }

    /// The actor's trusted devices still in force, newest first.
    pub async fn trusted_devices(
        &self,
        actor: &Actor,
    ) -> Result<Vec<TrustedDeviceView>, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ManageOwnSessions,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let now = OffsetDateTime::now_utc();
        Ok(self
            .store
            .devices_active(actor.account, now)
            .await?
            .into_iter()
            .map(|d| TrustedDeviceView {
                id: d.id,
                created_at: d.created_at,
                expires_at: d.expires_at,
                last_used_at: d.last_used_at,
                address: d.address,
                user_agent: d.user_agent,
            })
            .collect())
    }

    /// Stops trusting one of the actor's devices. Someone else's device and an unknown
    /// id both answer [`CoreError::NotFound`]. Sessions already open from it stay until
    /// they are signed out (they are listed, and can be).
    pub async fn revoke_trusted_device(
        &self,
        actor: &Actor,
        id: TrustedDeviceId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let now = OffsetDateTime::now_utc();
        let owner = self
            .store
            .device(id)
            .await?
            .map_or_else(AccountId::new, |d| d.account);
        let allowed =
            tiaki_domain::authorize(actor, Action::ManageOwnSessions, Target::Account(owner))
                .is_ok();
        let revoked = allowed && self.store.device_revoke(actor.account, id, now).await?;
        let outcome = if revoked {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        let event = AuditEvent::named("device.revoke", Some(actor), None, outcome, ctx)
            .with_reason(&format!("device:{id}"));
        self.audit.record_event(&event).await?;
        if revoked {
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// After any change of a factor (and of the password): every other session of the
    /// account ends, `keep` excepted, and no device is trusted any more.
    pub(crate) async fn factor_changed(
        &self,
        account: AccountId,
        keep: Option<SessionId>,
    ) -> Result<(), CoreError> {
        let now = OffsetDateTime::now_utc();
        self.store
            .sessions_revoke_others(account, keep, now)
            .await?;
        self.store.devices_revoke_all(account, now).await?;
        Ok(())
    }
}
