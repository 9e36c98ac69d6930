//! Proxy and guardian access as pages: a patient's "who can act for me" (grant and
//! revoke), a practice's guardians of a child, and a proxy's list of people they can
//! act for, each a link to that person's records ("acting for"). What each page shows
//! and allows is the core's and the policy's decision; these handlers only shape it.

use super::{Nav, PageError, human_date, render};
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession, same_origin};
use crate::error::Problem;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tiaki_core::CoreError;
use tiaki_core::proxies::{GrantStatus, GrantView, ProxyRequest};
use tiaki_domain::{Access, PatientId, ProxyGrantId, ProxyKind, Scope, Scopes};
use time::{Duration, OffsetDateTime};

/// One grant as a row of a table.
pub struct GrantRow {
    id: String,
    who: String,
    kind: &'static str,
    scopes: String,
    until: String,
    status: &'static str,
    /// Whether this page may end it.
    can_end: bool,
}

/// "Health documents: can see and act; Messages: can see".
fn describe_scopes(scopes: &Scopes) -> String {
    scopes
        .granted()
        .into_iter()
        .map(|(scope, access)| format!("{}: {}", scope.label(), access.label()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn status_label(status: GrantStatus) -> &'static str {
    match status {
        GrantStatus::Active => "Active",
        GrantStatus::Expired => "Expired",
        GrantStatus::Revoked => "Ended",
    }
}

fn rows(views: Vec<GrantView>, endable: ProxyKind) -> Vec<GrantRow> {
    views
        .into_iter()
        .map(|v| GrantRow {
            id: v.grant.id.to_string(),
            who: v.grantee_name,
            kind: v.grant.kind.label(),
            scopes: describe_scopes(&v.grant.scopes),
            until: human_date(v.grant.expires_at),
            status: status_label(v.status),
            can_end: v.status == GrantStatus::Active && v.grant.kind == endable,
        })
        .collect()
}

/// A form's refusal, said on the form itself.
pub struct FormError {
    message: String,
    step_up: bool,
}

impl FormError {
    fn of(e: CoreError) -> (StatusCode, Self) {
        let step_up = matches!(e, CoreError::StepUpRequired);
        let problem = Problem::from(e);
        (
            problem.status,
            Self {
                message: problem.message,
                step_up,
            },
        )
    }
}

/// One scope's choice on the grant form.
pub struct ScopeChoice {
    name: &'static str,
    label: &'static str,
    chosen: &'static str,
}

#[derive(Template)]
#[template(path = "proxies.html")]
struct ProxiesPage {
    nav: Option<Nav>,
    csrf: String,
    patient_id: String,
    grants: Vec<GrantRow>,
    choices: Vec<ScopeChoice>,
    username: String,
    expires_on: String,
    min_date: String,
    notice: Option<String>,
    error: Option<String>,
    /// The error was a stale second factor: offer the step-up page.
    step_up: bool,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn notice_for(done: Option<&str>) -> Option<String> {
    match done {
        Some("granted") => Some("Done. They can now act for you as you chose.".to_owned()),
        Some("revoked") => Some("Done. Their access has ended.".to_owned()),
        Some("added") => Some("Guardian access is set up.".to_owned()),
        Some("ended") => Some("That guardian's access has ended.".to_owned()),
        _ => None,
    }
}

fn date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    at.format(&format).unwrap_or_default()
}

/// The grant form as last submitted (or its defaults).
#[derive(Debug, Deserialize, Default)]
pub struct GrantForm {
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    expires_on: String,
    documents: Option<String>,
    records: Option<String>,
    appointments: Option<String>,
    prescriptions: Option<String>,
    messages: Option<String>,
}

impl GrantForm {
    fn get(&self, scope: Scope) -> Option<&str> {
        match scope {
            Scope::Documents => self.documents.as_deref(),
            Scope::Records => self.records.as_deref(),
            Scope::Appointments => self.appointments.as_deref(),
            Scope::Prescriptions => self.prescriptions.as_deref(),
            Scope::Messages => self.messages.as_deref(),
        }
    }
}

async fn proxies_page(
    state: &AppState,
    session: &PageSession,
    ctx: &tiaki_audit::RequestContext,
    patient: PatientId,
    form: Option<&GrantForm>,
    notice: Option<String>,
    error: Option<FormError>,
) -> Result<ProxiesPage, PageError> {
    let views = state.core.proxies_of(&session.actor, patient, ctx).await?;
    let now = OffsetDateTime::now_utc();
    let choices = Scope::ALL
        .into_iter()
        .map(|scope| {
            let chosen = match form.and_then(|f| f.get(scope)) {
                Some("act") => "act",
                Some("read") => "read",
                Some(_) => "none",
                // A new form offers documents to see, nothing else.
                None if form.is_none() && scope == Scope::Documents => "read",
                None => "none",
            };
            ScopeChoice {
                name: scope.as_str(),
                label: scope.label(),
                chosen,
            }
        })
        .collect();
    Ok(ProxiesPage {
        nav: Some(Nav::of(state, session).await),
        csrf: session.csrf.clone(),
        patient_id: patient.to_string(),
        grants: rows(views, ProxyKind::Proxy),
        choices,
        username: form.map(|f| f.username.clone()).unwrap_or_default(),
        expires_on: form
            .map(|f| f.expires_on.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| date(now + Duration::days(365))),
        min_date: date(now),
        step_up: error.as_ref().is_some_and(|e| e.step_up),
        notice,
        error: error.map(|e| e.message),
    })
}

pub async fn proxies(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let patient = path_id(&patient_id)?;
    let notice = notice_for(done.done.as_deref());
    let page = proxies_page(&state, &session, &ctx, patient, None, notice, None).await?;
    Ok(render(StatusCode::OK, &page).into_response())
}

pub async fn grant(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(patient_id): Path<String>,
    Form(form): Form<GrantForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let patient: PatientId = path_id(&patient_id)?;
    let request = ProxyRequest {
        username: form.username.clone(),
        scopes: Scope::ALL
            .into_iter()
            .map(|scope| {
                (
                    scope.as_str().to_owned(),
                    form.get(scope).unwrap_or("none").to_owned(),
                )
            })
            .collect(),
        expires_on: form.expires_on.clone(),
    };
    match state
        .core
        .grant_proxy(&session.actor, patient, &request, &ctx)
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/patients/{patient}/proxies?done=granted")).into_response())
        }
        // Say what to fix on the same page, keeping what was typed.
        Err(e @ (CoreError::Invalid { .. } | CoreError::StepUpRequired)) => {
            let (status, error) = FormError::of(e);
            let page = proxies_page(
                &state,
                &session,
                &ctx,
                patient,
                Some(&form),
                None,
                Some(error),
            )
            .await?;
            Ok(render(status, &page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path((patient_id, grant_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let patient: PatientId = path_id(&patient_id)?;
    let grant: ProxyGrantId = path_id(&grant_id)?;
    state
        .core
        .revoke_proxy(&session.actor, patient, grant, &ctx)
        .await?;
    Ok(Redirect::to(&format!("/patients/{patient}/proxies?done=revoked")).into_response())
}

#[derive(Template)]
#[template(path = "guardians.html")]
struct GuardiansPage {
    nav: Option<Nav>,
    csrf: String,
    patient_id: String,
    patient_name: String,
    born: String,
    until_age: u8,
    grants: Vec<GrantRow>,
    username: String,
    notice: Option<String>,
    error: Option<String>,
    step_up: bool,
}

async fn guardians_page(
    state: &AppState,
    session: &PageSession,
    ctx: &tiaki_audit::RequestContext,
    patient: PatientId,
    username: String,
    notice: Option<String>,
    error: Option<FormError>,
) -> Result<GuardiansPage, PageError> {
    let views = state
        .core
        .guardians_of(&session.actor, patient, ctx)
        .await?;
    let child = state
        .core
        .view_patient(&session.actor, patient, ctx)
        .await?;
    Ok(GuardiansPage {
        nav: Some(Nav::of(state, session).await),
        csrf: session.csrf.clone(),
        patient_id: patient.to_string(),
        patient_name: format!("{} {}", child.given_name, child.family_name),
        born: child.date_of_birth.to_string(),
        until_age: state.core.config().guardian_until_age,
        grants: rows(views, ProxyKind::Guardian),
        username,
        step_up: error.as_ref().is_some_and(|e| e.step_up),
        notice,
        error: error.map(|e| e.message),
    })
}

pub async fn guardians(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let patient = path_id(&patient_id)?;
    let notice = notice_for(done.done.as_deref());
    let page = guardians_page(&state, &session, &ctx, patient, String::new(), notice, None).await?;
    Ok(render(StatusCode::OK, &page).into_response())
}

#[derive(Deserialize)]
pub struct GuardianForm {
    csrf: String,
    #[serde(default)]
    username: String,
}

pub async fn add_guardian(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(patient_id): Path<String>,
    Form(form): Form<GuardianForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let patient: PatientId = path_id(&patient_id)?;
    match state
        .core
        .add_guardian(&session.actor, patient, &form.username, &ctx)
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/patients/{patient}/guardians?done=added")).into_response())
        }
        Err(e @ (CoreError::Invalid { .. } | CoreError::StepUpRequired)) => {
            let (status, error) = FormError::of(e);
            let page = guardians_page(
                &state,
                &session,
                &ctx,
                patient,
                form.username,
                None,
                Some(error),
            )
            .await?;
            Ok(render(status, &page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn end_guardian(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path((patient_id, grant_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let patient: PatientId = path_id(&patient_id)?;
    let grant: ProxyGrantId = path_id(&grant_id)?;
    state
        .core
        .end_guardian(&session.actor, patient, grant, &ctx)
        .await?;
    Ok(Redirect::to(&format!("/patients/{patient}/guardians?done=ended")).into_response())
}

/// One person on the "acting for" list.
pub struct PersonRow {
    patient_id: String,
    name: String,
    kind: &'static str,
    scopes: String,
    until: String,
    documents: bool,
}

#[derive(Template)]
#[template(path = "acting_for.html")]
struct ActingForPage {
    nav: Option<Nav>,
    own_record: Option<String>,
    people: Vec<PersonRow>,
}

pub async fn acting_for(
    State(state): State<AppState>,
    session: PageSession,
) -> Result<Response, PageError> {
    let people = state.core.acting_for(&session.actor).await?;
    let own_record = match session.actor.kind {
        tiaki_domain::ActorKind::Patient { patient, .. } => Some(patient.to_string()),
        _ => None,
    };
    let page = ActingForPage {
        nav: Some(Nav::of(&state, &session).await),
        own_record,
        people: people
            .into_iter()
            .map(|p| PersonRow {
                patient_id: p.patient.to_string(),
                name: p.name,
                kind: p.grant.kind.label(),
                scopes: describe_scopes(&p.grant.scopes),
                until: human_date(p.grant.expires_at),
                documents: p.grant.scopes.allows(Scope::Documents, Access::Read),
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page).into_response())
}
