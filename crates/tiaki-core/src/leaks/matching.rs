//! Matching a leaked file: the references it carries (verified, then looked up in the
//! audit log), and its fingerprints against those kept at upload.

use super::fingerprints::{Fingerprint, Kind};
use super::pdf::PdfFile;
use super::reference::Reference;
use crate::{CoreError, Tiaki};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tiaki_domain::{AccessId, AccountId, DocumentId, PatientId, PracticeId, SessionId};
use tiaki_store::leaks::LOOKUP_BATCH;
use time::OffsetDateTime;

/// A stream or pixel digest shared by more documents than this says nothing about
/// which one leaked (a logo, a standard form page), so it is not counted.
const DISTINCTIVE: usize = 3;
/// Most references reported per file.
const MAX_REFERENCES: usize = 100;
/// Most PDF streams searched for references.
const MAX_SCANNED_STREAMS: usize = 10_000;

/// How a file matched a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// A verified reference names an access to the document.
    Mark,
    /// The file (or the file without our mark) is the document as uploaded.
    WholeFile,
    /// Decoded PDF content streams or images are the document's.
    Stream,
    /// The decoded pixels are the document's.
    Pixels,
}

impl How {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mark => "mark",
            Self::WholeFile => "whole_file",
            Self::Stream => "stream",
            Self::Pixels => "pixels",
        }
    }
}

/// The access a verified reference names, from the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AccessReport {
    pub access_id: AccessId,
    pub action: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Option<AccountId>,
    pub role: String,
    pub session: Option<SessionId>,
    pub address: Option<std::net::IpAddr>,
    pub document: Option<DocumentId>,
    pub patient: Option<PatientId>,
    pub practice: Option<PracticeId>,
}

impl AccessReport {
    /// When, as RFC 3339.
    #[must_use]
    pub fn at_rfc3339(&self) -> String {
        self.at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

/// A reference found in the file.
#[derive(Debug, Clone, Serialize)]
pub struct MarkReport {
    pub reference: String,
    /// Whether its MAC is this installation's: `false` is a made-up or altered
    /// reference, which says nothing about who downloaded the file.
    pub verified: bool,
    /// The access it names, if verified and in the log.
    pub access: Option<AccessReport>,
}

/// A document the file matched.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentMatch {
    pub document: DocumentId,
    pub patient: PatientId,
    pub practice: PracticeId,
    pub practice_name: Option<String>,
    pub how: Vec<How>,
    /// How many of the document's stream or pixel fingerprints the file shares.
    pub structural_matches: usize,
}

/// Everything known about one file.
#[derive(Debug, Clone, Serialize)]
pub struct LeakReport {
    pub marks: Vec<MarkReport>,
    pub documents: Vec<DocumentMatch>,
}

impl LeakReport {
    /// Whether anything ties the file to a document.
    #[must_use]
    pub fn matched(&self) -> bool {
        !self.documents.is_empty()
    }
}

impl Tiaki {
    /// Traces one file: its references and its fingerprints. Reads only metadata, the
    /// fingerprints and the audit log; nothing is decrypted.
    pub async fn match_leak(&self, file: Vec<u8>) -> Result<LeakReport, CoreError> {
        let fingerprinter = self.fingerprinter();
        let (references, prints) = tokio::task::spawn_blocking(move || {
            (references_in(&file), fingerprinter.candidates(&file))
        })
        .await
        .map_err(|e| CoreError::Unavailable(format!("matching stopped: {e}")))?;

        let mac = self.vault.mac_key();
        let mut found: BTreeMap<DocumentId, BTreeSet<How>> = BTreeMap::new();
        let mut marks = Vec::new();
        for text in references {
            let Some(reference) = Reference::parse(&text) else {
                continue;
            };
            let verified = reference.verify(&mac);
            let access = if verified {
                self.store
                    .log_entry_by_id(reference.access_id)
                    .await?
                    .map(|entry| {
                        let e = entry.event;
                        AccessReport {
                            access_id: e.id,
                            action: e.action,
                            at: e.at,
                            actor: e.actor_account,
                            role: e.actor_role,
                            session: e.session,
                            address: e.address,
                            document: e.document,
                            patient: e.patient,
                            practice: e.practice,
                        }
                    })
            } else {
                None
            };
            if let Some(document) = access.as_ref().and_then(|a| a.document) {
                found.entry(document).or_default().insert(How::Mark);
            }
            marks.push(MarkReport {
                reference: text,
                verified,
                access,
            });
        }

        let structural = self.fingerprint_matches(&prints, &mut found).await?;
        let mut documents = Vec::new();
        for (document, how) in found {
            let Some(record) = self.store.document(document).await? else {
                continue;
            };
            let practice_name = self
                .store
                .practice(record.meta.practice)
                .await?
                .map(|p| p.name);
            documents.push(DocumentMatch {
                document,
                patient: record.meta.patient,
                practice: record.meta.practice,
                practice_name,
                how: how.into_iter().collect(),
                structural_matches: structural.get(&document).copied().unwrap_or(0),
            });
        }
        // The strongest evidence first.
        documents.sort_by_key(|d| {
            (
                d.how.first().copied(),
                std::cmp::Reverse(d.structural_matches),
            )
        });
        Ok(LeakReport { marks, documents })
    }

    /// Looks the file's fingerprints up; fills `found` and returns, per document, how
    /// many structural fingerprints matched.
    async fn fingerprint_matches(
        &self,
        prints: &[Fingerprint],
        found: &mut BTreeMap<DocumentId, BTreeSet<How>>,
    ) -> Result<BTreeMap<DocumentId, usize>, CoreError> {
        let digests: Vec<[u8; 32]> = prints.iter().map(|p| p.digest).collect();
        let mut hits = Vec::new();
        for batch in digests.chunks(LOOKUP_BATCH) {
            hits.extend(self.store.fingerprints_find(batch).await?);
        }
        // A hit counts only for the kind the file's own fingerprint was made as (the
        // key separates kinds, so this holds anyway; it keeps the logic obvious).
        let wanted: BTreeSet<(&str, [u8; 32])> =
            prints.iter().map(|p| (p.kind.as_str(), p.digest)).collect();
        let mut by_digest: BTreeMap<[u8; 32], BTreeSet<DocumentId>> = BTreeMap::new();
        for hit in &hits {
            by_digest
                .entry(hit.digest)
                .or_default()
                .insert(hit.document);
        }
        let mut structural: BTreeMap<DocumentId, usize> = BTreeMap::new();
        for hit in hits {
            if !wanted.contains(&(hit.kind.as_str(), hit.digest)) {
                continue;
            }
            let how = match Kind::parse(&hit.kind) {
                Some(Kind::File) => How::WholeFile,
                Some(Kind::PdfStream) => How::Stream,
                Some(Kind::Pixels) => How::Pixels,
                None => continue,
            };
            if how != How::WholeFile {
                let sharing = by_digest.get(&hit.digest).map_or(0, BTreeSet::len);
                if sharing > DISTINCTIVE {
                    continue;
                }
                *structural.entry(hit.document).or_default() += 1;
            }
            found.entry(hit.document).or_default().insert(how);
        }
        Ok(structural)
    }
}

/// Every reference in the file: in its raw bytes and, for a PDF, in its decoded
/// streams (a re-saved copy compresses the page that carries the mark).
fn references_in(file: &[u8]) -> Vec<String> {
    let mut all = Reference::find_all(file);
    if let Ok(pdf) = PdfFile::parse(file) {
        for num in pdf.object_numbers().into_iter().take(MAX_SCANNED_STREAMS) {
            if let Some((dict, raw)) = pdf.stream(num)
                && let Ok(decoded) = pdf.decode(&dict, raw)
            {
                for r in Reference::find_all(&decoded) {
                    if !all.contains(&r) {
                        all.push(r);
                    }
                }
            }
        }
    }
    all.truncate(MAX_REFERENCES);
    all
}
