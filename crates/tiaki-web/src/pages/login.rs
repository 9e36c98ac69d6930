//! The sign-in page and sign-out. Before a session exists the form is protected by a
//! double-submit cookie; afterwards every form carries the session-bound token.
//!
//! A right password opens only a password-only session and sends the person on to
//! the second-factor page (`second_factor.rs`).

use super::render;
use crate::AppState;
use crate::auth::{Ctx, LOGIN_CSRF_COOKIE, PageSession, SESSION_COOKIE, csrf_problem, same_origin};
use crate::error::Problem;
use crate::pages::PageError;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle_compare::equal;
use tiaki_core::CoreError;
use tiaki_core::auth::PasswordOutcome;

mod subtle_compare {
    /// Compares two strings in time that depends only on their lengths.
    pub fn equal(a: &str, b: &str) -> bool {
        a.len() == b.len()
            && a.bytes()
                .zip(b.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<super::Nav>,
    csrf: String,
    username: String,
    error: Option<String>,
}

/// The session cookie carrying `token`.
pub fn session_cookie(token: String) -> Cookie<'static> {
    cookie(SESSION_COOKIE, token)
}

fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build()
}

fn login_page(
    jar: CookieJar,
    status: StatusCode,
    username: String,
    error: Option<String>,
) -> Response {
    let Ok((token, _)) = tiaki_crypto::generate_token() else {
        return super::problem_page(
            &tiaki_core::CoreError::Unavailable("no randomness".into()).into(),
        );
    };
    let jar = jar.add(cookie(LOGIN_CSRF_COOKIE, token.clone()));
    let page = render(
        status,
        &LoginPage {
            nav: None,
            csrf: token,
            username,
            error,
        },
    );
    (jar, page).into_response()
}

pub async fn form(jar: CookieJar) -> Response {
    login_page(jar, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: SecretString,
}

pub async fn submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if expected.is_empty() || !equal(&expected, &form.csrf) {
        return Err(csrf_problem().into());
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let devices = super::devices::device_cookies(&jar);
    match state
        .core
        .login_password_on_device(&form.username, &form.password, &devices, &ctx, agent)
        .await
    {
        Ok(PasswordOutcome::SecondFactor(pending)) => {
            let jar = jar
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/"))
                .add(session_cookie(pending.token.expose_secret().to_owned()));
            Ok((jar, Redirect::to(super::second_factor::PATH)).into_response())
        }
        // A trusted device: signed in without a second step.
        Ok(PasswordOutcome::SignedIn(session)) => {
            let jar = jar
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/"))
                .add(session_cookie(session.token.expose_secret().to_owned()));
            Ok((jar, Redirect::to("/home")).into_response())
        }
        Err(CoreError::BadCredentials) => Ok(login_page(
            jar,
            StatusCode::UNAUTHORIZED,
            form.username.chars().take(254).collect(),
            Some(
                "That username and password don't match an account. Check them and try again."
                    .to_owned(),
            ),
        )),
        Err(CoreError::Throttled { retry_after_secs }) => {
            let mut response = login_page(
                jar,
                StatusCode::UNAUTHORIZED,
                form.username.chars().take(254).collect(),
                Some(format!(
                    "There have been too many attempts to sign in from here. To keep accounts \
                     safe, please wait {} and then try again.",
                    if retry_after_secs <= 60 {
                        "a minute".to_owned()
                    } else {
                        format!("{} minutes", retry_after_secs.div_ceil(60))
                    }
                )),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    state.core.logout(&session.actor, &ctx).await?;
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}

impl From<axum::extract::rejection::FormRejection> for PageError {
    fn from(r: axum::extract::rejection::FormRejection) -> Self {
        Self(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_form",
            r.body_text(),
        ))
    }
}
