//! Raw rows as both backends return them, and their checked conversion into the model.
//! The `FromRow` derives are generic over the database, so one set of row types serves
//! SQLite and PostgreSQL alike; anything that fails to parse is `StoreError::Corrupt`.

use crate::codec::{actor_kind, from_nanos, ip_from_bytes, opt_from_nanos, parse_date, to_u64};
use crate::crypto_types::{KekVersion, WrappedDataKey, WrappedPatientKey};
use crate::error::StoreError;
use crate::model::{
    Account, DocumentRecord, DocumentState, Patient, Practice, PracticeCounts, SessionRecord,
};
use tiaki_audit::{AuditEvent, Outcome};
use tiaki_domain::{
    AccessId, AccountId, ContentType, DocumentId, DocumentKind, DocumentMeta, Filename, Nhi,
    PatientId, PracticeId, SessionId, Title,
};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub(crate) struct PracticeRow {
    id: Uuid,
    name: String,
    region: String,
}

impl From<PracticeRow> for Practice {
    fn from(r: PracticeRow) -> Self {
        Self {
            id: PracticeId::from_uuid(r.id),
            name: r.name,
            region: r.region,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CountsRow {
    id: Uuid,
    name: String,
    region: String,
    patients: i64,
    documents: i64,
    staff: i64,
}

impl TryFrom<CountsRow> for PracticeCounts {
    type Error = StoreError;
    fn try_from(r: CountsRow) -> Result<Self, StoreError> {
        Ok(Self {
            practice: Practice {
                id: PracticeId::from_uuid(r.id),
                name: r.name,
                region: r.region,
            },
            patients: to_u64(r.patients, "count")?,
            documents: to_u64(r.documents, "count")?,
            staff: to_u64(r.staff, "count")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PatientRow {
    id: Uuid,
    practice_id: Uuid,
    nhi: String,
    given_name: String,
    family_name: String,
    date_of_birth: String,
    email: Option<String>,
    created_at_ns: i64,
}

impl TryFrom<PatientRow> for Patient {
    type Error = StoreError;
    fn try_from(r: PatientRow) -> Result<Self, StoreError> {
        let id = PatientId::from_uuid(r.id);
        Ok(Self {
            id,
            practice: PracticeId::from_uuid(r.practice_id),
            nhi: Nhi::parse(&r.nhi).map_err(|_| StoreError::corrupt(format!("nhi of {id}")))?,
            given_name: r.given_name,
            family_name: r.family_name,
            date_of_birth: parse_date(&r.date_of_birth)?,
            email: r.email,
            created_at: from_nanos(r.created_at_ns)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PatientKeyRow {
    kek_version: i64,
    wrapped: Vec<u8>,
}

impl TryFrom<PatientKeyRow> for WrappedPatientKey {
    type Error = StoreError;
    fn try_from(r: PatientKeyRow) -> Result<Self, StoreError> {
        let version = u32::try_from(r.kek_version)
            .map_err(|_| StoreError::corrupt("kek version out of range"))?;
        Ok(Self {
            kek_version: KekVersion(version),
            bytes: r.wrapped,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: Uuid,
    username: String,
    display_name: String,
    password_hash: String,
    kind: String,
    patient_id: Option<Uuid>,
    practice_id: Option<Uuid>,
    role: Option<String>,
    disabled: bool,
    created_at_ns: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: AccountId::from_uuid(r.id),
            kind: actor_kind(&r.kind, r.patient_id, r.practice_id, r.role.as_deref())?,
            username: r.username,
            display_name: r.display_name,
            password_hash: r.password_hash,
            disabled: r.disabled,
            created_at: from_nanos(r.created_at_ns)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    account_id: Uuid,
    token_hash: Vec<u8>,
    created_at_ns: i64,
    last_seen_at_ns: i64,
    expires_at_ns: i64,
    revoked_at_ns: Option<i64>,
    address: Option<String>,
    user_agent: Option<String>,
    mfa_verified_at_ns: Option<i64>,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: SessionId::from_uuid(r.id),
            account: AccountId::from_uuid(r.account_id),
            token_hash: r
                .token_hash
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::corrupt("token hash is not 32 bytes"))?,
            created_at: from_nanos(r.created_at_ns)?,
            last_seen_at: from_nanos(r.last_seen_at_ns)?,
            expires_at: from_nanos(r.expires_at_ns)?,
            revoked_at: opt_from_nanos(r.revoked_at_ns)?,
            address: r.address,
            user_agent: r.user_agent,
            mfa_verified_at: opt_from_nanos(r.mfa_verified_at_ns)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DocumentRow {
    id: Uuid,
    patient_id: Uuid,
    practice_id: Uuid,
    kind: String,
    title: String,
    filename: String,
    content_type: String,
    size_bytes: i64,
    created_at_ns: i64,
    uploaded_by: Uuid,
    blob_key: String,
    data_key: Vec<u8>,
    state: String,
}

impl TryFrom<DocumentRow> for DocumentRecord {
    type Error = StoreError;
    fn try_from(r: DocumentRow) -> Result<Self, StoreError> {
        let id = DocumentId::from_uuid(r.id);
        let bad = |what: &str| StoreError::corrupt(format!("{what} of document {id}"));
        let meta = DocumentMeta {
            id,
            patient: PatientId::from_uuid(r.patient_id),
            practice: PracticeId::from_uuid(r.practice_id),
            kind: DocumentKind::parse(&r.kind).ok_or_else(|| bad("kind"))?,
            title: Title::parse(&r.title).map_err(|_| bad("title"))?,
            filename: Filename::sanitize(&r.filename),
            content_type: ContentType::from_mime(&r.content_type)
                .ok_or_else(|| bad("content type"))?,
            size_bytes: to_u64(r.size_bytes, "size")?,
            created_at: from_nanos(r.created_at_ns)?,
            uploaded_by: AccountId::from_uuid(r.uploaded_by),
        };
        Ok(Self {
            meta,
            blob_key: r.blob_key,
            data_key: WrappedDataKey(r.data_key),
            state: DocumentState::parse(&r.state).ok_or_else(|| bad("state"))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    id: Uuid,
    at_ns: i64,
    actor_account: Option<Uuid>,
    actor_role: String,
    actor_practice: Option<Uuid>,
    session_id: Option<Uuid>,
    action: String,
    outcome: String,
    patient_id: Option<Uuid>,
    practice_id: Option<Uuid>,
    document_id: Option<Uuid>,
    address: Option<Vec<u8>>,
    purpose: Option<String>,
    reason: Option<String>,
    bytes: Option<i64>,
}

impl TryFrom<AuditRow> for (u64, AuditEvent) {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        let seq = to_u64(r.seq, "sequence")?;
        let event = AuditEvent {
            id: AccessId::from_uuid(r.id),
            at: from_nanos(r.at_ns)?,
            actor_account: r.actor_account.map(AccountId::from_uuid),
            actor_role: r.actor_role,
            actor_practice: r.actor_practice.map(PracticeId::from_uuid),
            session: r.session_id.map(SessionId::from_uuid),
            action: r.action,
            outcome: Outcome::parse(&r.outcome)
                .ok_or_else(|| StoreError::corrupt(format!("outcome of event {seq}")))?,
            patient: r.patient_id.map(PatientId::from_uuid),
            practice: r.practice_id.map(PracticeId::from_uuid),
            document: r.document_id.map(DocumentId::from_uuid),
            address: r.address.as_deref().map(ip_from_bytes).transpose()?,
            purpose: r.purpose,
            reason: r.reason,
            bytes: r.bytes.map(|b| to_u64(b, "bytes")).transpose()?,
        };
        Ok((seq, event))
    }
}

/// Converts every row, failing on the first that does not parse.
pub(crate) fn convert_all<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}
