//! Finding and viewing patients: staff search their own practice's list; a patient
//! sees their own header.

use crate::{CoreError, Tiaki};
use tiaki_audit::RequestContext;
use tiaki_domain::{Action, Actor, PatientId, Target};
use tiaki_store::Patient;

/// The most rows a search returns; the guard (not this cap) is what limits breadth.
pub const SEARCH_LIMIT: u32 = 50;

impl Tiaki {
    /// Searches the actor's own practice by NHI or name.
    pub async fn search_patients(
        &self,
        actor: &Actor,
        query: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<Patient>, CoreError> {
        let practice = actor.practice().ok_or(CoreError::NotFound)?;
        let grant = self
            .decide(
                actor,
                Action::SearchPatients,
                Target::Practice(practice),
                ctx,
            )
            .await?;
        let query = query.trim();
        if query.chars().count() < 2 {
            return Err(CoreError::invalid(
                "query_too_short",
                "type at least two characters of a name, or an NHI number",
            ));
        }
        if query.chars().count() > 100 {
            return Err(CoreError::invalid(
                "query_too_long",
                "that search is too long",
            ));
        }
        self.audit.record(&grant, ctx, None).await?;
        Ok(self
            .store
            .patient_search(practice, query, SEARCH_LIMIT)
            .await?)
    }

    /// One patient's demographic header.
    pub async fn view_patient(
        &self,
        actor: &Actor,
        patient: PatientId,
        ctx: &RequestContext,
    ) -> Result<Patient, CoreError> {
        let target = self
            .patient_target(actor, Action::ViewPatient, patient, ctx)
            .await?;
        let grant = self.decide(actor, Action::ViewPatient, target, ctx).await?;
        let admission = self.admit(&grant, ctx, None).await?;
        self.record_admitted(&grant, admission, ctx, None).await?;
        self.store
            .patient(patient)
            .await?
            .ok_or(CoreError::NotFound)
    }
}
