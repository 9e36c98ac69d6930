//! Staff patient search and a patient's documents page.

use super::{Nav, PageError, human_date, human_size, render};
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tiaki_core::CoreError;
use tiaki_domain::{Action, ActorKind, Target};

pub struct ResultRow {
    id: String,
    name: String,
    nhi: String,
    born: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    nav: Option<Nav>,
    practice_note: String,
    query: String,
    searched: bool,
    results: Vec<ResultRow>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let nav = Some(Nav::of(&state, &session).await);
    let query_text = query.q.unwrap_or_default();
    let mut page = SearchPage {
        nav,
        practice_note: "Search the patients enrolled at your practice.".to_owned(),
        query: query_text.chars().take(100).collect(),
        searched: false,
        results: Vec::new(),
        error: None,
    };
    if !query_text.trim().is_empty() {
        match state
            .core
            .search_patients(&session.actor, &query_text, &ctx)
            .await
        {
            Ok(found) => {
                page.searched = true;
                page.results = found
                    .into_iter()
                    .map(|p| ResultRow {
                        id: p.id.to_string(),
                        name: format!("{} {}", p.given_name, p.family_name),
                        nhi: p.nhi.as_str().to_owned(),
                        born: p.date_of_birth.to_string(),
                    })
                    .collect();
            }
            Err(CoreError::Invalid { message, .. }) => page.error = Some(message),
            Err(e) => return Err(e.into()),
        }
    } else {
        // The empty search page is offered only to those the policy lets search.
        let allowed = session.actor.practice().is_some_and(|practice| {
            state.core.permits(
                &session.actor,
                Action::SearchPatients,
                Target::Practice(practice),
            )
        });
        if !allowed {
            return Err(CoreError::NotFound.into());
        }
    }
    Ok(render(StatusCode::OK, &page).into_response())
}

pub struct DocumentRow {
    id: String,
    title: String,
    kind: &'static str,
    added: String,
    size: String,
    /// `archived` or `erased`; `None` when it can be opened.
    offline: Option<&'static str>,
    archived: bool,
    retrieval_requested: bool,
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    nav: Option<Nav>,
    csrf: String,
    patient_id: String,
    patient_name: String,
    nhi: String,
    date_of_birth: String,
    documents: Vec<DocumentRow>,
    can_upload: bool,
    can_see_history: bool,
    can_see_security_status: bool,
    can_invite: bool,
    can_manage_proxies: bool,
    can_manage_guardians: bool,
    /// Set when a proxy or guardian is acting for this patient.
    acting_as: Option<&'static str>,
    staff: bool,
    limit_mib: u64,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct Notice {
    uploaded: Option<String>,
}

pub async fn documents(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    let patient_id = path_id(&patient_id)?;
    let actor = &session.actor;
    let patient = state.core.view_patient(actor, patient_id, &ctx).await?;
    let documents = state
        .core
        .list_documents_with_state(actor, patient_id, &ctx)
        .await?;
    let target = Target::Patient {
        patient: patient.id,
        practice: patient.practice,
    };
    let page = PatientPage {
        nav: Some(Nav::of(&state, &session).await),
        csrf: session.csrf.clone(),
        patient_id: patient.id.to_string(),
        patient_name: format!("{} {}", patient.given_name, patient.family_name),
        nhi: patient.nhi.as_str().to_owned(),
        date_of_birth: patient.date_of_birth.to_string(),
        documents: documents
            .into_iter()
            .map(|l| DocumentRow {
                id: l.meta.id.to_string(),
                title: l.meta.title.as_str().to_owned(),
                kind: l.meta.kind.label(),
                added: human_date(l.meta.created_at),
                size: human_size(l.meta.size_bytes),
                offline: (l.state != tiaki_store::DocumentState::Online).then(|| l.state.as_str()),
                archived: l.state == tiaki_store::DocumentState::Archived,
                retrieval_requested: l.retrieval_requested_at.is_some(),
            })
            .collect(),
        // With the facts loaded: a proxy may upload where their grant lets them act.
        can_upload: state
            .core
            .permits_with_facts(actor, Action::UploadDocument, target)
            .await,
        can_see_history: state.core.permits(actor, Action::ViewAccessHistory, target),
        can_see_security_status: state
            .core
            .permits(actor, Action::ViewSecurityStatus, target),
        can_invite: state.core.permits(actor, Action::InvitePatient, target),
        can_manage_proxies: state.core.permits(actor, Action::ManageProxies, target),
        can_manage_guardians: state.core.permits(actor, Action::ManageGuardians, target),
        acting_as: state
            .core
            .acting_as(actor, target)
            .await
            .map(tiaki_domain::ProxyKind::as_str),
        staff: matches!(actor.kind, ActorKind::Staff { .. }),
        limit_mib: state.core.config().max_upload_bytes.div_ceil(1024 * 1024),
        notice: notice
            .uploaded
            .map(|_| "Your document was uploaded and stored securely.".to_owned()),
    };
    Ok(render(StatusCode::OK, &page).into_response())
}
