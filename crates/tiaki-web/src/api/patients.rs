//! Patients over the JSON API.

use super::path_id;
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use tiaki_store::Patient;

#[derive(Debug, Serialize)]
pub struct PatientBody {
    id: String,
    practice_id: String,
    nhi: String,
    given_name: String,
    family_name: String,
    date_of_birth: String,
}

impl From<Patient> for PatientBody {
    fn from(p: Patient) -> Self {
        Self {
            id: p.id.to_string(),
            practice_id: p.practice.to_string(),
            nhi: p.nhi.as_str().to_owned(),
            given_name: p.given_name,
            family_name: p.family_name,
            date_of_birth: p.date_of_birth.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn search(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Vec<PatientBody>>, ApiError> {
    let found = state.core.search_patients(&actor, &query.q, &ctx).await?;
    Ok(Json(found.into_iter().map(PatientBody::from).collect()))
}

pub async fn view(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Json<PatientBody>, ApiError> {
    let patient = path_id(&patient_id)?;
    Ok(Json(
        state.core.view_patient(&actor, patient, &ctx).await?.into(),
    ))
}
