//! Archived documents over the JSON API: asking for one back, and the OpenAPI
//! description of the archive's part of documents (their `state`, the 410 their content
//! answers).

use super::path_id;
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use tiaki_store::RetrievalRequest;
use time::format_description::well_known::Rfc3339;

/// A retrieval request as the API shows it.
#[derive(Debug, Serialize)]
pub struct RetrievalBody {
    id: String,
    document_id: String,
    requested_at: String,
    status: &'static str,
}

impl From<RetrievalRequest> for RetrievalBody {
    fn from(r: RetrievalRequest) -> Self {
        Self {
            id: r.id.to_string(),
            document_id: r.document.to_string(),
            requested_at: r.requested_at.format(&Rfc3339).unwrap_or_default(),
            status: r.resolution.map_or("open", |res| res.as_str()),
        }
    }
}

pub async fn request_retrieval(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(document_id): Path<String>,
) -> Result<(StatusCode, Json<RetrievalBody>), ApiError> {
    let document = path_id(&document_id)?;
    let request = state.core.request_retrieval(&actor, document, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(request.into())))
}

/// Adds the retrieval route, the documents' state and the content route's 410.
pub(super) fn extend_openapi(doc: &mut Value) {
    use super::openapi::{authed, error_response, id_param, ok_json};
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.insert(
            "/api/v1/documents/{document_id}/retrieval-request".into(),
            json!({ "post": authed(json!({
                "operationId": "requestDocumentRetrieval",
                "summary": "Ask the practice to bring an archived document back online (whoever may read it; audited). Asking again answers the open request.",
                "parameters": [id_param("document_id")],
                "responses": {
                    "202": ok_json("Recorded; the practice restores it from the offline archive", json!({
                        "type": "object", "required": ["id", "document_id", "requested_at", "status"], "properties": {
                            "id": { "type": "string", "format": "uuid" }, "document_id": { "type": "string", "format": "uuid" },
                            "requested_at": { "type": "string", "format": "date-time" },
                            "status": { "type": "string", "enum": ["open", "restored", "erased"] } } })),
                    "400": error_response("not_archived (it is online) or erased") } })) }),
        );
        if let Some(responses) = paths
            .get_mut("/api/v1/documents/{document_id}/content")
            .and_then(|p| p.get_mut("get"))
            .and_then(|op| op.get_mut("responses"))
            .and_then(Value::as_object_mut)
        {
            responses.insert(
                "410".into(),
                error_response(
                    "archived (ask for it back with the retrieval request) or erased: the document cannot be opened online",
                ),
            );
        }
    }
    if let Some(props) = doc
        .pointer_mut("/components/schemas/Document/properties")
        .and_then(Value::as_object_mut)
    {
        props.insert(
            "state".into(),
            json!({ "type": "string", "enum": ["online", "archived", "erased"],
                "description": "online: readable; archived: sealed to the offline archive key, ask for it back; erased: gone with the patient's key" }),
        );
        props.insert(
            "retrieval_requested_at".into(),
            json!({ "type": ["string", "null"], "format": "date-time", "description": "When an open request asked for this archived document back" }),
        );
    }
}
