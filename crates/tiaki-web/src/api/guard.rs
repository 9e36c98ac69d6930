//! The guard for operators: alerts, containments, release and module kill switches.
//! Every decision is the policy's (`ManageGuard`); every change is audited by the core.

use super::{ApiJson, path_id};
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::{ApiError, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tiaki_core::guard::{GuardOperator, GuardOverview, Module};
use tiaki_domain::AccountId;
use tiaki_store::{Alert, Containment, ModuleState};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Serialize)]
pub struct AlertBody {
    pub id: String,
    pub at: String,
    pub severity: &'static str,
    pub detector: String,
    pub scope: String,
    pub account: Option<String>,
    pub practice: Option<String>,
    pub summary: String,
    pub containment: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ContainmentBody {
    pub id: String,
    pub scope: String,
    pub account: Option<String>,
    pub detector: String,
    pub reason: String,
    pub created_at: String,
    pub created_by: Option<String>,
    pub released_at: Option<String>,
    pub released_by: Option<String>,
    pub release_reason: Option<String>,
    pub active: bool,
}

#[derive(Debug, Serialize)]
pub struct ModuleBody {
    pub module: &'static str,
    pub state: &'static str,
    pub reason: Option<String>,
    pub changed_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct GuardBody {
    pub alerts: Vec<AlertBody>,
    pub containments: Vec<ContainmentBody>,
    pub modules: Vec<ModuleBody>,
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<&Alert> for AlertBody {
    fn from(a: &Alert) -> Self {
        Self {
            id: a.id.to_string(),
            at: rfc3339(a.at),
            severity: a.severity.as_str(),
            detector: a.detector.clone(),
            scope: a.scope.clone(),
            account: a.account.map(|x| x.to_string()),
            practice: a.practice.map(|x| x.to_string()),
            summary: a.summary.clone(),
            containment: a.containment.map(|x| x.to_string()),
        }
    }
}

impl From<&Containment> for ContainmentBody {
    fn from(c: &Containment) -> Self {
        Self {
            id: c.id.to_string(),
            scope: c.scope.clone(),
            account: c.account.map(|x| x.to_string()),
            detector: c.detector.clone(),
            reason: c.reason.clone(),
            created_at: rfc3339(c.created_at),
            created_by: c.created_by.map(|x| x.to_string()),
            released_at: c.released_at.map(rfc3339),
            released_by: c.released_by.map(|x| x.to_string()),
            release_reason: c.release_reason.clone(),
            active: c.released_at.is_none(),
        }
    }
}

impl From<&GuardOverview> for GuardBody {
    fn from(o: &GuardOverview) -> Self {
        Self {
            alerts: o.alerts.iter().map(AlertBody::from).collect(),
            containments: o.containments.iter().map(ContainmentBody::from).collect(),
            modules: o
                .modules
                .iter()
                .map(|(m, state, switch)| ModuleBody {
                    module: m.as_str(),
                    state: state.as_str(),
                    reason: switch.as_ref().map(|s| s.reason.clone()),
                    changed_at: switch.as_ref().map(|s| rfc3339(s.changed_at)),
                })
                .collect(),
        }
    }
}

pub async fn overview(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
) -> Result<Json<GuardBody>, ApiError> {
    let o = state
        .core
        .guard_overview(GuardOperator::Operator(&actor), &ctx)
        .await?;
    Ok(Json(GuardBody::from(&o)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainRequest {
    pub account_id: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ContainedBody {
    pub id: String,
}

pub async fn contain(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<ContainRequest>,
) -> Result<(StatusCode, Json<ContainedBody>), ApiError> {
    let account = parse_account(&body.account_id)?;
    let id = state
        .core
        .contain_account(GuardOperator::Operator(&actor), account, &body.reason, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ContainedBody { id: id.to_string() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

pub async fn release(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(containment_id): Path<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> Result<StatusCode, ApiError> {
    let id: uuid::Uuid = path_id(&containment_id)?;
    state
        .core
        .release_containment(GuardOperator::Operator(&actor), id, &body.reason, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRequest {
    pub state: String,
    pub reason: String,
}

pub async fn set_module(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(module): Path<String>,
    ApiJson(body): ApiJson<ModuleRequest>,
) -> Result<StatusCode, ApiError> {
    let module = Module::parse(&module).ok_or_else(Problem::not_found)?;
    let new_state = parse_state(&body.state)?;
    state
        .core
        .set_module_state(
            GuardOperator::Operator(&actor),
            module,
            new_state,
            &body.reason,
            &ctx,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn parse_account(s: &str) -> Result<AccountId, Problem> {
    s.trim().parse::<AccountId>().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_account_id",
            "That is not an account id.",
        )
    })
}

pub(crate) fn parse_state(s: &str) -> Result<ModuleState, Problem> {
    ModuleState::parse(s).ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_module_state",
            "A module's state is one of open, read_only or closed.",
        )
    })
}

/// The guard's routes in the OpenAPI document.
pub(super) fn extend_openapi(doc: &mut serde_json::Value) {
    use super::openapi::{authed, error_response, ok_json};
    use serde_json::{Value, json};
    let body = |schema: Value| json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    let reason = json!({ "type": "string", "minLength": 1, "maxLength": 500, "description": "Kept in the audit log" });
    let forbidden = "Not an operator (answered as 404: the same as missing)";
    let alert = json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" }, "at": { "type": "string", "format": "date-time" },
        "severity": { "type": "string", "enum": ["info", "warning", "critical"] },
        "detector": { "type": "string" }, "scope": { "type": "string" },
        "account": { "type": ["string", "null"], "format": "uuid" }, "practice": { "type": ["string", "null"], "format": "uuid" },
        "summary": { "type": "string" }, "containment": { "type": ["string", "null"], "format": "uuid" } } });
    let containment = json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" }, "scope": { "type": "string" },
        "account": { "type": ["string", "null"], "format": "uuid" }, "detector": { "type": "string" }, "reason": { "type": "string" },
        "created_at": { "type": "string", "format": "date-time" }, "created_by": { "type": ["string", "null"], "format": "uuid" },
        "released_at": { "type": ["string", "null"], "format": "date-time" }, "released_by": { "type": ["string", "null"], "format": "uuid" },
        "release_reason": { "type": ["string", "null"] }, "active": { "type": "boolean" } } });
    let module = json!({ "type": "object", "properties": {
        "module": { "type": "string" }, "state": { "type": "string", "enum": ["open", "read_only", "closed"] },
        "reason": { "type": ["string", "null"] }, "changed_at": { "type": ["string", "null"], "format": "date-time" } } });
    let paths = json!({
        "/api/v1/guard": { "get": authed(json!({
            "operationId": "guardOverview",
            "summary": "The guard's recent alerts, containments and module kill switches (operators)",
            "description": forbidden,
            "responses": { "200": ok_json("The guard", json!({ "type": "object", "properties": {
                "alerts": { "type": "array", "items": alert },
                "containments": { "type": "array", "items": containment },
                "modules": { "type": "array", "items": module } } })) } })) },
        "/api/v1/guard/containments": { "post": authed(json!({
            "operationId": "containAccount",
            "summary": "Contain an account: revoke every session and token, freeze it, alert (operators)",
            "requestBody": body(json!({ "type": "object", "required": ["account_id", "reason"], "additionalProperties": false,
                "properties": { "account_id": { "type": "string", "format": "uuid" }, "reason": reason } })),
            "responses": {
                "201": ok_json("Contained", json!({ "type": "object", "properties": { "id": { "type": "string", "format": "uuid" } } })),
                "400": error_response("reason_required, reason_invalid, invalid_account_id or invalid_body") } })) },
        "/api/v1/guard/containments/{containment_id}/release": { "post": authed(json!({
            "operationId": "releaseContainment",
            "summary": "Release an active containment with a reason; the person signs in afresh (operators)",
            "parameters": [super::openapi::id_param("containment_id")],
            "requestBody": body(json!({ "type": "object", "required": ["reason"], "additionalProperties": false,
                "properties": { "reason": reason } })),
            "responses": { "204": { "description": "Released" }, "400": error_response("reason_required or reason_invalid") } })) },
        "/api/v1/guard/modules/{module}": { "put": authed(json!({
            "operationId": "setModuleState",
            "summary": "Close a module, make it read-only, or open it again (operators)",
            "parameters": [{ "name": "module", "in": "path", "required": true, "schema": { "type": "string", "enum": ["documents"] } }],
            "requestBody": body(json!({ "type": "object", "required": ["state", "reason"], "additionalProperties": false,
                "properties": { "state": { "type": "string", "enum": ["open", "read_only", "closed"] }, "reason": reason } })),
            "responses": { "204": { "description": "Set" }, "400": error_response("invalid_module_state, reason_required or reason_invalid") } })) }
    });
    if let (Some(target), Value::Object(more)) =
        (doc.get_mut("paths").and_then(Value::as_object_mut), paths)
    {
        target.extend(more);
    }
}
