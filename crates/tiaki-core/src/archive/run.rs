//! `tiaki archive run`: archive every document its retention rule makes due.
//!
//! One transaction per batch: each document's data key is unwrapped (patient key, KEK),
//! sealed to the archive public key, and committed with its audit event while the
//! online wrapped key is removed from the row. A run stopped at any point leaves each
//! document either online as it was or archived; running again carries on with what is
//! left. A document whose keys do not open is reported and left online, never lost.

use super::console_event;
use crate::{CoreError, Tiaki};
use std::collections::HashMap;
use tiaki_audit::RequestContext;
use tiaki_crypto::{DocumentContext, WrappedPatientKey};
use tiaki_domain::{DocumentKind, PatientId, Target};
use tiaki_store::{ArchiveEntry, ArchiveItem, RetentionCutoff};
use time::OffsetDateTime;

/// What is due now, rule by rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePlan {
    /// (kind, years, documents due).
    pub rules: Vec<(DocumentKind, u16, u64)>,
}

impl ArchivePlan {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.rules.iter().map(|(_, _, n)| n).sum()
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    pub archived: u64,
    /// Changed by someone else between reading and committing; left as they are.
    pub skipped: u64,
    /// Their keys did not open (or the patient key is missing); left online.
    pub failed: u64,
}

/// `now` less `years` calendar years (29 February becomes the 28th).
pub(crate) fn years_before(now: OffsetDateTime, years: u16) -> OffsetDateTime {
    let year = now.year() - i32::from(years);
    now.replace_year(year)
        .or_else(|_| now.replace_day(28).and_then(|d| d.replace_year(year)))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Tiaki {
    /// How many documents each rule makes due at `now`.
    pub async fn archive_plan(&self, now: OffsetDateTime) -> Result<ArchivePlan, CoreError> {
        let mut rules = Vec::new();
        for (kind, years) in self.config.archive.retention.archived_kinds() {
            let cutoff = RetentionCutoff {
                kind,
                before: years_before(now, years),
            };
            rules.push((kind, years, self.store.archive_due_count(&cutoff).await?));
        }
        Ok(ArchivePlan { rules })
    }

    /// Archives everything due at `now`, calling `progress` with the number of
    /// documents handled after each batch.
    pub async fn archive_run(
        &self,
        now: OffsetDateTime,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ArchiveReport, CoreError> {
        let archive_key = self
            .config
            .archive
            .archive_key()
            .map_err(|m| CoreError::invalid("bad_archive_key", m))?
            .ok_or_else(|| {
                CoreError::invalid(
                    "no_archive_key",
                    "No archive key is configured: run `tiaki archive keygen`, keep the private \
                     key offline, and put the public key in core.archive.public_key",
                )
            })?;
        let ctx = RequestContext::default();
        let batch_size = self.config.archive.batch_size;
        let mut report = ArchiveReport::default();
        for (kind, years) in self.config.archive.retention.archived_kinds() {
            let cutoff = RetentionCutoff {
                kind,
                before: years_before(now, years),
            };
            let rule = format!("{}:{years}y", kind.as_str());
            let mut after = None;
            loop {
                let batch = self.store.archive_due(&cutoff, after, batch_size).await?;
                let Some(last) = batch.last() else { break };
                after = Some(last.meta.id);
                let mut patient_keys: HashMap<PatientId, Option<WrappedPatientKey>> =
                    HashMap::new();
                let mut items = Vec::with_capacity(batch.len());
                for record in &batch {
                    let m = &record.meta;
                    let patient_key = match patient_keys.get(&m.patient) {
                        Some(key) => key.clone(),
                        None => {
                            let key = self.store.patient_key(m.patient).await?;
                            patient_keys.insert(m.patient, key.clone());
                            key
                        }
                    };
                    let Some(patient_key) = patient_key else {
                        tracing::warn!(document = %m.id, "not archived: the patient key is missing");
                        report.failed += 1;
                        continue;
                    };
                    let doc_ctx = DocumentContext {
                        document: m.id,
                        patient: m.patient,
                        practice: m.practice,
                    };
                    let sealed = match self.vault.archive_data_key(
                        &patient_key,
                        &record.data_key,
                        &doc_ctx,
                        &archive_key,
                    ) {
                        Ok(sealed) => sealed,
                        Err(e) => {
                            tracing::warn!(document = %m.id, error = %e, "not archived: its keys did not open");
                            report.failed += 1;
                            continue;
                        }
                    };
                    let target = Target::Document {
                        document: m.id,
                        patient: m.patient,
                        practice: m.practice,
                    };
                    items.push(ArchiveItem {
                        entry: ArchiveEntry {
                            document: m.id,
                            patient: m.patient,
                            archive_key: archive_key.to_bytes(),
                            sealed_key: sealed,
                            rule: rule.clone(),
                            archived_at: OffsetDateTime::now_utc(),
                        },
                        expected_data_key: record.data_key.clone(),
                        event: console_event("document.archive", &target, &ctx).with_reason(&rule),
                    });
                }
                let done = self.store.archive_commit(&items).await?;
                let done = u64::try_from(done.len()).unwrap_or(u64::MAX);
                report.archived += done;
                report.skipped += u64::try_from(items.len()).unwrap_or(u64::MAX) - done;
                progress(u64::try_from(batch.len()).unwrap_or(u64::MAX));
            }
        }
        tracing::info!(
            archived = report.archived,
            skipped = report.skipped,
            failed = report.failed,
            "archive run finished"
        );
        Ok(report)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn years_are_calendar_years() {
        assert_eq!(
            years_before(datetime!(2026-03-01 10:00 UTC), 6),
            datetime!(2020-03-01 10:00 UTC)
        );
        assert_eq!(
            years_before(datetime!(2024-02-29 00:00 UTC), 1),
            datetime!(2023-02-28 00:00 UTC)
        );
    }
}
