//! A signed-in person's view of their own factors, and replacing their recovery codes.

use super::factors::new_recovery_codes;
use super::passkeys::PasskeyView;
use crate::mail::Notice;
use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::Actor;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// What the security page shows.
#[derive(Debug, Clone)]
pub struct FactorsOverview {
    pub passkeys: Vec<PasskeyView>,
    /// An authenticator app is set up.
    pub totp: bool,
    /// The account may sign in with it (staff and operators only if configured).
    pub totp_allowed: bool,
    pub recovery_codes_left: u32,
    /// Until when this session's second factor counts as fresh (`None`: not now).
    pub fresh_until: Option<OffsetDateTime>,
}

impl Tiaki {
    /// The actor's own factors.
    pub async fn factors_overview(&self, actor: &Actor) -> Result<FactorsOverview, CoreError> {
        let account = self.own_factors_account(actor).await?;
        Ok(FactorsOverview {
            passkeys: self.passkeys(actor).await?,
            totp: self.totp_enrolled(account.id).await?,
            totp_allowed: self.totp_allowed(&account.kind),
            recovery_codes_left: self.store.recovery_codes_unused(account.id).await?,
            fresh_until: self.factor_fresh_until(actor).await?,
        })
    }

    /// Replaces the actor's recovery codes with ten new ones, shown once (needs a fresh
    /// factor). A factor change: every other session and trusted device ends.
    pub async fn regenerate_recovery_codes(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
    ) -> Result<Vec<Zeroizing<String>>, CoreError> {
        let account = self.own_factors_account(actor).await?;
        self.require_fresh_factor(actor).await?;
        let codes = new_recovery_codes()?;
        self.store
            .recovery_codes_replace(account.id, &codes.hashes, OffsetDateTime::now_utc())
            .await?;
        self.factor_changed(account.id, Some(actor.session)).await?;
        let event = AuditEvent::named(
            "factor.recovery_codes.replace",
            Some(actor),
            None,
            Outcome::Allowed,
            ctx,
        );
        self.audit.record_event(&event).await?;
        self.notify_account(
            account.id,
            Notice::FactorChanged {
                what: "New recovery codes were made (the old ones no longer work)".to_owned(),
            },
        )
        .await;
        Ok(codes.shown)
    }
}
