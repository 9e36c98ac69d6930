//! Registering with an invitation from one's practice: choose a username and a
//! password, then straight on to setting up an authenticator app (the new account's
//! password-only session can do nothing else).

use super::account_message::message_page;
use super::login::session_cookie;
use super::public_forms::{check, issue, wait_words};
use super::{PageError, render};
use crate::AppState;
use crate::api::sessions::user_agent;
use crate::auth::Ctx;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tiaki_core::CoreError;

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    nav: Option<super::Nav>,
    csrf: String,
    token: String,
    practice: Option<String>,
    username: String,
    error: Option<String>,
}

struct Shown {
    token: String,
    practice: Option<String>,
    username: String,
}

fn register_page(
    jar: CookieJar,
    status: StatusCode,
    shown: Shown,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (jar, csrf) = issue(jar)?;
    let page = render(
        status,
        &RegisterPage {
            nav: None,
            csrf,
            token: shown.token,
            practice: shown.practice,
            username: shown.username,
            error,
        },
    );
    Ok((jar, page).into_response())
}

fn unusable(message: &str) -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "This invitation can't be used",
        message,
        Some(("/login", "Sign in instead")),
    )
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.unwrap_or_default();
    if token.is_empty() {
        // No link: a form to type the code the practice gave.
        let shown = Shown {
            token,
            practice: None,
            username: String::new(),
        };
        return register_page(jar, StatusCode::OK, shown, None);
    }
    match state.core.invitation_preview(&token).await {
        Ok(preview) => {
            let shown = Shown {
                token,
                practice: Some(preview.practice_name),
                username: String::new(),
            };
            register_page(jar, StatusCode::OK, shown, None)
        }
        Err(CoreError::Invalid { message, .. }) => Ok(unusable(&message)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RegisterForm {
    csrf: String,
    token: String,
    username: String,
    password: SecretString,
    confirm: SecretString,
}

pub async fn register(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<RegisterForm>,
) -> Result<Response, PageError> {
    check(&jar, &headers, &form.csrf)?;
    let shown = Shown {
        token: form.token.trim().chars().take(64).collect(),
        practice: None,
        username: form.username.chars().take(64).collect(),
    };
    if form.password.expose_secret() != form.confirm.expose_secret() {
        let error = "The two passwords don't match. Please type them again.".to_owned();
        return register_page(jar, StatusCode::BAD_REQUEST, shown, Some(error));
    }
    match state
        .core
        .register_with_invitation(
            &form.token,
            &form.username,
            &form.password,
            &ctx,
            user_agent(&headers),
        )
        .await
    {
        Ok(pending) => {
            let jar = jar.add(session_cookie(pending.token.expose_secret().to_owned()));
            Ok((jar, Redirect::to(super::second_factor::PATH)).into_response())
        }
        Err(CoreError::Invalid {
            code: "invitation_invalid",
            message,
        }) => Ok(unusable(&message)),
        Err(CoreError::Invalid { message, .. }) => {
            register_page(jar, StatusCode::BAD_REQUEST, shown, Some(message))
        }
        Err(CoreError::Throttled { retry_after_secs }) => {
            let error = format!(
                "There have been too many attempts from here. Please wait {} and try again.",
                wait_words(retry_after_secs)
            );
            let mut response =
                register_page(jar, StatusCode::TOO_MANY_REQUESTS, shown, Some(error))?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
