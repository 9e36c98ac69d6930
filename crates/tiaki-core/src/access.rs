//! "Who accessed my records", proofs that a row is in the signed log, and the privacy
//! officer's search. All through the policy: a patient sees their own history; staff
//! never see who else looked; privacy officers see metadata, never content.

use crate::{CoreError, Tiaki};
use std::collections::HashMap;
use tiaki_audit::{AuditEvent, AuditQuery, InclusionProof, Outcome, RequestContext};
use tiaki_domain::{
    AccessId, AccountId, Action, Actor, ActorKind, DocumentId, OperatorRole, PatientId, PracticeId,
    StaffRole, Target,
};
use time::OffsetDateTime;

/// One access, as a person reads it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessRow {
    pub leaf_index: u64,
    pub access_id: AccessId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// "You", or the person's name.
    pub who: String,
    pub role: String,
    pub practice: Option<String>,
    /// What happened, in words.
    pub what: String,
    pub document: Option<DocumentId>,
    pub document_title: Option<String>,
    pub outcome: Outcome,
}

/// The most rows a history or search returns at once.
pub const HISTORY_LIMIT: u32 = 1000;

fn describe(action: &str, outcome: Outcome) -> String {
    let base = match action {
        "document.read" => "Opened a document",
        "document.meta" => "Looked at a document's details",
        "document.list" => "Listed documents",
        "document.upload" => "Added a document",
        "patient.view" => "Viewed your details",
        "audit.history" => "Viewed this access history",
        "proxy.manage" => "Looked at who can act for you",
        "proxy.grant" => "Gave someone access to act for you",
        "proxy.revoke" => "Ended someone's access to act for you",
        "guardian.manage" => "Looked at guardians' access",
        "guardian.start" => "Gave a guardian access",
        "guardian.end" => "Ended a guardian's access",
        other => other,
    };
    match outcome {
        Outcome::Allowed => base.to_owned(),
        Outcome::Denied => format!("{base} (refused)"),
        Outcome::NotFound => format!("{base} (not found)"),
    }
}

fn role_label(role: &str) -> String {
    StaffRole::parse(role)
        .map(|r| r.label().to_owned())
        .or_else(|| match OperatorRole::parse(role) {
            Some(OperatorRole::PlatformAdmin) => Some("Platform operator".to_owned()),
            Some(OperatorRole::PrivacyOfficer) => Some("Privacy officer".to_owned()),
            None => None,
        })
        .unwrap_or_else(|| {
            match role {
                "patient" => "Patient".to_owned(),
                // Someone acting for the patient, under a grant.
                "proxy" => "Your proxy".to_owned(),
                "guardian" => "Your guardian".to_owned(),
                other => other.to_owned(),
            }
        })
}

impl Tiaki {
    /// Every access to a patient's records, newest first, optionally within
    /// `[from, to)`.
    pub async fn access_history(
        &self,
        actor: &Actor,
        patient: PatientId,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        ctx: &RequestContext,
    ) -> Result<Vec<AccessRow>, CoreError> {
        let target = self
            .patient_target(actor, Action::ViewAccessHistory, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::ViewAccessHistory, target, ctx)
            .await?;
        let query = AuditQuery {
            patient: Some(patient),
            from,
            to,
            limit: HISTORY_LIMIT,
            ..AuditQuery::default()
        };
        let events = self.store.search(&query).await?;
        // Record the viewing after reading, so the list shows what came before it.
        self.audit.record(&grant, ctx, None).await?;
        let own = matches!(actor.kind, ActorKind::Patient { patient: p, .. } if p == patient);
        self.describe_rows(actor, events, own).await
    }

    async fn describe_rows(
        &self,
        viewer: &Actor,
        events: Vec<(u64, AuditEvent)>,
        with_titles: bool,
    ) -> Result<Vec<AccessRow>, CoreError> {
        // Look each distinct account, practice and document up once.
        let mut names: HashMap<AccountId, String> = HashMap::new();
        let mut practices: HashMap<PracticeId, String> = HashMap::new();
        let mut titles: HashMap<DocumentId, String> = HashMap::new();
        for (_, e) in &events {
            if let Some(a) = e.actor_account.filter(|a| !names.contains_key(a)) {
                let name = self.store.account(a).await?.map(|acc| acc.display_name);
                names.insert(a, name.unwrap_or_else(|| "A former account".to_owned()));
            }
            if let Some(p) = e.actor_practice.filter(|p| !practices.contains_key(p)) {
                let name = self.store.practice(p).await?.map(|pr| pr.name);
                practices.insert(p, name.unwrap_or_default());
            }
            if let Some(d) = e
                .document
                .filter(|d| with_titles && !titles.contains_key(d))
                && let Some(record) = self.store.document(d).await?
            {
                titles.insert(d, record.meta.title.as_str().to_owned());
            }
        }
        Ok(events
            .into_iter()
            .map(|(leaf_index, e)| AccessRow {
                leaf_index,
                access_id: e.id,
                at: e.at,
                who: match e.actor_account {
                    Some(a) if a == viewer.account => "You".to_owned(),
                    Some(a) => names.get(&a).cloned().unwrap_or_default(),
                    None => "Someone not signed in".to_owned(),
                },
                role: role_label(&e.actor_role),
                practice: e.actor_practice.and_then(|p| practices.get(&p).cloned()),
                what: describe(&e.action, e.outcome),
                document: e.document,
                document_title: e.document.and_then(|d| titles.get(&d).cloned()),
                outcome: e.outcome,
            })
            .collect())
    }

    /// The proof that one access is in the signed log, for a viewer who may see it.
    pub async fn access_proof(
        &self,
        actor: &Actor,
        access: AccessId,
        ctx: &RequestContext,
    ) -> Result<InclusionProof, CoreError> {
        let entry = self
            .store
            .log_entry_by_id(access)
            .await?
            .ok_or(CoreError::NotFound)?;
        let Some(patient) = entry.event.patient else {
            // Events about no patient are the privacy officer's alone.
            self.decide(actor, Action::SearchAudit, Target::Platform, ctx)
                .await?;
            return self.proof_for(entry.index).await;
        };
        let target = self
            .patient_target(actor, Action::ViewAccessHistory, patient, ctx)
            .await?;
        self.decide(actor, Action::ViewAccessHistory, target, ctx)
            .await?;
        self.proof_for(entry.index).await
    }

    async fn proof_for(&self, index: u64) -> Result<InclusionProof, CoreError> {
        let mut checkpoint = self.transparency.latest().await?;
        if checkpoint.size <= index {
            checkpoint = self.transparency.checkpoint().await?;
        }
        self.transparency
            .inclusion(index, checkpoint.size)
            .await?
            .ok_or_else(|| CoreError::Unavailable("no proof for a committed event".into()))
    }

    /// A privacy officer's search over every event.
    pub async fn audit_search(
        &self,
        actor: &Actor,
        mut query: AuditQuery,
        ctx: &RequestContext,
    ) -> Result<Vec<AccessRow>, CoreError> {
        let grant = self
            .decide(actor, Action::SearchAudit, Target::Platform, ctx)
            .await?;
        query.limit = query.limit.clamp(1, HISTORY_LIMIT);
        let events = self.store.search(&query).await?;
        self.audit.record(&grant, ctx, None).await?;
        self.describe_rows(actor, events, false).await
    }
}
