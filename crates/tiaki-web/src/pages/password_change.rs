//! Changing one's password while signed in: the current password and a current code in
//! the same form (this action's step-up), checked inline. On success this browser gets
//! a new session and every other session ends.

use super::login::session_cookie;
use super::public_forms::wait_words;
use super::{Nav, PageError, render};
use crate::AppState;
use crate::api::sessions::user_agent;
use crate::auth::{Ctx, PageSession, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tiaki_core::CoreError;
use tiaki_core::auth::{PasswordChange, SecondFactor};

#[derive(Template)]
#[template(path = "password_change.html")]
struct ChangePage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
}

/// Six digits are an authenticator code; anything else is tried as a recovery code.
#[must_use]
pub fn factor_of(code: &SecretString) -> SecondFactor {
    let compact: String = code
        .expose_secret()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if compact.len() == 6 && compact.bytes().all(|b| b.is_ascii_digit()) {
        SecondFactor::Totp(SecretString::from(compact))
    } else {
        SecondFactor::RecoveryCode(code.clone())
    }
}

async fn page(
    state: &AppState,
    session: &PageSession,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    render(
        status,
        &ChangePage {
            nav: Some(Nav::of(state, session).await),
            csrf: session.csrf.clone(),
            notice,
            error,
        },
    )
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    session: PageSession,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    // The policy decides who may change a password (everyone: their own).
    state.core.me(&session.actor).await?;
    let notice = done.done.map(|_| {
        "Your password is changed, and you've been signed out everywhere else.".to_owned()
    });
    Ok(page(&state, &session, StatusCode::OK, notice, None).await)
}

#[derive(Deserialize)]
pub struct ChangeForm {
    csrf: String,
    current_password: SecretString,
    code: SecretString,
    new_password: SecretString,
    confirm: SecretString,
}

pub async fn change(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    if form.new_password.expose_secret() != form.confirm.expose_secret() {
        let error = "The two new passwords don't match. Please type them again.".to_owned();
        return Ok(page(&state, &session, StatusCode::BAD_REQUEST, None, Some(error)).await);
    }
    let change = PasswordChange {
        current_password: form.current_password,
        factor: factor_of(&form.code),
        new_password: form.new_password,
    };
    match state
        .core
        .change_password(&session.actor, &change, &ctx, user_agent(&headers))
        .await
    {
        Ok(new) => {
            let jar = jar.add(session_cookie(new.token.expose_secret().to_owned()));
            Ok((jar, Redirect::to("/account/password?done=1")).into_response())
        }
        Err(CoreError::Invalid { message, .. }) => Ok(page(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            None,
            Some(message),
        )
        .await),
        Err(CoreError::Throttled { retry_after_secs }) => {
            let error = format!(
                "There have been too many attempts. To keep your account safe, please wait {} \
                 and try again.",
                wait_words(retry_after_secs)
            );
            let mut response = page(
                &state,
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some(error),
            )
            .await;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
