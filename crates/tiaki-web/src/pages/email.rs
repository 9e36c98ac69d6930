//! A person's email address: see it, add a new one (a confirmation link goes to it),
//! and confirm it from the link — which works without signing in, because holding the
//! link is the proof.

use super::account_message::message_page;
use super::public_forms::{check, issue, wait_words};
use super::{Nav, PageError, render};
use crate::AppState;
use crate::auth::{Ctx, PageSession, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tiaki_core::CoreError;

#[derive(Template)]
#[template(path = "account_email.html")]
struct EmailPage {
    nav: Option<Nav>,
    csrf: String,
    verified: Option<String>,
    pending: Option<String>,
    entered: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "email_verify.html")]
struct VerifyPage {
    nav: Option<Nav>,
    csrf: String,
    token: String,
}

async fn page(
    state: &AppState,
    session: &PageSession,
    status: StatusCode,
    entered: String,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let status_now = state.core.email_status(&session.actor).await?;
    Ok(render(
        status,
        &EmailPage {
            nav: Some(Nav::of(state, session).await),
            csrf: session.csrf.clone(),
            verified: status_now.verified,
            pending: status_now.pending,
            entered,
            notice,
            error,
        },
    ))
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: PageSession,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let notice = match done.done.as_deref() {
        Some("sent") => Some(
            "We've sent a confirmation link. Open it to start using the new address.".to_owned(),
        ),
        _ => None,
    };
    page(
        &state,
        &session,
        StatusCode::OK,
        String::new(),
        notice,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    address: String,
}

pub async fn add(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let entered: String = form.address.chars().take(254).collect();
    match state
        .core
        .add_email(&session.actor, &form.address, &ctx)
        .await
    {
        Ok(()) => Ok(Redirect::to("/account/email?done=sent").into_response()),
        Err(CoreError::Invalid { message, .. }) => {
            page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                entered,
                None,
                Some(message),
            )
            .await
        }
        Err(CoreError::Throttled { retry_after_secs }) => {
            let error = format!(
                "We've sent several links already. Please wait {} before asking for another.",
                wait_words(retry_after_secs)
            );
            let mut response = page(
                &state,
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                entered,
                None,
                Some(error),
            )
            .await?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// The link's page: a button, so that a mail scanner fetching the link spends nothing.
pub async fn verify_form(
    jar: CookieJar,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let (jar, csrf) = issue(jar)?;
    let page = render(
        StatusCode::OK,
        &VerifyPage {
            nav: None,
            csrf,
            token: query.token.unwrap_or_default().chars().take(64).collect(),
        },
    );
    Ok((jar, page).into_response())
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
    token: String,
}

pub async fn verify(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<VerifyForm>,
) -> Result<Response, PageError> {
    check(&jar, &headers, &form.csrf)?;
    match state.core.verify_email(&form.token, &ctx).await {
        Ok(()) => Ok(message_page(
            StatusCode::OK,
            "Email address confirmed",
            "Thank you: this address is now the one we use for your account.",
            Some(("/home", "Go to your home page")),
        )),
        Err(CoreError::Invalid { message, .. }) => Ok(message_page(
            StatusCode::BAD_REQUEST,
            "This link can't be used",
            &message,
            Some(("/account/email", "Ask for a new link")),
        )),
        Err(e) => Err(e.into()),
    }
}
