//! Tiaki's audit log.
//!
//! Every access decision and every change becomes an [`AuditEvent`] (ids only: no
//! names, NHIs or document text). Events are appended durably through an
//! [`AuditSink`]; only after the append is durable does [`AuditLog::record`] hand back a
//! [`Receipt`], and a receipt is what the vault demands before it decrypts anything.
//! `Receipt` has private fields and no public constructor, so plaintext without a
//! decision and a durable audit record cannot be written in safe code.

mod event;
mod log;

pub use event::{AuditEvent, Outcome, RequestContext};
pub use log::{AuditError, AuditLog, AuditSink, MemorySink, Receipt};
