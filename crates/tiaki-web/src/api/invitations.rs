//! Invitations to register over the API: staff see a patient's registration status and
//! issue an invitation; the patient registers with it. Registering opens no API
//! session: the new account sets up its authenticator through the web sign-in first.

use super::password::api_error;
use super::{ApiJson, path_id};
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Serialize)]
pub struct InvitationBody {
    id: String,
    email: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RegistrationBody {
    registered: bool,
    invitations: Vec<InvitationBody>,
}

pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Json<RegistrationBody>, ApiError> {
    let patient = path_id(&patient_id)?;
    let registration = state
        .core
        .patient_registration(&actor, patient, &ctx)
        .await?;
    Ok(Json(RegistrationBody {
        registered: registration.registered,
        invitations: registration
            .invitations
            .into_iter()
            .map(|i| InvitationBody {
                id: i.id.to_string(),
                email: i.address,
                created_at: i.created_at,
                expires_at: i.expires_at,
                status: i.status.as_str(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    email: String,
}

#[derive(Debug, Serialize)]
pub struct IssuedBody {
    id: String,
    link: String,
    code: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

pub async fn create(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let patient = path_id(&patient_id)?;
    let issued = state
        .core
        .invite_patient(&actor, patient, &body.email, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedBody {
            id: issued.id.to_string(),
            link: issued.link,
            code: issued.code,
            expires_at: issued.expires_at,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    invitation: String,
    username: String,
    password: SecretString,
}

#[derive(Debug, Serialize)]
pub struct RegisteredBody {
    username: String,
    message: &'static str,
}

pub async fn register(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<impl IntoResponse, ApiError> {
    let username = tiaki_core::auth::parse_username(&body.username)?;
    state
        .core
        .register_with_invitation(
            &body.invitation,
            &username,
            &body.password,
            &ctx,
            super::sessions::user_agent(&headers),
        )
        .await
        .map_err(api_error)?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredBody {
            username,
            message: "Your account is ready. Sign in on the web to set up your authenticator app.",
        }),
    ))
}
