//! The second step of signing in, all a password-only session can reach: present a
//! code from the authenticator app (or a recovery code), or — for an account that has
//! none yet — enrol one: scan the QR code or type the key, confirm with a code, and
//! see the recovery codes once. A passkey can be used instead (`passkeys.rs` has its
//! JSON endpoints); staff and operators, unless TOTP is allowed for them, register and
//! use passkeys only, presenting an existing factor first if they have one.

use super::login::session_cookie;
use super::{PageError, render};
use crate::AppState;
use crate::api::sessions::user_agent;
use crate::auth::{Ctx, SESSION_COOKIE, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tiaki_core::CoreError;
use tiaki_core::auth::{PendingSignIn, SecondFactor, SignInChoices};

/// Where a password-only session is sent.
pub const PATH: &str = "/login/second-factor";

/// A password-only session on the pages, with the CSRF token its forms carry.
#[derive(Debug)]
pub struct PendingPage {
    pub pending: PendingSignIn,
    pub csrf: String,
}

impl FromRequestParts<AppState> for PendingPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(Redirect::to("/login").into_response());
        };
        match state.core.authenticate_pending(&token).await {
            Ok(pending) => Ok(Self {
                csrf: state.core.csrf_token(pending.session),
                pending,
            }),
            // Already fully signed in: nothing to do here.
            Err(CoreError::Unauthenticated) => match state.core.authenticate(&token).await {
                Ok(_) => Err(Redirect::to("/home").into_response()),
                Err(_) => Err(Redirect::to("/login").into_response()),
            },
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

impl PendingPage {
    fn check_csrf(&self, state: &AppState, presented: &str) -> Result<(), PageError> {
        if state.core.csrf_valid(self.pending.session, presented) {
            Ok(())
        } else {
            Err(crate::auth::csrf_problem().into())
        }
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct CodePage {
    nav: Option<super::Nav>,
    csrf: String,
    error: Option<String>,
    /// An authenticator code completes the sign-in (else recovery codes only).
    totp: bool,
    passkey: bool,
    trust_days: i64,
}

#[derive(Template)]
#[template(path = "passkey_enrol.html")]
struct PasskeyEnrolPage {
    nav: Option<super::Nav>,
    csrf: String,
    /// The account has other factors: present one first.
    confirm_first: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    nav: Option<super::Nav>,
    csrf: String,
    secret: String,
    uri: String,
    account_name: String,
    qr_svg: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    nav: Option<super::Nav>,
    codes: Vec<String>,
}

/// The QR code of an `otpauth://` URI as inline SVG (an `<img>` of a data URL would
/// need a looser Content-Security-Policy). `None` if it cannot be drawn: the page
/// still shows the key to type in.
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let start = svg.find("<svg")?;
    let body = svg.get(start..)?;
    Some(body.replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" id=\"totp-qr\" ",
        1,
    ))
}

/// The second-factor page: a code form, or enrolment if the account has no
/// authenticator yet.
pub async fn show(State(state): State<AppState>, page: PendingPage) -> Result<Response, PageError> {
    let choices = state.core.sign_in_choices(&page.pending).await?;
    if page.pending.enrolled {
        return Ok(code_page(page.csrf, choices, StatusCode::OK, None, None));
    }
    if !choices.totp_allowed {
        return Ok(passkey_enrol_page(&page, choices, StatusCode::OK, None));
    }
    enrol_page(&state, &page, StatusCode::OK, None).await
}

fn passkey_enrol_page(
    page: &PendingPage,
    choices: SignInChoices,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    render(
        status,
        &PasskeyEnrolPage {
            nav: None,
            csrf: page.csrf.clone(),
            confirm_first: choices.must_confirm_before_enrolling,
            error,
        },
    )
}

fn code_page(
    csrf: String,
    choices: SignInChoices,
    status: StatusCode,
    error: Option<String>,
    retry_after: Option<u64>,
) -> Response {
    let mut response = render(
        status,
        &CodePage {
            nav: None,
            csrf,
            error,
            totp: choices.totp,
            passkey: choices.passkey,
            trust_days: choices.trusted_device_days,
        },
    );
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

async fn enrol_page(
    state: &AppState,
    page: &PendingPage,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let enrolment = state.core.totp_enrolment(&page.pending).await?;
    // The key is shown in groups of four so it can be typed without losing one's place.
    let grouped: Vec<String> = enrolment
        .secret_base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok(render(
        status,
        &EnrolPage {
            nav: None,
            csrf: page.csrf.clone(),
            secret: grouped.join(" "),
            qr_svg: qr_svg(&enrolment.otpauth_uri),
            uri: enrolment.otpauth_uri.to_string(),
            account_name: enrolment.account_name,
            error,
        },
    ))
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: SecretString,
    /// "Trust this device" (a checkbox).
    trust_device: Option<String>,
}

/// Six digits are an authenticator code; anything else is tried as a recovery code.
pub(crate) fn factor_of(code: &SecretString) -> SecondFactor {
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

fn wait_message(secs: u64) -> String {
    let minutes = secs.div_ceil(60);
    let when = if minutes <= 1 {
        "a minute".to_owned()
    } else {
        format!("{minutes} minutes")
    };
    format!(
        "There have been too many attempts to sign in to this account. To keep it safe, \
         please wait {when} and then try again."
    )
}

/// Presents a code; on success the password-only session ends and a new session
/// (new token) begins.
pub async fn verify(
    State(state): State<AppState>,
    page: PendingPage,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    page.check_csrf(&state, &form.csrf)?;
    let factor = factor_of(&form.code);
    let choices = state.core.sign_in_choices(&page.pending).await?;
    match state
        .core
        .complete_sign_in(&page.pending, &factor, &ctx, user_agent(&headers))
        .await
    {
        Ok(session) => {
            let jar = jar.add(session_cookie(session.token.expose_secret().to_owned()));
            let trust = super::devices::ticked(form.trust_device.as_deref());
            let jar = super::devices::trust_if_asked(
                &state,
                jar,
                &session.actor,
                trust,
                &ctx,
                user_agent(&headers),
            )
            .await?;
            Ok((jar, Redirect::to("/home")).into_response())
        }
        Err(CoreError::SecondFactorRequired) => Ok(code_page(
            page.csrf,
            choices,
            StatusCode::UNAUTHORIZED,
            Some(
                "That code didn't work. Check the code your authenticator app shows now (it \
                 changes every 30 seconds), or use one of your recovery codes."
                    .to_owned(),
            ),
            None,
        )),
        Err(CoreError::Throttled { retry_after_secs }) => Ok(code_page(
            page.csrf,
            choices,
            StatusCode::UNAUTHORIZED,
            Some(wait_message(retry_after_secs)),
            Some(retry_after_secs),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Confirms a new authenticator with a code from it, then shows the recovery codes
/// once.
pub async fn enrol(
    State(state): State<AppState>,
    page: PendingPage,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    page.check_csrf(&state, &form.csrf)?;
    if page.pending.enrolled {
        return Ok(Redirect::to(PATH).into_response());
    }
    match state
        .core
        .confirm_totp_enrolment(&page.pending, &form.code, &ctx, user_agent(&headers))
        .await
    {
        Ok(enrolled) => {
            let jar = jar.add(session_cookie(
                enrolled.session.token.expose_secret().to_owned(),
            ));
            let codes = enrolled
                .recovery_codes
                .iter()
                .map(|c| c.to_string())
                .collect();
            let page = render(StatusCode::OK, &RecoveryCodesPage { nav: None, codes });
            Ok((jar, page).into_response())
        }
        Err(CoreError::SecondFactorRequired) => {
            enrol_page(
                &state,
                &page,
                StatusCode::UNAUTHORIZED,
                Some(
                    "That code didn't match. Type the 6-digit code your authenticator app shows \
                     for Tiaki now, and check the phone's clock is set automatically."
                        .to_owned(),
                ),
            )
            .await
        }
        Err(CoreError::Throttled { retry_after_secs }) => {
            let mut response = enrol_page(
                &state,
                &page,
                StatusCode::UNAUTHORIZED,
                Some(wait_message(retry_after_secs)),
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

/// An account that must register a passkey but has other factors presents one of them
/// (an authenticator code or a recovery code) first; then it may register.
pub async fn confirm(
    State(state): State<AppState>,
    page: PendingPage,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    page.check_csrf(&state, &form.csrf)?;
    let factor = factor_of(&form.code);
    match state
        .core
        .confirm_for_enrolment(&page.pending, &factor, &ctx)
        .await
    {
        Ok(()) => Ok(Redirect::to(PATH).into_response()),
        Err(CoreError::SecondFactorRequired) => {
            let choices = state.core.sign_in_choices(&page.pending).await?;
            Ok(passkey_enrol_page(
                &page,
                choices,
                StatusCode::UNAUTHORIZED,
                Some(
                    "That code didn't work. Type the code your authenticator app shows now, or \
                     one of your recovery codes."
                        .to_owned(),
                ),
            ))
        }
        Err(CoreError::Throttled { retry_after_secs }) => {
            let choices = state.core.sign_in_choices(&page.pending).await?;
            let mut response = passkey_enrol_page(
                &page,
                choices,
                StatusCode::UNAUTHORIZED,
                Some(wait_message(retry_after_secs)),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
