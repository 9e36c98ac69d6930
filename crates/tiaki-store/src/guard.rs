//! What the guard keeps in the database: counters shared by every web node, decoys,
//! containments, alerts and module kill switches. A sub-trait of [`crate::Store`], so
//! every backend has it and the conformance suite (`tests/store/guard.rs`) runs on both.
//!
//! Counting is one transaction per read: the distinct-patient mark, the increments and
//! the totals the guard decides on are read back together, so two nodes counting the
//! same actor at once both see the sum.

use crate::error::StoreError;
use tiaki_domain::{AccountId, PatientId, PracticeId};
use time::OffsetDateTime;

/// What one request adds to one scope's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    /// `actor:<uuid>`, `address:<ip>` or `practice:<uuid>`.
    pub scope: String,
    /// For actor scopes: the practice and role, so a practice's normal can be computed.
    pub practice: Option<PracticeId>,
    pub role: Option<String>,
    pub documents: u64,
    pub bytes: u64,
    /// A patient this request touched; counted once per scope and window.
    pub patient: Option<PatientId>,
    pub refusals: u64,
    pub misses: u64,
}

/// One scope's counts in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub documents: u64,
    pub bytes: u64,
    pub patients: u64,
    pub refusals: u64,
    pub misses: u64,
}

/// A scope's totals after an increment: this window and the one before, from which
/// the guard estimates a sliding window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterTotals {
    pub scope: String,
    pub current: Counts,
    pub previous: Counts,
}

/// A decoy's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CanaryKind {
    Patient,
    Document,
}

impl CanaryKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Document => "document",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Self::Patient),
            "document" => Some(Self::Document),
            _ => None,
        }
    }
}

/// A decoy patient or document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    pub id: uuid::Uuid,
    pub kind: CanaryKind,
    pub practice: PracticeId,
    pub created_at: OffsetDateTime,
}

/// A containment: an account frozen, or an address or practice refused, until released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containment {
    pub id: uuid::Uuid,
    /// `actor:<uuid>`, `address:<ip>` or `practice:<uuid>`.
    pub scope: String,
    /// The frozen account, for actor scopes.
    pub account: Option<AccountId>,
    /// Which detector (or `operator`) contained.
    pub detector: String,
    /// A machine-readable reason with figures, never health data.
    pub reason: String,
    pub created_at: OffsetDateTime,
    /// The operator who contained by hand, if it was not the guard.
    pub created_by: Option<AccountId>,
    pub released_at: Option<OffsetDateTime>,
    pub released_by: Option<AccountId>,
    pub release_reason: Option<String>,
}

/// How loud an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Critical]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Something the guard saw or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: uuid::Uuid,
    pub at: OffsetDateTime,
    pub severity: Severity,
    pub detector: String,
    pub scope: String,
    pub account: Option<AccountId>,
    pub practice: Option<PracticeId>,
    /// Ids and figures only.
    pub summary: String,
    pub containment: Option<uuid::Uuid>,
}

/// A module's kill-switch position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleState {
    Open,
    ReadOnly,
    Closed,
}

impl ModuleState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::ReadOnly => "read_only",
            Self::Closed => "closed",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::ReadOnly, Self::Closed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A module's kill switch as last set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSwitch {
    pub module: String,
    pub state: ModuleState,
    pub reason: String,
    pub changed_at: OffsetDateTime,
    pub changed_by: Option<AccountId>,
}

#[async_trait::async_trait]
pub trait GuardStore: Send + Sync {
    /// Whether several web nodes can share this database (and so the guard should count
    /// in it rather than in memory).
    fn serves_many_nodes(&self) -> bool;

    /// Adds each delta to its scope's row for `window_start` (marking its patient seen,
    /// and counting the patient only if it is new for the scope and window), and returns
    /// every scope's totals for `window_start` and `previous_start`. One transaction.
    async fn guard_count(
        &self,
        window_start: OffsetDateTime,
        previous_start: OffsetDateTime,
        deltas: &[CounterDelta],
    ) -> Result<Vec<CounterTotals>, StoreError>;
    /// The mean distinct patients per actor-window of a practice's staff in one role,
    /// over windows starting in `[since, before)`, and how many actor-windows that is.
    async fn guard_baseline(
        &self,
        practice: PracticeId,
        role: &str,
        since: OffsetDateTime,
        before: OffsetDateTime,
    ) -> Result<(f64, u64), StoreError>;
    /// Forgets every counter and seen-mark of one scope (a released containment starts
    /// the person afresh).
    async fn guard_reset(&self, scope: &str) -> Result<(), StoreError>;
    /// Deletes counters and seen-marks of windows starting before `before`.
    async fn guard_prune(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Registers a decoy; its patient or document row must exist.
    async fn canary_insert(&self, canary: &Canary) -> Result<(), StoreError>;
    async fn canaries(&self) -> Result<Vec<Canary>, StoreError>;

    /// Records a containment; for an account it also marks the account disabled and
    /// revokes every one of its sessions, in the same transaction.
    async fn containment_insert(&self, c: &Containment) -> Result<(), StoreError>;
    /// Releases an active containment; an account is enabled again once none of its
    /// containments is active. `by` is `None` for the server console. False if there is
    /// no such active containment.
    async fn containment_release(
        &self,
        id: uuid::Uuid,
        by: Option<AccountId>,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    async fn containments_active(&self) -> Result<Vec<Containment>, StoreError>;
    /// Newest first, at most `limit` (and never more than 1,000).
    async fn containments_recent(&self, limit: u32) -> Result<Vec<Containment>, StoreError>;

    async fn alert_insert(&self, alert: &Alert) -> Result<(), StoreError>;
    /// Newest first, at most `limit` (and never more than 1,000).
    async fn alerts_recent(&self, limit: u32) -> Result<Vec<Alert>, StoreError>;

    /// Sets a module's kill switch (inserting or replacing).
    async fn module_switch_put(&self, switch: &ModuleSwitch) -> Result<(), StoreError>;
    async fn module_switches(&self) -> Result<Vec<ModuleSwitch>, StoreError>;
}
