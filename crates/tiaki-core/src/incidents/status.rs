//! One truth per patient: what the security status page, the API and the notice say,
//! built by one function from an incident's published scope and nothing else. The web
//! page renders [`SecurityStatus`], the API serialises it, and the notice's lines are
//! [`AccessLine::sentence`] of the same lines, so none of them can say something the
//! others do not.

use serde::Serialize;
use tiaki_domain::{AccessId, DocumentId, DocumentKind, PatientId};
use tiaki_store::{Incident, IncidentAccess};
use time::OffsetDateTime;
use time::macros::format_description;

/// A patient's security status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityStatus {
    pub patient: PatientId,
    /// Whether any published incident reached this patient's record.
    pub affected: bool,
    pub incidents: Vec<IncidentStatus>,
}

/// One incident, as it concerns one patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentStatus {
    pub number: u64,
    pub title: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// Every access of the patient's record the incident's scope found, in the order
    /// they happened.
    pub accesses: Vec<AccessLine>,
}

/// What was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reached {
    /// A document was opened or downloaded.
    DocumentContent,
    /// A document's type, title and date were seen.
    DocumentDetails,
    /// The list of the patient's documents (types, titles and dates) was seen.
    DocumentList,
    /// The patient's name, NHI number and date of birth were seen.
    Profile,
    /// Anything else the scope's module covers.
    Other,
}

impl Reached {
    fn of(action: &str) -> Self {
        match action {
            "document.read" => Self::DocumentContent,
            "document.meta" => Self::DocumentDetails,
            "document.list" => Self::DocumentList,
            "patient.view" => Self::Profile,
            _ => Self::Other,
        }
    }
}

/// One access, as every channel tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessLine {
    /// A short reference to the audit event, the same on the page, in the API and in
    /// the notice (and what the practice quotes when a patient calls).
    pub reference: String,
    pub access_id: AccessId,
    pub reached: Reached,
    #[serde(with = "time::serde::rfc3339")]
    pub accessed_at: OffsetDateTime,
    pub document: Option<DocumentId>,
    /// The document's type in words ("Lab report").
    pub document_type: Option<String>,
    /// The document's title: shown on the signed-in page and in the API, never in an
    /// email.
    pub document_title: Option<String>,
    /// The day the document was added (YYYY-MM-DD).
    pub document_date: Option<String>,
    pub bytes: Option<u64>,
}

const DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");
const MOMENT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// A moment as every channel writes it.
#[must_use]
pub fn moment(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(MOMENT)
        .unwrap_or_default()
}

/// The short reference of an audit event: the last ten hex digits of its id (the
/// random part of a UUIDv7), upper case.
#[must_use]
pub fn reference(id: AccessId) -> String {
    let hex = id.as_uuid().simple().to_string().to_uppercase();
    hex.get(hex.len().saturating_sub(10)..)
        .unwrap_or_default()
        .to_owned()
}

impl AccessLine {
    #[must_use]
    pub fn from_access(a: &IncidentAccess) -> Self {
        Self {
            reference: reference(a.access_id),
            access_id: a.access_id,
            reached: Reached::of(&a.action),
            accessed_at: a.at,
            document: a.document,
            document_type: a.document_kind.as_deref().map(|k| {
                DocumentKind::parse(k).map_or_else(|| k.to_owned(), |d| d.label().to_owned())
            }),
            document_title: a.document_title.clone(),
            document_date: a.document_at.and_then(|d| d.format(DAY).ok()),
            bytes: a.bytes,
        }
    }

    /// What was reached, in a sentence without the document's title: the same words
    /// on the page, in the API (`describe`) and in the notice.
    #[must_use]
    pub fn sentence(&self) -> String {
        let document = match (&self.document_type, &self.document_date) {
            (Some(kind), Some(date)) => format!("{kind} added on {date}"),
            (Some(kind), None) => kind.clone(),
            _ => "a document".to_owned(),
        };
        let what = match self.reached {
            Reached::DocumentContent => format!("Your {document} was opened"),
            Reached::DocumentDetails => {
                format!("The details (type, title and date) of your {document} were seen")
            }
            Reached::DocumentList => {
                "The list of your documents (their types, titles and dates) was seen".to_owned()
            }
            Reached::Profile => "Your name, NHI number and date of birth were seen".to_owned(),
            Reached::Other => "Part of your record was seen".to_owned(),
        };
        format!(
            "{what} on {} (reference {}).",
            moment(self.accessed_at),
            self.reference
        )
    }
}

/// Builds a patient's status from the published scopes that reached them.
#[must_use]
pub fn status_of(patient: PatientId, found: &[(Incident, Vec<IncidentAccess>)]) -> SecurityStatus {
    let incidents: Vec<IncidentStatus> = found
        .iter()
        .map(|(incident, accesses)| section(incident, accesses))
        .collect();
    SecurityStatus {
        patient,
        affected: !incidents.is_empty(),
        incidents,
    }
}

/// One incident's part of a status (and of its notice).
#[must_use]
pub fn section(incident: &Incident, accesses: &[IncidentAccess]) -> IncidentStatus {
    let mut lines: Vec<AccessLine> = accesses.iter().map(AccessLine::from_access).collect();
    lines.sort_by_key(|l| (l.accessed_at, l.reference.clone()));
    IncidentStatus {
        number: incident.number,
        title: incident.title.clone(),
        published_at: incident.published_at,
        accesses: lines,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tiaki_domain::PracticeId;

    fn access(action: &str, kind: Option<&str>) -> IncidentAccess {
        IncidentAccess {
            leaf_index: 7,
            access_id: AccessId::new(),
            at: time::macros::datetime!(2026-11-20 14:03:12 UTC),
            action: action.to_owned(),
            actor_account: None,
            actor_role: "clinician".to_owned(),
            session: None,
            address: None,
            patient: PatientId::new(),
            practice: PracticeId::new(),
            document: kind.map(|_| DocumentId::new()),
            document_kind: kind.map(str::to_owned),
            document_title: kind.map(|_| "Referral to oncology".to_owned()),
            document_at: Some(time::macros::datetime!(2024-03-01 09:00 UTC)),
            bytes: Some(1234),
        }
    }

    #[test]
    fn sentences_name_the_type_and_date_but_never_the_title() {
        let line = AccessLine::from_access(&access("document.read", Some("lab_report")));
        let s = line.sentence();
        assert!(
            s.starts_with(
                "Your Lab report added on 2024-03-01 was opened on 2026-11-20 14:03:12 UTC"
            ),
            "{s}"
        );
        assert!(s.contains(&line.reference));
        assert!(
            !s.contains("oncology"),
            "titles stay on the signed-in page: {s}"
        );
        let list = AccessLine::from_access(&access("document.list", None)).sentence();
        assert!(list.starts_with("The list of your documents"), "{list}");
    }

    #[test]
    fn references_are_ten_hex_digits_of_the_event_id() {
        let id = AccessId::new();
        let r = reference(id);
        assert_eq!(r.len(), 10);
        assert!(
            id.as_uuid()
                .simple()
                .to_string()
                .to_uppercase()
                .ends_with(&r)
        );
    }

    #[test]
    fn a_patient_no_scope_reached_is_not_affected() {
        let status = status_of(PatientId::new(), &[]);
        assert!(!status.affected);
        assert!(status.incidents.is_empty());
    }
}
