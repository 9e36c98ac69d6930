//! A patient's security status as JSON: the same [`SecurityStatus`] the page renders
//! and the notice is written from.
//!
//! [`SecurityStatus`]: tiaki_core::incidents::SecurityStatus

use crate::AppState;
use crate::api::path_id;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use tiaki_core::incidents::{AccessLine, SecurityStatus};

/// The status with each access's sentence, the words the notice uses.
#[derive(Serialize)]
pub struct StatusBody {
    #[serde(flatten)]
    status: SecurityStatus,
    /// For each incident, each access's sentence, in the same order as `accesses`.
    sentences: Vec<Vec<String>>,
}

pub async fn status(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Json<StatusBody>, ApiError> {
    let patient = path_id(&patient_id)?;
    let status = state.core.security_status(&actor, patient, &ctx).await?;
    let sentences = status
        .incidents
        .iter()
        .map(|i| i.accesses.iter().map(AccessLine::sentence).collect())
        .collect();
    Ok(Json(StatusBody { status, sentences }))
}

pub(super) fn extend_openapi(doc: &mut serde_json::Value) {
    use super::openapi::{authed, id_param, ok_json};
    use serde_json::{Value, json};
    let line = json!({ "type": "object", "properties": {
        "reference": { "type": "string" }, "access_id": { "type": "string", "format": "uuid" },
        "reached": { "type": "string", "enum": ["document_content", "document_details", "document_list", "profile", "other"] },
        "accessed_at": { "type": "string", "format": "date-time" },
        "document": { "type": ["string", "null"], "format": "uuid" },
        "document_type": { "type": ["string", "null"] }, "document_title": { "type": ["string", "null"] },
        "document_date": { "type": ["string", "null"], "format": "date" },
        "bytes": { "type": ["integer", "null"] } } });
    let status = json!({ "type": "object", "required": ["patient", "affected", "incidents"], "properties": {
        "patient": { "type": "string", "format": "uuid" },
        "affected": { "type": "boolean" },
        "incidents": { "type": "array", "items": { "type": "object", "properties": {
            "number": { "type": "integer" }, "title": { "type": "string" },
            "published_at": { "type": ["string", "null"], "format": "date-time" },
            "accesses": { "type": "array", "items": line } } } },
        "sentences": { "type": "array", "items": { "type": "array", "items": { "type": "string" } } } } });
    let paths = json!({
        "/api/v1/patients/{patient_id}/security-status": { "get": authed(json!({
            "operationId": "securityStatus",
            "summary": "Whether a security incident reached this patient's record, and exactly what of it when",
            "description": "Rendered from each incident's published scope alone: the portal page and the notice say the same.",
            "parameters": [id_param("patient_id")],
            "responses": { "200": ok_json("The status", status) } })) }
    });
    if let (Some(target), Value::Object(more)) =
        (doc.get_mut("paths").and_then(Value::as_object_mut), paths)
    {
        target.extend(more);
    }
}
