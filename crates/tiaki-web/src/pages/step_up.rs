//! "Confirm it's you": the step-up page. A code from the authenticator app, a recovery
//! code or a passkey makes this session fresh for a few minutes, so it may change
//! factors, the password or proxy access. Stepping up gives the session a new token,
//! so the cookie is replaced; then the person goes back where they were.

use super::login::session_cookie;
use super::second_factor::factor_of;
use super::{Nav, PageError, render};
use crate::AppState;
use crate::auth::{Ctx, PageSession, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tiaki_core::CoreError;

/// Where a step-up goes when it is not told.
const DEFAULT_NEXT: &str = "/account/security";

/// A local path to go back to, or the security page: never another site.
#[must_use]
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 200
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n
        }
        _ => DEFAULT_NEXT,
    }
}

#[derive(Template)]
#[template(path = "step_up.html")]
struct StepUpPage {
    nav: Option<Nav>,
    csrf: String,
    next: String,
    passkey: bool,
    totp: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn page(
    state: &AppState,
    session: &PageSession,
    next: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let overview = state.core.factors_overview(&session.actor).await?;
    Ok(render(
        status,
        &StepUpPage {
            nav: Some(Nav::of(state, session).await),
            csrf: session.csrf.clone(),
            next: next.to_owned(),
            passkey: !overview.passkeys.is_empty(),
            totp: overview.totp && overview.totp_allowed,
            error,
        },
    ))
}

pub async fn form(
    State(state): State<AppState>,
    session: PageSession,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(query.next.as_deref()).to_owned();
    page(&state, &session, &next, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct StepUpForm {
    csrf: String,
    code: SecretString,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<StepUpForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let next = safe_next(form.next.as_deref()).to_owned();
    match state
        .core
        .step_up(&session.actor, &factor_of(&form.code), &ctx)
        .await
    {
        Ok(stepped) => {
            let jar = jar.add(session_cookie(stepped.token.expose_secret().to_owned()));
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Err(CoreError::Invalid { message, .. }) => {
            page(
                &state,
                &session,
                &next,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await
        }
        Err(CoreError::Throttled { retry_after_secs }) => {
            let message = format!(
                "There have been too many tries. To keep your account safe, please wait {} and \
                 try again.",
                if retry_after_secs <= 60 {
                    "a minute".to_owned()
                } else {
                    format!("{} minutes", retry_after_secs.div_ceil(60))
                }
            );
            page(
                &state,
                &session,
                &next,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
