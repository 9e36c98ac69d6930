//! Retention, the cold archive and crypto-shredding.
//!
//! Hospital letters years old have no business being readable online: a stolen
//! session, a broken check or a copied database would expose them all. Retention rules
//! (`config.rs`) say when each kind of document goes to the archive; `archive run`
//! (`run.rs`) then seals each due document's data key to an offline X25519 public key
//! and destroys the online wrapped copy, so nothing the live system holds opens it any
//! more. The ciphertext stays where it is. Listings show such a document as archived,
//! its content answers 410, and whoever may read it can ask for it back
//! (`requests.rs`); an operator with the offline private key restores it
//! (`restore.rs`). Erasing a patient (`erase.rs`) deletes their key, which makes every
//! document of theirs unreadable everywhere at once.
//!
//! Console actions (`tiaki archive …`) are audited under the role `console`, with ids
//! and a machine code only.

mod config;
mod erase;
mod requests;
mod restore;
mod run;

pub use config::{ArchiveConfig, MAX_YEARS, Never, Retention, RetentionRules};
pub use erase::ErasureReport;
pub use requests::ListedDocument;
pub use run::{ArchivePlan, ArchiveReport};

use tiaki_audit::{AuditEvent, RequestContext};
use tiaki_domain::Target;

/// An event about something done from the server console.
fn console_event(action: &str, target: &Target, ctx: &RequestContext) -> AuditEvent {
    crate::incidents::console_event(action, Some(target), ctx)
}
