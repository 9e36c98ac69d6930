//! What operators do with the guard: see alerts and containments, contain an account
//! by hand, release a containment with a reason, and close a module or make it
//! read-only while the rest of the portal keeps working. Each is decided by the policy
//! (`ManageGuard`) and audited. The CLI does the same as the operator "system" actor.

use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::{AccountId, Action, Actor, Target};
use tiaki_store::{Alert, Containment, ModuleState, ModuleSwitch, Severity};
use time::OffsetDateTime;

/// A part of the portal with its own kill switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    Documents,
    Records,
    Appointments,
    Prescriptions,
    Messages,
}

impl Module {
    pub const ALL: [Self; 5] = [
        Self::Documents,
        Self::Records,
        Self::Appointments,
        Self::Prescriptions,
        Self::Messages,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Documents => "documents",
            Self::Records => "records",
            Self::Appointments => "appointments",
            Self::Prescriptions => "prescriptions",
            Self::Messages => "messages",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The module an action belongs to, if it has a switch.
    pub(crate) fn of_action(action: Action) -> Option<Self> {
        match action {
            Action::ListDocuments
            | Action::UploadDocument
            | Action::ReadDocumentMeta
            | Action::ReadDocumentContent => Some(Self::Documents),
            Action::ReadRecords | Action::WriteRecords | Action::ReleaseResults => {
                Some(Self::Records)
            }
            Action::ViewAppointments
            | Action::BookAppointment
            | Action::ViewCalendar
            | Action::ManageSchedule => Some(Self::Appointments),
            Action::ViewPrescriptions
            | Action::RequestPrescription
            | Action::ViewPrescriptionQueue
            | Action::DecidePrescription => Some(Self::Prescriptions),
            Action::ReadMessages | Action::SendMessage | Action::TriageMessages => {
                Some(Self::Messages)
            }
            _ => None,
        }
    }
}

/// The operator page's picture of the guard.
#[derive(Debug, Clone)]
pub struct GuardOverview {
    pub alerts: Vec<Alert>,
    pub containments: Vec<Containment>,
    pub modules: Vec<(Module, ModuleState, Option<ModuleSwitch>)>,
}

/// Who is acting on the guard: an operator through the web, or the CLI on the server.
#[derive(Debug, Clone, Copy)]
pub enum GuardOperator<'a> {
    Operator(&'a Actor),
    /// `tiaki guard …` run on the server by someone with its keys and database.
    Console,
}

const MAX_REASON: usize = 500;

fn reason_ok(reason: &str) -> Result<String, CoreError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(CoreError::invalid(
            "reason_required",
            "Please give a reason; it is kept in the audit log.",
        ));
    }
    if reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "reason_invalid",
            format!("A reason is one line of at most {MAX_REASON} characters."),
        ));
    }
    Ok(reason.to_owned())
}

impl Tiaki {
    async fn guard_operator(
        &self,
        who: GuardOperator<'_>,
        ctx: &RequestContext,
    ) -> Result<Option<Actor>, CoreError> {
        match who {
            GuardOperator::Operator(actor) => {
                self.decide(actor, Action::ManageGuard, Target::Platform, ctx)
                    .await?;
                Ok(Some(*actor))
            }
            GuardOperator::Console => Ok(None),
        }
    }

    /// Recent alerts and containments, and every module's switch.
    pub async fn guard_overview(
        &self,
        who: GuardOperator<'_>,
        ctx: &RequestContext,
    ) -> Result<GuardOverview, CoreError> {
        self.guard_operator(who, ctx).await?;
        let alerts = self.store.alerts_recent(200).await?;
        let containments = self.store.containments_recent(200).await?;
        let switches = self.store.module_switches().await?;
        let modules = Module::ALL
            .into_iter()
            .map(|m| {
                let s = switches.iter().find(|s| s.module == m.as_str()).cloned();
                (m, s.as_ref().map_or(ModuleState::Open, |s| s.state), s)
            })
            .collect();
        Ok(GuardOverview {
            alerts,
            containments,
            modules,
        })
    }

    /// Contains an account by hand (from an alert, say). Returns the containment id.
    pub async fn contain_account(
        &self,
        who: GuardOperator<'_>,
        account: AccountId,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<uuid::Uuid, CoreError> {
        let by = self.guard_operator(who, ctx).await?;
        let reason = reason_ok(reason)?;
        if self.store.account(account).await?.is_none() {
            return Err(CoreError::NotFound);
        }
        let scope = super::actor_scope(account);
        let id = self
            .contain_scope(
                &scope,
                "operator",
                &reason,
                Some(account),
                by.map(|a| a.account),
            )
            .await?;
        self.audit_guard_change(by.as_ref(), "guard.contain", &scope, ctx)
            .await?;
        Ok(id)
    }

    /// Releases a containment with a reason; the account is enabled again with its
    /// counters cleared (its old sessions stay revoked: the person signs in afresh).
    pub async fn release_containment(
        &self,
        who: GuardOperator<'_>,
        containment: uuid::Uuid,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let by = self.guard_operator(who, ctx).await?;
        let active = self.store.containments_active().await?;
        let Some(c) = active.into_iter().find(|c| c.id == containment) else {
            return Err(CoreError::NotFound);
        };
        let reason = reason_ok(reason)?;
        let released = self
            .store
            .containment_release(
                containment,
                by.map(|a| a.account),
                &reason,
                OffsetDateTime::now_utc(),
            )
            .await?;
        if !released {
            return Err(CoreError::NotFound);
        }
        if let Ok(mut cache) = self.guard.cache.write() {
            cache.blocked.remove(&c.scope);
        }
        // Released means trusted again: the person starts with a clean count, or their
        // next read would cross the same limit at once.
        self.guard.counters.reset(&c.scope).await?;
        if let Ok(mut alerted) = self.guard.alerted.lock() {
            alerted.retain(|(scope, _, _)| scope != &c.scope);
        }
        self.audit_guard_change(by.as_ref(), "guard.release", &c.scope, ctx)
            .await?;
        self.raise(Alert {
            id: uuid::Uuid::now_v7(),
            at: OffsetDateTime::now_utc(),
            severity: Severity::Info,
            detector: "operator".into(),
            scope: c.scope,
            account: c.account,
            practice: None,
            summary: format!("released: {reason}"),
            containment: Some(c.id),
        })
        .await;
        Ok(())
    }

    /// Sets a module's kill switch.
    pub async fn set_module_state(
        &self,
        who: GuardOperator<'_>,
        module: Module,
        state: ModuleState,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let by = self.guard_operator(who, ctx).await?;
        let reason = reason_ok(reason)?;
        let now = OffsetDateTime::now_utc();
        self.store
            .module_switch_put(&ModuleSwitch {
                module: module.as_str().to_owned(),
                state,
                reason: reason.clone(),
                changed_at: now,
                changed_by: by.map(|a| a.account),
            })
            .await?;
        if let Ok(mut cache) = self.guard.cache.write() {
            cache.switches.insert(module.as_str().to_owned(), state);
        }
        let scope = format!("module:{}", module.as_str());
        self.audit_guard_change(
            by.as_ref(),
            &format!("guard.module.{}", state.as_str()),
            &scope,
            ctx,
        )
        .await?;
        self.raise(Alert {
            id: uuid::Uuid::now_v7(),
            at: now,
            severity: if state == ModuleState::Open {
                Severity::Info
            } else {
                Severity::Warning
            },
            detector: "kill_switch".into(),
            scope,
            account: None,
            practice: None,
            summary: format!("{} is now {}: {reason}", module.as_str(), state.as_str()),
            containment: None,
        })
        .await;
        Ok(())
    }

    async fn audit_guard_change(
        &self,
        by: Option<&Actor>,
        action: &str,
        scope: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let event = AuditEvent::named(action, by, Some(&Target::Platform), Outcome::Allowed, ctx)
            .with_reason(scope);
        self.audit.record_event(&event).await?;
        Ok(())
    }
}
