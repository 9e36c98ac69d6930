//! "Who accessed my records" for patients, and the privacy officer's search page.

use super::{Nav, PageError, render};
use crate::AppState;
use crate::api::audit::{SearchQuery, audit_query, csv_response, day_range};
use crate::api::path_id;
use crate::auth::{Ctx, PageSession};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tiaki_core::access::AccessRow;

pub struct Row {
    when: String,
    who: String,
    role: String,
    practice: String,
    what: String,
    document: String,
    access_id: String,
    refused: bool,
}

fn rows(found: Vec<AccessRow>) -> Vec<Row> {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:short] [year] [hour]:[minute]"
    );
    found
        .into_iter()
        .map(|r| Row {
            when: r.at.format(&format).unwrap_or_default(),
            who: r.who,
            role: r.role,
            practice: r.practice.unwrap_or_default(),
            what: r.what,
            document: r
                .document_title
                .or_else(|| r.document.map(|d| d.to_string()))
                .unwrap_or_default(),
            access_id: r.access_id.to_string(),
            refused: r.outcome != tiaki_audit::Outcome::Allowed,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    nav: Option<Nav>,
    patient_id: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Range {
    from: Option<String>,
    to: Option<String>,
}

pub async fn history(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    Query(range): Query<Range>,
) -> Result<Response, PageError> {
    let patient: tiaki_domain::PatientId = path_id(&patient_id)?;
    let mut page = AccessPage {
        nav: Some(Nav::of(&state, &session).await),
        patient_id: patient.to_string(),
        from: range
            .from
            .clone()
            .unwrap_or_default()
            .chars()
            .take(10)
            .collect(),
        to: range
            .to
            .clone()
            .unwrap_or_default()
            .chars()
            .take(10)
            .collect(),
        rows: Vec::new(),
        error: None,
    };
    let (from, to) = match day_range(range.from.as_deref(), range.to.as_deref()) {
        Ok(r) => r,
        Err(p) => {
            page.error = Some(p.message);
            (None, None)
        }
    };
    let found = state
        .core
        .access_history(&session.actor, patient, from, to, &ctx)
        .await?;
    page.rows = rows(found);
    Ok(render(StatusCode::OK, &page).into_response())
}

pub async fn history_csv(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    Query(range): Query<Range>,
) -> Result<Response, PageError> {
    let patient: tiaki_domain::PatientId = path_id(&patient_id)?;
    let (from, to) = day_range(range.from.as_deref(), range.to.as_deref())?;
    let found = state
        .core
        .access_history(&session.actor, patient, from, to, &ctx)
        .await?;
    Ok(csv_response(&found))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    q: SearchQuery,
    searched: bool,
    rows: Vec<Row>,
    error: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let searched = [
        &q.actor,
        &q.patient,
        &q.document,
        &q.address,
        &q.from,
        &q.to,
    ]
    .iter()
    .any(|f| f.as_deref().is_some_and(|v| !v.trim().is_empty()));
    let mut page = AuditPage {
        nav: Some(Nav::of(&state, &session).await),
        q: SearchQuery::default(),
        searched,
        rows: Vec::new(),
        error: None,
    };
    match audit_query(&q) {
        Ok(query) => {
            let found = state.core.audit_search(&session.actor, query, &ctx).await?;
            if searched {
                page.rows = rows(found);
            }
        }
        Err(p) => {
            // Still decide (and audit) the request before saying what was wrong.
            state
                .core
                .audit_search(&session.actor, Default::default(), &ctx)
                .await?;
            page.error = Some(p.message);
        }
    }
    page.q = q;
    Ok(render(StatusCode::OK, &page).into_response())
}
