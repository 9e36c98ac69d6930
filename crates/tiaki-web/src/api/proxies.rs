//! Proxy and guardian access over the JSON API: a patient's grants, a practice's
//! guardians, and whose records the caller may act for. Acting for someone needs no
//! route of its own: the usual routes take the patient's id in the path, and the
//! policy decides with the caller's grant.

use super::{ApiJson, path_id};
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tiaki_core::proxies::{ActingFor, GrantView, ProxyRequest};
use tiaki_domain::{PatientId, ProxyGrantId};
use time::OffsetDateTime;

/// One grant as the API shows it.
#[derive(Debug, Serialize)]
pub struct GrantBody {
    id: String,
    kind: &'static str,
    patient_id: String,
    grantee_account_id: String,
    grantee_name: String,
    /// Scope name -> "read" or "act"; scopes not granted are absent.
    scopes: BTreeMap<&'static str, &'static str>,
    status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
}

fn scopes_of(scopes: &tiaki_domain::Scopes) -> BTreeMap<&'static str, &'static str> {
    scopes
        .granted()
        .into_iter()
        .map(|(scope, access)| (scope.as_str(), access.as_str()))
        .collect()
}

impl From<GrantView> for GrantBody {
    fn from(v: GrantView) -> Self {
        let g = v.grant;
        Self {
            id: g.id.to_string(),
            kind: g.kind.as_str(),
            patient_id: g.patient.to_string(),
            grantee_account_id: g.grantee.to_string(),
            grantee_name: v.grantee_name,
            scopes: scopes_of(&g.scopes),
            status: v.status.as_str(),
            created_at: g.created_at,
            expires_at: g.expires_at,
            revoked_at: g.revoked_at,
        }
    }
}

/// One person the caller may act for.
#[derive(Debug, Serialize)]
pub struct ActingForBody {
    patient_id: String,
    name: String,
    kind: &'static str,
    grant_id: String,
    scopes: BTreeMap<&'static str, &'static str>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

impl From<ActingFor> for ActingForBody {
    fn from(a: ActingFor) -> Self {
        Self {
            patient_id: a.patient.to_string(),
            name: a.name,
            kind: a.grant.kind.as_str(),
            grant_id: a.grant.id.to_string(),
            scopes: scopes_of(&a.grant.scopes),
            expires_at: a.grant.expires_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    username: String,
    /// Scope name -> "read", "act" or "none".
    scopes: BTreeMap<String, String>,
    /// The last day (UTC) the grant works.
    expires_on: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianRequest {
    username: String,
}

pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Json<Vec<GrantBody>>, ApiError> {
    let patient: PatientId = path_id(&patient_id)?;
    let grants = state.core.proxies_of(&actor, patient, &ctx).await?;
    Ok(Json(grants.into_iter().map(GrantBody::from).collect()))
}

pub async fn grant(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    ApiJson(body): ApiJson<GrantRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let patient: PatientId = path_id(&patient_id)?;
    let request = ProxyRequest {
        username: body.username,
        scopes: body.scopes.into_iter().collect(),
        expires_on: body.expires_on,
    };
    let made = state
        .core
        .grant_proxy(&actor, patient, &request, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(GrantBody::from(made))))
}

pub async fn revoke(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path((patient_id, grant_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let patient: PatientId = path_id(&patient_id)?;
    let grant: ProxyGrantId = path_id(&grant_id)?;
    state
        .core
        .revoke_proxy(&actor, patient, grant, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn guardians(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
) -> Result<Json<Vec<GrantBody>>, ApiError> {
    let patient: PatientId = path_id(&patient_id)?;
    let grants = state.core.guardians_of(&actor, patient, &ctx).await?;
    Ok(Json(grants.into_iter().map(GrantBody::from).collect()))
}

pub async fn add_guardian(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    ApiJson(body): ApiJson<GuardianRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let patient: PatientId = path_id(&patient_id)?;
    let made = state
        .core
        .add_guardian(&actor, patient, &body.username, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(GrantBody::from(made))))
}

pub async fn end_guardian(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path((patient_id, grant_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let patient: PatientId = path_id(&patient_id)?;
    let grant: ProxyGrantId = path_id(&grant_id)?;
    state
        .core
        .end_guardian(&actor, patient, grant, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn acting_for(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<ActingForBody>>, ApiError> {
    let people = state.core.acting_for(&actor).await?;
    Ok(Json(people.into_iter().map(ActingForBody::from).collect()))
}

/// The OpenAPI entries for these routes, added to the document by `openapi::spec`.
pub(crate) fn extend_openapi(doc: &mut Value) {
    use super::openapi::{authed, error_response, id_param, ok_json};
    let grants = json!({ "type": "array", "items": { "$ref": "#/components/schemas/ProxyGrant" } });
    let grant = json!({ "$ref": "#/components/schemas/ProxyGrant" });
    let paths = [
        (
            "/api/v1/patients/{patient_id}/proxies",
            json!({
            "get": authed(json!({
                "operationId": "listProxies",
                "summary": "Everyone who can (or could) act for this patient, newest first (the patient only)",
                "parameters": [id_param("patient_id")],
                "responses": { "200": ok_json("Grants, ended ones too", grants.clone()) } })),
            "post": authed(json!({
                "operationId": "grantProxy",
                "summary": "Let another patient account act for this patient in the chosen scopes until a date (the patient only; needs a second factor presented in the last few minutes)",
                "description": "A grant already in force for the same account is replaced. Scopes: documents, records, appointments, prescriptions, messages; each read, act or none.",
                "parameters": [id_param("patient_id")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ProxyRequest" } } } },
                "responses": {
                    "201": ok_json("Granted", grant.clone()),
                    "400": error_response("Unknown account, no scope, bad scope or access, or a bad date"),
                    "403": error_response("step_up_required: present a current second factor first (POST /api/v1/sessions/current/step-up)") } })) }),
        ),
        (
            "/api/v1/patients/{patient_id}/proxies/{grant_id}",
            json!({
            "delete": authed(json!({
                "operationId": "revokeProxy",
                "summary": "End a grant the patient made (the patient only)",
                "parameters": [id_param("patient_id"), id_param("grant_id")],
                "responses": { "204": { "description": "Ended; it allows nothing from now on" } } })) }),
        ),
        (
            "/api/v1/patients/{patient_id}/guardians",
            json!({
            "get": authed(json!({
                "operationId": "listGuardians",
                "summary": "A child's guardians, current and past (practice admins and clinicians of the patient's practice)",
                "parameters": [id_param("patient_id")],
                "responses": { "200": ok_json("Guardian grants", grants.clone()) } })),
            "post": authed(json!({
                "operationId": "addGuardian",
                "summary": "Give a patient account guardian access to a child's record: every scope, to act, until the configured age (practice admins and clinicians; needs a recent second factor)",
                "parameters": [id_param("patient_id")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["username"], "additionalProperties": false,
                    "properties": { "username": { "type": "string" } } } } } },
                "responses": {
                    "201": ok_json("Guardian access set up", grant.clone()),
                    "400": error_response("Unknown account, or the patient is not a child"),
                    "403": error_response("step_up_required: present a current second factor first (POST /api/v1/sessions/current/step-up)") } })) }),
        ),
        (
            "/api/v1/patients/{patient_id}/guardians/{grant_id}",
            json!({
            "delete": authed(json!({
                "operationId": "endGuardian",
                "summary": "End a guardian's access before the age it would end by itself",
                "parameters": [id_param("patient_id"), id_param("grant_id")],
                "responses": { "204": { "description": "Ended" } } })) }),
        ),
        (
            "/api/v1/me/acting-for",
            json!({
            "get": authed(json!({
                "operationId": "actingFor",
                "summary": "Whose records the caller may act for now (then use the usual routes with that patient's id)",
                "responses": { "200": ok_json("People", json!({ "type": "array", "items": { "$ref": "#/components/schemas/ActingFor" } })) } })) }),
        ),
    ];
    let scopes = json!({ "type": "object", "additionalProperties": { "type": "string", "enum": ["read", "act"] },
        "propertyNames": { "enum": ["documents", "records", "appointments", "prescriptions", "messages"] } });
    let schemas = [
        (
            "ProxyGrant",
            json!({ "type": "object",
            "required": ["id", "kind", "patient_id", "grantee_account_id", "grantee_name", "scopes", "status", "created_at", "expires_at"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "kind": { "type": "string", "enum": ["proxy", "guardian"] },
                "patient_id": { "type": "string", "format": "uuid" },
                "grantee_account_id": { "type": "string", "format": "uuid" },
                "grantee_name": { "type": "string" },
                "scopes": scopes.clone(),
                "status": { "type": "string", "enum": ["active", "expired", "revoked"] },
                "created_at": { "type": "string", "format": "date-time" },
                "expires_at": { "type": "string", "format": "date-time" },
                "revoked_at": { "type": ["string", "null"], "format": "date-time" } } }),
        ),
        (
            "ProxyRequest",
            json!({ "type": "object", "required": ["username", "scopes", "expires_on"], "additionalProperties": false,
            "properties": {
                "username": { "type": "string", "description": "The other person's own Tiaki (patient) username" },
                "scopes": { "type": "object", "additionalProperties": { "type": "string", "enum": ["read", "act", "none"] } },
                "expires_on": { "type": "string", "format": "date", "description": "The last day (UTC) the grant works; at most about three years ahead" } } }),
        ),
        (
            "ActingFor",
            json!({ "type": "object", "required": ["patient_id", "name", "kind", "grant_id", "scopes", "expires_at"],
            "properties": {
                "patient_id": { "type": "string", "format": "uuid" }, "name": { "type": "string" },
                "kind": { "type": "string", "enum": ["proxy", "guardian"] },
                "grant_id": { "type": "string", "format": "uuid" }, "scopes": scopes,
                "expires_at": { "type": "string", "format": "date-time" } } }),
        ),
    ];
    if let Some(map) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths {
            map.insert(path.to_owned(), item);
        }
    }
    if let Some(map) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas {
            map.insert(name.to_owned(), schema);
        }
    }
}
