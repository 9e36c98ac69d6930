//! Forgotten passwords: ask for a link by username or email address (the answer never
//! says whether an account matched), then use the link to choose a new password. The
//! link signs nobody in; the next sign-in still needs the second factor.

use super::account_message::message_page;
use super::public_forms::{check, issue, wait_words};
use super::{PageError, render};
use crate::AppState;
use crate::auth::Ctx;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tiaki_core::CoreError;

#[derive(Template)]
#[template(path = "password_reset_request.html")]
struct RequestPage {
    nav: Option<super::Nav>,
    csrf: String,
    entered: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "password_reset_complete.html")]
struct CompletePage {
    nav: Option<super::Nav>,
    csrf: String,
    token: String,
    error: Option<String>,
}

fn request_page(
    jar: CookieJar,
    status: StatusCode,
    entered: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (jar, csrf) = issue(jar)?;
    let page = render(
        status,
        &RequestPage {
            nav: None,
            csrf,
            entered,
            error,
        },
    );
    Ok((jar, page).into_response())
}

fn complete_page(
    jar: CookieJar,
    status: StatusCode,
    token: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (jar, csrf) = issue(jar)?;
    let page = render(
        status,
        &CompletePage {
            nav: None,
            csrf,
            token,
            error,
        },
    );
    Ok((jar, page).into_response())
}

/// The page for a link that cannot be used (unknown, used, replaced or expired).
pub fn spent_link_page(message: &str) -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "This link can't be used",
        message,
        Some(("/password-reset", "Ask for a new link")),
    )
}

pub async fn form(jar: CookieJar) -> Result<Response, PageError> {
    request_page(jar, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
pub struct RequestForm {
    csrf: String,
    username_or_email: String,
}

pub async fn request(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<RequestForm>,
) -> Result<Response, PageError> {
    check(&jar, &headers, &form.csrf)?;
    let entered: String = form.username_or_email.chars().take(254).collect();
    match state
        .core
        .request_password_reset(&form.username_or_email, &ctx)
        .await
    {
        Ok(()) => Ok(message_page(
            StatusCode::OK,
            "Check your email",
            "If that matches an account with a confirmed email address, we've sent a link to \
             choose a new password. It works once, for a short time. If nothing arrives in a \
             few minutes, check your spam folder, or ask your practice for help.",
            Some(("/login", "Back to sign in")),
        )),
        Err(CoreError::Throttled { retry_after_secs }) => {
            let mut response = request_page(
                jar,
                StatusCode::TOO_MANY_REQUESTS,
                entered,
                Some(format!(
                    "There have been too many requests from here. Please wait {} and try again.",
                    wait_words(retry_after_secs)
                )),
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
        Err(CoreError::Invalid { message, .. }) => {
            request_page(jar, StatusCode::BAD_REQUEST, entered, Some(message))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

pub async fn complete_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.unwrap_or_default();
    // Looking only: opening the link (or a mail scanner fetching it) spends nothing.
    if !state.core.password_reset_link_valid(&token).await? {
        return Ok(spent_link_page(
            "This password-reset link has expired or has already been used. Links work once \
             and for a short time: please ask for a new one.",
        ));
    }
    complete_form_page(jar, token)
}

fn complete_form_page(jar: CookieJar, token: String) -> Result<Response, PageError> {
    complete_page(jar, StatusCode::OK, token, None)
}

#[derive(Deserialize)]
pub struct CompleteForm {
    csrf: String,
    token: String,
    password: SecretString,
    confirm: SecretString,
}

pub async fn complete(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<CompleteForm>,
) -> Result<Response, PageError> {
    check(&jar, &headers, &form.csrf)?;
    if form.password.expose_secret() != form.confirm.expose_secret() {
        return complete_page(
            jar,
            StatusCode::BAD_REQUEST,
            form.token,
            Some("The two new passwords don't match. Please type them again.".to_owned()),
        );
    }
    match state
        .core
        .complete_password_reset(&form.token, &form.password, &ctx)
        .await
    {
        Ok(()) => Ok(message_page(
            StatusCode::OK,
            "Your password is changed",
            "Your new password is set, and your account has been signed out everywhere. Sign in \
             with your new password and a code from your authenticator app.",
            Some(("/login", "Sign in")),
        )),
        Err(CoreError::Invalid {
            code: "link_invalid",
            message,
        }) => Ok(spent_link_page(&message)),
        Err(CoreError::Invalid { message, .. }) => {
            complete_page(jar, StatusCode::BAD_REQUEST, form.token, Some(message))
        }
        Err(e) => Err(e.into()),
    }
}
