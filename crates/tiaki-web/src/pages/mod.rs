//! Server-rendered pages. Every form carries a session-bound CSRF token; templates
//! escape everything they print. The only script is `static/passkeys.js`, for the
//! WebAuthn ceremonies a passkey needs; everything else works without it.

pub mod access;
pub mod account;
mod account_message;
pub mod assets;
pub mod devices;
pub mod documents;
pub mod email;
pub mod guard;
pub mod home;
pub mod invitations;
pub mod login;
pub mod passkeys;
pub mod password_change;
pub mod password_reset;
pub mod patients;
pub mod proxies;
mod public_forms;
pub mod register;
pub mod second_factor;
pub mod security;
pub mod security_status;
pub mod step_up;

use crate::AppState;
use crate::auth::PageSession;
use crate::error::Problem;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tiaki_domain::{ActorKind, OperatorRole};

/// The signed-in strip at the top of every page.
#[derive(Debug, Clone)]
pub struct Nav {
    pub name: String,
    pub role: String,
    pub csrf: String,
}

impl Nav {
    pub async fn of(state: &AppState, session: &PageSession) -> Self {
        let name = state
            .core
            .account_name(session.actor.account)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let role = match session.actor.kind {
            ActorKind::Patient { .. } => "Patient".to_owned(),
            ActorKind::Staff { role, .. } => role.label().to_owned(),
            ActorKind::Operator {
                role: OperatorRole::PlatformAdmin,
            } => "Platform operator".to_owned(),
            ActorKind::Operator {
                role: OperatorRole::PrivacyOfficer,
            } => "Privacy officer".to_owned(),
            ActorKind::Integration { .. } => "Practice system".to_owned(),
        };
        Self {
            name,
            role,
            csrf: session.csrf.clone(),
        }
    }
}

/// Renders a template, or an opaque error page if rendering fails.
pub fn render<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    nav: Option<Nav>,
    heading: &'a str,
    message: &'a str,
}

/// An error as a page, with the same status the API would give.
pub fn problem_page(problem: &Problem) -> Response {
    let heading = match problem.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Please try again",
        StatusCode::PAYLOAD_TOO_LARGE => "That file is too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "That kind of file can't be added",
        StatusCode::BAD_REQUEST => "Something needs fixing",
        _ => "Sorry, that didn't work",
    };
    render(
        problem.status,
        &ProblemPage {
            nav: None,
            heading,
            message: &problem.message,
        },
    )
}

/// A page's failure: shown as a page.
#[derive(Debug)]
pub struct PageError(pub Problem);

impl From<Problem> for PageError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<tiaki_core::CoreError> for PageError {
    fn from(e: tiaki_core::CoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        problem_page(&self.0)
    }
}

/// "1.2 MiB", "340 KiB", "12 bytes".
#[must_use]
pub fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{}.{} MiB", bytes / MIB, bytes % MIB * 10 / MIB)
    } else if bytes >= KIB {
        format!("{} KiB", bytes.div_ceil(KIB))
    } else {
        format!("{bytes} bytes")
    }
}

/// A date for people: "23 Nov 2026".
#[must_use]
pub fn human_date(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    at.format(&format).unwrap_or_default()
}
