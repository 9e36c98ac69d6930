//! Breach response: an incident is opened, its exact scope is computed from the audit
//! log against a signed checkpoint and frozen (versioned: a widened scope is a new
//! version), one version is published, and from it alone come every patient's security
//! status (page and API) and their notice. Operator commands run from the server
//! console and are audited like everything else.

mod criteria;
mod notices;
mod report;
pub mod status;

pub use criteria::{Criteria, ScopeModule, parse_cidr};
pub use notices::{NoticeRun, QueueReport, SendReport};
pub use report::{CountBy, ExportRow, ScopeExport, regulator_report};
pub use status::{AccessLine, IncidentStatus, Reached, SecurityStatus, moment};

use crate::{CoreError, Tiaki};
use tiaki_audit::{AuditEvent, NoteVerifier, Outcome, RequestContext, merkle};
use tiaki_domain::{AccountId, Action, Actor, PatientId, Target};
use tiaki_store::{Incident, IncidentScope, PublishRefusal};
use time::OffsetDateTime;

/// The longest incident title.
const MAX_TITLE: usize = 200;

/// An event about something done from the server console.
pub(crate) fn console_event(
    action: &str,
    target: Option<&Target>,
    ctx: &RequestContext,
) -> AuditEvent {
    let mut event = AuditEvent::named(action, None, target, Outcome::Allowed, ctx);
    "console".clone_into(&mut event.actor_role);
    event
}

impl Tiaki {
    /// Opens an incident.
    pub async fn incident_open(
        &self,
        title: &str,
        opened_by: &str,
        ctx: &RequestContext,
    ) -> Result<Incident, CoreError> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(CoreError::invalid(
                "bad_title",
                format!("Give the incident a title of 1 to {MAX_TITLE} characters."),
            ));
        }
        let incident = self
            .store
            .incident_open(title, opened_by.trim(), OffsetDateTime::now_utc())
            .await?;
        let event = console_event("incident.open", Some(&Target::Platform), ctx)
            .with_reason(&format!("incident_{}", incident.number));
        self.audit.record_event(&event).await?;
        Ok(incident)
    }

    pub async fn incident(&self, number: u64) -> Result<Incident, CoreError> {
        self.store
            .incident(number)
            .await?
            .ok_or_else(|| no_such_incident(number))
    }

    pub async fn incidents(&self) -> Result<Vec<Incident>, CoreError> {
        Ok(self.store.incidents().await?)
    }

    pub async fn incident_scopes(&self, number: u64) -> Result<Vec<IncidentScope>, CoreError> {
        self.incident(number).await?;
        Ok(self.store.incident_scopes(number).await?)
    }

    /// Computes the next scope version of an incident: a fresh signed checkpoint is
    /// made, every allowed read matching `criteria` inside that tree is frozen with what
    /// it reached, and the log's leaves are checked to reproduce the checkpoint's
    /// signed root, so the snapshot's proofs hold.
    pub async fn incident_scope(
        &self,
        number: u64,
        criteria: &Criteria,
        ctx: &RequestContext,
    ) -> Result<IncidentScope, CoreError> {
        self.incident(number).await?;
        let checkpoint = self.transparency.checkpoint().await?;
        let query = self.scope_query(criteria, checkpoint.size).await?;
        self.check_signed_tree(&checkpoint.note).await?;
        let criteria_json = serde_json::to_string(criteria)
            .map_err(|e| CoreError::Unavailable(format!("encoding criteria: {e}")))?;
        let scope = self
            .store
            .incident_scope(
                number,
                &criteria_json,
                &query,
                &checkpoint.note,
                OffsetDateTime::now_utc(),
            )
            .await?
            .ok_or_else(|| no_such_incident(number))?;
        let event = console_event("incident.scope", Some(&Target::Platform), ctx)
            .with_reason(&format!("incident_{number}_v{}", scope.version));
        self.audit.record_event(&event).await?;
        Ok(scope)
    }

    /// The checkpoint's signature is ours and the stored leaves rebuild its root.
    async fn check_signed_tree(&self, note: &str) -> Result<(), CoreError> {
        let verifier = NoteVerifier::parse(&self.transparency.verifier_key())
            .map_err(|e| CoreError::Unavailable(format!("the log's verifier key: {e}")))?;
        let signed = verifier
            .open(note)
            .map_err(|e| CoreError::Unavailable(format!("the checkpoint does not verify: {e}")))?;
        let leaves = self.store.leaf_hashes(0, signed.size).await?;
        if merkle::root(&leaves) != signed.root {
            return Err(CoreError::Unavailable(
                "the audit log's leaves do not rebuild its signed checkpoint: the log has \
                 been altered, and no scope can be trusted until it is investigated"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Makes a scope version the one patients are told about (the latest if `None`).
    pub async fn incident_publish(
        &self,
        number: u64,
        version: Option<u64>,
        ctx: &RequestContext,
    ) -> Result<u64, CoreError> {
        let scopes = self.incident_scopes(number).await?;
        let version = match version {
            Some(v) => v,
            None => scopes.last().map(|s| s.version).ok_or_else(|| {
                CoreError::invalid(
                    "not_scoped",
                    format!("Incident {number} has no scope yet: run `tiaki incident scope`."),
                )
            })?,
        };
        match self
            .store
            .incident_publish(number, version, OffsetDateTime::now_utc())
            .await?
        {
            Ok(()) => {}
            Err(PublishRefusal::NoSuchScope) => {
                return Err(CoreError::invalid(
                    "no_such_version",
                    format!("Incident {number} has no scope version {version}."),
                ));
            }
            Err(PublishRefusal::NoticesQueuedFrom(v)) => {
                return Err(CoreError::invalid(
                    "notices_sent",
                    format!(
                        "Notices for incident {number} were queued from version {v}; what \
                         patients were told stands. Open a follow-up incident for accesses \
                         found since."
                    ),
                ));
            }
        }
        let event = console_event("incident.publish", Some(&Target::Platform), ctx)
            .with_reason(&format!("incident_{number}_v{version}"));
        self.audit.record_event(&event).await?;
        Ok(version)
    }

    /// A patient's security status, for someone the policy lets see it. Viewing it is
    /// audited.
    pub async fn security_status(
        &self,
        actor: &Actor,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<SecurityStatus, CoreError> {
        let target = self
            .patient_target(actor, Action::ViewSecurityStatus, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::ViewSecurityStatus, target, ctx)
            .await?;
        let status = self.security_status_of(patient).await?;
        self.audit.record(&grant, ctx, None).await?;
        Ok(status)
    }

    /// The status itself, from the published scopes alone (notices use this too).
    pub async fn security_status_of(
        &self,
        patient: PatientId,
    ) -> Result<SecurityStatus, CoreError> {
        let found = self.store.patient_incidents(patient).await?;
        Ok(status::status_of(patient, &found))
    }

    /// Signs out every session: of the given accounts, or of everyone. Audited.
    pub async fn revoke_sessions(
        &self,
        accounts: Option<&[AccountId]>,
        ctx: &RequestContext,
    ) -> Result<u64, CoreError> {
        let revoked = self
            .store
            .revoke_sessions(accounts, OffsetDateTime::now_utc())
            .await?;
        let scope = if accounts.is_some() {
            "accounts"
        } else {
            "everyone"
        };
        let event = console_event("containment.sessions", Some(&Target::Platform), ctx)
            .with_reason(scope)
            .with_bytes(revoked);
        self.audit.record_event(&event).await?;
        Ok(revoked)
    }

    /// Forces a credential reset: each account's password stops working at once,
    /// its sessions and trusted devices end, and its owner is emailed a link to set a
    /// new one (where the account has a verified address). One audit event per account.
    pub async fn force_password_reset(
        &self,
        accounts: &[AccountId],
        ctx: &RequestContext,
    ) -> Result<ForcedReset, CoreError> {
        let changed = self
            .store
            .force_password_reset(accounts, OffsetDateTime::now_utc())
            .await?;
        let mut emailed = 0_u64;
        for account in accounts {
            let event = console_event("containment.reset", Some(&Target::Account(*account)), ctx);
            self.audit.record_event(&event).await?;
            if let Some(a) = self.store.account(*account).await?
                && self.send_reset_link(&a, true, ctx).await?
            {
                emailed += 1;
            }
        }
        Ok(ForcedReset { changed, emailed })
    }
}

/// What a forced reset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcedReset {
    pub changed: u64,
    pub emailed: u64,
}

fn no_such_incident(number: u64) -> CoreError {
    CoreError::invalid(
        "no_such_incident",
        format!("There is no incident {number}."),
    )
}
