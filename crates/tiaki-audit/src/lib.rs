//! Tiaki's audit log.
//!
//! Every access decision and every change becomes an [`AuditEvent`] (ids only: no
//! names, NHIs or document text). Events are appended durably through an
//! [`AuditSink`]; only after the append is durable does [`AuditLog::record`] hand back a
//! [`Receipt`], and a receipt is what the vault demands before it decrypts anything.
//! `Receipt` has private fields and no public constructor, so plaintext without a
//! decision and a durable audit record cannot be written in safe code.
//!
//! Events are the leaves of an append-only RFC 9162 Merkle log ([`merkle`]); signed
//! checkpoints ([`checkpoint`]) and proofs ([`Transparency`]) let anyone outside check
//! that history was never rewritten, and [`verify`] checks an exported log offline.

pub mod checkpoint;
mod event;
mod log;
pub mod merkle;
mod storage;
mod transparency;
pub mod verify;

pub use checkpoint::{Checkpoint, NoteError, NoteSigner, NoteVerifier};
pub use event::{AuditEvent, Outcome, RequestContext};
pub use log::{AuditError, AuditLog, AuditSink, MemorySink, Receipt};
pub use storage::{AuditQuery, LogEntry, LogStorage, StoredCheckpoint, event_leaf_hash, leaf_data};
pub use transparency::{InclusionProof, Transparency, Witness};
