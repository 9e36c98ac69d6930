//! The person's sign-in security: their passkeys (add, remove), authenticator app and
//! recovery codes (make new ones). Every change needs a fresh second factor; without
//! one the person is sent to confirm it's them first, then comes back.

use super::account::human_time;
use super::{Nav, PageError, render};
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tiaki_core::CoreError;
use tiaki_domain::ids::PasskeyId;

const PATH: &str = "/account/security";

pub struct PasskeyRow {
    id: String,
    name: String,
    added: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "account_security.html")]
struct SecurityPage {
    nav: Option<Nav>,
    csrf: String,
    passkeys: Vec<PasskeyRow>,
    totp: bool,
    totp_allowed: bool,
    recovery_codes_left: u32,
    fresh_until: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes_new.html")]
struct NewCodesPage {
    nav: Option<Nav>,
    codes: Vec<String>,
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

async fn security_page(
    state: &AppState,
    session: &PageSession,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let overview = state.core.factors_overview(&session.actor).await?;
    let passkeys = overview
        .passkeys
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id.to_string(),
            name: p.name,
            added: human_time(p.created_at),
            last_used: p
                .last_used_at
                .map_or_else(|| "never".to_owned(), human_time),
        })
        .collect();
    Ok(render(
        status,
        &SecurityPage {
            nav: Some(Nav::of(state, session).await),
            csrf: session.csrf.clone(),
            passkeys,
            totp: overview.totp,
            totp_allowed: overview.totp_allowed,
            recovery_codes_left: overview.recovery_codes_left,
            fresh_until: overview.fresh_until.map(human_time),
            notice,
            error,
        },
    ))
}

pub async fn show(
    State(state): State<AppState>,
    session: PageSession,
    Query(query): Query<Notice>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_deref() {
        Some("added") => {
            Some("Your passkey is added. You're now signed out everywhere else.".to_owned())
        }
        Some("removed") => {
            Some("That passkey is removed. You're now signed out everywhere else.".to_owned())
        }
        _ => None,
    };
    security_page(&state, &session, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

fn to_step_up() -> Response {
    Redirect::to("/account/step-up?next=/account/security").into_response()
}

pub async fn remove_passkey(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(passkey_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let id: PasskeyId = path_id(&passkey_id)?;
    match state.core.remove_passkey(&session.actor, id, &ctx).await {
        Ok(()) => Ok(Redirect::to(&format!("{PATH}?done=removed")).into_response()),
        Err(CoreError::StepUpRequired) => Ok(to_step_up()),
        Err(CoreError::Invalid { message, .. }) => {
            security_page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                Some(message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn new_recovery_codes(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    match state
        .core
        .regenerate_recovery_codes(&session.actor, &ctx)
        .await
    {
        Ok(codes) => Ok(render(
            StatusCode::OK,
            &NewCodesPage {
                nav: Some(Nav::of(&state, &session).await),
                codes: codes.iter().map(|c| c.to_string()).collect(),
            },
        )),
        Err(CoreError::StepUpRequired) => Ok(to_step_up()),
        Err(e) => Err(e.into()),
    }
}
