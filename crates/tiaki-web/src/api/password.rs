//! Passwords over the API: changing one's own (current password and a second factor in
//! the same call), and the two halves of a reset by emailed link.
//!
//! Asking for a reset always answers 202 with the same body, whether or not an account
//! matched; only a flood from one address is refused (429, which says nothing about
//! accounts).

use super::ApiJson;
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tiaki_core::CoreError;
use tiaki_core::auth::{PasswordChange, SecondFactor};
use time::OffsetDateTime;

/// A core error, with a refusal for too many requests as 429 (not the sign-in 401).
pub fn api_error(e: CoreError) -> ApiError {
    match e {
        CoreError::Throttled { retry_after_secs } => {
            let mut problem = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests. Please wait and try again.",
            );
            problem.retry_after = Some(retry_after_secs);
            problem.into()
        }
        other => other.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    current_password: SecretString,
    totp: Option<SecretString>,
    recovery_code: Option<SecretString>,
    new_password: SecretString,
}

#[derive(Debug, Serialize)]
pub struct TokenBody {
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

pub async fn change(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let factor = match (body.totp, body.recovery_code) {
        (Some(code), None) => SecondFactor::Totp(code),
        (None, Some(code)) => SecondFactor::RecoveryCode(code),
        _ => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "Send either totp or recovery_code (one of them).",
            )
            .into());
        }
    };
    let change = PasswordChange {
        current_password: body.current_password,
        factor,
        new_password: body.new_password,
    };
    let session = state
        .core
        .change_password(&actor, &change, &ctx, super::sessions::user_agent(&headers))
        .await
        .map_err(api_error)?;
    Ok(Json(TokenBody {
        token: session.token.expose_secret().to_owned(),
        expires_at: session.expires_at,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    username_or_email: String,
}

#[derive(Debug, Serialize)]
pub struct AcceptedBody {
    message: &'static str,
}

pub const RESET_ACCEPTED: &str = "If that matches an account with a confirmed email address, a \
link to choose a new password has been sent to it.";

pub async fn request_reset(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .core
        .request_password_reset(&body.username_or_email, &ctx)
        .await
        .map_err(api_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedBody {
            message: RESET_ACCEPTED,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    token: String,
    password: SecretString,
}

pub async fn complete_reset(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .complete_password_reset(&body.token, &body.password, &ctx)
        .await
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}
