//! Proxy and guardian access: one account acting for a patient, within the scopes a
//! grant names, until it expires or is revoked.
//!
//! A patient grants a proxy (a carer, an adult child) some of [`Scope`]s, each to read
//! or to act, with an expiry. A practice sets up a guardian for a child; the guardian's
//! access ends by itself at the age the practice's configuration names. Either way the
//! grant is a [`ProxyAccess`], a fact the core loads and hands to the one policy
//! ([`crate::policy::authorize_with`]), which alone decides what it allows.

use crate::ids::{AccountId, PatientId, ProxyGrantId};
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The parts of a patient's record a grant can cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Documents,
    Records,
    Appointments,
    Prescriptions,
    Messages,
}

impl Scope {
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
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// A human label for pages.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Documents => "Health documents",
            Self::Records => "Health records",
            Self::Appointments => "Appointments",
            Self::Prescriptions => "Repeat prescriptions",
            Self::Messages => "Messages",
        }
    }
}

/// How far a grant reaches within one scope. `Act` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// See what is there.
    Read,
    /// See it and do what the patient could do there (upload, book, request, send).
    Act,
}

impl Access {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Act => "act",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "act" => Some(Self::Act),
            _ => None,
        }
    }

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Read => "can see",
            Self::Act => "can see and act",
        }
    }
}

/// What a grant covers: for each scope, nothing, read, or read and act.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scopes {
    pub documents: Option<Access>,
    pub records: Option<Access>,
    pub appointments: Option<Access>,
    pub prescriptions: Option<Access>,
    pub messages: Option<Access>,
}

impl Scopes {
    /// Every scope at the same access (a guardian's).
    #[must_use]
    pub fn all(access: Access) -> Self {
        Scope::ALL
            .into_iter()
            .fold(Self::default(), |s, scope| s.with(scope, Some(access)))
    }

    #[must_use]
    pub fn get(&self, scope: Scope) -> Option<Access> {
        match scope {
            Scope::Documents => self.documents,
            Scope::Records => self.records,
            Scope::Appointments => self.appointments,
            Scope::Prescriptions => self.prescriptions,
            Scope::Messages => self.messages,
        }
    }

    #[must_use]
    pub fn with(mut self, scope: Scope, access: Option<Access>) -> Self {
        let slot = match scope {
            Scope::Documents => &mut self.documents,
            Scope::Records => &mut self.records,
            Scope::Appointments => &mut self.appointments,
            Scope::Prescriptions => &mut self.prescriptions,
            Scope::Messages => &mut self.messages,
        };
        *slot = access;
        self
    }

    /// Whether `access` (or more) is granted in `scope`.
    #[must_use]
    pub fn allows(&self, scope: Scope, access: Access) -> bool {
        self.get(scope).is_some_and(|granted| granted >= access)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        Scope::ALL
            .into_iter()
            .all(|scope| self.get(scope).is_none())
    }

    /// The granted scopes, in [`Scope::ALL`] order.
    #[must_use]
    pub fn granted(&self) -> Vec<(Scope, Access)> {
        Scope::ALL
            .into_iter()
            .filter_map(|scope| self.get(scope).map(|access| (scope, access)))
            .collect()
    }
}

/// Who set a grant up, and so how it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyKind {
    /// Granted by the patient; the patient chooses its expiry and can revoke it.
    Proxy,
    /// Set up by the practice for a child; ends at the configured age, or when the
    /// practice ends it.
    Guardian,
}

impl ProxyKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Guardian => "guardian",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "proxy" => Some(Self::Proxy),
            "guardian" => Some(Self::Guardian),
            _ => None,
        }
    }

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Proxy => "Proxy",
            Self::Guardian => "Guardian",
        }
    }
}

/// One grant: `grantee` may act for `patient` within `scopes` until `expires_at`,
/// unless revoked. Stored as is; whether it allows anything at a given moment is the
/// policy's question, never the holder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyAccess {
    pub id: ProxyGrantId,
    pub kind: ProxyKind,
    pub patient: PatientId,
    pub grantee: AccountId,
    pub scopes: Scopes,
    /// The patient (proxy) or the staff member (guardian) who set it up.
    pub created_by: AccountId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<AccountId>,
}

impl ProxyAccess {
    /// Neither revoked nor expired at `now`.
    #[must_use]
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// The instant someone born on `born` turns `age`: midnight UTC of that birthday (a
/// 29 February birthday falls on 1 March in other years). `None` past the calendar.
#[must_use]
pub fn birthday_at(born: Date, age: u8) -> Option<OffsetDateTime> {
    let year = born.year().checked_add(i32::from(age))?;
    let day = Date::from_calendar_date(year, born.month(), born.day())
        .or_else(|_| Date::from_calendar_date(year, Month::March, 1))
        .ok()?;
    Some(PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_utc())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn act_includes_read_and_nothing_includes_anything() {
        let s = Scopes::default()
            .with(Scope::Documents, Some(Access::Act))
            .with(Scope::Appointments, Some(Access::Read));
        assert!(s.allows(Scope::Documents, Access::Read));
        assert!(s.allows(Scope::Documents, Access::Act));
        assert!(s.allows(Scope::Appointments, Access::Read));
        assert!(!s.allows(Scope::Appointments, Access::Act));
        assert!(!s.allows(Scope::Messages, Access::Read));
        assert!(Scopes::default().is_empty());
        assert_eq!(Scopes::all(Access::Act).granted().len(), 5);
    }

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        for access in [Access::Read, Access::Act] {
            assert_eq!(Access::parse(access.as_str()), Some(access));
        }
        for kind in [ProxyKind::Proxy, ProxyKind::Guardian] {
            assert_eq!(ProxyKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Scope::parse("everything"), None);
    }

    #[test]
    fn a_birthday_at_an_age_is_midnight_utc() {
        assert_eq!(
            birthday_at(date!(2015 - 06 - 30), 14),
            Some(datetime!(2029-06-30 0:00 UTC))
        );
        assert_eq!(
            birthday_at(date!(2012 - 02 - 29), 14),
            Some(datetime!(2026-03-01 0:00 UTC))
        );
    }
}
