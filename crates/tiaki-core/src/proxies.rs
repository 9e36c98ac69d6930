//! Proxy and guardian access: a patient lets another account act for them within
//! chosen scopes until a date, and can take it back; a practice sets up a guardian for
//! a child, which ends by itself at the configured age, and can end it sooner; a proxy
//! sees whose records they may act for.
//!
//! Nothing here decides what a grant allows. [`Tiaki::policy_facts`] loads the grant
//! between an actor and the patient a request is about, and the one policy judges it
//! (`tiaki_domain::authorize_with`): an expired, revoked or out-of-scope grant is
//! refused like none at all. Every change is stored together with its audit event.

use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::proxy::birthday_at;
use tiaki_domain::{
    Access, AccountId, Action, Actor, ActorKind, Facts, PatientId, ProxyAccess, ProxyGrantId,
    ProxyKind, Scope, Scopes, Target,
};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

/// The longest a patient's grant may run before it must be renewed.
pub const MAX_PROXY_DAYS: i64 = 3 * 366;

/// What a patient asks for when granting access. Untrusted text, parsed here.
#[derive(Debug, Clone, Default)]
pub struct ProxyRequest {
    /// The username of the account that will act for the patient.
    pub username: String,
    /// `(scope, access)` pairs: `("documents", "read")`, `("messages", "act")`; an
    /// access of `""` or `"none"` grants nothing in that scope.
    pub scopes: Vec<(String, String)>,
    /// The last day (UTC) the grant works, `YYYY-MM-DD`.
    pub expires_on: String,
}

/// Where a grant stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    Expired,
    Revoked,
}

impl GrantStatus {
    #[must_use]
    pub fn of(grant: &ProxyAccess, now: OffsetDateTime) -> Self {
        if grant.revoked_at.is_some() {
            Self::Revoked
        } else if now >= grant.expires_at {
            Self::Expired
        } else {
            Self::Active
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// One grant on a patient's record, as the patient or the practice reads it.
#[derive(Debug, Clone)]
pub struct GrantView {
    pub grant: ProxyAccess,
    /// The grantee's display name.
    pub grantee_name: String,
    pub status: GrantStatus,
}

/// One person a proxy may act for now.
#[derive(Debug, Clone)]
pub struct ActingFor {
    pub grant: ProxyAccess,
    pub patient: PatientId,
    /// The patient's name, for the switcher.
    pub name: String,
}

impl Tiaki {
    /// The facts a decision about `target` needs beyond the target itself: the grant in
    /// force (if any) by which the actor may act for the target's patient. Only patient
    /// accounts hold grants, and one's own record needs none.
    pub(crate) async fn policy_facts(
        &self,
        actor: &Actor,
        target: &Target,
    ) -> Result<Facts, CoreError> {
        let ActorKind::Patient { patient: own, .. } = actor.kind else {
            return Ok(Facts::none());
        };
        let Some(whose) = target.patient().filter(|p| *p != own) else {
            return Ok(Facts::none());
        };
        Ok(
            match self.store.proxy_grant_between(actor.account, whose).await? {
                Some(grant) => Facts::proxy(grant, OffsetDateTime::now_utc()),
                None => Facts::none(),
            },
        )
    }

    /// Whether the policy would allow an action, with the facts loaded (a proxy's
    /// grant): for deciding what a page offers. Never a substitute for the decision
    /// made when the action is taken. A store that cannot answer offers nothing.
    pub async fn permits_with_facts(&self, actor: &Actor, action: Action, target: Target) -> bool {
        match self.policy_facts(actor, &target).await {
            Ok(facts) => tiaki_domain::authorize_with(actor, action, target, &facts).is_ok(),
            Err(_) => false,
        }
    }

    /// Whether the actor sees `target`'s patient as someone else's proxy or guardian
    /// (and which), for the "acting for" banner. `None` for one's own record, for staff,
    /// and when nothing would be allowed.
    pub async fn acting_as(&self, actor: &Actor, target: Target) -> Option<ProxyKind> {
        let facts = self.policy_facts(actor, &target).await.ok()?;
        tiaki_domain::authorize_with(actor, Action::ViewPatient, target, &facts)
            .ok()?
            .via()
            .map(|via| via.kind)
    }

    /// Every grant on the patient's record (both kinds, ended ones too), newest first:
    /// the patient's "who can act for me".
    pub async fn proxies_of(
        &self,
        actor: &Actor,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<Vec<GrantView>, CoreError> {
        let target = self
            .patient_target(actor, Action::ManageProxies, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::ManageProxies, target, ctx)
            .await?;
        self.audit.record(&grant, ctx, None).await?;
        self.grant_views(patient, None).await
    }

    /// The patient lets the account `request.username` act for them. Needs a second
    /// factor presented within the step-up window. A grant already in force for the
    /// same account is replaced.
    pub async fn grant_proxy(
        &self,
        actor: &Actor,
        patient: PatientId,
        request: &ProxyRequest,
        ctx: &RequestContext,
    ) -> Result<GrantView, CoreError> {
        let target = self
            .patient_target(actor, Action::ManageProxies, patient, ctx)
            .await?;
        self.decide(actor, Action::ManageProxies, target, ctx)
            .await?;
        self.require_fresh_factor(actor).await?;
        let now = OffsetDateTime::now_utc();
        let scopes = parse_scopes(&request.scopes)?;
        let expires_at = parse_expiry(&request.expires_on, now)?;
        let grantee = self.patient_account(&request.username).await?;
        if grantee == actor.account {
            return Err(CoreError::invalid(
                "self_grant",
                "you already have access to your own records",
            ));
        }
        if let Some(current) = self.store.proxy_grant_between(grantee, patient).await?
            && current.kind == ProxyKind::Guardian
            && current.is_live(now)
        {
            return Err(CoreError::invalid(
                "already_guardian",
                "that person is already your guardian; your practice manages their access",
            ));
        }
        let grant = ProxyAccess {
            id: ProxyGrantId::new(),
            kind: ProxyKind::Proxy,
            patient,
            grantee,
            scopes,
            created_by: actor.account,
            created_at: now,
            expires_at,
            revoked_at: None,
            revoked_by: None,
        };
        self.store_grant(actor, &grant, &target, "proxy.grant", ctx)
            .await
    }

    /// The patient takes back a grant they made. Guardians are the practice's to end.
    pub async fn revoke_proxy(
        &self,
        actor: &Actor,
        patient: PatientId,
        grant: ProxyGrantId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let target = self
            .patient_target(actor, Action::ManageProxies, patient, ctx)
            .await?;
        self.decide(actor, Action::ManageProxies, target, ctx)
            .await?;
        self.end_grant(actor, &target, grant, ProxyKind::Proxy, "proxy.revoke", ctx)
            .await
    }

    /// The guardians (current and past) of a patient of the actor's practice.
    pub async fn guardians_of(
        &self,
        actor: &Actor,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<Vec<GrantView>, CoreError> {
        let target = self
            .patient_target(actor, Action::ManageGuardians, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::ManageGuardians, target, ctx)
            .await?;
        self.audit.record(&grant, ctx, None).await?;
        self.grant_views(patient, Some(ProxyKind::Guardian)).await
    }

    /// The practice gives the account `username` guardian access to a child's record:
    /// every scope, to act, until the child turns the configured age. Needs a second
    /// factor presented within the step-up window.
    pub async fn add_guardian(
        &self,
        actor: &Actor,
        patient: PatientId,
        username: &str,
        ctx: &RequestContext,
    ) -> Result<GrantView, CoreError> {
        let target = self
            .patient_target(actor, Action::ManageGuardians, patient, ctx)
            .await?;
        self.decide(actor, Action::ManageGuardians, target, ctx)
            .await?;
        self.require_fresh_factor(actor).await?;
        let now = OffsetDateTime::now_utc();
        let child = self
            .store
            .patient(patient)
            .await?
            .ok_or(CoreError::NotFound)?;
        let age = self.config.guardian_until_age;
        let expires_at = birthday_at(child.date_of_birth, age)
            .filter(|end| *end > now)
            .ok_or_else(|| {
                CoreError::invalid(
                    "not_a_child",
                    format!("guardian access is for patients under {age}"),
                )
            })?;
        let grantee = self.patient_account(username).await?;
        if self.store.account(grantee).await?.is_some_and(
            |a| matches!(a.kind, ActorKind::Patient { patient: p, .. } if p == patient),
        ) {
            return Err(CoreError::invalid(
                "self_grant",
                "a patient cannot be their own guardian",
            ));
        }
        let grant = ProxyAccess {
            id: ProxyGrantId::new(),
            kind: ProxyKind::Guardian,
            patient,
            grantee,
            scopes: Scopes::all(Access::Act),
            created_by: actor.account,
            created_at: now,
            expires_at,
            revoked_at: None,
            revoked_by: None,
        };
        self.store_grant(actor, &grant, &target, "guardian.start", ctx)
            .await
    }

    /// The practice ends a guardian's access before the child reaches the age.
    pub async fn end_guardian(
        &self,
        actor: &Actor,
        patient: PatientId,
        grant: ProxyGrantId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let target = self
            .patient_target(actor, Action::ManageGuardians, patient, ctx)
            .await?;
        self.decide(actor, Action::ManageGuardians, target, ctx)
            .await?;
        self.end_grant(
            actor,
            &target,
            grant,
            ProxyKind::Guardian,
            "guardian.end",
            ctx,
        )
        .await
    }

    /// Whose records the actor may act for right now, by name. Ended and expired
    /// grants are left out: they allow nothing.
    pub async fn acting_for(&self, actor: &Actor) -> Result<Vec<ActingFor>, CoreError> {
        tiaki_domain::authorize(
            actor,
            Action::ViewOwnAccount,
            Target::Account(actor.account),
        )
        .map_err(|_| CoreError::NotFound)?;
        let now = OffsetDateTime::now_utc();
        let mut out = Vec::new();
        for grant in self.store.proxy_grants_held(actor.account).await? {
            if !grant.is_live(now) {
                continue;
            }
            if let Some(p) = self.store.patient(grant.patient).await? {
                out.push(ActingFor {
                    grant,
                    patient: p.id,
                    name: format!("{} {}", p.given_name, p.family_name),
                });
            }
        }
        Ok(out)
    }

    /// The account a grant goes to: a patient account (people act for each other from
    /// their own logins). Unknown usernames and staff or operator accounts get one
    /// answer.
    async fn patient_account(&self, username: &str) -> Result<AccountId, CoreError> {
        let username = username.trim();
        if username.is_empty() || username.chars().count() > 100 {
            return Err(CoreError::invalid(
                "invalid_username",
                "type the username of the person's own Tiaki account",
            ));
        }
        match self.store.account_by_username(username).await? {
            Some(a) if !a.disabled && matches!(a.kind, ActorKind::Patient { .. }) => Ok(a.id),
            _ => Err(CoreError::invalid(
                "unknown_account",
                "there is no patient account with that username; the person needs their own \
                 Tiaki login first",
            )),
        }
    }

    /// Stores a grant with its audit event (the checks are the caller's).
    pub(crate) async fn store_grant(
        &self,
        actor: &Actor,
        grant: &ProxyAccess,
        target: &Target,
        action: &str,
        ctx: &RequestContext,
    ) -> Result<GrantView, CoreError> {
        let event = AuditEvent::named(action, Some(actor), Some(target), Outcome::Allowed, ctx)
            .with_reason(&grant_reason(grant.id));
        self.store.proxy_grant_insert(grant, &event).await?;
        tracing::info!(grant = %grant.id, patient = %grant.patient, kind = grant.kind.as_str(), "access granted");
        Ok(GrantView {
            grant: *grant,
            grantee_name: self.account_name(grant.grantee).await?.unwrap_or_default(),
            status: GrantStatus::Active,
        })
    }

    async fn end_grant(
        &self,
        actor: &Actor,
        target: &Target,
        grant: ProxyGrantId,
        kind: ProxyKind,
        action: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let patient = target.patient().ok_or(CoreError::NotFound)?;
        let event = AuditEvent::named(action, Some(actor), Some(target), Outcome::Allowed, ctx)
            .with_reason(&grant_reason(grant));
        let now = OffsetDateTime::now_utc();
        let ended = self
            .store
            .proxy_grant_revoke(grant, patient, kind, actor.account, now, &event)
            .await?;
        if !ended {
            let missed =
                AuditEvent::named(action, Some(actor), Some(target), Outcome::NotFound, ctx)
                    .with_reason(&grant_reason(grant));
            self.audit.record_event(&missed).await?;
            return Err(CoreError::NotFound);
        }
        tracing::info!(grant = %grant, patient = %patient, kind = kind.as_str(), "access ended");
        Ok(())
    }

    async fn grant_views(
        &self,
        patient: PatientId,
        only: Option<ProxyKind>,
    ) -> Result<Vec<GrantView>, CoreError> {
        let now = OffsetDateTime::now_utc();
        let mut out = Vec::new();
        for grant in self.store.proxy_grants_of_patient(patient).await? {
            if only.is_some_and(|kind| kind != grant.kind) {
                continue;
            }
            out.push(GrantView {
                grantee_name: self
                    .account_name(grant.grantee)
                    .await?
                    .unwrap_or_else(|| "A former account".to_owned()),
                status: GrantStatus::of(&grant, now),
                grant,
            });
        }
        Ok(out)
    }
}

/// The audit reason naming the grant an event is about (an id, never a name).
fn grant_reason(id: ProxyGrantId) -> String {
    format!("grant:{id}")
}

fn parse_scopes(raw: &[(String, String)]) -> Result<Scopes, CoreError> {
    let mut scopes = Scopes::default();
    for (scope, access) in raw {
        let scope_name = scope.trim();
        let parsed = Scope::parse(scope_name).ok_or_else(|| {
            CoreError::invalid(
                "invalid_scope",
                format!(
                    "'{}' is not something access can be given to",
                    scope_name.chars().take(40).collect::<String>()
                ),
            )
        })?;
        let access = match access.trim() {
            "" | "none" => None,
            other => Some(Access::parse(other).ok_or_else(|| {
                CoreError::invalid("invalid_access", "access is 'read', 'act' or 'none'")
            })?),
        };
        scopes = scopes.with(parsed, access);
    }
    if scopes.is_empty() {
        return Err(CoreError::invalid(
            "no_scope",
            "choose at least one thing they may see or do",
        ));
    }
    Ok(scopes)
}

/// The end of `expires_on` (UTC): the grant works through that whole day.
fn parse_expiry(raw: &str, now: OffsetDateTime) -> Result<OffsetDateTime, CoreError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = Date::parse(raw.trim(), &format)
        .map_err(|_| CoreError::invalid("invalid_expiry", "give the last day as YYYY-MM-DD"))?;
    let end = day
        .next_day()
        .map(|d| PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc())
        .ok_or_else(|| CoreError::invalid("invalid_expiry", "that date is too far away"))?;
    if end <= now {
        return Err(CoreError::invalid(
            "invalid_expiry",
            "the last day must be today or later",
        ));
    }
    if end - now > Duration::days(MAX_PROXY_DAYS) {
        return Err(CoreError::invalid(
            "invalid_expiry",
            "access can be given for up to three years at a time; you can renew it",
        ));
    }
    Ok(end)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn scopes_parse_or_say_why_not() {
        let scopes = parse_scopes(&[
            ("documents".into(), "act".into()),
            ("messages".into(), "read".into()),
            ("records".into(), "none".into()),
        ])
        .unwrap();
        assert!(scopes.allows(Scope::Documents, Access::Act));
        assert!(scopes.allows(Scope::Messages, Access::Read));
        assert_eq!(scopes.get(Scope::Records), None);
        for (raw, code) in [
            (vec![("everything".into(), "act".into())], "invalid_scope"),
            (vec![("documents".into(), "write".into())], "invalid_access"),
            (vec![("documents".into(), "none".into())], "no_scope"),
            (vec![], "no_scope"),
        ] {
            match parse_scopes(&raw) {
                Err(CoreError::Invalid { code: c, .. }) => assert_eq!(c, code),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn expiry_is_the_end_of_the_day_and_bounded() {
        let now = datetime!(2026-05-01 12:00 UTC);
        assert_eq!(
            parse_expiry("2026-05-01", now).unwrap(),
            datetime!(2026-05-02 0:00 UTC)
        );
        assert!(parse_expiry("2026-04-30", now).is_err());
        assert!(parse_expiry("2029-06-01", now).is_err());
        assert!(parse_expiry("1 May", now).is_err());
    }
}
