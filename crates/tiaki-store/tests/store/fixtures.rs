//! Builders for the rows the stories store. Every NHI is a valid test-range (`Z…`)
//! number; every timestamp carries nanoseconds, so a round trip that loses precision
//! fails.

use std::net::IpAddr;
use tiaki_audit::{AuditEvent, Outcome};
use tiaki_domain::{
    AccessId, AccountId, ActorKind, ContentType, DocumentId, DocumentKind, DocumentMeta, Filename,
    Nhi, OperatorRole, PatientId, PracticeId, SessionId, StaffRole, Title,
};
use tiaki_store::{
    Account, DocumentRecord, KekVersion, Patient, Practice, SessionRecord, WrappedDataKey,
    WrappedPatientKey,
};
use time::{Duration, OffsetDateTime, macros::date};

/// A fixed instant with a nanosecond part, plus `offset_s` seconds.
pub fn at(offset_s: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_456_789).unwrap()
        + Duration::seconds(offset_s)
}

pub fn practice(name: &str) -> Practice {
    Practice {
        id: PracticeId::new(),
        name: name.into(),
        region: "Waikato".into(),
    }
}

pub fn nhi(n: u32) -> Nhi {
    (n..n + 50)
        .find_map(|m| Nhi::synthesize(*b"ZTK", m))
        .unwrap()
}

pub fn patient(practice: PracticeId, n: u32, given: &str, family: &str) -> Patient {
    Patient {
        id: PatientId::new(),
        practice,
        nhi: nhi(n),
        given_name: given.into(),
        family_name: family.into(),
        date_of_birth: date!(1987 - 03 - 14),
        email: Some(format!("{}@example.nz", given.to_lowercase())),
        created_at: at(0),
    }
}

pub fn key(version: u32) -> WrappedPatientKey {
    WrappedPatientKey {
        kek_version: KekVersion(version),
        bytes: vec![7; 60],
    }
}

fn account(username: &str, kind: ActorKind) -> Account {
    Account {
        id: AccountId::new(),
        username: username.into(),
        display_name: format!("Display {username}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        kind,
        disabled: false,
        created_at: at(1),
    }
}

pub fn staff(practice: PracticeId, username: &str) -> Account {
    account(
        username,
        ActorKind::Staff {
            practice,
            role: StaffRole::Clinician,
        },
    )
}

pub fn patient_account(p: &Patient, username: &str) -> Account {
    account(
        username,
        ActorKind::Patient {
            patient: p.id,
            practice: p.practice,
        },
    )
}

pub fn operator(username: &str) -> Account {
    account(
        username,
        ActorKind::Operator {
            role: OperatorRole::PrivacyOfficer,
        },
    )
}

pub fn session(account: AccountId, hash_byte: u8) -> SessionRecord {
    SessionRecord {
        id: SessionId::new(),
        account,
        token_hash: [hash_byte; 32],
        created_at: at(10),
        last_seen_at: at(10),
        expires_at: at(10 + 3600),
        revoked_at: None,
        address: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        mfa_verified_at: Some(at(11)),
    }
}

pub fn document(p: &Patient, created_offset_s: i64, uploaded_by: AccountId) -> DocumentRecord {
    let id = DocumentId::new();
    DocumentRecord {
        meta: DocumentMeta {
            id,
            patient: p.id,
            practice: p.practice,
            kind: DocumentKind::LabReport,
            title: Title::parse("Full blood count").unwrap(),
            filename: Filename::sanitize("fbc result.pdf"),
            content_type: ContentType::Pdf,
            size_bytes: 123_456,
            created_at: at(created_offset_s),
            uploaded_by,
        },
        blob_key: format!("documents/{id}"),
        data_key: WrappedDataKey(vec![9; 44]),
        state: tiaki_store::DocumentState::Online,
    }
}

/// An event about `patient` (and `document`), with every optional field set.
pub fn event(patient: Option<&Patient>, document: Option<DocumentId>) -> AuditEvent {
    AuditEvent {
        id: AccessId::new(),
        at: at(20),
        actor_account: Some(AccountId::new()),
        actor_role: "clinician".into(),
        actor_practice: patient.map(|p| p.practice),
        session: Some(SessionId::new()),
        action: "read_document_content".into(),
        outcome: Outcome::Allowed,
        patient: patient.map(|p| p.id),
        practice: patient.map(|p| p.practice),
        document,
        address: Some("198.51.100.4".parse::<IpAddr>().unwrap()),
        purpose: Some("clinical care".into()),
        reason: None,
        bytes: Some(4096),
    }
}

/// The same event with the fields a bare event leaves empty.
pub fn bare_event(patient: &Patient) -> AuditEvent {
    AuditEvent {
        actor_account: None,
        actor_role: "anonymous".into(),
        actor_practice: None,
        session: None,
        outcome: Outcome::NotFound,
        document: None,
        address: Some("2001:db8::42".parse::<IpAddr>().unwrap()),
        purpose: None,
        reason: Some("no_such_document".into()),
        bytes: None,
        ..event(Some(patient), None)
    }
}
