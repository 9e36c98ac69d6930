//! The front door and each role's home.

use super::{Nav, PageError, render};
use crate::AppState;
use crate::auth::{Ctx, PageSession, SESSION_COOKIE};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use tiaki_domain::ActorKind;

pub async fn front_door(jar: CookieJar) -> Redirect {
    if jar.get(SESSION_COOKIE).is_some() {
        Redirect::to("/home")
    } else {
        Redirect::to("/login")
    }
}

/// Patients land on their documents, staff on patient search, operators on the
/// platform overview.
pub async fn home(session: PageSession) -> Redirect {
    match session.actor.kind {
        ActorKind::Patient { patient, .. } => Redirect::to(&format!("/patients/{patient}")),
        ActorKind::Staff { .. } => Redirect::to("/patients"),
        ActorKind::Operator { .. } => Redirect::to("/operator"),
        // A practice system has no pages; it never holds a page session.
        ActorKind::Integration { .. } => Redirect::to("/login"),
    }
}

pub struct PracticeRow {
    name: String,
    region: String,
    patients: u64,
    documents: u64,
    staff: u64,
}

#[derive(Template)]
#[template(path = "operator.html")]
struct OperatorPage {
    nav: Option<Nav>,
    privacy_officer: bool,
    practices: Vec<PracticeRow>,
}

pub async fn operator(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
) -> Result<Response, PageError> {
    let counts = state.core.platform_overview(&session.actor, &ctx).await?;
    let practices = counts
        .into_iter()
        .map(|c| PracticeRow {
            name: c.practice.name,
            region: c.practice.region,
            patients: c.patients,
            documents: c.documents,
            staff: c.staff,
        })
        .collect();
    let nav = Some(Nav::of(&state, &session).await);
    let privacy_officer = state.core.permits(
        &session.actor,
        tiaki_domain::Action::SearchAudit,
        tiaki_domain::Target::Platform,
    );
    let page = OperatorPage {
        nav,
        privacy_officer,
        practices,
    };
    Ok(render(StatusCode::OK, &page).into_response())
}
