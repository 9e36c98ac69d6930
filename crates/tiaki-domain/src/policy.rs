//! The one policy. Every access decision in Tiaki — web page, JSON API, CLI — is made
//! here, by [`authorize`], a pure function of (actor, action, target). Deny by default:
//! only the combinations spelled out below are allowed.
//!
//! A [`Grant`] can only be made by `authorize` (its fields are private and it has no
//! public constructor), and the audit log only issues a receipt for a grant, and the
//! vault only decrypts with a receipt. So "no plaintext without a decision and a
//! receipt" is a property of the types, not of handler discipline.

use crate::actor::{Actor, ActorKind, OperatorRole, StaffRole};
use crate::ids::{AccountId, DocumentId, PatientId, PracticeId, ProxyGrantId};
use crate::proxy::{Access, ProxyAccess, ProxyKind, Scope};
use serde::Serialize;
use time::OffsetDateTime;

/// Everything an actor can ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// See one's own account (`/me`).
    ViewOwnAccount,
    /// See and revoke one's own sessions.
    ManageOwnSessions,
    /// Change one's own password (with the current password and a second factor).
    ChangeOwnPassword,
    /// Add and verify one's own email address.
    ManageOwnEmail,
    /// See, add and remove one's own second factors (passkeys, recovery codes) and
    /// trusted devices, and step up.
    ManageOwnFactors,
    /// Invite an enrolled patient without an account to register (practice staff).
    InvitePatient,
    /// Find patients enrolled at a practice by NHI or name.
    SearchPatients,
    /// See a patient's demographic header (name, NHI, date of birth).
    ViewPatient,
    /// List a patient's documents (metadata only).
    ListDocuments,
    /// Add a document to a patient's record.
    UploadDocument,
    /// One document's metadata.
    ReadDocumentMeta,
    /// One document's content: the only action that leads to plaintext.
    ReadDocumentContent,
    /// Platform configuration and counts, no clinical content.
    ViewPlatformOverview,
    /// "Who accessed my records": the audit events about one patient.
    ViewAccessHistory,
    /// Search every audit event (privacy officers investigating).
    SearchAudit,
    /// The guard's alerts, containment, release and module kill switches (operators).
    ManageGuard,
    /// See, grant and revoke who may act for one's own record (the patient alone).
    ManageProxies,
    /// See, set up and end guardians' access to a child's record (practice staff).
    ManageGuardians,
    /// A patient's security status: not affected, or which of their documents an
    /// incident reached and when. The patient, those who may read their documents for
    /// them, and their practice's staff (who answer their calls) see the same page.
    ViewSecurityStatus,
    /// A patient's health record: conditions, medications, allergies, immunisations,
    /// released results, visit summaries (held results only for clinical staff).
    ReadRecords,
    /// Add to or correct a patient's health record (clinical staff, practice systems).
    WriteRecords,
    /// Release a held result to the patient (the clinician who reviews it).
    ReleaseResults,
    /// A patient's appointments, and the free times they may book.
    ViewAppointments,
    /// Book, cancel or reschedule a patient's appointment.
    BookAppointment,
    /// The practice's calendar: every appointment of the day, by clinician (staff).
    ViewCalendar,
    /// Clinicians' schedules, appointment types and booking rules (the front desk).
    ManageSchedule,
    /// A patient's repeat prescription requests and their history.
    ViewPrescriptions,
    /// Ask for a repeat of a current long-term medication.
    RequestPrescription,
    /// The practice's queue of repeat prescription requests.
    ViewPrescriptionQueue,
    /// Approve or decline a repeat prescription request (a clinician).
    DecidePrescription,
    /// Read a patient's message threads with the practice.
    ReadMessages,
    /// Start a thread or reply in one.
    SendMessage,
    /// The practice inbox: threads' subjects, unread counts and who they are assigned
    /// to, and assigning them (every staff role triages).
    TriageMessages,
}

impl Action {
    pub const ALL: [Self; 33] = [
        Self::ViewOwnAccount,
        Self::ManageOwnSessions,
        Self::ChangeOwnPassword,
        Self::ManageOwnEmail,
        Self::ManageOwnFactors,
        Self::InvitePatient,
        Self::SearchPatients,
        Self::ViewPatient,
        Self::ListDocuments,
        Self::UploadDocument,
        Self::ReadDocumentMeta,
        Self::ReadDocumentContent,
        Self::ViewPlatformOverview,
        Self::ViewAccessHistory,
        Self::SearchAudit,
        Self::ManageGuard,
        Self::ManageProxies,
        Self::ManageGuardians,
        Self::ViewSecurityStatus,
        Self::ReadRecords,
        Self::WriteRecords,
        Self::ReleaseResults,
        Self::ViewAppointments,
        Self::BookAppointment,
        Self::ViewCalendar,
        Self::ManageSchedule,
        Self::ViewPrescriptions,
        Self::RequestPrescription,
        Self::ViewPrescriptionQueue,
        Self::DecidePrescription,
        Self::ReadMessages,
        Self::SendMessage,
        Self::TriageMessages,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ViewOwnAccount => "account.view",
            Self::ManageOwnSessions => "account.sessions",
            Self::ChangeOwnPassword => "account.password",
            Self::ManageOwnEmail => "account.email",
            Self::ManageOwnFactors => "account.factors",
            Self::InvitePatient => "patient.invite",
            Self::SearchPatients => "patient.search",
            Self::ViewPatient => "patient.view",
            Self::ListDocuments => "document.list",
            Self::UploadDocument => "document.upload",
            Self::ReadDocumentMeta => "document.meta",
            Self::ReadDocumentContent => "document.read",
            Self::ViewPlatformOverview => "platform.view",
            Self::ViewAccessHistory => "audit.history",
            Self::SearchAudit => "audit.search",
            Self::ManageGuard => "guard.manage",
            Self::ManageProxies => "proxy.manage",
            Self::ManageGuardians => "guardian.manage",
            Self::ViewSecurityStatus => "security.status",
            Self::ReadRecords => "record.read",
            Self::WriteRecords => "record.write",
            Self::ReleaseResults => "result.release",
            Self::ViewAppointments => "appointment.view",
            Self::BookAppointment => "appointment.book",
            Self::ViewCalendar => "calendar.view",
            Self::ManageSchedule => "schedule.manage",
            Self::ViewPrescriptions => "prescription.view",
            Self::RequestPrescription => "prescription.request",
            Self::ViewPrescriptionQueue => "prescription.queue",
            Self::DecidePrescription => "prescription.decide",
            Self::ReadMessages => "message.read",
            Self::SendMessage => "message.send",
            Self::TriageMessages => "message.triage",
        }
    }
}

/// What an action is about. Targets carry the facts the policy needs (whose record it
/// is, which practice holds it), loaded from the store before the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    Account(AccountId),
    Practice(PracticeId),
    Patient {
        patient: PatientId,
        /// The practice the patient is enrolled at.
        practice: PracticeId,
    },
    Document {
        document: DocumentId,
        patient: PatientId,
        practice: PracticeId,
    },
    Platform,
}

impl Target {
    #[must_use]
    pub fn patient(&self) -> Option<PatientId> {
        match *self {
            Self::Patient { patient, .. } | Self::Document { patient, .. } => Some(patient),
            _ => None,
        }
    }

    #[must_use]
    pub fn practice(&self) -> Option<PracticeId> {
        match *self {
            Self::Practice(practice)
            | Self::Patient { practice, .. }
            | Self::Document { practice, .. } => Some(practice),
            _ => None,
        }
    }

    #[must_use]
    pub fn document(&self) -> Option<DocumentId> {
        match *self {
            Self::Document { document, .. } => Some(document),
            _ => None,
        }
    }
}

/// Why a request was refused. Never shown to the caller (who sees a plain 404); kept
/// for the audit event and the guard's signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Denied {
    /// A patient reached for someone else's record.
    ForeignPatient,
    /// Staff reached beyond their own practice.
    OtherPractice,
    /// The role exists here but may not do this.
    RoleNotPermitted,
    /// The action makes no sense for this target.
    TargetMismatch,
    /// A proxy or guardian grant that has expired (the caller sees the same 404 as
    /// with no grant at all).
    ProxyExpired,
    /// A proxy or guardian grant that was revoked or ended.
    ProxyRevoked,
    /// A live grant that does not cover this action (another scope, or read-only
    /// for an action that acts).
    OutOfScope,
}

impl Denied {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ForeignPatient => "foreign_patient",
            Self::OtherPractice => "other_practice",
            Self::RoleNotPermitted => "role_not_permitted",
            Self::TargetMismatch => "target_mismatch",
            Self::ProxyExpired => "proxy_expired",
            Self::ProxyRevoked => "proxy_revoked",
            Self::OutOfScope => "out_of_scope",
        }
    }
}

/// Proof that the policy allowed `actor` to do `action` to `target`. Private fields and
/// no public constructor: only [`authorize`] makes one. Code outside this module cannot
/// forge one:
///
/// ```compile_fail,E0451
/// use tiaki_domain::{Action, Actor, Grant, Target};
/// fn forge(actor: Actor, target: Target) -> Grant {
///     Grant { actor, action: Action::ReadDocumentContent, target, via: None }
/// }
/// ```
///
/// Nor can a proxy's grant be made by hand, however real the proxy access it names:
///
/// ```compile_fail,E0451
/// use tiaki_domain::{Action, Actor, Grant, ProxyAccess, ProxyKind, Target, Via};
/// fn forge(actor: Actor, target: Target, access: ProxyAccess) -> Grant {
///     let via = Via { grant: access.id, kind: ProxyKind::Proxy };
///     Grant { actor, action: Action::ReadDocumentContent, target, via: Some(via) }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    actor: Actor,
    action: Action,
    target: Target,
    via: Option<Via>,
}

/// How a grant reached a record that is not the actor's own: through which proxy or
/// guardian grant. Part of a [`Grant`], so of its audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Via {
    pub grant: ProxyGrantId,
    pub kind: ProxyKind,
}

impl Grant {
    #[must_use]
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    #[must_use]
    pub fn action(&self) -> Action {
        self.action
    }

    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The proxy or guardian grant this access went through, if the record is not the
    /// actor's own.
    #[must_use]
    pub fn via(&self) -> Option<Via> {
        self.via
    }

    /// The role the access is recorded under: `proxy` or `guardian` when acting for
    /// someone, otherwise the actor's own role.
    #[must_use]
    pub fn role_name(&self) -> &'static str {
        self.via
            .map_or_else(|| self.actor.role_name(), |via| via.kind.as_str())
    }
}

/// Facts beyond the target that a decision may need, loaded by the core before it asks.
/// Fields are private: a proxy grant is only ever judged together with the moment of
/// the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    proxy: Option<(ProxyAccess, OffsetDateTime)>,
}

impl Facts {
    /// No relationship to anyone else's record.
    #[must_use]
    pub const fn none() -> Self {
        Self { proxy: None }
    }

    /// The actor's grant for the target's patient (live or not: the policy judges
    /// revocation and expiry), as of `now`.
    #[must_use]
    pub const fn proxy(access: ProxyAccess, now: OffsetDateTime) -> Self {
        Self {
            proxy: Some((access, now)),
        }
    }
}

/// The one access decision, for an actor with no relationship to anyone else's
/// record. Pure; deny by default.
pub fn authorize(actor: &Actor, action: Action, target: Target) -> Result<Grant, Denied> {
    authorize_with(actor, action, target, &Facts::none())
}

/// The one access decision, with the facts the core loaded. Pure; deny by default.
///
/// A patient reaching for a record not their own is refused (`ForeignPatient`) unless
/// the facts carry a grant to this actor for that very patient, neither revoked nor
/// expired, whose scopes cover the action; an expired, revoked or out-of-scope grant is
/// refused like none at all (only the audit reason differs).
pub fn authorize_with(
    actor: &Actor,
    action: Action,
    target: Target,
    facts: &Facts,
) -> Result<Grant, Denied> {
    let via = match decide(actor, action, &target) {
        Ok(()) => None,
        Err(Denied::ForeignPatient) => Some(as_proxy(actor, action, &target, facts)?),
        Err(denied) => return Err(denied),
    };
    Ok(Grant {
        actor: *actor,
        action,
        target,
        via,
    })
}

/// What a proxy must hold to do `action` on someone's record; `None`: no grant can
/// allow it (access history, managing proxies: those stay the patient's own).
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Any live grant: seeing whose record it is (the name at the top of the page).
    AnyScope,
    Scope(Scope, Access),
}

fn proxy_needs(action: Action) -> Option<Needs> {
    use Action as A;
    match action {
        A::ViewPatient => Some(Needs::AnyScope),
        A::ListDocuments | A::ReadDocumentMeta | A::ReadDocumentContent | A::ViewSecurityStatus => {
            Some(Needs::Scope(Scope::Documents, Access::Read))
        }
        // A proxy adds what the patient could add: a patient upload, never a clinical
        // document (the core makes every upload by a patient account a patient upload).
        A::UploadDocument => Some(Needs::Scope(Scope::Documents, Access::Act)),
        A::ReadRecords => Some(Needs::Scope(Scope::Records, Access::Read)),
        A::ViewAppointments => Some(Needs::Scope(Scope::Appointments, Access::Read)),
        A::BookAppointment => Some(Needs::Scope(Scope::Appointments, Access::Act)),
        A::ViewPrescriptions => Some(Needs::Scope(Scope::Prescriptions, Access::Read)),
        A::RequestPrescription => Some(Needs::Scope(Scope::Prescriptions, Access::Act)),
        A::ReadMessages => Some(Needs::Scope(Scope::Messages, Access::Read)),
        A::SendMessage => Some(Needs::Scope(Scope::Messages, Access::Act)),
        // What only the practice does stays the practice's.
        A::WriteRecords
        | A::ReleaseResults
        | A::ViewCalendar
        | A::ManageSchedule
        | A::ViewPrescriptionQueue
        | A::DecidePrescription
        | A::TriageMessages
        | A::ViewAccessHistory
        | A::ManageProxies
        | A::ManageGuardians
        | A::ViewOwnAccount
        | A::ManageOwnSessions
        | A::ChangeOwnPassword
        | A::ManageOwnEmail
        | A::ManageOwnFactors
        | A::InvitePatient
        | A::SearchPatients
        | A::ViewPlatformOverview
        | A::SearchAudit
        | A::ManageGuard => None,
    }
}

/// The second question for a patient refused someone else's record: do the facts hold
/// a grant that lets this actor do this there?
fn as_proxy(actor: &Actor, action: Action, target: &Target, facts: &Facts) -> Result<Via, Denied> {
    let ActorKind::Patient { .. } = actor.kind else {
        return Err(Denied::ForeignPatient);
    };
    let (Some(whose), Some((grant, now))) = (target.patient(), facts.proxy) else {
        return Err(Denied::ForeignPatient);
    };
    if grant.grantee != actor.account || grant.patient != whose {
        return Err(Denied::ForeignPatient);
    }
    if grant.revoked_at.is_some() {
        return Err(Denied::ProxyRevoked);
    }
    if now >= grant.expires_at {
        return Err(Denied::ProxyExpired);
    }
    let covered = match proxy_needs(action) {
        Some(Needs::AnyScope) => !grant.scopes.is_empty(),
        Some(Needs::Scope(scope, access)) => grant.scopes.allows(scope, access),
        None => false,
    };
    if !covered {
        return Err(Denied::OutOfScope);
    }
    Ok(Via {
        grant: grant.id,
        kind: grant.kind,
    })
}

fn decide(actor: &Actor, action: Action, target: &Target) -> Result<(), Denied> {
    use Action as A;
    match (actor.kind, action, *target) {
        // Every account, whatever its role, manages itself and nothing else.
        (
            _,
            A::ViewOwnAccount
            | A::ManageOwnSessions
            | A::ChangeOwnPassword
            | A::ManageOwnEmail
            | A::ManageOwnFactors,
            Target::Account(account),
        ) => {
            if account == actor.account {
                Ok(())
            } else {
                Err(Denied::TargetMismatch)
            }
        }
        (
            _,
            A::ViewOwnAccount
            | A::ManageOwnSessions
            | A::ChangeOwnPassword
            | A::ManageOwnEmail
            | A::ManageOwnFactors,
            _,
        ) => Err(Denied::TargetMismatch),

        // Patients: their own record, everything in the documents module.
        (ActorKind::Patient { patient, .. }, action, target) => match action {
            A::ViewPatient
            | A::ListDocuments
            | A::UploadDocument
            | A::ReadDocumentMeta
            | A::ReadDocumentContent
            | A::ViewAccessHistory
            | A::ViewSecurityStatus
            | A::ManageProxies
            | A::ReadRecords
            | A::ViewAppointments
            | A::BookAppointment
            | A::ViewPrescriptions
            | A::RequestPrescription
            | A::ReadMessages
            | A::SendMessage => own_record(patient, action, &target),
            A::SearchPatients
            | A::WriteRecords
            | A::ReleaseResults
            | A::ViewCalendar
            | A::ManageSchedule
            | A::ViewPrescriptionQueue
            | A::DecidePrescription
            | A::TriageMessages
            | A::ViewPlatformOverview
            | A::ViewOwnAccount
            | A::ManageOwnSessions
            | A::ChangeOwnPassword
            | A::ManageOwnEmail
            | A::ManageOwnFactors
            | A::InvitePatient
            | A::SearchAudit
            | A::ManageGuard
            | A::ManageGuardians => Err(Denied::RoleNotPermitted),
        },

        // Staff: patients enrolled at their own practice, by role.
        (ActorKind::Staff { practice, role }, action, target) => {
            if !staff_role_may(role, action) {
                return Err(Denied::RoleNotPermitted);
            }
            within_practice(practice, action, target)
        }

        // Practice systems: their own practice's records, by what they feed.
        (ActorKind::Integration { practice }, action, target) => {
            if !integration_may(action) {
                return Err(Denied::RoleNotPermitted);
            }
            within_practice(practice, action, target)
        }

        // Operators: the platform's shape, never a patient's record.
        (ActorKind::Operator { role }, A::ViewPlatformOverview, Target::Platform) => match role {
            OperatorRole::PlatformAdmin | OperatorRole::PrivacyOfficer => Ok(()),
        },
        // Both operator roles run the guard: alerts, containment, kill switches.
        (ActorKind::Operator { .. }, A::ManageGuard, Target::Platform) => Ok(()),
        // Privacy officers investigate: every event's metadata, never content.
        (
            ActorKind::Operator {
                role: OperatorRole::PrivacyOfficer,
            },
            A::SearchAudit,
            Target::Platform,
        )
        | (
            ActorKind::Operator {
                role: OperatorRole::PrivacyOfficer,
            },
            A::ViewAccessHistory,
            Target::Patient { .. },
        ) => Ok(()),
        (ActorKind::Operator { .. }, _, _) => Err(Denied::RoleNotPermitted),
    }
}

/// Staff and practice systems act only within their own practice, on targets of the
/// right kind for the action.
fn within_practice(practice: PracticeId, action: Action, target: Target) -> Result<(), Denied> {
    use Action as A;
    match (action, target) {
        (
            A::SearchPatients
            | A::ViewCalendar
            | A::ManageSchedule
            | A::ViewPrescriptionQueue
            | A::TriageMessages,
            Target::Practice(p),
        )
        | (
            A::ViewPatient
            | A::ListDocuments
            | A::UploadDocument
            | A::InvitePatient
            | A::ManageGuardians
            | A::ViewSecurityStatus
            | A::ReadRecords
            | A::WriteRecords
            | A::ReleaseResults
            | A::ViewAppointments
            | A::BookAppointment
            | A::ViewPrescriptions
            | A::DecidePrescription
            | A::ReadMessages
            | A::SendMessage,
            Target::Patient { practice: p, .. },
        )
        | (A::ReadDocumentMeta | A::ReadDocumentContent, Target::Document { practice: p, .. }) => {
            if p == practice {
                Ok(())
            } else {
                Err(Denied::OtherPractice)
            }
        }
        _ => Err(Denied::TargetMismatch),
    }
}

/// What a practice management system may do at its own practice: find patients, feed
/// their record (results, documents, appointments) and read back what it fed. It never
/// acts as a patient and never sees patients' messages.
fn integration_may(action: Action) -> bool {
    use Action as A;
    matches!(
        action,
        A::SearchPatients
            | A::ViewPatient
            | A::ListDocuments
            | A::UploadDocument
            | A::ReadDocumentMeta
            | A::ReadDocumentContent
            | A::ReadRecords
            | A::WriteRecords
            | A::ViewAppointments
            | A::BookAppointment
            | A::ViewCalendar
    )
}

fn own_record(me: PatientId, action: Action, target: &Target) -> Result<(), Denied> {
    let whose = match (action, *target) {
        (
            Action::ViewPatient
            | Action::ListDocuments
            | Action::UploadDocument
            | Action::ViewAccessHistory
            | Action::ViewSecurityStatus
            | Action::ManageProxies
            | Action::ReadRecords
            | Action::ViewAppointments
            | Action::BookAppointment
            | Action::ViewPrescriptions
            | Action::RequestPrescription
            | Action::ReadMessages
            | Action::SendMessage,
            Target::Patient { patient, .. },
        )
        | (
            Action::ReadDocumentMeta | Action::ReadDocumentContent,
            Target::Document { patient, .. },
        ) => patient,
        _ => return Err(Denied::TargetMismatch),
    };
    if whose == me {
        Ok(())
    } else {
        Err(Denied::ForeignPatient)
    }
}

/// What each staff role may do at its own practice. Reception and practice admins run
/// the front desk: they find patients and see what documents exist, but never open
/// clinical content and never add to the clinical record.
fn staff_role_may(role: StaffRole, action: Action) -> bool {
    use Action as A;
    match action {
        // Every role at the practice may see a patient's security status: the front
        // desk takes their calls after an incident and must tell them what the portal
        // and the notice tell them.
        A::SearchPatients
        | A::ViewPatient
        | A::ListDocuments
        | A::ReadDocumentMeta
        | A::ViewSecurityStatus => true,
        A::ReadDocumentContent
        | A::UploadDocument
        | A::ReadRecords
        | A::WriteRecords
        | A::ViewPrescriptions
        | A::ViewPrescriptionQueue
        | A::ReadMessages
        | A::SendMessage => matches!(role, StaffRole::Clinician | StaffRole::Nurse),
        // Results are released, and repeats prescribed, by a prescriber.
        A::ReleaseResults | A::DecidePrescription => role == StaffRole::Clinician,
        // The whole practice books and sees the day; every role triages the inbox
        // (subjects and assignment, not content).
        A::ViewAppointments | A::BookAppointment | A::ViewCalendar | A::TriageMessages => true,
        // Schedules and booking rules are the front desk's.
        A::ManageSchedule => matches!(role, StaffRole::PracticeAdmin | StaffRole::Reception),
        // A patient asks for their own repeats.
        A::RequestPrescription => false,
        // Registration by invitation: the front desk (reception, practice admin) and
        // clinicians, who have verified who the patient is, may invite them.
        A::InvitePatient => matches!(
            role,
            StaffRole::PracticeAdmin | StaffRole::Reception | StaffRole::Clinician
        ),
        // Guardianship is set up by those who check parental responsibility (the
        // practice admin) and those who judge when a young person's care should become
        // confidential (the clinician); either may end it early.
        A::ManageGuardians => matches!(role, StaffRole::PracticeAdmin | StaffRole::Clinician),
        // A patient's access history is theirs (and the privacy officer's), not the
        // practice's: staff must not be able to see who else looked. Whom a patient
        // lets act for them is theirs too.
        A::ManageProxies
        | A::ViewOwnAccount
        | A::ManageOwnSessions
        | A::ChangeOwnPassword
        | A::ManageOwnEmail
        | A::ManageOwnFactors
        | A::ViewPlatformOverview
        | A::ViewAccessHistory
        | A::SearchAudit
        | A::ManageGuard => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::SessionId;

    fn actor(kind: ActorKind) -> Actor {
        Actor {
            account: AccountId::new(),
            session: SessionId::new(),
            kind,
        }
    }

    struct World {
        practice_x: PracticeId,
        practice_y: PracticeId,
        patient_a: PatientId,
        patient_b: PatientId,
    }

    fn world() -> World {
        World {
            practice_x: PracticeId::new(),
            practice_y: PracticeId::new(),
            patient_a: PatientId::new(),
            patient_b: PatientId::new(),
        }
    }

    fn doc_of(patient: PatientId, practice: PracticeId) -> Target {
        Target::Document {
            document: DocumentId::new(),
            patient,
            practice,
        }
    }

    #[test]
    fn a_patient_reads_only_their_own_documents() {
        let w = world();
        let a = actor(ActorKind::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        });
        let own = doc_of(w.patient_a, w.practice_x);
        let foreign = doc_of(w.patient_b, w.practice_x);
        let grant = authorize(&a, Action::ReadDocumentContent, own).unwrap();
        assert_eq!(grant.target().patient(), Some(w.patient_a));
        assert_eq!(
            authorize(&a, Action::ReadDocumentContent, foreign),
            Err(Denied::ForeignPatient)
        );
        assert_eq!(
            authorize(&a, Action::SearchPatients, Target::Practice(w.practice_x)),
            Err(Denied::RoleNotPermitted)
        );
    }

    #[test]
    fn staff_stay_within_their_practice_and_role() {
        let w = world();
        let x_doc = doc_of(w.patient_a, w.practice_x);
        let y_doc = doc_of(w.patient_b, w.practice_y);
        for role in StaffRole::ALL {
            let s = actor(ActorKind::Staff {
                practice: w.practice_x,
                role,
            });
            assert!(authorize(&s, Action::ReadDocumentMeta, x_doc).is_ok());
            assert_eq!(
                authorize(&s, Action::ReadDocumentMeta, y_doc),
                Err(Denied::OtherPractice)
            );
            let content = authorize(&s, Action::ReadDocumentContent, x_doc);
            match role {
                StaffRole::Clinician | StaffRole::Nurse => assert!(content.is_ok()),
                StaffRole::Reception | StaffRole::PracticeAdmin => {
                    assert_eq!(content, Err(Denied::RoleNotPermitted));
                }
            }
        }
    }

    #[test]
    fn operators_never_reach_clinical_content() {
        let w = world();
        for role in OperatorRole::ALL {
            let o = actor(ActorKind::Operator { role });
            for action in Action::ALL {
                for target in [
                    doc_of(w.patient_a, w.practice_x),
                    Target::Patient {
                        patient: w.patient_a,
                        practice: w.practice_x,
                    },
                    Target::Practice(w.practice_x),
                ] {
                    let allowed = authorize(&o, action, target).is_ok();
                    // The one thing an operator may see about a patient is the audit
                    // trail of accesses, and only a privacy officer.
                    let expected = role == OperatorRole::PrivacyOfficer
                        && action == Action::ViewAccessHistory
                        && matches!(target, Target::Patient { .. });
                    assert_eq!(allowed, expected, "{role:?} {action:?} {target:?}");
                }
            }
            assert!(authorize(&o, Action::ViewPlatformOverview, Target::Platform).is_ok());
            assert_eq!(
                authorize(&o, Action::SearchAudit, Target::Platform).is_ok(),
                role == OperatorRole::PrivacyOfficer
            );
        }
    }

    #[test]
    fn access_history_belongs_to_the_patient_not_the_practice() {
        let w = world();
        let own = Target::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        };
        let a = actor(ActorKind::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        });
        let b = actor(ActorKind::Patient {
            patient: w.patient_b,
            practice: w.practice_x,
        });
        assert!(authorize(&a, Action::ViewAccessHistory, own).is_ok());
        assert_eq!(
            authorize(&b, Action::ViewAccessHistory, own),
            Err(Denied::ForeignPatient)
        );
        for role in StaffRole::ALL {
            let s = actor(ActorKind::Staff {
                practice: w.practice_x,
                role,
            });
            assert_eq!(
                authorize(&s, Action::ViewAccessHistory, own),
                Err(Denied::RoleNotPermitted)
            );
        }
    }

    #[test]
    fn mismatched_targets_are_denied() {
        let w = world();
        let clinician = actor(ActorKind::Staff {
            practice: w.practice_x,
            role: StaffRole::Clinician,
        });
        let patient_target = Target::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        };
        assert_eq!(
            authorize(&clinician, Action::ReadDocumentContent, patient_target),
            Err(Denied::TargetMismatch)
        );
        assert_eq!(
            authorize(
                &clinician,
                Action::ViewOwnAccount,
                Target::Account(AccountId::new())
            ),
            Err(Denied::TargetMismatch)
        );
        assert!(
            authorize(
                &clinician,
                Action::ViewOwnAccount,
                Target::Account(clinician.account)
            )
            .is_ok()
        );
    }

    #[test]
    fn invitations_are_issued_by_front_desk_and_clinicians_of_the_patients_practice() {
        let w = world();
        let here = Target::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        };
        let elsewhere = Target::Patient {
            patient: w.patient_b,
            practice: w.practice_y,
        };
        for role in StaffRole::ALL {
            let s = actor(ActorKind::Staff {
                practice: w.practice_x,
                role,
            });
            let allowed = authorize(&s, Action::InvitePatient, here);
            if role == StaffRole::Nurse {
                assert_eq!(allowed, Err(Denied::RoleNotPermitted));
            } else {
                assert!(allowed.is_ok(), "{role:?}");
                assert_eq!(
                    authorize(&s, Action::InvitePatient, elsewhere),
                    Err(Denied::OtherPractice)
                );
            }
        }
        let a = actor(ActorKind::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        });
        assert_eq!(
            authorize(&a, Action::InvitePatient, here),
            Err(Denied::RoleNotPermitted)
        );
        for role in OperatorRole::ALL {
            let o = actor(ActorKind::Operator { role });
            assert!(authorize(&o, Action::InvitePatient, here).is_err());
        }
    }

    #[test]
    fn the_portal_modules_follow_role_and_practice() {
        use StaffRole as R;
        let w = world();
        let here = Target::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        };
        let elsewhere = Target::Patient {
            patient: w.patient_b,
            practice: w.practice_y,
        };
        // (action, roles of the patient's practice allowed, target kind)
        let patient_level: [(Action, &[StaffRole]); 12] = [
            (Action::ReadRecords, &[R::Clinician, R::Nurse]),
            (Action::WriteRecords, &[R::Clinician, R::Nurse]),
            (Action::ReleaseResults, &[R::Clinician]),
            (Action::ViewAppointments, &StaffRole::ALL),
            (Action::BookAppointment, &StaffRole::ALL),
            (Action::ViewPrescriptions, &[R::Clinician, R::Nurse]),
            (Action::RequestPrescription, &[]),
            (Action::DecidePrescription, &[R::Clinician]),
            (Action::ReadMessages, &[R::Clinician, R::Nurse]),
            (Action::SendMessage, &[R::Clinician, R::Nurse]),
            (Action::ViewCalendar, &[]),
            (Action::TriageMessages, &[]),
        ];
        for (action, allowed) in patient_level {
            for role in StaffRole::ALL {
                let s = actor(ActorKind::Staff {
                    practice: w.practice_x,
                    role,
                });
                assert_eq!(
                    authorize(&s, action, here).is_ok(),
                    allowed.contains(&role),
                    "{role:?} {action:?}"
                );
                assert!(
                    authorize(&s, action, elsewhere).is_err(),
                    "{role:?} {action:?}"
                );
            }
        }
        let practice_level: [(Action, &[StaffRole]); 4] = [
            (Action::ViewCalendar, &StaffRole::ALL),
            (Action::ManageSchedule, &[R::PracticeAdmin, R::Reception]),
            (Action::ViewPrescriptionQueue, &[R::Clinician, R::Nurse]),
            (Action::TriageMessages, &StaffRole::ALL),
        ];
        for (action, allowed) in practice_level {
            for role in StaffRole::ALL {
                let s = actor(ActorKind::Staff {
                    practice: w.practice_x,
                    role,
                });
                assert_eq!(
                    authorize(&s, action, Target::Practice(w.practice_x)).is_ok(),
                    allowed.contains(&role),
                    "{role:?} {action:?}"
                );
                assert_eq!(
                    authorize(&s, action, Target::Practice(w.practice_y)).err(),
                    Some(if allowed.contains(&role) {
                        Denied::OtherPractice
                    } else {
                        Denied::RoleNotPermitted
                    })
                );
            }
        }
        // The patient: their own record in every module, nobody else's, and nothing
        // that is the practice's to do.
        let a = actor(ActorKind::Patient {
            patient: w.patient_a,
            practice: w.practice_x,
        });
        for action in [
            Action::ReadRecords,
            Action::ViewAppointments,
            Action::BookAppointment,
            Action::ViewPrescriptions,
            Action::RequestPrescription,
            Action::ReadMessages,
            Action::SendMessage,
        ] {
            assert!(authorize(&a, action, here).is_ok(), "{action:?}");
            let other = Target::Patient {
                patient: w.patient_b,
                practice: w.practice_x,
            };
            assert_eq!(authorize(&a, action, other), Err(Denied::ForeignPatient));
        }
        for action in [
            Action::WriteRecords,
            Action::ReleaseResults,
            Action::DecidePrescription,
        ] {
            assert_eq!(
                authorize(&a, action, here),
                Err(Denied::RoleNotPermitted),
                "{action:?}"
            );
        }
        // A practice system: its own practice's records and appointments, never
        // messages, prescriptions decisions or anyone else's practice.
        let pms = actor(ActorKind::Integration {
            practice: w.practice_x,
        });
        assert!(authorize(&pms, Action::WriteRecords, here).is_ok());
        assert!(authorize(&pms, Action::ReadRecords, here).is_ok());
        assert!(authorize(&pms, Action::BookAppointment, here).is_ok());
        assert_eq!(
            authorize(&pms, Action::WriteRecords, elsewhere),
            Err(Denied::OtherPractice)
        );
        for action in [
            Action::ReadMessages,
            Action::SendMessage,
            Action::ReleaseResults,
            Action::DecidePrescription,
            Action::ViewAccessHistory,
            Action::ManageProxies,
        ] {
            assert_eq!(
                authorize(&pms, action, here),
                Err(Denied::RoleNotPermitted),
                "{action:?}"
            );
        }
    }

    #[test]
    fn everyone_manages_their_own_sessions_only() {
        let w = world();
        for kind in [
            ActorKind::Patient {
                patient: w.patient_a,
                practice: w.practice_x,
            },
            ActorKind::Staff {
                practice: w.practice_x,
                role: StaffRole::Reception,
            },
            ActorKind::Operator {
                role: OperatorRole::PlatformAdmin,
            },
        ] {
            let me = actor(kind);
            let mine = Target::Account(me.account);
            assert!(authorize(&me, Action::ManageOwnSessions, mine).is_ok());
            assert_eq!(
                authorize(
                    &me,
                    Action::ManageOwnSessions,
                    Target::Account(AccountId::new())
                ),
                Err(Denied::TargetMismatch)
            );
            assert_eq!(
                authorize(&me, Action::ManageOwnSessions, Target::Platform),
                Err(Denied::TargetMismatch)
            );
        }
    }
}

/// Proxies and guardians: the same policy, with the grant as a fact.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod proxy_tests {
    use super::*;
    use crate::ids::SessionId;
    use crate::proxy::Scopes;
    use time::Duration;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-05-01 12:00 UTC);

    struct World {
        practice_x: PracticeId,
        practice_y: PracticeId,
        /// The patient whose record is shared.
        aroha: PatientId,
        /// Someone else entirely.
        carla: PatientId,
        /// The proxy: a patient account of their own.
        proxy: Actor,
        proxy_patient: PatientId,
    }

    fn world() -> World {
        let practice_x = PracticeId::new();
        let proxy_patient = PatientId::new();
        World {
            practice_x,
            practice_y: PracticeId::new(),
            aroha: PatientId::new(),
            carla: PatientId::new(),
            proxy: Actor {
                account: AccountId::new(),
                session: SessionId::new(),
                kind: ActorKind::Patient {
                    patient: proxy_patient,
                    practice: practice_x,
                },
            },
            proxy_patient,
        }
    }

    fn grant(w: &World, kind: ProxyKind, scopes: Scopes) -> ProxyAccess {
        ProxyAccess {
            id: ProxyGrantId::new(),
            kind,
            patient: w.aroha,
            grantee: w.proxy.account,
            scopes,
            created_by: AccountId::new(),
            created_at: NOW - Duration::days(1),
            expires_at: NOW + Duration::days(30),
            revoked_at: None,
            revoked_by: None,
        }
    }

    fn documents(access: Access) -> Scopes {
        Scopes::default().with(Scope::Documents, Some(access))
    }

    fn record(w: &World) -> Target {
        Target::Patient {
            patient: w.aroha,
            practice: w.practice_y,
        }
    }

    fn doc(w: &World) -> Target {
        Target::Document {
            document: DocumentId::new(),
            patient: w.aroha,
            practice: w.practice_y,
        }
    }

    fn ask(
        w: &World,
        action: Action,
        target: Target,
        access: ProxyAccess,
    ) -> Result<Grant, Denied> {
        authorize_with(&w.proxy, action, target, &Facts::proxy(access, NOW))
    }

    #[test]
    fn a_live_read_grant_reads_documents_and_nothing_more() {
        let w = world();
        let g = grant(&w, ProxyKind::Proxy, documents(Access::Read));
        for (action, target) in [
            (Action::ViewPatient, record(&w)),
            (Action::ListDocuments, record(&w)),
            (Action::ReadDocumentMeta, doc(&w)),
            (Action::ReadDocumentContent, doc(&w)),
        ] {
            let allowed = ask(&w, action, target, g).unwrap();
            assert_eq!(
                allowed.via(),
                Some(Via {
                    grant: g.id,
                    kind: ProxyKind::Proxy
                })
            );
            assert_eq!(allowed.role_name(), "proxy");
            assert_eq!(allowed.actor().account, w.proxy.account);
        }
        // Read-only: no uploading; and what stays the patient's own.
        for action in [
            Action::UploadDocument,
            Action::ViewAccessHistory,
            Action::ManageProxies,
        ] {
            assert_eq!(ask(&w, action, record(&w), g), Err(Denied::OutOfScope));
        }
        for action in [Action::SearchPatients, Action::ManageGuardians] {
            assert_eq!(
                ask(&w, action, record(&w), g),
                Err(Denied::RoleNotPermitted)
            );
        }
    }

    #[test]
    fn act_allows_a_patient_upload() {
        let w = world();
        let g = grant(&w, ProxyKind::Proxy, documents(Access::Act));
        assert!(ask(&w, Action::UploadDocument, record(&w), g).is_ok());
        assert!(ask(&w, Action::ReadDocumentContent, doc(&w), g).is_ok());
    }

    #[test]
    fn expired_revoked_and_out_of_scope_grants_are_refused() {
        let w = world();
        let live = grant(&w, ProxyKind::Proxy, Scopes::all(Access::Act));
        let expired = ProxyAccess {
            expires_at: NOW,
            ..live
        };
        let revoked = ProxyAccess {
            revoked_at: Some(NOW - Duration::hours(1)),
            revoked_by: Some(w.proxy.account),
            ..live
        };
        let appointments_only = ProxyAccess {
            scopes: Scopes::default().with(Scope::Appointments, Some(Access::Act)),
            ..live
        };
        let nothing = ProxyAccess {
            scopes: Scopes::default(),
            ..live
        };
        for action in Action::ALL {
            for target in [record(&w), doc(&w)] {
                let as_owner = authorize(
                    &Actor {
                        kind: ActorKind::Patient {
                            patient: w.aroha,
                            practice: w.practice_y,
                        },
                        ..w.proxy
                    },
                    action,
                    target,
                );
                if as_owner.is_err() {
                    // Nothing a grant gives goes beyond what the patient could do.
                    assert!(ask(&w, action, target, live).is_err(), "{action:?}");
                }
                for (g, reason) in [
                    (expired, Denied::ProxyExpired),
                    (revoked, Denied::ProxyRevoked),
                ] {
                    let refused = ask(&w, action, target, g);
                    assert!(refused.is_err(), "{action:?} {target:?}");
                    if as_owner.is_ok() {
                        assert_eq!(refused, Err(reason), "{action:?}");
                    }
                }
                assert!(ask(&w, action, target, nothing).is_err(), "{action:?}");
                let scoped = ask(&w, action, target, appointments_only);
                let on_record = matches!(target, Target::Patient { .. });
                if action == Action::ViewPatient && on_record {
                    assert!(scoped.is_ok(), "any live grant shows whose record it is");
                } else if on_record
                    && matches!(action, Action::ViewAppointments | Action::BookAppointment)
                {
                    assert!(scoped.is_ok(), "an appointments grant covers appointments");
                } else {
                    assert!(scoped.is_err(), "{action:?} {target:?}");
                }
            }
        }
        assert_eq!(
            ask(&w, Action::ListDocuments, record(&w), appointments_only),
            Err(Denied::OutOfScope)
        );
    }

    #[test]
    fn a_grant_opens_only_its_own_patient_to_its_own_grantee() {
        let w = world();
        let g = grant(&w, ProxyKind::Proxy, Scopes::all(Access::Act));
        let carla_doc = Target::Document {
            document: DocumentId::new(),
            patient: w.carla,
            practice: w.practice_y,
        };
        assert_eq!(
            ask(&w, Action::ReadDocumentContent, carla_doc, g),
            Err(Denied::ForeignPatient)
        );
        // Someone else holding the same grant gets nothing from it.
        let stranger = Actor {
            account: AccountId::new(),
            ..w.proxy
        };
        assert_eq!(
            authorize_with(
                &stranger,
                Action::ReadDocumentContent,
                doc(&w),
                &Facts::proxy(g, NOW)
            ),
            Err(Denied::ForeignPatient)
        );
        // Without the fact, no access.
        assert_eq!(
            authorize(&w.proxy, Action::ReadDocumentContent, doc(&w)),
            Err(Denied::ForeignPatient)
        );
        // The proxy's own record is theirs, grant or not, and not "via" anyone.
        let own = Target::Patient {
            patient: w.proxy_patient,
            practice: w.practice_x,
        };
        let mine = ask(&w, Action::ListDocuments, own, g).unwrap();
        assert_eq!(mine.via(), None);
        assert_eq!(mine.role_name(), "patient");
    }

    #[test]
    fn staff_and_operators_gain_nothing_from_a_grant() {
        let w = world();
        let mut g = grant(&w, ProxyKind::Guardian, Scopes::all(Access::Act));
        let others = [
            ActorKind::Staff {
                practice: w.practice_x,
                role: StaffRole::Clinician,
            },
            ActorKind::Operator {
                role: OperatorRole::PrivacyOfficer,
            },
        ];
        for kind in others {
            let someone = Actor {
                account: AccountId::new(),
                session: SessionId::new(),
                kind,
            };
            g.grantee = someone.account;
            for action in Action::ALL {
                for target in [record(&w), doc(&w)] {
                    assert_eq!(
                        authorize_with(&someone, action, target, &Facts::proxy(g, NOW)).is_ok(),
                        authorize(&someone, action, target).is_ok(),
                        "{kind:?} {action:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_guardian_is_recorded_as_a_guardian() {
        let w = world();
        let g = grant(&w, ProxyKind::Guardian, Scopes::all(Access::Act));
        let allowed = ask(&w, Action::UploadDocument, record(&w), g).unwrap();
        assert_eq!(allowed.role_name(), "guardian");
        assert_eq!(allowed.via().map(|v| v.kind), Some(ProxyKind::Guardian));
    }

    #[test]
    fn guardians_are_managed_by_practice_admins_and_clinicians_of_the_practice() {
        let w = world();
        let child = Target::Patient {
            patient: w.aroha,
            practice: w.practice_x,
        };
        for role in StaffRole::ALL {
            let here = Actor {
                account: AccountId::new(),
                session: SessionId::new(),
                kind: ActorKind::Staff {
                    practice: w.practice_x,
                    role,
                },
            };
            let there = Actor {
                kind: ActorKind::Staff {
                    practice: w.practice_y,
                    role,
                },
                ..here
            };
            let allowed = authorize(&here, Action::ManageGuardians, child);
            match role {
                StaffRole::PracticeAdmin | StaffRole::Clinician => {
                    assert!(allowed.is_ok());
                    assert_eq!(
                        authorize(&there, Action::ManageGuardians, child),
                        Err(Denied::OtherPractice)
                    );
                }
                StaffRole::Nurse | StaffRole::Reception => {
                    assert_eq!(allowed, Err(Denied::RoleNotPermitted));
                }
            }
            // Whom a patient lets act for them is never the practice's to change.
            assert_eq!(
                authorize(&here, Action::ManageProxies, child),
                Err(Denied::RoleNotPermitted)
            );
        }
        let owner = Actor {
            kind: ActorKind::Patient {
                patient: w.aroha,
                practice: w.practice_x,
            },
            ..w.proxy
        };
        assert!(authorize(&owner, Action::ManageProxies, child).is_ok());
        assert_eq!(
            authorize(&owner, Action::ManageGuardians, child),
            Err(Denied::RoleNotPermitted)
        );
        assert_eq!(
            authorize(&w.proxy, Action::ManageProxies, child),
            Err(Denied::ForeignPatient)
        );
    }
}
