//! Staff inviting an enrolled patient to register: the patient's registration status,
//! their invitations, and the form that sends a new one (shown once as a link and a
//! code). Who may invite whom is the policy's decision, made in the core.

use super::{Nav, PageError, human_date, render};
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tiaki_core::CoreError;
use tiaki_core::auth::IssuedInvitation;
use tiaki_domain::PatientId;

pub struct InvitationRow {
    address: String,
    sent: String,
    expires: String,
    status: &'static str,
}

pub struct Issued {
    address: String,
    link: String,
    code: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    nav: Option<Nav>,
    csrf: String,
    patient_id: String,
    patient_name: String,
    nhi: String,
    registered: bool,
    invitations: Vec<InvitationRow>,
    email: String,
    issued: Option<Issued>,
    error: Option<String>,
}

struct Extra {
    email: Option<String>,
    issued: Option<Issued>,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    session: &PageSession,
    ctx: &tiaki_audit::RequestContext,
    patient_id: PatientId,
    status: StatusCode,
    extra: Extra,
) -> Result<Response, PageError> {
    let actor = &session.actor;
    // The registration status first: it is the decision on whether this actor may
    // invite this patient, and refuses (404) everyone else before anything is shown.
    let registration = state
        .core
        .patient_registration(actor, patient_id, ctx)
        .await?;
    let patient = state.core.view_patient(actor, patient_id, ctx).await?;
    let page = InvitationPage {
        nav: Some(Nav::of(state, session).await),
        csrf: session.csrf.clone(),
        patient_id: patient.id.to_string(),
        patient_name: format!("{} {}", patient.given_name, patient.family_name),
        nhi: patient.nhi.as_str().to_owned(),
        registered: registration.registered,
        invitations: registration
            .invitations
            .iter()
            .map(|i| InvitationRow {
                address: i.address.clone(),
                sent: human_date(i.created_at),
                expires: human_date(i.expires_at),
                status: i.status.as_str(),
            })
            .collect(),
        email: extra
            .email
            .or(patient.email)
            .unwrap_or_default()
            .chars()
            .take(254)
            .collect(),
        issued: extra.issued,
        error: extra.error,
    };
    Ok(render(status, &page).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Response, PageError> {
    let patient_id = path_id(&patient_id)?;
    let extra = Extra {
        email: None,
        issued: None,
        error: None,
    };
    page(&state, &session, &ctx, patient_id, StatusCode::OK, extra).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    csrf: String,
    email: String,
}

pub async fn invite(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(patient_id): Path<String>,
    Form(form): Form<InviteForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let patient_id = path_id(&patient_id)?;
    match state
        .core
        .invite_patient(&session.actor, patient_id, &form.email, &ctx)
        .await
    {
        Ok(IssuedInvitation {
            link,
            code,
            expires_at,
            ..
        }) => {
            let extra = Extra {
                email: None,
                issued: Some(Issued {
                    address: form.email.trim().to_owned(),
                    link,
                    code,
                    expires: human_date(expires_at),
                }),
                error: None,
            };
            page(&state, &session, &ctx, patient_id, StatusCode::OK, extra).await
        }
        Err(CoreError::Invalid { message, .. }) => {
            let extra = Extra {
                email: Some(form.email),
                issued: None,
                error: Some(message),
            };
            page(
                &state,
                &session,
                &ctx,
                patient_id,
                StatusCode::BAD_REQUEST,
                extra,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
