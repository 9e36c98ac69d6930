//! A person's own sessions: where they are signed in, with sign-out for one or for
//! every other. Which sessions are theirs is the policy's decision, made in the core.

use super::{Nav, PageError, human_date, render};
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tiaki_domain::SessionId;

pub struct SessionRow {
    id: String,
    device: String,
    address: String,
    created: String,
    last_seen: String,
    current: bool,
    second_factor: bool,
    trusted_device: bool,
}

/// A trusted device, as the sessions page lists it.
pub struct DeviceRow {
    id: String,
    device: String,
    address: String,
    trusted: String,
    last_used: String,
    until: String,
}

#[derive(Template)]
#[template(path = "account_sessions.html")]
struct SessionsPage {
    nav: Option<Nav>,
    csrf: String,
    sessions: Vec<SessionRow>,
    others: usize,
    devices: Vec<DeviceRow>,
    notice: Option<String>,
}

/// A short, human name for a user agent: enough to recognise a device, no more.
fn device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "Unknown device".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "Mac"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

pub(crate) fn human_time(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[hour]:[minute] UTC");
    format!(
        "{}, {}",
        human_date(at),
        at.format(&format).unwrap_or_default()
    )
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

pub async fn sessions(
    State(state): State<AppState>,
    session: PageSession,
    Query(query): Query<Notice>,
) -> Result<Response, PageError> {
    let views = state.core.sessions(&session.actor).await?;
    let others = views.iter().filter(|s| !s.current).count();
    let sessions = views
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            device: device(s.user_agent.as_deref()),
            address: s.address.unwrap_or_else(|| "—".to_owned()),
            created: human_time(s.created_at),
            last_seen: human_time(s.last_seen_at),
            current: s.current,
            second_factor: s.second_factor,
            trusted_device: s.trusted_device,
        })
        .collect();
    let devices = state
        .core
        .trusted_devices(&session.actor)
        .await?
        .into_iter()
        .map(|d| DeviceRow {
            id: d.id.to_string(),
            device: device(d.user_agent.as_deref()),
            address: d.address.unwrap_or_else(|| "—".to_owned()),
            trusted: human_time(d.created_at),
            last_used: d
                .last_used_at
                .map_or_else(|| "not yet".to_owned(), human_time),
            until: human_date(d.expires_at),
        })
        .collect();
    let notice = match query.done.as_deref() {
        Some("one") => Some("That session is signed out.".to_owned()),
        Some("others") => Some("You're now signed out everywhere else.".to_owned()),
        Some("device") => Some(
            "That device is no longer trusted: it will ask for a second step next time.".to_owned(),
        ),
        _ => None,
    };
    let nav = Some(Nav::of(&state, &session).await);
    Ok(render(
        StatusCode::OK,
        &SessionsPage {
            nav,
            csrf: session.csrf.clone(),
            sessions,
            others,
            devices,
            notice,
        },
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let id: SessionId = path_id(&session_id)?;
    state.core.revoke_session(&session.actor, id, &ctx).await?;
    Ok(Redirect::to("/account/sessions?done=one").into_response())
}

pub async fn revoke_others(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    state
        .core
        .revoke_other_sessions(&session.actor, &ctx)
        .await?;
    Ok(Redirect::to("/account/sessions?done=others").into_response())
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn devices_get_short_names() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/120.0 Safari/537.36";
        assert_eq!(device(Some(chrome)), "Chrome on Linux");
        assert_eq!(device(Some("curl/8.5.0")), "curl");
        assert_eq!(device(None), "Unknown device");
    }
}
