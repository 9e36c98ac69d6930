//! The JSON endpoints `static/passkeys.js` talks to: for each WebAuthn ceremony, one to
//! get the options and one to send the browser's answer. They belong to the pages
//! (session cookie, a CSRF token in the `X-CSRF-Token` header, same-origin only) and
//! answer errors in the API's JSON form, which the script shows.
//!
//! - no session yet: sign in with a discoverable passkey alone (the sign-in page's
//!   double-submit CSRF token goes in the header);
//! - a password-only session: sign in with a passkey, or register the account's first
//!   passkey (which completes the sign-in);
//! - a signed-in session: add a passkey (needs a fresh factor), or step up with one.

use super::devices::trust_if_asked;
use super::login::session_cookie;
use super::second_factor::PendingPage;
use super::step_up::safe_next;
use crate::AppState;
use crate::api::sessions::user_agent;
use crate::auth::{Ctx, LOGIN_CSRF_COOKIE, PageSession, csrf_problem, same_origin};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tiaki_core::auth::PasskeyOptions;
use tiaki_domain::SessionId;

/// The options for `navigator.credentials`, and the ceremony to answer.
#[derive(Debug, Serialize)]
pub struct Started {
    ceremony: String,
    options: serde_json::Value,
}

impl From<PasskeyOptions> for Started {
    fn from(o: PasskeyOptions) -> Self {
        Self {
            ceremony: o.ceremony.to_string(),
            options: o.options,
        }
    }
}

/// The browser's answer, and what the person chose alongside it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finish {
    ceremony: uuid::Uuid,
    credential: serde_json::Value,
    /// A name for a new passkey.
    #[serde(default)]
    name: String,
    /// "Trust this device" at sign-in.
    #[serde(default)]
    trust_device: bool,
    /// Where to go after a step-up.
    #[serde(default)]
    next: Option<String>,
}

/// Where the script goes next; recovery codes to show once first, if any.
#[derive(Debug, Serialize)]
pub struct Done {
    redirect: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    recovery_codes: Vec<String>,
}

/// A JSON body, with rejections in the API's error form.
pub struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let crate::api::ApiJson(value) = crate::api::ApiJson::from_request(req, state).await?;
        Ok(Self(value))
    }
}

fn check(state: &AppState, headers: &HeaderMap, session: SessionId) -> Result<(), ApiError> {
    same_origin(headers)?;
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if state.core.csrf_valid(session, presented) {
        Ok(())
    } else {
        Err(csrf_problem().into())
    }
}

fn codes<T: std::ops::Deref<Target = String>>(codes: &[T]) -> Vec<String> {
    codes.iter().map(|c| c.as_str().to_owned()).collect()
}

// --- no session yet: a discoverable passkey ---------------------------------------------

fn check_login(headers: &HeaderMap, jar: &CookieJar) -> Result<(), ApiError> {
    same_origin(headers)?;
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let same = expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0;
    if expected.is_empty() || !same {
        return Err(csrf_problem().into());
    }
    Ok(())
}

pub async fn discover_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Json<Started>, ApiError> {
    check_login(&headers, &jar)?;
    let options = state.core.discoverable_options().await?;
    Ok(Json(options.into()))
}

pub async fn discover(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Body(body): Body<Finish>,
) -> Result<Response, ApiError> {
    check_login(&headers, &jar)?;
    let session = state
        .core
        .finish_discoverable_sign_in(body.ceremony, &body.credential, &ctx, user_agent(&headers))
        .await?;
    let jar = jar
        .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/"))
        .add(session_cookie(session.token.expose_secret().to_owned()));
    let done = Done {
        redirect: "/home".to_owned(),
        recovery_codes: Vec::new(),
    };
    Ok((jar, Json(done)).into_response())
}

// --- a password-only session -----------------------------------------------------------

pub async fn sign_in_options(
    State(state): State<AppState>,
    page: PendingPage,
    headers: HeaderMap,
) -> Result<Json<Started>, ApiError> {
    check(&state, &headers, page.pending.session)?;
    let options = state.core.passkey_sign_in_options(&page.pending).await?;
    Ok(Json(options.into()))
}

pub async fn sign_in(
    State(state): State<AppState>,
    page: PendingPage,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Body(body): Body<Finish>,
) -> Result<Response, ApiError> {
    check(&state, &headers, page.pending.session)?;
    let session = state
        .core
        .finish_passkey_sign_in(
            &page.pending,
            body.ceremony,
            &body.credential,
            &ctx,
            user_agent(&headers),
        )
        .await?;
    let jar = jar.add(session_cookie(session.token.expose_secret().to_owned()));
    let jar = trust_if_asked(
        &state,
        jar,
        &session.actor,
        body.trust_device,
        &ctx,
        user_agent(&headers),
    )
    .await?;
    let done = Done {
        redirect: "/home".to_owned(),
        recovery_codes: Vec::new(),
    };
    Ok((jar, Json(done)).into_response())
}

pub async fn enrol_options(
    State(state): State<AppState>,
    page: PendingPage,
    headers: HeaderMap,
) -> Result<Json<Started>, ApiError> {
    check(&state, &headers, page.pending.session)?;
    let options = state.core.passkey_enrolment_options(&page.pending).await?;
    Ok(Json(options.into()))
}

pub async fn enrol(
    State(state): State<AppState>,
    page: PendingPage,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Body(body): Body<Finish>,
) -> Result<Response, ApiError> {
    check(&state, &headers, page.pending.session)?;
    let enrolled = state
        .core
        .finish_passkey_enrolment(
            &page.pending,
            body.ceremony,
            &body.name,
            &body.credential,
            &ctx,
            user_agent(&headers),
        )
        .await?;
    let jar = jar.add(session_cookie(
        enrolled.session.token.expose_secret().to_owned(),
    ));
    let done = Done {
        redirect: "/home".to_owned(),
        recovery_codes: codes(&enrolled.recovery_codes),
    };
    Ok((StatusCode::CREATED, jar, Json(done)).into_response())
}

// --- a signed-in session ---------------------------------------------------------------

pub async fn add_options(
    State(state): State<AppState>,
    session: PageSession,
    headers: HeaderMap,
) -> Result<Json<Started>, ApiError> {
    check(&state, &headers, session.actor.session)?;
    let options = state
        .core
        .passkey_registration_options(&session.actor)
        .await?;
    Ok(Json(options.into()))
}

pub async fn add(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Body(body): Body<Finish>,
) -> Result<Response, ApiError> {
    check(&state, &headers, session.actor.session)?;
    let recovery = state
        .core
        .finish_passkey_registration(
            &session.actor,
            body.ceremony,
            &body.name,
            &body.credential,
            &ctx,
        )
        .await?;
    let done = Done {
        redirect: "/account/security?done=added".to_owned(),
        recovery_codes: codes(&recovery),
    };
    Ok((StatusCode::CREATED, Json(done)).into_response())
}

pub async fn step_up_options(
    State(state): State<AppState>,
    session: PageSession,
    headers: HeaderMap,
) -> Result<Json<Started>, ApiError> {
    check(&state, &headers, session.actor.session)?;
    let options = state.core.passkey_step_up_options(&session.actor).await?;
    Ok(Json(options.into()))
}

pub async fn step_up(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Body(body): Body<Finish>,
) -> Result<Response, ApiError> {
    check(&state, &headers, session.actor.session)?;
    let stepped = state
        .core
        .finish_passkey_step_up(&session.actor, body.ceremony, &body.credential, &ctx)
        .await?;
    let jar = jar.add(session_cookie(stepped.token.expose_secret().to_owned()));
    let done = Done {
        redirect: safe_next(body.next.as_deref()).to_owned(),
        recovery_codes: Vec::new(),
    };
    Ok((jar, Json(done)).into_response())
}

impl From<super::PageError> for ApiError {
    fn from(e: super::PageError) -> Self {
        Self(e.0)
    }
}
