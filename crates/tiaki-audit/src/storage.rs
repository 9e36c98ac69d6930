//! What the transparency log needs from the database: leaves in index order, the
//! events behind them, and the checkpoints made so far. Implemented by each store
//! backend; the Merkle logic stays here.

use crate::event::AuditEvent;
use crate::log::{AuditError, AuditSink};
use crate::merkle::{Hash, leaf_hash};
use tiaki_domain::AccessId;
use time::OffsetDateTime;

/// The bytes a leaf commits to: the event's canonical JSON (fixed field order, no maps,
/// timestamps to the nanosecond).
pub fn leaf_data(event: &AuditEvent) -> Result<Vec<u8>, AuditError> {
    serde_json::to_vec(event)
        .map_err(|e| AuditError::Unavailable(format!("encoding an event: {e}")))
}

/// The leaf hash of an event.
pub fn event_leaf_hash(event: &AuditEvent) -> Result<Hash, AuditError> {
    Ok(leaf_hash(&leaf_data(event)?))
}

/// One leaf of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub index: u64,
    pub event: AuditEvent,
    /// As stored when the event was appended.
    pub leaf_hash: Hash,
}

/// A signed tree head as kept in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    /// The C2SP signed note.
    pub note: String,
    pub made_at: OffsetDateTime,
}

#[async_trait::async_trait]
pub trait LogStorage: AuditSink {
    /// How many leaves are committed (the next leaf index).
    async fn log_size(&self) -> Result<u64, AuditError>;
    /// Leaf hashes with index in `[from, to)`, in order.
    async fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<Hash>, AuditError>;
    /// Entries with index in `[from, to)`, in order.
    async fn log_entries(&self, from: u64, to: u64) -> Result<Vec<LogEntry>, AuditError>;
    async fn log_entry_by_id(&self, id: AccessId) -> Result<Option<LogEntry>, AuditError>;
    async fn checkpoint_put(&self, checkpoint: &StoredCheckpoint) -> Result<(), AuditError>;
    async fn checkpoint_latest(&self) -> Result<Option<StoredCheckpoint>, AuditError>;
    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, AuditError>;
    /// Every checkpoint, oldest first.
    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, AuditError>;
    /// Events matching every condition of the query, newest first.
    async fn search(&self, query: &AuditQuery) -> Result<Vec<(u64, AuditEvent)>, AuditError>;
}

/// What a privacy officer (or breach scoping) asks of the log: every condition given
/// must hold; `address` is a CIDR range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<tiaki_domain::AccountId>,
    pub patient: Option<tiaki_domain::PatientId>,
    pub document: Option<tiaki_domain::DocumentId>,
    pub address: Option<(std::net::IpAddr, u8)>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub limit: u32,
}

impl AuditQuery {
    /// The inclusive range of 16-byte (IPv6, IPv4-mapped) addresses the CIDR covers.
    #[must_use]
    pub fn address_range(&self) -> Option<([u8; 16], [u8; 16])> {
        let (ip, prefix) = self.address?;
        let (v6, prefix) = match ip {
            std::net::IpAddr::V4(v4) => (v4.to_ipv6_mapped(), u32::from(prefix.min(32)) + 96),
            std::net::IpAddr::V6(v6) => (v6, u32::from(prefix.min(128))),
        };
        let bits = u128::from(v6);
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix)
        };
        Some(((bits & mask).to_be_bytes(), (bits | !mask).to_be_bytes()))
    }
}
