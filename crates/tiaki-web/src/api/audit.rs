//! The audit log over HTTP: public checkpoints, keys and consistency proofs; per-event
//! inclusion proofs; a patient's access history (JSON, CSV, FHIR AuditEvent); and the
//! privacy officer's search.

use super::path_id;
use crate::AppState;
use crate::auth::{ApiActor, Ctx};
use crate::error::{ApiError, Problem};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tiaki_audit::{AuditQuery, Outcome};
use tiaki_core::access::AccessRow;
use time::OffsetDateTime;

pub async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let latest = state
        .core
        .transparency()
        .latest()
        .await
        .map_err(tiaki_core::CoreError::from)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        latest.note,
    )
        .into_response())
}

pub async fn key(State(state): State<AppState>) -> Response {
    let key = state.core.transparency().verifier_key();
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{key}\n"),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    old: u64,
    new: u64,
}

pub async fn consistency(
    State(state): State<AppState>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) =
        query.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let proof = state
        .core
        .transparency()
        .consistency(q.old, q.new)
        .await
        .map_err(tiaki_core::CoreError::from)?
        .ok_or_else(Problem::not_found)?;
    Ok(Json(
        json!({ "old_size": q.old, "new_size": q.new, "hashes": proof }),
    ))
}

pub async fn proof(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(access_id): Path<String>,
) -> Result<Json<tiaki_audit::InclusionProof>, ApiError> {
    let access = path_id(&access_id)?;
    Ok(Json(state.core.access_proof(&actor, access, &ctx).await?))
}

#[derive(Debug, Deserialize, Default)]
pub struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// Parses `YYYY-MM-DD` as the start of that day (UTC).
pub fn parse_day(raw: Option<&str>, field: &str) -> Result<Option<OffsetDateTime>, Problem> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format)
        .map(|d| Some(d.midnight().assume_utc()))
        .map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_date",
                format!("'{field}' must be a date like 2026-11-23"),
            )
        })
}

/// The days `from` and `to` as a half-open range (`to` includes its whole day).
pub fn day_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>), Problem> {
    let from = parse_day(from, "from")?;
    let to = parse_day(to, "to")?.map(|t| t + time::Duration::days(1));
    Ok((from, to))
}

pub async fn history(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    Path(patient_id): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let patient = path_id(&patient_id)?;
    let Query(q) =
        query.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let (from, to) = day_range(q.from.as_deref(), q.to.as_deref())?;
    let rows = state
        .core
        .access_history(&actor, patient, from, to, &ctx)
        .await?;
    Ok(match q.format.as_deref() {
        None | Some("json") => Json(rows).into_response(),
        Some("csv") => csv_response(&rows),
        Some("fhir") => Json(fhir_bundle(&patient_id, &rows)).into_response(),
        Some(_) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_format",
                "format is json, csv or fhir",
            )
            .into());
        }
    })
}

fn csv_field(s: &str) -> String {
    // Quote everything; neutralise spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The history as CSV, for download.
pub fn csv_response(rows: &[AccessRow]) -> Response {
    let mut out =
        String::from("time,who,role,practice,what,document,outcome,access_id,leaf_index\n");
    for r in rows {
        let fields = [
            r.at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            r.who.clone(),
            r.role.clone(),
            r.practice.clone().unwrap_or_default(),
            r.what.clone(),
            r.document_title
                .clone()
                .or_else(|| r.document.map(|d| d.to_string()))
                .unwrap_or_default(),
            r.outcome.as_str().to_owned(),
            r.access_id.to_string(),
            r.leaf_index.to_string(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"access-history.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

/// IHE BALP-style AuditEvent resources in a FHIR R4 collection Bundle.
fn fhir_bundle(patient_id: &str, rows: &[AccessRow]) -> Value {
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            let (code, action) = if r.what.starts_with("Added") { ("create", "C") } else { ("read", "R") };
            let mut entity = vec![json!({ "what": { "reference": format!("Patient/{patient_id}") }, "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person" }, "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient" } })];
            if let Some(d) = r.document {
                entity.push(json!({ "what": { "reference": format!("DocumentReference/{d}") }, "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" } }));
            }
            json!({
                "fullUrl": format!("urn:uuid:{}", r.access_id),
                "resource": {
                    "resourceType": "AuditEvent",
                    "id": r.access_id.to_string(),
                    "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation" },
                    "subtype": [{ "system": "http://hl7.org/fhir/restful-interaction", "code": code }],
                    "action": action,
                    "recorded": r.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "outcome": if r.outcome == Outcome::Allowed { "0" } else { "4" },
                    "outcomeDesc": r.what,
                    "agent": [{ "who": { "display": r.who }, "type": { "text": r.role }, "requestor": true }],
                    "source": { "observer": { "display": "Tiaki" }, "type": [{ "system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server" }] },
                    "entity": entity
                }
            })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "collection", "total": entries.len(), "entry": entries })
}

#[derive(Debug, Deserialize, Default)]
pub struct SearchQuery {
    pub actor: Option<String>,
    pub patient: Option<String>,
    pub document: Option<String>,
    pub address: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
}

fn opt_id<T: std::str::FromStr>(raw: Option<&str>, field: &str) -> Result<Option<T>, Problem> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("'{field}' is not a valid id"),
                )
            })
        })
        .transpose()
}

/// Turns search fields into a query; an address is an IP or a CIDR range.
pub fn audit_query(q: &SearchQuery) -> Result<AuditQuery, Problem> {
    let address = q
        .address
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|raw| {
            let (ip, prefix) = raw.split_once('/').unwrap_or((raw, ""));
            let ip: std::net::IpAddr = ip.parse().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "'address' must be an IP address or CIDR range",
                )
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = if prefix.is_empty() {
                max
            } else {
                prefix
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| {
                        Problem::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_query",
                            "the CIDR prefix is out of range",
                        )
                    })?
            };
            Ok::<_, Problem>((ip.to_canonical(), prefix))
        })
        .transpose()?;
    let (from, to) = day_range(q.from.as_deref(), q.to.as_deref())?;
    Ok(AuditQuery {
        actor: opt_id(q.actor.as_deref(), "actor")?,
        patient: opt_id(q.patient.as_deref(), "patient")?,
        document: opt_id(q.document.as_deref(), "document")?,
        address,
        from,
        to,
        limit: q.limit.unwrap_or(200),
    })
}

pub async fn search(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Ctx(ctx): Ctx,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AccessRow>>, ApiError> {
    let Query(q) =
        query.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let rows = state
        .core
        .audit_search(&actor, audit_query(&q)?, &ctx)
        .await?;
    Ok(Json(rows))
}
