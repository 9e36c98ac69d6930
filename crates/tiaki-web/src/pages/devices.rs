//! Trusted devices on the web: the device cookie (set when the person ticks "trust
//! this device" at the second factor, read at sign-in), and revoking a device from the
//! sessions page. What a cookie is worth is decided in the core.

use super::PageError;
use crate::AppState;
use crate::api::path_id;
use crate::auth::{Ctx, PageSession, same_origin};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tiaki_audit::RequestContext;
use tiaki_core::CoreError;
use tiaki_core::auth::{DEVICE_COOKIE_PREFIX, DeviceCookie};
use tiaki_domain::Actor;
use tiaki_domain::ids::TrustedDeviceId;

/// The device cookies the browser sent (name and value), for the core to judge.
pub fn device_cookies(jar: &CookieJar) -> Vec<(String, String)> {
    jar.iter()
        .filter(|c| c.name().starts_with(DEVICE_COOKIE_PREFIX))
        .take(16)
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect()
}

fn cookie(device: &DeviceCookie) -> Cookie<'static> {
    Cookie::build((device.name.clone(), device.value.expose_secret().to_owned()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(device.max_age)
        .build()
}

/// If the person asked to trust this device, trusts it and adds its cookie. Asking
/// where trusting is turned off changes nothing.
pub async fn trust_if_asked(
    state: &AppState,
    jar: CookieJar,
    actor: &Actor,
    asked: bool,
    ctx: &RequestContext,
    user_agent: Option<&str>,
) -> Result<CookieJar, PageError> {
    if !asked {
        return Ok(jar);
    }
    match state.core.trust_device(actor, ctx, user_agent).await {
        Ok(device) => Ok(jar.add(cookie(&device))),
        Err(CoreError::Invalid { .. }) => Ok(jar),
        Err(e) => Err(e.into()),
    }
}

/// A checkbox's value: present and not "off" means ticked.
#[must_use]
pub fn ticked(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "off" && v != "false")
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Stops trusting one of the person's devices.
pub async fn revoke(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(device_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let id: TrustedDeviceId = path_id(&device_id)?;
    state
        .core
        .revoke_trusted_device(&session.actor, id, &ctx)
        .await?;
    Ok(Redirect::to("/account/sessions?done=device").into_response())
}
