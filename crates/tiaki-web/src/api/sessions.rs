//! Signing in and out with bearer tokens, and a person's own sessions.
//!
//! `POST /api/v1/sessions` needs the username, the password and a second factor in one
//! call. Every failure answers the same 401 `second_factor_required` body, so the API
//! says nothing about which part was wrong or whether the username exists; a
//! throttled attempt adds `Retry-After`.

use super::{ApiJson, path_id};
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::{ApiError, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tiaki_core::auth::SecondFactor;
use tiaki_core::sessions::SessionView;
use tiaki_domain::{ActorKind, SessionId};
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: SecretString,
    /// The 6-digit code from the authenticator app.
    totp: Option<SecretString>,
    /// One of the account's one-time recovery codes, instead of `totp`.
    recovery_code: Option<SecretString>,
}

#[derive(Debug, Serialize)]
pub struct TokenBody {
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

pub fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

pub async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let factor = match (body.totp, body.recovery_code) {
        (Some(code), None) => Some(SecondFactor::Totp(code)),
        (None, Some(code)) => Some(SecondFactor::RecoveryCode(code)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "Send either totp or recovery_code, not both.",
            )
            .into());
        }
    };
    let session = state
        .core
        .login(
            &body.username,
            &body.password,
            factor.as_ref(),
            &ctx,
            user_agent(&headers),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenBody {
            token: session.token.expose_secret().to_owned(),
            expires_at: session.expires_at,
        }),
    ))
}

pub async fn delete_current(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state.core.logout(&actor, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One active session, as `GET /api/v1/sessions` lists it.
#[derive(Debug, Serialize)]
pub struct SessionBody {
    id: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    address: Option<String>,
    user_agent: Option<String>,
    current: bool,
    second_factor: bool,
    /// Opened from a trusted device with the password alone.
    trusted_device: bool,
}

impl From<SessionView> for SessionBody {
    fn from(s: SessionView) -> Self {
        Self {
            id: s.id.to_string(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            address: s.address,
            user_agent: s.user_agent,
            current: s.current,
            second_factor: s.second_factor,
            trusted_device: s.trusted_device,
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<SessionBody>>, ApiError> {
    let sessions = state.core.sessions(&actor).await?;
    Ok(Json(sessions.into_iter().map(SessionBody::from).collect()))
}

pub async fn delete_one(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(session_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: SessionId = path_id(&session_id)?;
    state.core.revoke_session(&actor, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct RevokedBody {
    revoked: u64,
}

pub async fn delete_others(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
) -> Result<Json<RevokedBody>, ApiError> {
    let revoked = state.core.revoke_other_sessions(&actor, &ctx).await?;
    Ok(Json(RevokedBody { revoked }))
}

#[derive(Debug, Serialize)]
pub struct MeBody {
    account_id: String,
    username: String,
    display_name: String,
    role: &'static str,
    practice_id: Option<String>,
    patient_id: Option<String>,
}

pub async fn me(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<MeBody>, ApiError> {
    let me = state.core.me(&actor).await?;
    let patient_id = match actor.kind {
        ActorKind::Patient { patient, .. } => Some(patient.to_string()),
        _ => None,
    };
    Ok(Json(MeBody {
        account_id: actor.account.to_string(),
        username: me.account.username,
        display_name: me.account.display_name,
        role: actor.role_name(),
        practice_id: actor.practice().map(|p| p.to_string()),
        patient_id,
    }))
}
