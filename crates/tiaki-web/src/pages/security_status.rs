//! The security status page: the same status as the API and the notice, with the
//! documents' titles (which an email never carries).

use super::{Nav, PageError, render};
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tiaki_core::incidents::{IncidentStatus, moment};

struct Line {
    reference: String,
    accessed_at: String,
    sentence: String,
    title: String,
}

struct Section {
    number: u64,
    title: String,
    lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "security_status.html")]
struct StatusPage {
    nav: Option<Nav>,
    patient_id: String,
    affected: bool,
    sections: Vec<Section>,
}

fn section(i: &IncidentStatus) -> Section {
    Section {
        number: i.number,
        title: i.title.clone(),
        lines: i
            .accesses
            .iter()
            .map(|a| Line {
                reference: a.reference.clone(),
                accessed_at: moment(a.accessed_at),
                sentence: a.sentence(),
                title: a.document_title.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

pub async fn status(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Response, PageError> {
    let patient: tiaki_domain::PatientId = path_id(&patient_id)?;
    let status = state
        .core
        .security_status(&session.actor, patient, &ctx)
        .await?;
    let page = StatusPage {
        nav: Some(Nav::of(&state, &session).await),
        patient_id: patient.to_string(),
        affected: status.affected,
        sections: status.incidents.iter().map(section).collect(),
    };
    Ok(render(StatusCode::OK, &page).into_response())
}
