//! Offline verification of an exported log: recompute every leaf and the tree, check
//! every checkpoint's signature and root, and name the first place that is wrong.
//!
//! Export format (JSON Lines): a header line `{"format":"tiaki-audit-export/1",
//! "origin":…, "verifier_key":…}`, then one `{"entry":{"index":…,"leaf_hash":…,
//! "event":{…}}}` per leaf in index order, then one `{"checkpoint":"<signed note>"}` per
//! checkpoint, oldest first.

use crate::checkpoint::{Checkpoint, NoteVerifier};
use crate::event::AuditEvent;
use crate::merkle::{Frontier, Hash};
use crate::storage::{LogEntry, event_leaf_hash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT: &str = "tiaki-audit-export/1";

#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub origin: String,
    pub verifier_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedEntry {
    pub index: u64,
    pub leaf_hash: String,
    pub event: AuditEvent,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    Entry(Box<ExportedEntry>),
    Checkpoint(String),
}

impl From<&LogEntry> for ExportedEntry {
    fn from(e: &LogEntry) -> Self {
        Self {
            index: e.index,
            leaf_hash: B64.encode(e.leaf_hash),
            event: e.event.clone(),
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub checkpoints: usize,
    pub root: Hash,
}

/// Why verification failed, with the first index it could pin down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the export is not readable at line {line}: {reason}")]
    Format { line: usize, reason: String },
    #[error("index {index}: {reason}")]
    Entry { index: u64, reason: String },
    #[error(
        "the checkpoint of size {size} does not match the log; the first altered event is at index {first_bad} or later"
    )]
    CheckpointMismatch { size: u64, first_bad: u64 },
    #[error("checkpoint {position}: {reason}")]
    Checkpoint { position: usize, reason: String },
    #[error("the log does not extend the given checkpoint (size {size}): {reason}")]
    Against { size: u64, reason: String },
}

/// Parses an export.
pub fn parse(text: &str) -> Result<(Header, Vec<ExportedEntry>, Vec<String>), VerifyError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or(VerifyError::Format {
        line: 1,
        reason: "empty".into(),
    })?;
    let header: Header = serde_json::from_str(first).map_err(|e| VerifyError::Format {
        line: 1,
        reason: e.to_string(),
    })?;
    if header.format != FORMAT {
        return Err(VerifyError::Format {
            line: 1,
            reason: format!("unknown format {}", header.format),
        });
    }
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    for (n, line) in lines {
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Entry(e)) => entries.push(*e),
            Ok(Line::Checkpoint(c)) => checkpoints.push(c),
            Err(e) => {
                return Err(VerifyError::Format {
                    line: n + 1,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok((header, entries, checkpoints))
}

/// Verifies entries and checkpoints against the verifier key, and optionally that the
/// log extends an older signed checkpoint.
pub fn verify(
    verifier_key: &str,
    entries: &[ExportedEntry],
    checkpoints: &[String],
    against: Option<&str>,
) -> Result<Verified, VerifyError> {
    let verifier = NoteVerifier::parse(verifier_key).map_err(|e| VerifyError::Checkpoint {
        position: 0,
        reason: e.to_string(),
    })?;
    let mut wanted: BTreeMap<u64, (usize, Checkpoint)> = BTreeMap::new();
    for (position, note) in checkpoints.iter().enumerate() {
        let cp = verifier.open(note).map_err(|e| VerifyError::Checkpoint {
            position,
            reason: e.to_string(),
        })?;
        wanted.insert(cp.size, (position, cp));
    }
    let older = against
        .map(|note| {
            verifier.open(note).map_err(|e| VerifyError::Against {
                size: 0,
                reason: e.to_string(),
            })
        })
        .transpose()?;

    let mut frontier = Frontier::default();
    let mut last_good = 0u64;
    let check = |frontier: &Frontier, last_good: &mut u64| -> Result<(), VerifyError> {
        let size = frontier.size();
        if let Some((_, cp)) = wanted.get(&size) {
            if cp.root != frontier.root() {
                return Err(VerifyError::CheckpointMismatch {
                    size,
                    first_bad: *last_good,
                });
            }
            *last_good = size;
        }
        if let Some(old) = &older
            && old.size == size
            && old.root != frontier.root()
        {
            return Err(VerifyError::Against {
                size,
                reason: "the root differs: the log was rewritten or forked".into(),
            });
        }
        Ok(())
    };
    check(&frontier, &mut last_good)?;
    for (position, entry) in entries.iter().enumerate() {
        let expected = position as u64;
        if entry.index != expected {
            return Err(VerifyError::Entry {
                index: expected,
                reason: format!(
                    "expected leaf {expected} but found leaf {} (deleted or reordered)",
                    entry.index
                ),
            });
        }
        let computed = event_leaf_hash(&entry.event).map_err(|e| VerifyError::Entry {
            index: expected,
            reason: e.to_string(),
        })?;
        if B64.encode(computed) != entry.leaf_hash {
            return Err(VerifyError::Entry {
                index: expected,
                reason: "the event does not hash to its recorded leaf (altered)".into(),
            });
        }
        frontier.push(computed);
        check(&frontier, &mut last_good)?;
    }
    let n = frontier.size();
    if let Some((&size, (position, _))) = wanted.range(n + 1..).next() {
        return Err(VerifyError::Checkpoint {
            position: *position,
            reason: format!(
                "signed for {size} events but the export has only {n} (events deleted)"
            ),
        });
    }
    if let Some(old) = &older
        && old.size > n
    {
        return Err(VerifyError::Against {
            size: old.size,
            reason: format!("the export has only {n} events"),
        });
    }
    Ok(Verified {
        entries: n,
        checkpoints: wanted.len(),
        root: frontier.root(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::NoteSigner;
    use crate::event::{Outcome, RequestContext};
    use proptest::prelude::*;

    fn event(n: u8) -> AuditEvent {
        let mut e = AuditEvent::named(
            "document.read",
            None,
            None,
            Outcome::Allowed,
            &RequestContext::default(),
        );
        e.bytes = Some(u64::from(n));
        e
    }

    fn build(n: usize, every: usize) -> (String, Vec<ExportedEntry>, Vec<String>) {
        let signer = NoteSigner::from_seed("test/log", &[3u8; 32]);
        let mut frontier = Frontier::default();
        let mut entries = Vec::new();
        let mut notes = Vec::new();
        for i in 0..n {
            let ev = event(i as u8);
            let h = event_leaf_hash(&ev).unwrap();
            frontier.push(h);
            entries.push(ExportedEntry {
                index: i as u64,
                leaf_hash: B64.encode(h),
                event: ev,
            });
            if (i + 1) % every == 0 || i + 1 == n {
                notes.push(signer.sign(&Checkpoint {
                    origin: "test/log".into(),
                    size: frontier.size(),
                    root: frontier.root(),
                }));
            }
        }
        (signer.verifier_key(), entries, notes)
    }

    proptest! {
        #[test]
        fn any_tampering_is_detected(n in 2usize..40, every in 1usize..10, victim in any::<prop::sample::Index>(), kind in 0u8..5) {
            let (key, mut entries, notes) = build(n, every);
            prop_assert!(verify(&key, &entries, &notes, None).is_ok());
            let i = victim.index(n);
            match kind {
                // Alter an event but keep its recorded hash.
                0 => entries[i].event.bytes = Some(9_999),
                // Alter an event and its recorded hash together.
                1 => {
                    entries[i].event.bytes = Some(9_999);
                    entries[i].leaf_hash = B64.encode(event_leaf_hash(&entries[i].event).unwrap());
                }
                // Delete one.
                2 => { entries.remove(i); }
                // Swap two neighbours.
                3 => { let j = if i + 1 < n { i + 1 } else { i - 1 }; entries.swap(i, j); }
                // Fork: a different history of the same length, re-hashed and re-indexed.
                _ => {
                    entries[i].event.reason = Some("forked".into());
                    entries[i].leaf_hash = B64.encode(event_leaf_hash(&entries[i].event).unwrap());
                }
            }
            prop_assert!(verify(&key, &entries, &notes, None).is_err());
        }
    }

    #[test]
    fn against_an_older_checkpoint() {
        let (key, entries, notes) = build(20, 5);
        let old = notes[1].clone();
        assert!(verify(&key, &entries, &notes, Some(&old)).is_ok());
        let (_, other, other_notes) = build(12, 12);
        let _ = other;
        // A checkpoint from a different history of the same log key does not match.
        let mut forked = build(20, 5).1;
        forked[3].event.reason = Some("x".into());
        forked[3].leaf_hash = B64.encode(event_leaf_hash(&forked[3].event).unwrap());
        assert!(verify(&key, &forked, &[], Some(&old)).is_err());
        assert!(verify(&key, &entries[..8], &[], Some(&other_notes[0])).is_err());
    }
}
