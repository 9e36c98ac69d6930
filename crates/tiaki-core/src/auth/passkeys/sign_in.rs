//! Signing in with a passkey: as the second factor after the password, or alone — a
//! discoverable passkey names its account and verifies its user (PIN or biometric), so
//! it is phishing-resistant multi-factor by itself and needs no username or password.
//! Both are counted by the sign-in throttle. The checks step-up shares live here too.

use super::PasskeyOptions;
use crate::auth::login::PendingSignIn;
use crate::sessions::NewSession;
use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::{AccountId, SessionId};
use tiaki_store::factors::{CeremonyKind, PasskeyRecord};
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PublicKeyCredential,
};

impl Tiaki {
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

    /// Options to sign in with a discoverable passkey alone (no username or password).
    pub async fn discoverable_options(&self) -> Result<PasskeyOptions, CoreError> {
        let (options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(|e| CoreError::Unavailable(format!("webauthn: {e}")))?;
        let state = serde_json::to_string(&state)
            .map_err(|e| CoreError::Unavailable(format!("webauthn state: {e}")))?;
        let ceremony = self
            .put_ceremony(CeremonyKind::Discover, None, None, state)
            .await?;
        let mut options = serde_json::to_value(&options)
            .map_err(|e| CoreError::Unavailable(format!("webauthn options: {e}")))?;
        // The page asks on a button press, not as autofill.
        if let Some(map) = options.as_object_mut() {
            map.remove("mediation");
        }
        Ok(PasskeyOptions { ceremony, options })
    }

    /// Signs in with a discoverable passkey. A passkey that names no account, another
    /// account than its own, or a disabled one, or an answer that does not verify, is
    /// [`CoreError::SecondFactorRequired`] like every failed sign-in (or
    /// [`CoreError::Throttled`]).
    pub async fn finish_discoverable_sign_in(
        &self,
        ceremony: uuid::Uuid,
        credential: &serde_json::Value,
        ctx: &RequestContext,
        user_agent: Option<&str>,
    ) -> Result<NewSession, CoreError> {
        let state = self
            .take_ceremony(ceremony, CeremonyKind::Discover, None, None)
            .await?;
        let state: DiscoverableAuthentication = serde_json::from_str(&state)
            .map_err(|_| CoreError::Unavailable("a stored ceremony is malformed".into()))?;
        let webauthn = self.webauthn()?;
        let answer = serde_json::from_value::<PublicKeyCredential>(credential.clone()).ok();
        // Whose passkey it says it is: the credential must be registered to the account
        // the authenticator names.
        let named = match &answer {
            Some(answer) => match webauthn.identify_discoverable_authentication(answer) {
                Ok((user, credential_id)) => self
                    .store
                    .passkey_by_credential(credential_id)
                    .await?
                    .filter(|r| *r.account.as_uuid() == user),
                Err(_) => None,
            },
            None => None,
        };
        let account = match &named {
            Some(record) => self
                .store
                .account(record.account)
                .await?
                .filter(|a| !a.disabled),
            None => None,
        };
        let username = account.as_ref().map_or("", |a| a.username.as_str());
        let attempt = self.attempt(username, ctx).await?;
        let verified = match (answer, named, account) {
            (Some(answer), Some(record), Some(account)) => {
                let mut key: Passkey = serde_json::from_str(&record.passkey)
                    .map_err(|_| CoreError::Unavailable("a stored passkey is malformed".into()))?;
                match webauthn.finish_discoverable_authentication_v2(&answer, state, &key) {
                    Ok(result) => {
                        key.update_credential(&result);
                        let json = serde_json::to_string(&key)
                            .map_err(|e| CoreError::Unavailable(format!("passkey: {e}")))?;
                        self.store
                            .passkey_used(record.id, &json, OffsetDateTime::now_utc())
                            .await?;
                        Some(account)
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        let Some(account) = verified else {
            self.refuse("bad_passkey", None, ctx).await?;
            return Err(CoreError::SecondFactorRequired);
        };
        self.finish_signed_in(&account, &attempt, ctx, user_agent, None, Some("passkey"))
            .await
    }
}
