//! Signing in and out with bearer tokens.

use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tiaki_domain::ActorKind;
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: SecretString,
}

#[derive(Debug, Serialize)]
pub struct TokenBody {
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

pub async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    super::ApiJson(body): super::ApiJson<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let session = state
        .core
        .login(&body.username, &body.password, &ctx, agent)
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
