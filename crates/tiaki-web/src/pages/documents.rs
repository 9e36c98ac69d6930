//! A document's page, its content, and uploads from the patient page.

use super::{Nav, PageError, human_date, human_size, render};
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession, same_origin};
use crate::content::{Disposition, respond};
use crate::uploads::read_upload;
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tiaki_domain::{Action, ContentType, Target};
use tiaki_store::DocumentState;

#[derive(Template)]
#[template(path = "document.html")]
struct DocumentPage {
    nav: Option<Nav>,
    id: String,
    patient_id: String,
    title: String,
    kind: &'static str,
    added: String,
    filename: String,
    size: String,
    can_read: bool,
    is_image: bool,
    /// The content is in the offline archive (it can be asked for).
    archived: bool,
    /// The content was erased with the patient's key.
    erased: bool,
    /// When an open request asked for this archived document back.
    requested: Option<String>,
    csrf: String,
}

pub async fn view(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(document_id): Path<String>,
) -> Result<Response, PageError> {
    let document = path_id(&document_id)?;
    let listed = state
        .core
        .document_with_state(&session.actor, document, &ctx)
        .await?;
    let meta = listed.meta;
    let target = Target::Document {
        document: meta.id,
        patient: meta.patient,
        practice: meta.practice,
    };
    let page = DocumentPage {
        nav: Some(Nav::of(&state, &session).await),
        id: meta.id.to_string(),
        patient_id: meta.patient.to_string(),
        title: meta.title.as_str().to_owned(),
        kind: meta.kind.label(),
        added: human_date(meta.created_at),
        filename: meta.filename.as_str().to_owned(),
        size: human_size(meta.size_bytes),
        can_read: state
            .core
            .permits_with_facts(&session.actor, Action::ReadDocumentContent, target)
            .await,
        is_image: matches!(meta.content_type, ContentType::Png | ContentType::Jpeg),
        archived: listed.state == DocumentState::Archived,
        erased: listed.state == DocumentState::Erased,
        requested: listed.retrieval_requested_at.map(human_date),
        csrf: session.csrf.clone(),
    };
    Ok(render(StatusCode::OK, &page).into_response())
}

async fn serve(
    state: &AppState,
    session: &PageSession,
    ctx: &tiaki_audit::RequestContext,
    id: &str,
    disposition: Disposition,
) -> Result<Response, PageError> {
    let document = path_id(id)?;
    let opened = state
        .core
        .open_document(&session.actor, document, ctx)
        .await?;
    Ok(respond(opened, disposition))
}

pub async fn content(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(document_id): Path<String>,
) -> Result<Response, PageError> {
    serve(&state, &session, &ctx, &document_id, Disposition::Inline).await
}

pub async fn download(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(document_id): Path<String>,
) -> Result<Response, PageError> {
    serve(
        &state,
        &session,
        &ctx,
        &document_id,
        Disposition::Attachment,
    )
    .await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Asks for an archived document back, then shows its page again.
pub async fn request_retrieval(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(document_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let document = path_id(&document_id)?;
    state
        .core
        .request_retrieval(&session.actor, document, &ctx)
        .await?;
    Ok(Redirect::to(&format!("/documents/{document}")).into_response())
}

pub async fn upload(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(patient_id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let patient = path_id(&patient_id)?;
    let multipart = multipart.map_err(|e| {
        crate::error::Problem::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
    })?;
    read_upload(
        &state,
        &session.actor,
        patient,
        multipart,
        &ctx,
        Some(&session),
    )
    .await?;
    Ok(Redirect::to(&format!("/patients/{patient}?uploaded=1")).into_response())
}
