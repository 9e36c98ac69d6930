//! Step-up, one's own factors and trusted devices over the JSON API.
//!
//! `POST /api/v1/sessions/current/step-up` takes `{totp}` or `{recovery_code}` and makes
//! the calling session fresh for sensitive actions for a few minutes. Stepping up is a
//! privilege change, so it answers a **new token**: the one used for the call is dead
//! from then on. Sensitive calls made without a fresh factor answer 403
//! `step_up_required`. Passkeys are registered and used through the web pages (they
//! need a browser); here they can be listed and removed.

use super::path_id;
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::{ApiError, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::ExposeSecret;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tiaki_core::auth::SecondFactor;
use tiaki_domain::ids::{PasskeyId, TrustedDeviceId};
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpBody {
    totp: Option<SecretString>,
    recovery_code: Option<SecretString>,
}

#[derive(Debug, Serialize)]
pub struct SteppedUpBody {
    /// The session's new token; the old one no longer works.
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    fresh_until: OffsetDateTime,
}

pub async fn step_up(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    super::ApiJson(body): super::ApiJson<StepUpBody>,
) -> Result<Json<SteppedUpBody>, ApiError> {
    let factor = match (body.totp, body.recovery_code) {
        (Some(code), None) => SecondFactor::Totp(code),
        (None, Some(code)) => SecondFactor::RecoveryCode(code),
        _ => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "Send one of totp or recovery_code.",
            )
            .into());
        }
    };
    let stepped = state.core.step_up(&actor, &factor, &ctx).await?;
    Ok(Json(SteppedUpBody {
        token: stepped.token.expose_secret().to_owned(),
        fresh_until: stepped.fresh_until,
    }))
}

#[derive(Debug, Serialize)]
pub struct PasskeyBody {
    id: String,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize)]
pub struct FactorsBody {
    passkeys: Vec<PasskeyBody>,
    totp: bool,
    totp_allowed: bool,
    recovery_codes_left: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    fresh_until: Option<OffsetDateTime>,
}

pub async fn factors(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<FactorsBody>, ApiError> {
    let o = state.core.factors_overview(&actor).await?;
    Ok(Json(FactorsBody {
        passkeys: o
            .passkeys
            .into_iter()
            .map(|p| PasskeyBody {
                id: p.id.to_string(),
                name: p.name,
                created_at: p.created_at,
                last_used_at: p.last_used_at,
            })
            .collect(),
        totp: o.totp,
        totp_allowed: o.totp_allowed,
        recovery_codes_left: o.recovery_codes_left,
        fresh_until: o.fresh_until,
    }))
}

#[derive(Debug, Serialize)]
pub struct RecoveryCodesBody {
    recovery_codes: Vec<String>,
}

pub async fn new_recovery_codes(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
) -> Result<impl IntoResponse, ApiError> {
    let codes = state.core.regenerate_recovery_codes(&actor, &ctx).await?;
    Ok((
        StatusCode::CREATED,
        Json(RecoveryCodesBody {
            recovery_codes: codes.iter().map(|c| c.as_str().to_owned()).collect(),
        }),
    ))
}

pub async fn delete_passkey(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(passkey_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: PasskeyId = path_id(&passkey_id)?;
    state.core.remove_passkey(&actor, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct DeviceBody {
    id: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    address: Option<String>,
    user_agent: Option<String>,
}

pub async fn devices(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<DeviceBody>>, ApiError> {
    let devices = state.core.trusted_devices(&actor).await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceBody {
                id: d.id.to_string(),
                created_at: d.created_at,
                expires_at: d.expires_at,
                last_used_at: d.last_used_at,
                address: d.address,
                user_agent: d.user_agent,
            })
            .collect(),
    ))
}

pub async fn delete_device(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: TrustedDeviceId = path_id(&device_id)?;
    state.core.revoke_trusted_device(&actor, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This module's part of the OpenAPI document.
pub(crate) fn openapi_paths() -> serde_json::Value {
    use super::openapi::{authed, error_response, id_param, ok_json};
    use serde_json::json;
    let step_up_403 = error_response(
        "No second factor within the last few minutes: step up first (code step_up_required)",
    );
    json!({
        "/api/v1/sessions/current/step-up": { "post": authed(json!({
            "operationId": "stepUp",
            "summary": "Present a second factor (totp or recovery_code) so this session may make sensitive changes for a few minutes",
            "description": "Answers a new token for this session; the token used for the call no longer works. A wrong code answers 400 step_up_failed.",
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": false, "properties": {
                "totp": { "type": "string", "pattern": "^[0-9]{6}$" }, "recovery_code": { "type": "string" } } } } } },
            "responses": {
                "200": ok_json("Stepped up", json!({ "type": "object", "required": ["token", "fresh_until"], "properties": {
                    "token": { "type": "string" }, "fresh_until": { "type": "string", "format": "date-time" } } })),
                "400": error_response("Malformed body, or the code was not right (step_up_failed)") } })) },
        "/api/v1/account/factors": { "get": authed(json!({
            "operationId": "factors", "summary": "The caller's passkeys, authenticator app and recovery codes left",
            "responses": { "200": ok_json("Factors", json!({ "type": "object", "properties": {
                "passkeys": { "type": "array", "items": { "type": "object", "properties": {
                    "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" },
                    "created_at": { "type": "string", "format": "date-time" },
                    "last_used_at": { "type": ["string", "null"], "format": "date-time" } } } },
                "totp": { "type": "boolean" }, "totp_allowed": { "type": "boolean" },
                "recovery_codes_left": { "type": "integer", "minimum": 0 },
                "fresh_until": { "type": ["string", "null"], "format": "date-time" } } })) } })) },
        "/api/v1/account/recovery-codes": { "post": authed(json!({
            "operationId": "newRecoveryCodes", "summary": "Replace the caller's recovery codes (needs a fresh factor; signs out every other session and forgets trusted devices)",
            "responses": {
                "201": ok_json("The new codes, shown once", json!({ "type": "object", "required": ["recovery_codes"], "properties": {
                    "recovery_codes": { "type": "array", "items": { "type": "string" } } } })),
                "403": step_up_403 } })) },
        "/api/v1/account/passkeys/{passkey_id}": { "delete": authed(json!({
            "operationId": "deletePasskey", "summary": "Remove one of the caller's passkeys (needs a fresh factor; never the last factor; signs out every other session)",
            "parameters": [id_param("passkey_id")],
            "responses": {
                "204": { "description": "Removed" },
                "400": error_response("It is the last factor the account can sign in with (last_factor)"),
                "403": step_up_403 } })) },
        "/api/v1/trusted-devices": { "get": authed(json!({
            "operationId": "trustedDevices", "summary": "Devices that skip the second factor for the caller, newest first",
            "responses": { "200": ok_json("Devices", json!({ "type": "array", "items": { "type": "object", "properties": {
                "id": { "type": "string", "format": "uuid" },
                "created_at": { "type": "string", "format": "date-time" },
                "expires_at": { "type": "string", "format": "date-time" },
                "last_used_at": { "type": ["string", "null"], "format": "date-time" },
                "address": { "type": ["string", "null"] }, "user_agent": { "type": ["string", "null"] } } } })) } })) },
        "/api/v1/trusted-devices/{device_id}": { "delete": authed(json!({
            "operationId": "deleteTrustedDevice", "summary": "Stop trusting one of the caller's devices",
            "parameters": [id_param("device_id")],
            "responses": { "204": { "description": "No longer trusted" } } })) }
    })
}
