//! Documents over the JSON API.

use super::path_id;
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::content::{Disposition, respond};
use crate::error::{ApiError, Problem};
use crate::uploads::read_upload;
use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tiaki_core::archive::ListedDocument;
use tiaki_domain::DocumentMeta;
use tiaki_store::DocumentState;

/// A document's metadata as the API shows it.
#[derive(Debug, Serialize)]
pub struct DocumentBody {
    id: String,
    patient_id: String,
    practice_id: String,
    kind: &'static str,
    title: String,
    filename: String,
    content_type: &'static str,
    size_bytes: u64,
    created_at: String,
    content_url: String,
    /// `online`, `archived` (ask for it back) or `erased`.
    state: &'static str,
    retrieval_requested_at: Option<String>,
}

impl From<DocumentMeta> for DocumentBody {
    fn from(m: DocumentMeta) -> Self {
        Self {
            id: m.id.to_string(),
            patient_id: m.patient.to_string(),
            practice_id: m.practice.to_string(),
            kind: m.kind.as_str(),
            title: m.title.as_str().to_owned(),
            filename: m.filename.as_str().to_owned(),
            content_type: m.content_type.mime(),
            size_bytes: m.size_bytes,
            created_at: m
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            content_url: format!("/api/v1/documents/{}/content", m.id),
            state: DocumentState::Online.as_str(),
            retrieval_requested_at: None,
        }
    }
}

impl From<ListedDocument> for DocumentBody {
    fn from(d: ListedDocument) -> Self {
        Self {
            state: d.state.as_str(),
            retrieval_requested_at: d.retrieval_requested_at.and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
            ..Self::from(d.meta)
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Json<Vec<DocumentBody>>, ApiError> {
    let patient = path_id(&patient_id)?;
    let docs = state
        .core
        .list_documents_with_state(&actor, patient, &ctx)
        .await?;
    Ok(Json(docs.into_iter().map(DocumentBody::from).collect()))
}

pub async fn meta(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(document_id): Path<String>,
) -> Result<Json<DocumentBody>, ApiError> {
    let document = path_id(&document_id)?;
    Ok(Json(
        state
            .core
            .document_with_state(&actor, document, &ctx)
            .await?
            .into(),
    ))
}

pub async fn content(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(document_id): Path<String>,
) -> Result<Response, ApiError> {
    let document = path_id(&document_id)?;
    let opened = state.core.open_document(&actor, document, &ctx).await?;
    Ok(respond(opened, Disposition::Attachment))
}

pub async fn upload(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let patient = path_id(&patient_id)?;
    let multipart = multipart.map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("Expected a multipart form: {}", e.body_text()),
        )
    })?;
    let meta = read_upload(&state, &actor, patient, multipart, &ctx, None).await?;
    Ok((StatusCode::CREATED, Json(DocumentBody::from(meta))))
}
