//! Operators' view of the platform: practices and counts, no clinical content.

use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct PracticeBody {
    id: String,
    name: String,
    region: String,
    patients: u64,
    documents: u64,
    staff: u64,
}

pub async fn practices(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
) -> Result<Json<Vec<PracticeBody>>, ApiError> {
    let counts = state.core.platform_overview(&actor, &ctx).await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|c| PracticeBody {
                id: c.practice.id.to_string(),
                name: c.practice.name,
                region: c.practice.region,
                patients: c.patients,
                documents: c.documents,
                staff: c.staff,
            })
            .collect(),
    ))
}
