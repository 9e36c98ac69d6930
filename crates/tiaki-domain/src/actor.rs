//! Who is asking. An [`Actor`] is built by the core from a verified session; the web
//! layer only gathers credentials and never decides who someone is.

use crate::ids::{AccountId, PatientId, PracticeId, SessionId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Roles of practice staff. What each may do is decided in [`crate::policy`] alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Clinician,
    Nurse,
    Reception,
    PracticeAdmin,
}

/// Roles of platform operators, who never see clinical content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    PlatformAdmin,
    PrivacyOfficer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActorKind {
    /// An enrolled patient acting for themselves.
    Patient {
        patient: PatientId,
        practice: PracticeId,
    },
    /// A member of one practice's staff.
    Staff {
        practice: PracticeId,
        role: StaffRole,
    },
    /// A platform operator.
    Operator { role: OperatorRole },
    /// A practice management system feeding one practice's records (SMART Backend
    /// Services client credentials).
    Integration { practice: PracticeId },
}

/// An authenticated caller: the account, the session it came through and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub account: AccountId,
    pub session: SessionId,
    pub kind: ActorKind,
}

impl Actor {
    /// The role name used in audit events and the BOLA matrix.
    #[must_use]
    pub fn role_name(&self) -> &'static str {
        match self.kind {
            ActorKind::Patient { .. } => "patient",
            ActorKind::Staff { role, .. } => role.as_str(),
            ActorKind::Operator { role } => role.as_str(),
            ActorKind::Integration { .. } => "integration",
        }
    }

    /// The practice this actor belongs to, if any.
    #[must_use]
    pub fn practice(&self) -> Option<PracticeId> {
        match self.kind {
            ActorKind::Patient { practice, .. }
            | ActorKind::Staff { practice, .. }
            | ActorKind::Integration { practice } => Some(practice),
            ActorKind::Operator { .. } => None,
        }
    }
}

impl StaffRole {
    pub const ALL: [Self; 4] = [
        Self::Clinician,
        Self::Nurse,
        Self::Reception,
        Self::PracticeAdmin,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clinician => "clinician",
            Self::Nurse => "nurse",
            Self::Reception => "reception",
            Self::PracticeAdmin => "practice_admin",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A human label for pages.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Clinician => "Clinician",
            Self::Nurse => "Nurse",
            Self::Reception => "Reception",
            Self::PracticeAdmin => "Practice admin",
        }
    }
}

impl OperatorRole {
    pub const ALL: [Self; 2] = [Self::PlatformAdmin, Self::PrivacyOfficer];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::PrivacyOfficer => "privacy_officer",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
