//! Tiaki's domain: the vocabulary every other crate speaks.
//!
//! Pure code only — no I/O, no clocks read behind the caller's back. Raw strings from
//! the outside world become the parsed types here (`Nhi`, `ContentType`, `Filename`,
//! `Title`) at the edge, and every access decision is made by [`policy::authorize`].

pub mod actor;
pub mod document;
pub mod ids;
pub mod nhi;
pub mod policy;
pub mod proxy;

pub use actor::{Actor, ActorKind, OperatorRole, StaffRole};
pub use document::{ContentType, DocumentKind, DocumentMeta, Filename, Title};
pub use ids::{
    AccessId, AccountId, DocumentId, EntryId, InvitationId, MessageId, PatientId, PracticeId,
    PrescriptionRequestId, ProxyGrantId, SessionId, ThreadId,
};
pub use nhi::Nhi;
pub use policy::{Action, Denied, Facts, Grant, Target, Via, authorize, authorize_with};
pub use proxy::{Access, ProxyAccess, ProxyKind, Scope, Scopes};
