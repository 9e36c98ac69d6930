//! Storage for breach response: incidents, versioned scopes frozen from the audit log,
//! and the notices sent from the published scope. The scope is computed inside the
//! database (one `INSERT … SELECT` over the audit log joined to the documents), so an
//! incident touching a hundred thousand patients is scoped in one statement, not a
//! hundred thousand round trips.

use crate::error::StoreError;
use std::net::IpAddr;
use tiaki_domain::{AccessId, AccountId, DocumentId, PatientId, PracticeId, SessionId};
use time::OffsetDateTime;
use uuid::Uuid;

/// An incident as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub number: u64,
    pub title: String,
    pub opened_at: OffsetDateTime,
    pub opened_by: String,
    /// The scope version patients are told about, once published.
    pub published_version: Option<u64>,
    pub published_at: Option<OffsetDateTime>,
}

/// What a scope looks for in the audit log. An event is in scope when it is an
/// allowed read (`actions`) of a patient's record, was committed within the signed tree
/// of `tree_size` leaves, falls in `[from, to)` where given, and matches at least one of
/// the identity criteria (an actor, a session or token, an address range).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeQuery {
    pub actors: Vec<AccountId>,
    pub sessions: Vec<SessionId>,
    /// Inclusive ranges of 16-byte (IPv6 or IPv4-mapped) addresses.
    pub address_ranges: Vec<([u8; 16], [u8; 16])>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub actions: Vec<String>,
    pub tree_size: u64,
}

/// One computed scope of an incident, with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentScope {
    pub incident: u64,
    pub version: u64,
    /// The criteria as given (JSON), kept with the result they produced.
    pub criteria: String,
    pub computed_at: OffsetDateTime,
    pub tree_size: u64,
    /// The signed checkpoint note the accesses are proved against.
    pub checkpoint: String,
    pub accesses: u64,
    pub patients: u64,
    pub documents: u64,
    pub bytes: u64,
}

/// One access a scope found: an audit event, frozen with what it reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentAccess {
    pub leaf_index: u64,
    pub access_id: AccessId,
    pub at: OffsetDateTime,
    pub action: String,
    pub actor_account: Option<AccountId>,
    pub actor_role: String,
    pub session: Option<SessionId>,
    pub address: Option<IpAddr>,
    pub patient: PatientId,
    pub practice: PracticeId,
    pub document: Option<DocumentId>,
    pub document_kind: Option<String>,
    pub document_title: Option<String>,
    pub document_at: Option<OffsetDateTime>,
    pub bytes: Option<u64>,
}

/// Where a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeState {
    Queued,
    /// Claimed by a sending run; if that run died, the next one delivers it again
    /// under the same key (which the outbox and receiving mail systems de-duplicate).
    Sending,
    Sent,
    /// The patient has no address: the practice reaches them another way.
    NoAddress,
    Failed,
}

impl NoticeState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::NoAddress => "no_address",
            Self::Failed => "failed",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Sending,
            Self::Sent,
            Self::NoAddress,
            Self::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A notice ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDraft {
    pub patient: PatientId,
    pub practice: PracticeId,
    pub recipient: Option<String>,
    pub subject: String,
    pub body: String,
}

/// A queued or sent notice.
#[derive(Clone, PartialEq, Eq)]
pub struct Notice {
    pub incident: u64,
    pub version: u64,
    pub patient: PatientId,
    pub practice: PracticeId,
    pub recipient: Option<String>,
    pub subject: String,
    pub body: String,
    pub state: NoticeState,
    pub attempts: u32,
    pub queued_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for Notice {
    // Addresses and bodies stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice")
            .field("incident", &self.incident)
            .field("patient", &self.patient)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// How many notices of an incident are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeCounts {
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub no_address: u64,
    pub failed: u64,
}

impl NoticeCounts {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.queued + self.sending + self.sent + self.no_address + self.failed
    }
}

/// Who a notice goes to: the patient's verified account address, else the address the
/// practice holds for them, else none.
#[derive(Clone, PartialEq, Eq)]
pub struct NoticeRecipient {
    pub patient: PatientId,
    pub practice: PracticeId,
    pub practice_name: String,
    pub given_name: String,
    pub address: Option<String>,
}

impl std::fmt::Debug for NoticeRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeRecipient")
            .field("patient", &self.patient)
            .finish_non_exhaustive()
    }
}

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishRefusal {
    NoSuchScope,
    /// Notices from another version have been queued: what patients were told stands.
    NoticesQueuedFrom(u64),
}

#[async_trait::async_trait]
pub trait IncidentStore: Send + Sync {
    /// Opens the next incident number.
    async fn incident_open(
        &self,
        title: &str,
        opened_by: &str,
        at: OffsetDateTime,
    ) -> Result<Incident, StoreError>;

    async fn incident(&self, number: u64) -> Result<Option<Incident>, StoreError>;

    /// Every incident, newest first.
    async fn incidents(&self) -> Result<Vec<Incident>, StoreError>;

    /// Computes and freezes the next scope version of an incident in one transaction.
    /// `None` if there is no such incident.
    async fn incident_scope(
        &self,
        number: u64,
        criteria: &str,
        query: &ScopeQuery,
        checkpoint: &str,
        at: OffsetDateTime,
    ) -> Result<Option<IncidentScope>, StoreError>;

    /// Every scope version of an incident, oldest first.
    async fn incident_scopes(&self, number: u64) -> Result<Vec<IncidentScope>, StoreError>;

    /// A page of a scope's accesses in leaf order, after `after_leaf`.
    async fn incident_accesses(
        &self,
        number: u64,
        version: u64,
        after_leaf: Option<u64>,
        limit: u32,
    ) -> Result<Vec<IncidentAccess>, StoreError>;

    /// Makes `version` the one patients are told about.
    async fn incident_publish(
        &self,
        number: u64,
        version: u64,
        at: OffsetDateTime,
    ) -> Result<Result<(), PublishRefusal>, StoreError>;

    /// For one patient: every incident with a published scope that reached them, with
    /// its accesses of their record, oldest incident first.
    async fn patient_incidents(
        &self,
        patient: PatientId,
    ) -> Result<Vec<(Incident, Vec<IncidentAccess>)>, StoreError>;

    /// A page of the patients a scope reached, in id order, after `after`.
    async fn incident_patients(
        &self,
        number: u64,
        version: u64,
        after: Option<PatientId>,
        limit: u32,
    ) -> Result<Vec<PatientId>, StoreError>;

    /// A scope's accesses of the patients with ids in `(after, through]` (a page of
    /// [`IncidentStore::incident_patients`]), in leaf order.
    async fn incident_accesses_of(
        &self,
        number: u64,
        version: u64,
        after: Option<PatientId>,
        through: PatientId,
    ) -> Result<Vec<IncidentAccess>, StoreError>;

    /// Where each patient's notice goes (patients that do not exist are left out).
    async fn notice_recipients(
        &self,
        patients: &[PatientId],
    ) -> Result<Vec<NoticeRecipient>, StoreError>;

    /// Queues notices; a patient who already has one for this incident keeps it.
    /// Returns how many were added.
    async fn notices_queue(
        &self,
        number: u64,
        version: u64,
        drafts: &[NoticeDraft],
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Takes (or renews) the incident's sending lease for `run` until `until`; false
    /// if another run holds it.
    async fn notices_lease(
        &self,
        number: u64,
        run: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up.
    async fn notices_release(&self, number: u64, run: Uuid) -> Result<(), StoreError>;

    /// Claims up to `limit` notices to send: first any left `sending` by a run that
    /// died (the caller holds the lease, so no live run has them), then queued ones,
    /// which are moved to `sending`.
    async fn notices_claim(&self, number: u64, limit: u32) -> Result<Vec<Notice>, StoreError>;

    /// Records the outcome of one delivery attempt.
    async fn notice_mark(
        &self,
        number: u64,
        patient: PatientId,
        state: NoticeState,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn notice_counts(&self, number: u64) -> Result<NoticeCounts, StoreError>;

    async fn notice_for(
        &self,
        number: u64,
        patient: PatientId,
    ) -> Result<Option<Notice>, StoreError>;

    /// Notices of an incident for one practice (the practice summary), in patient order.
    async fn notices_for_practice(
        &self,
        number: u64,
        practice: PracticeId,
    ) -> Result<Vec<Notice>, StoreError>;

    /// Marks accounts as needing a new password (set by email) and signs them out
    /// everywhere, in one transaction. Returns how many accounts there were.
    async fn force_password_reset(
        &self,
        accounts: &[AccountId],
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Revokes every live session (of the given accounts, or of everyone), returning
    /// how many were revoked.
    async fn revoke_sessions(
        &self,
        accounts: Option<&[AccountId]>,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}
