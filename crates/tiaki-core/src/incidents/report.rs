//! An incident's scope as files: a JSON export whose every row carries its audit event
//! and an inclusion proof against the scope's signed checkpoint (checkable offline with
//! the log's verifier key), a CSV of the same rows, counts by practice and region, a
//! summary for each practice and a draft report for the regulator.

use super::status::{AccessLine, moment, reference};
use crate::{CoreError, Tiaki};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use tiaki_audit::{AuditEvent, InclusionProof, NoteVerifier, event_leaf_hash, merkle};
use tiaki_domain::{AccessId, DocumentId, PatientId, PracticeId};
use tiaki_store::{IncidentAccess, NoticeCounts, NoticeState};
use time::OffsetDateTime;

/// One access in an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRow {
    pub leaf_index: u64,
    pub access_id: AccessId,
    pub reference: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub action: String,
    pub patient: PatientId,
    pub nhi: String,
    pub practice: PracticeId,
    pub practice_name: String,
    pub region: String,
    pub document: Option<DocumentId>,
    pub document_type: Option<String>,
    pub document_title: Option<String>,
    pub document_date: Option<String>,
    pub bytes: Option<u64>,
    /// The audit event exactly as the log committed it (its leaf).
    pub event: AuditEvent,
    pub proof: InclusionProof,
}

/// Counts for one practice or region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountBy {
    pub key: String,
    pub name: String,
    pub patients: u64,
    pub documents: u64,
    pub accesses: u64,
}

/// A frozen scope, ready to hand over.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeExport {
    pub incident: u64,
    pub title: String,
    pub version: u64,
    pub criteria: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub computed_at: OffsetDateTime,
    pub tree_size: u64,
    /// The signed checkpoint every proof is against.
    pub checkpoint: String,
    /// The key that checkpoint verifies under (`tiaki.audit/…`).
    pub verifier_key: String,
    pub patients: u64,
    pub documents: u64,
    pub accesses: u64,
    pub bytes: u64,
    pub by_practice: Vec<CountBy>,
    pub by_region: Vec<CountBy>,
    pub rows: Vec<ExportRow>,
}

/// Rows fetched per page while exporting.
const PAGE: u32 = 5_000;

impl Tiaki {
    /// Exports a scope version (the latest if `None`) with a proof for every row.
    pub async fn incident_export(
        &self,
        number: u64,
        version: Option<u64>,
    ) -> Result<ScopeExport, CoreError> {
        let incident = self.incident(number).await?;
        let scopes = self.store.incident_scopes(number).await?;
        let scope = match version {
            Some(v) => scopes.into_iter().find(|s| s.version == v),
            None => scopes.into_iter().last(),
        }
        .ok_or_else(|| {
            CoreError::invalid(
                "no_such_version",
                format!("Incident {number} has no such scope version."),
            )
        })?;
        let mut accesses: Vec<IncidentAccess> = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .incident_accesses(number, scope.version, after, PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.leaf_index);
            accesses.extend(page);
        }
        let indices: Vec<u64> = accesses.iter().map(|a| a.leaf_index).collect();
        let (_, proofs) = self
            .transparency
            .inclusion_many(&indices, scope.tree_size)
            .await?
            .ok_or_else(|| {
                CoreError::Unavailable("the scope's checkpoint is no longer stored".into())
            })?;
        let mut patients: HashMap<PatientId, String> = HashMap::new();
        let mut practices: HashMap<PracticeId, (String, String)> = HashMap::new();
        let mut rows = Vec::with_capacity(accesses.len());
        for (access, proof) in accesses.iter().zip(proofs) {
            let proof = proof.ok_or_else(|| {
                CoreError::Unavailable(format!("no proof for leaf {}", access.leaf_index))
            })?;
            let event = self
                .store
                .log_entry_by_id(access.access_id)
                .await?
                .ok_or_else(|| {
                    CoreError::Unavailable(format!("leaf {} is missing", access.leaf_index))
                })?
                .event;
            if let std::collections::hash_map::Entry::Vacant(slot) = patients.entry(access.patient)
            {
                let nhi = self
                    .store
                    .patient(access.patient)
                    .await?
                    .map(|p| p.nhi.as_str().to_owned())
                    .unwrap_or_default();
                slot.insert(nhi);
            }
            if let std::collections::hash_map::Entry::Vacant(slot) =
                practices.entry(access.practice)
            {
                let p = self.store.practice(access.practice).await?;
                slot.insert(p.map(|p| (p.name, p.region)).unwrap_or_default());
            }
            let line = AccessLine::from_access(access);
            let (practice_name, region) =
                practices.get(&access.practice).cloned().unwrap_or_default();
            rows.push(ExportRow {
                leaf_index: access.leaf_index,
                access_id: access.access_id,
                reference: reference(access.access_id),
                at: access.at,
                action: access.action.clone(),
                patient: access.patient,
                nhi: patients.get(&access.patient).cloned().unwrap_or_default(),
                practice: access.practice,
                practice_name,
                region,
                document: access.document,
                document_type: line.document_type,
                document_title: line.document_title,
                document_date: line.document_date,
                bytes: access.bytes,
                event,
                proof,
            });
        }
        let criteria = serde_json::from_str(&scope.criteria).unwrap_or(serde_json::Value::Null);
        Ok(ScopeExport {
            incident: number,
            title: incident.title,
            version: scope.version,
            criteria,
            computed_at: scope.computed_at,
            tree_size: scope.tree_size,
            checkpoint: scope.checkpoint,
            verifier_key: self.transparency.verifier_key(),
            patients: scope.patients,
            documents: scope.documents,
            accesses: scope.accesses,
            bytes: scope.bytes,
            by_practice: count_by(&rows, |r| (r.practice.to_string(), r.practice_name.clone())),
            by_region: count_by(&rows, |r| (r.region.clone(), r.region.clone())),
            rows,
        })
    }

    /// A practice's summary: its affected patients, what of each was reached, and
    /// whether their notice went out (or whom to call).
    pub async fn practice_summary(
        &self,
        export: &ScopeExport,
        practice: PracticeId,
    ) -> Result<String, CoreError> {
        let notices: HashMap<PatientId, NoticeState> = self
            .store
            .notices_for_practice(export.incident, practice)
            .await?
            .into_iter()
            .map(|n| (n.patient, n.state))
            .collect();
        let mine: Vec<&ExportRow> = export
            .rows
            .iter()
            .filter(|r| r.practice == practice)
            .collect();
        let name = mine.first().map_or("", |r| r.practice_name.as_str());
        let mut by_patient: BTreeMap<(String, PatientId), Vec<&ExportRow>> = BTreeMap::new();
        for r in &mine {
            by_patient
                .entry((r.nhi.clone(), r.patient))
                .or_default()
                .push(r);
        }
        let mut out = String::new();
        let _ = writeln!(out, "# Incident {}: summary for {name}\n", export.incident);
        let _ = writeln!(out, "{}\n", export.title);
        let _ = writeln!(
            out,
            "Scope version {} computed {} against the signed audit checkpoint of {} events.\n",
            export.version,
            moment(export.computed_at),
            export.tree_size
        );
        let docs: BTreeSet<DocumentId> = mine.iter().filter_map(|r| r.document).collect();
        let _ = writeln!(
            out,
            "- Patients affected: {}\n- Documents reached: {}\n- Accesses: {}\n",
            by_patient.len(),
            docs.len(),
            mine.len()
        );
        let no_address = by_patient
            .keys()
            .filter(|(_, p)| notices.get(p) == Some(&NoticeState::NoAddress))
            .count();
        if no_address > 0 {
            let _ = writeln!(
                out,
                "**{no_address} patient(s) have no email address: please contact them by phone \
                 or letter** (marked below).\n"
            );
        }
        let _ = writeln!(out, "## Patients\n");
        for ((nhi, patient), rows) in &by_patient {
            let notice = notices.get(patient).map_or("not yet queued", |s| match s {
                NoticeState::Sent => "notice sent",
                NoticeState::Queued | NoticeState::Sending => "notice queued",
                NoticeState::NoAddress => "NO ADDRESS: contact them",
                NoticeState::Failed => "NOTICE FAILED: contact them",
            });
            let _ = writeln!(out, "### NHI {nhi} ({notice})\n");
            for r in rows {
                let what = r.document_type.as_deref().unwrap_or("record");
                let title = r.document_title.as_deref().unwrap_or("");
                let _ = writeln!(
                    out,
                    "- {} {} {what} {title} (reference {})",
                    moment(r.at),
                    r.action,
                    r.reference
                );
            }
            out.push('\n');
        }
        Ok(out)
    }
}

/// The draft report to the regulator: counts, categories, and the timeline.
#[must_use]
pub fn regulator_report(
    export: &ScopeExport,
    opened_at: OffsetDateTime,
    published_at: Option<OffsetDateTime>,
    notices: &NoticeCounts,
) -> String {
    let mut kinds: BTreeMap<String, BTreeSet<DocumentId>> = BTreeMap::new();
    for r in &export.rows {
        if let (Some(kind), Some(doc)) = (&r.document_type, r.document) {
            kinds.entry(kind.clone()).or_default().insert(doc);
        }
    }
    let first = export.rows.iter().map(|r| r.at).min();
    let last = export.rows.iter().map(|r| r.at).max();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Draft notifiable privacy breach report: incident {}\n",
        export.incident
    );
    let _ = writeln!(
        out,
        "DRAFT — to be reviewed before it is sent to the Privacy Commissioner.\n"
    );
    let _ = writeln!(out, "## What happened\n\n{}\n", export.title);
    let _ = writeln!(out, "## Who is affected\n");
    let _ = writeln!(
        out,
        "- People affected: {}\n- Documents accessed or seen: {}\n- Accesses: {}\n- Bytes of \
         document content served: {}\n",
        export.patients, export.documents, export.accesses, export.bytes
    );
    let _ = writeln!(out, "By region:\n");
    for c in &export.by_region {
        let _ = writeln!(
            out,
            "- {}: {} people, {} documents",
            c.name, c.patients, c.documents
        );
    }
    let _ = writeln!(out, "\n## Kinds of information\n");
    let _ = writeln!(
        out,
        "- Names, NHI numbers and dates of birth (in the patient header) where viewed"
    );
    for (kind, docs) in &kinds {
        let _ = writeln!(out, "- {kind}: {} documents", docs.len());
    }
    let _ = writeln!(out, "\n## Timeline (UTC)\n");
    if let Some(first) = first {
        let _ = writeln!(out, "- First access in scope: {}", moment(first));
    }
    if let Some(last) = last {
        let _ = writeln!(out, "- Last access in scope: {}", moment(last));
    }
    let _ = writeln!(out, "- Incident opened: {}", moment(opened_at));
    let _ = writeln!(
        out,
        "- Scope (version {}) computed: {}",
        export.version,
        moment(export.computed_at)
    );
    if let Some(p) = published_at {
        let _ = writeln!(out, "- Scope published to patients: {}", moment(p));
    }
    let _ = writeln!(
        out,
        "- Notices: {} sent, {} queued, {} without an address (practices contacting), {} failed",
        notices.sent,
        notices.queued + notices.sending,
        notices.no_address,
        notices.failed
    );
    let _ = writeln!(out, "\n## How the scope was established\n");
    let _ = writeln!(
        out,
        "Every access is recorded in an append-only Merkle-tree audit log with signed \
         checkpoints. The scope is every allowed read matching the criteria below within the \
         signed tree of {} events; each access carries an inclusion proof against that \
         checkpoint.\n\n```\n{}\n```",
        export.tree_size, export.criteria
    );
    out
}

fn count_by(rows: &[ExportRow], key: impl Fn(&ExportRow) -> (String, String)) -> Vec<CountBy> {
    type Sets = (String, BTreeSet<PatientId>, BTreeSet<DocumentId>, u64);
    let mut groups: BTreeMap<String, Sets> = BTreeMap::new();
    for r in rows {
        let (k, name) = key(r);
        let g = groups
            .entry(k)
            .or_insert_with(|| (name, BTreeSet::new(), BTreeSet::new(), 0));
        g.1.insert(r.patient);
        if let Some(d) = r.document {
            g.2.insert(d);
        }
        g.3 += 1;
    }
    groups
        .into_iter()
        .map(|(key, (name, patients, documents, accesses))| CountBy {
            key,
            name,
            patients: u64::try_from(patients.len()).unwrap_or(u64::MAX),
            documents: u64::try_from(documents.len()).unwrap_or(u64::MAX),
            accesses,
        })
        .collect()
}

impl ScopeExport {
    /// The rows as CSV (RFC 4180), one access per line.
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "incident,version,leaf_index,access_id,reference,at,action,patient,nhi,practice,\
             practice_name,region,document,document_type,document_title,document_date,bytes,\
             actor_account,actor_role,session,address\n",
        );
        for r in &self.rows {
            let fields = [
                self.incident.to_string(),
                self.version.to_string(),
                r.leaf_index.to_string(),
                r.access_id.to_string(),
                r.reference.clone(),
                moment(r.at),
                r.action.clone(),
                r.patient.to_string(),
                r.nhi.clone(),
                r.practice.to_string(),
                r.practice_name.clone(),
                r.region.clone(),
                r.document.map(|d| d.to_string()).unwrap_or_default(),
                r.document_type.clone().unwrap_or_default(),
                r.document_title.clone().unwrap_or_default(),
                r.document_date.clone().unwrap_or_default(),
                r.bytes.map(|b| b.to_string()).unwrap_or_default(),
                r.event
                    .actor_account
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                r.event.actor_role.clone(),
                r.event.session.map(|s| s.to_string()).unwrap_or_default(),
                r.event.address.map(|a| a.to_string()).unwrap_or_default(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    /// Checks the export offline: the checkpoint is signed by `verifier_key` (pass the
    /// key you trust, not only the one in the file), and every row's event hashes to
    /// its leaf, its proof reaches the signed root, and the row says what its event
    /// says. Returns how many rows were proved.
    pub fn verify(&self, verifier_key: &str) -> Result<usize, String> {
        let verifier =
            NoteVerifier::parse(verifier_key).map_err(|e| format!("verifier key: {e}"))?;
        let signed = verifier
            .open(&self.checkpoint)
            .map_err(|e| format!("the checkpoint does not verify: {e}"))?;
        if signed.size != self.tree_size {
            return Err("the checkpoint is not of the scope's tree".into());
        }
        for r in &self.rows {
            let fail = |why: &str| format!("row at leaf {}: {why}", r.leaf_index);
            let leaf = event_leaf_hash(&r.event).map_err(|e| fail(&e.to_string()))?;
            let stated = decode(&r.proof.leaf_hash).ok_or_else(|| fail("bad leaf hash"))?;
            if leaf != stated {
                return Err(fail("the event does not hash to its leaf"));
            }
            let hashes = r
                .proof
                .hashes
                .iter()
                .map(|h| decode(h))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| fail("bad proof hash"))?;
            if r.proof.leaf_index != r.leaf_index
                || !merkle::verify_inclusion(
                    r.leaf_index,
                    signed.size,
                    &leaf,
                    &hashes,
                    &signed.root,
                )
            {
                return Err(fail("the inclusion proof does not reach the signed root"));
            }
            if r.event.id != r.access_id
                || r.event.patient != Some(r.patient)
                || r.event.document != r.document
                || r.event.at != r.at
                || r.event.action != r.action
            {
                return Err(fail("the row does not match its event"));
            }
        }
        Ok(self.rows.len())
    }
}

fn decode(b64: &str) -> Option<merkle::Hash> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()?
        .try_into()
        .ok()
}

fn csv_field(s: &str) -> String {
    // A leading formula character is neutralised so a spreadsheet shows text.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
