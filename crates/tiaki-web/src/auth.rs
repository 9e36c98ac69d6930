//! Extractors that gather credentials. They turn a token or cookie into an `Actor`
//! through the core, and nothing more: what the actor may do is the policy's question.

use crate::AppState;
use crate::error::{ApiError, Problem};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use std::net::SocketAddr;
use tiaki_audit::RequestContext;
use tiaki_core::CoreError;
use tiaki_domain::Actor;

/// The session cookie. `__Host-` pins it to this origin, path `/`, Secure.
pub const SESSION_COOKIE: &str = "__Host-tiaki_session";
/// The login form's double-submit CSRF cookie (there is no session yet to bind to).
pub const LOGIN_CSRF_COOKIE: &str = "__Host-tiaki_login";

/// Where the request came from, and why, for the audit event.
#[derive(Debug, Clone)]
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical());
        let purpose = parts
            .headers
            .get("x-tiaki-purpose")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|p| !p.is_empty() && p.len() <= 80)
            .filter(|p| {
                p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -_.".contains(c))
            })
            .map(str::to_owned);
        Ok(Self(RequestContext { address, purpose }))
    }
}

/// A caller of the JSON API, by bearer token.
#[derive(Debug, Clone, Copy)]
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(CoreError::Unauthenticated)?;
        Ok(Self(state.core.authenticate(token).await?))
    }
}

/// A signed-in person on the web pages, by session cookie, with the CSRF token their
/// forms must carry.
#[derive(Debug, Clone)]
pub struct PageSession {
    pub actor: Actor,
    pub csrf: String,
}

/// Page requests without a valid session go to the sign-in page; a password-only
/// session goes to the second-factor page, which is all it can reach.
#[derive(Debug)]
pub enum PageRejection {
    SignIn,
    SecondFactor,
    Failed(Problem),
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/login").into_response(),
            Self::SecondFactor => Redirect::to(crate::pages::second_factor::PATH).into_response(),
            Self::Failed(p) => crate::pages::problem_page(&p),
        }
    }
}

impl FromRequestParts<AppState> for PageSession {
    type Rejection = PageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or(PageRejection::SignIn)?;
        match state.core.authenticate(&token).await {
            Ok(actor) => Ok(Self {
                csrf: state.core.csrf_token(actor.session),
                actor,
            }),
            Err(CoreError::Unauthenticated) => {
                match state.core.authenticate_pending(&token).await {
                    Ok(_) => Err(PageRejection::SecondFactor),
                    Err(_) => Err(PageRejection::SignIn),
                }
            }
            Err(e) => Err(PageRejection::Failed(e.into())),
        }
    }
}

impl PageSession {
    /// Checks a form's CSRF field against this session.
    pub fn check_csrf(&self, state: &AppState, presented: &str) -> Result<(), Problem> {
        if state.core.csrf_valid(self.actor.session, presented) {
            Ok(())
        } else {
            Err(csrf_problem())
        }
    }
}

pub fn csrf_problem() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "This form has expired. Please go back, reload the page and try again.",
    )
}

/// Refuses a state-changing page request from another site. Browsers send `Origin` on
/// POST (as `null` under a strict referrer policy) and, today, `Sec-Fetch-Site`; a
/// request either names as cross-site is refused whatever its cookies say.
pub fn same_origin(headers: &axum::http::HeaderMap) -> Result<(), Problem> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
    {
        return Err(csrf_problem());
    }
    let Some(origin) = header(header::ORIGIN.as_str()) else {
        return Ok(());
    };
    if origin == "null" {
        // An opaque origin is only acceptable when the browser vouches for it.
        return if header("sec-fetch-site") == Some("same-origin") {
            Ok(())
        } else {
            Err(csrf_problem())
        };
    }
    let host = header(header::HOST.as_str()).unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(csrf_problem())
    }
}
