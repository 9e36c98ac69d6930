//! The one policy. Every access decision in Tiaki — web page, JSON API, CLI — is made
//! here, by [`authorize`], a pure function of (actor, action, target). Deny by default:
//! only the combinations spelled out below are allowed.
//!
//! A [`Grant`] can only be made by `authorize` (its fields are private and it has no
//! public constructor), and the audit log only issues a receipt for a grant, and the
//! vault only decrypts with a receipt. So "no plaintext without a decision and a
//! receipt" is a property of the types, not of handler discipline.

use crate::actor::{Actor, ActorKind, OperatorRole, StaffRole};
use crate::ids::{AccountId, DocumentId, PatientId, PracticeId};
use serde::Serialize;

/// Everything an actor can ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// See one's own account (`/me`).
    ViewOwnAccount,
    /// See and revoke one's own sessions.
    ManageOwnSessions,
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
}

impl Action {
    pub const ALL: [Self; 11] = [
        Self::ViewOwnAccount,
        Self::ManageOwnSessions,
        Self::SearchPatients,
        Self::ViewPatient,
        Self::ListDocuments,
        Self::UploadDocument,
        Self::ReadDocumentMeta,
        Self::ReadDocumentContent,
        Self::ViewPlatformOverview,
        Self::ViewAccessHistory,
        Self::SearchAudit,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ViewOwnAccount => "account.view",
            Self::ManageOwnSessions => "account.sessions",
            Self::SearchPatients => "patient.search",
            Self::ViewPatient => "patient.view",
            Self::ListDocuments => "document.list",
            Self::UploadDocument => "document.upload",
            Self::ReadDocumentMeta => "document.meta",
            Self::ReadDocumentContent => "document.read",
            Self::ViewPlatformOverview => "platform.view",
            Self::ViewAccessHistory => "audit.history",
            Self::SearchAudit => "audit.search",
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
}

impl Denied {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ForeignPatient => "foreign_patient",
            Self::OtherPractice => "other_practice",
            Self::RoleNotPermitted => "role_not_permitted",
            Self::TargetMismatch => "target_mismatch",
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
///     Grant { actor, action: Action::ReadDocumentContent, target }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    actor: Actor,
    action: Action,
    target: Target,
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
}

/// The one access decision. Pure; deny by default.
pub fn authorize(actor: &Actor, action: Action, target: Target) -> Result<Grant, Denied> {
    decide(actor, action, &target)?;
    Ok(Grant {
        actor: *actor,
        action,
        target,
    })
}

fn decide(actor: &Actor, action: Action, target: &Target) -> Result<(), Denied> {
    use Action as A;
    match (actor.kind, action, *target) {
        // Every account, whatever its role, manages itself and nothing else.
        (_, A::ViewOwnAccount | A::ManageOwnSessions, Target::Account(account)) => {
            if account == actor.account {
                Ok(())
            } else {
                Err(Denied::TargetMismatch)
            }
        }
        (_, A::ViewOwnAccount | A::ManageOwnSessions, _) => Err(Denied::TargetMismatch),

        // Patients: their own record, everything in the documents module.
        (ActorKind::Patient { patient, .. }, action, target) => match action {
            A::ViewPatient
            | A::ListDocuments
            | A::UploadDocument
            | A::ReadDocumentMeta
            | A::ReadDocumentContent
            | A::ViewAccessHistory => own_record(patient, action, &target),
            A::SearchPatients
            | A::ViewPlatformOverview
            | A::ViewOwnAccount
            | A::ManageOwnSessions
            | A::SearchAudit => Err(Denied::RoleNotPermitted),
        },

        // Staff: patients enrolled at their own practice, by role.
        (ActorKind::Staff { practice, role }, action, target) => {
            if !staff_role_may(role, action) {
                return Err(Denied::RoleNotPermitted);
            }
            match (action, target) {
                (A::SearchPatients, Target::Practice(p))
                | (
                    A::ViewPatient | A::ListDocuments | A::UploadDocument,
                    Target::Patient { practice: p, .. },
                )
                | (
                    A::ReadDocumentMeta | A::ReadDocumentContent,
                    Target::Document { practice: p, .. },
                ) => {
                    if p == practice {
                        Ok(())
                    } else {
                        Err(Denied::OtherPractice)
                    }
                }
                _ => Err(Denied::TargetMismatch),
            }
        }

        // Operators: the platform's shape, never a patient's record.
        (ActorKind::Operator { role }, A::ViewPlatformOverview, Target::Platform) => match role {
            OperatorRole::PlatformAdmin | OperatorRole::PrivacyOfficer => Ok(()),
        },
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

fn own_record(me: PatientId, action: Action, target: &Target) -> Result<(), Denied> {
    let whose = match (action, *target) {
        (
            Action::ViewPatient
            | Action::ListDocuments
            | Action::UploadDocument
            | Action::ViewAccessHistory,
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
        A::SearchPatients | A::ViewPatient | A::ListDocuments | A::ReadDocumentMeta => true,
        A::ReadDocumentContent | A::UploadDocument => {
            matches!(role, StaffRole::Clinician | StaffRole::Nurse)
        }
        // A patient's access history is theirs (and the privacy officer's), not the
        // practice's: staff must not be able to see who else looked.
        A::ViewOwnAccount
        | A::ManageOwnSessions
        | A::ViewPlatformOverview
        | A::ViewAccessHistory
        | A::SearchAudit => false,
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
