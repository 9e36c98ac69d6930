//! How values become columns and back, the same for both backends.
//!
//! - Timestamps: `i64` nanoseconds since the Unix epoch, UTC. Lossless for
//!   `OffsetDateTime`, so an audit event reads back exactly as it was hashed.
//! - Dates: `YYYY-MM-DD` text on the wire (PostgreSQL casts it to `date`).
//! - Quantities (`u64`): `i64`, range-checked.
//! - Addresses in audit events: 16 bytes (IPv6, IPv4 as IPv4-mapped), so an address
//!   range is a byte range on either backend.
//! - Actor kinds: a kind column plus patient, practice and role columns.

use crate::error::StoreError;
use std::net::{IpAddr, Ipv6Addr};
use tiaki_audit::AuditEvent;
use tiaki_domain::{ActorKind, OperatorRole, PatientId, PracticeId, StaffRole};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

const DATE_FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| StoreError::Conflict("timestamp outside 1677-2262".into()))
}

pub(crate) fn from_nanos(ns: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .map_err(|_| StoreError::corrupt("timestamp out of range"))
}

pub(crate) fn opt_from_nanos(ns: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    ns.map(from_nanos).transpose()
}

pub(crate) fn date_text(d: Date) -> Result<String, StoreError> {
    d.format(DATE_FORMAT)
        .map_err(|_| StoreError::Conflict("date cannot be formatted".into()))
}

pub(crate) fn parse_date(s: &str) -> Result<Date, StoreError> {
    Date::parse(s, DATE_FORMAT).map_err(|_| StoreError::corrupt("date of birth"))
}

pub(crate) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Conflict("quantity too large".into()))
}

pub(crate) fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::corrupt(format!("negative {what}")))
}

pub(crate) fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    v6.octets().to_vec()
}

pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, StoreError> {
    let octets: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::corrupt("address is not 16 bytes"))?;
    let v6 = Ipv6Addr::from(octets);
    Ok(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
}

/// An actor kind spread over the account columns `kind`, `patient_id`, `practice_id`
/// and `role`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindColumns {
    pub kind: &'static str,
    pub patient: Option<Uuid>,
    pub practice: Option<Uuid>,
    pub role: Option<&'static str>,
}

impl From<&ActorKind> for KindColumns {
    fn from(kind: &ActorKind) -> Self {
        match *kind {
            ActorKind::Patient { patient, practice } => Self {
                kind: "patient",
                patient: Some(*patient.as_uuid()),
                practice: Some(*practice.as_uuid()),
                role: None,
            },
            ActorKind::Staff { practice, role } => Self {
                kind: "staff",
                patient: None,
                practice: Some(*practice.as_uuid()),
                role: Some(role.as_str()),
            },
            ActorKind::Operator { role } => Self {
                kind: "operator",
                patient: None,
                practice: None,
                role: Some(role.as_str()),
            },
            // Practice systems are registered clients, not accounts: the accounts
            // table's check refuses this shape.
            ActorKind::Integration { practice } => Self {
                kind: "integration",
                patient: None,
                practice: Some(*practice.as_uuid()),
                role: None,
            },
        }
    }
}

pub(crate) fn actor_kind(
    kind: &str,
    patient: Option<Uuid>,
    practice: Option<Uuid>,
    role: Option<&str>,
) -> Result<ActorKind, StoreError> {
    let bad = || StoreError::corrupt(format!("account kind {kind}"));
    match (kind, patient, practice, role) {
        ("patient", Some(patient), Some(practice), None) => Ok(ActorKind::Patient {
            patient: PatientId::from_uuid(patient),
            practice: PracticeId::from_uuid(practice),
        }),
        ("staff", None, Some(practice), Some(role)) => Ok(ActorKind::Staff {
            practice: PracticeId::from_uuid(practice),
            role: StaffRole::parse(role).ok_or_else(bad)?,
        }),
        ("operator", None, None, Some(role)) => Ok(ActorKind::Operator {
            role: OperatorRole::parse(role).ok_or_else(bad)?,
        }),
        _ => Err(bad()),
    }
}

/// An audit event as bind-ready column values.
#[derive(Debug)]
pub(crate) struct EventColumns<'a> {
    pub id: Uuid,
    pub at_ns: i64,
    pub actor_account: Option<Uuid>,
    pub actor_role: &'a str,
    pub actor_practice: Option<Uuid>,
    pub session: Option<Uuid>,
    pub action: &'a str,
    pub outcome: &'static str,
    pub patient: Option<Uuid>,
    pub practice: Option<Uuid>,
    pub document: Option<Uuid>,
    pub address: Option<Vec<u8>>,
    pub purpose: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub bytes: Option<i64>,
}

impl<'a> EventColumns<'a> {
    pub(crate) fn encode(e: &'a AuditEvent) -> Result<Self, StoreError> {
        Ok(Self {
            id: *e.id.as_uuid(),
            at_ns: nanos(e.at)?,
            actor_account: e.actor_account.map(|a| *a.as_uuid()),
            actor_role: &e.actor_role,
            actor_practice: e.actor_practice.map(|p| *p.as_uuid()),
            session: e.session.map(|s| *s.as_uuid()),
            action: &e.action,
            outcome: e.outcome.as_str(),
            patient: e.patient.map(|p| *p.as_uuid()),
            practice: e.practice.map(|p| *p.as_uuid()),
            document: e.document.map(|d| *d.as_uuid()),
            address: e.address.map(ip_bytes),
            purpose: e.purpose.as_deref(),
            reason: e.reason.as_deref(),
            bytes: e.bytes.map(to_i64).transpose()?,
        })
    }
}

/// The largest number of rows a listing returns, whatever the caller asks for.
pub(crate) const MAX_LIMIT: u32 = 1_000;

pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n.min(MAX_LIMIT))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_nanosecond() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_456_789).unwrap();
        assert_eq!(from_nanos(nanos(t).unwrap()).unwrap(), t);
    }

    #[test]
    fn addresses_round_trip() {
        for ip in ["203.0.113.9", "2001:db8::1", "::1", "0.0.0.0"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_from_bytes(&ip_bytes(ip)).unwrap(), ip);
        }
    }

    #[test]
    fn kinds_round_trip() {
        let kinds = [
            ActorKind::Patient {
                patient: PatientId::new(),
                practice: PracticeId::new(),
            },
            ActorKind::Staff {
                practice: PracticeId::new(),
                role: StaffRole::Nurse,
            },
            ActorKind::Operator {
                role: OperatorRole::PrivacyOfficer,
            },
        ];
        for kind in kinds {
            let c = KindColumns::from(&kind);
            assert_eq!(
                actor_kind(c.kind, c.patient, c.practice, c.role).unwrap(),
                kind
            );
        }
        assert!(actor_kind("staff", None, None, Some("nurse")).is_err());
    }
}
