//! A person's email address over the API: see it, add one (a confirmation link is
//! emailed to it), and confirm it with the link's token.

use super::ApiJson;
use super::password::api_error;
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct EmailBody {
    /// The confirmed address notices and reset links go to.
    address: Option<String>,
    /// An address waiting for its confirmation link to be opened.
    pending_address: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<EmailBody>, ApiError> {
    let status = state.core.email_status(&actor).await?;
    Ok(Json(EmailBody {
        address: status.verified,
        pending_address: status.pending,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    address: String,
}

#[derive(Debug, Serialize)]
pub struct SentBody {
    message: &'static str,
}

pub async fn add(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .core
        .add_email(&actor, &body.address, &ctx)
        .await
        .map_err(api_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SentBody {
            message: "A confirmation link has been sent to the address.",
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    token: String,
}

pub async fn verify(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<StatusCode, ApiError> {
    state.core.verify_email(&body.token, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
