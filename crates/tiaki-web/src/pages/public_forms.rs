//! Forms that work before anyone is signed in — asking for and using a password-reset
//! link, registering with an invitation, confirming an email address. There is no
//! session to bind a CSRF token to, so, like the sign-in form, each is guarded by a
//! double-submit cookie and the same-origin check.

use super::PageError;
use crate::auth::{csrf_problem, same_origin};
use axum::http::HeaderMap;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

/// The double-submit cookie of the public forms.
pub const FORM_CSRF_COOKIE: &str = "__Host-tiaki_form";

/// A fresh token for a form, and the jar that carries its cookie.
pub fn issue(jar: CookieJar) -> Result<(CookieJar, String), PageError> {
    let (token, _) = tiaki_crypto::generate_token()
        .map_err(|_| PageError::from(tiaki_core::CoreError::Unavailable("no randomness".into())))?;
    let cookie = Cookie::build((FORM_CSRF_COOKIE, token.clone()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    Ok((jar.add(cookie), token))
}

/// Checks a posted form: same origin, and its token matches the cookie.
pub fn check(jar: &CookieJar, headers: &HeaderMap, presented: &str) -> Result<(), PageError> {
    same_origin(headers)?;
    let expected = jar
        .get(FORM_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if expected.is_empty() || !equal(&expected, presented) {
        return Err(csrf_problem().into());
    }
    Ok(())
}

/// Compares in time that depends only on the lengths.
fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// "a minute", "15 minutes", "an hour": for telling someone how long to wait.
#[must_use]
pub fn wait_words(secs: u64) -> String {
    match secs {
        0..=60 => "a minute".to_owned(),
        3541..=3600 => "an hour".to_owned(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}
