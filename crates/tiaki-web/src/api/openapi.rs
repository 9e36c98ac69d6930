//! The OpenAPI 3.1 description of `/api/v1`, written by hand so it says exactly what
//! the handlers do. A test keeps it in step with [`crate::routes::ROUTES`].

use axum::Json;
use serde_json::{Value, json};

pub async fn document() -> Json<Value> {
    let mut doc = spec();
    if let (Some(paths), Value::Object(more)) = (
        doc.get_mut("paths").and_then(Value::as_object_mut),
        super::factors::openapi_paths(),
    ) {
        paths.extend(more);
    }
    Json(doc)
}

pub(crate) fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

pub(crate) fn ok_json(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

pub(crate) fn id_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

pub(crate) fn authed(op: Value) -> Value {
    let mut op = op;
    if let Some(map) = op.as_object_mut() {
        map.insert("security".into(), json!([{ "bearer": [] }]));
        if let Some(responses) = map.get_mut("responses").and_then(Value::as_object_mut) {
            responses.insert("401".into(), error_response("No valid token"));
            responses.insert(
                "404".into(),
                error_response("Missing, or not yours to see (the same answer)"),
            );
            responses.insert(
                "503".into(),
                error_response("Failed closed (audit, store or keys unavailable)"),
            );
        }
    }
    op
}

/// The session routes: signing in with a second factor, and a person's own sessions.
mod sessions {
    use super::{authed, error_response, id_param, ok_json};
    use serde_json::{Value, json};

    pub(super) fn collection() -> Value {
        json!({
            "post": {
                "operationId": "createSession",
                "summary": "Sign in with username, password and a second factor (totp or recovery_code)",
                "description": "Every failure (unknown username, wrong password, missing, wrong or reused second factor, too many attempts) answers the same 401 with code second_factor_required; a throttled attempt also carries Retry-After. Accounts without an authenticator enrol one through the web sign-in first.",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Credentials" } } } },
                "responses": {
                    "201": ok_json("Signed in", json!({ "$ref": "#/components/schemas/Token" })),
                    "400": error_response("Malformed body, or both totp and recovery_code"),
                    "401": {
                        "description": "Not signed in: code second_factor_required, whatever was wrong",
                        "headers": { "Retry-After": { "description": "Seconds to wait (throttled attempts only)", "schema": { "type": "integer" } } },
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                    },
                    "503": error_response("Failed closed")
                }
            },
            "get": authed(json!({
                "operationId": "listSessions", "summary": "The caller's active sessions, newest first",
                "responses": { "200": ok_json("Sessions", json!({ "type": "array", "items": { "$ref": "#/components/schemas/Session" } })) } }))
        })
    }

    pub(super) fn others() -> Value {
        json!({ "delete": authed(json!({
            "operationId": "deleteOtherSessions", "summary": "Sign out every session of the caller except this one",
            "responses": { "200": ok_json("How many were signed out", json!({ "type": "object", "required": ["revoked"], "properties": { "revoked": { "type": "integer", "minimum": 0 } } })) } })) })
    }

    pub(super) fn one() -> Value {
        json!({ "delete": authed(json!({
            "operationId": "deleteOneSession", "summary": "Sign out one of the caller's sessions (another person's answers 404)",
            "parameters": [id_param("session_id")],
            "responses": { "204": { "description": "Signed out; its token is dead" } } })) })
    }

    pub(super) fn credentials_schema() -> Value {
        json!({ "type": "object", "required": ["username", "password"], "additionalProperties": false, "properties": {
            "username": { "type": "string" }, "password": { "type": "string" },
            "totp": { "type": "string", "pattern": "^[0-9]{6}$", "description": "The code the authenticator app shows now; each code is accepted once" },
            "recovery_code": { "type": "string", "description": "A one-time recovery code, instead of totp" } } })
    }

    pub(super) fn session_schema() -> Value {
        json!({ "type": "object", "required": ["id", "created_at", "last_seen_at", "expires_at", "current", "second_factor"], "properties": {
            "id": { "type": "string", "format": "uuid" },
            "created_at": { "type": "string", "format": "date-time" },
            "last_seen_at": { "type": "string", "format": "date-time" },
            "expires_at": { "type": "string", "format": "date-time" },
            "address": { "type": ["string", "null"] }, "user_agent": { "type": ["string", "null"] },
            "current": { "type": "boolean", "description": "The session making this request" },
            "second_factor": { "type": "boolean", "description": "False for a sign-in still waiting for its second factor" },
            "trusted_device": { "type": "boolean", "description": "Opened from a trusted device with the password alone" } } })
    }
}

/// The whole document.
#[must_use]
pub fn spec() -> Value {
    let mut doc = base();
    super::proxies::extend_openapi(&mut doc);
    super::mail_openapi::extend_openapi(&mut doc);
    super::guard::extend_openapi(&mut doc);
    super::security_status::extend_openapi(&mut doc);
    super::archive::extend_openapi(&mut doc);
    doc
}

/// The document before the sections other modules describe themselves.
fn base() -> Value {
    let doc_ref = json!({ "$ref": "#/components/schemas/Document" });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tiaki API",
            "version": "1",
            "description": "Patient health portal API. Every call is decided by one access policy and recorded in the audit log. Missing and not-allowed objects both answer 404."
        },
        "servers": [{ "url": "/" }],
        "paths": {
            "/healthz": { "get": { "operationId": "healthz", "summary": "Liveness", "responses": { "200": ok_json("Alive", json!({ "type": "object" })) } } },
            "/readyz": { "get": { "operationId": "readyz", "summary": "Readiness", "responses": {
                "200": ok_json("Ready", json!({ "type": "object" })),
                "503": ok_json("Not ready", json!({ "type": "object" })) } } },
            "/api/v1/openapi.json": { "get": { "operationId": "openapi", "summary": "This document", "responses": { "200": ok_json("OpenAPI document", json!({ "type": "object" })) } } },
            "/api/v1/sessions": sessions::collection(),
            "/api/v1/sessions/current": { "delete": authed(json!({
                "operationId": "deleteSession", "summary": "Sign out this token",
                "responses": { "204": { "description": "Signed out; the token is dead" } } })) },
            "/api/v1/sessions/others": sessions::others(),
            "/api/v1/sessions/{session_id}": sessions::one(),
            "/api/v1/me": { "get": authed(json!({
                "operationId": "me", "summary": "The signed-in account",
                "responses": { "200": ok_json("The account", json!({ "$ref": "#/components/schemas/Me" })) } })) },
            "/api/v1/patients": { "get": authed(json!({
                "operationId": "searchPatients", "summary": "Search the caller's practice by NHI or name (staff)",
                "parameters": [{ "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 2, "maxLength": 100 } }],
                "responses": {
                    "200": ok_json("Matching patients", json!({ "type": "array", "items": { "$ref": "#/components/schemas/Patient" } })),
                    "400": error_response("Query too short or too long") } })) },
            "/api/v1/patients/{patient_id}": { "get": authed(json!({
                "operationId": "getPatient", "summary": "A patient's header",
                "parameters": [id_param("patient_id")],
                "responses": { "200": ok_json("The patient", json!({ "$ref": "#/components/schemas/Patient" })) } })) },
            "/api/v1/patients/{patient_id}/documents": {
                "get": authed(json!({
                    "operationId": "listDocuments", "summary": "A patient's documents, newest first",
                    "parameters": [id_param("patient_id")],
                    "responses": { "200": ok_json("Documents", json!({ "type": "array", "items": doc_ref })) } })),
                "post": authed(json!({
                    "operationId": "uploadDocument",
                    "summary": "Upload a document (PDF, JPEG, PNG or plain text). Send the fields in this order: title, type, then file.",
                    "parameters": [id_param("patient_id")],
                    "requestBody": { "required": true, "content": { "multipart/form-data": {
                        "schema": { "type": "object", "required": ["title", "file"], "properties": {
                            "title": { "type": "string", "minLength": 1, "maxLength": 200 },
                            "type": { "type": "string", "enum": ["discharge_summary", "referral_letter", "lab_report", "clinical_letter", "patient_upload"] },
                            "file": { "type": "string", "format": "binary" } } },
                        "encoding": { "file": { "contentType": "application/pdf, image/jpeg, image/png, text/plain" } } } } },
                    "responses": {
                        "201": ok_json("Stored", doc_ref),
                        "400": error_response("Empty file, bad title or type, or malformed form"),
                        "413": error_response("Larger than the upload limit"),
                        "415": error_response("Type not allowed, or contents do not match the declared type") } }))
            },
            "/api/v1/documents/{document_id}": { "get": authed(json!({
                "operationId": "getDocument", "summary": "A document's metadata",
                "parameters": [id_param("document_id")],
                "responses": { "200": ok_json("Metadata", json!({ "$ref": "#/components/schemas/Document" })) } })) },
            "/api/v1/documents/{document_id}/content": { "get": authed(json!({
                "operationId": "getDocumentContent", "summary": "A document's content (audited; the response carries X-Tiaki-Access-Id)",
                "parameters": [id_param("document_id")],
                "responses": { "200": { "description": "The file", "content": {
                    "application/pdf": { "schema": { "type": "string", "format": "binary" } },
                    "image/jpeg": { "schema": { "type": "string", "format": "binary" } },
                    "image/png": { "schema": { "type": "string", "format": "binary" } },
                    "text/plain": { "schema": { "type": "string" } } } } } })) },
            "/api/v1/audit/checkpoint": { "get": { "operationId": "auditCheckpoint", "summary": "The latest signed checkpoint (C2SP signed note)",
                "responses": { "200": { "description": "Signed note", "content": { "text/plain": { "schema": { "type": "string" } } } }, "503": error_response("Failed closed") } } },
            "/api/v1/audit/key": { "get": { "operationId": "auditKey", "summary": "The verifier key for checkpoints",
                "responses": { "200": { "description": "Verifier key name+id+key", "content": { "text/plain": { "schema": { "type": "string" } } } } } } },
            "/api/v1/audit/consistency": { "get": { "operationId": "auditConsistency", "summary": "Consistency proof between two checkpointed tree sizes",
                "parameters": [
                    { "name": "old", "in": "query", "required": true, "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "new", "in": "query", "required": true, "schema": { "type": "integer", "minimum": 0 } }],
                "responses": { "200": ok_json("Proof", json!({ "type": "object", "properties": { "old_size": { "type": "integer" }, "new_size": { "type": "integer" }, "hashes": { "type": "array", "items": { "type": "string" } } } })),
                    "400": error_response("Bad sizes"), "404": error_response("No checkpoint of that size"), "503": error_response("Failed closed") } } },
            "/api/v1/audit/events": { "get": authed(json!({
                "operationId": "auditSearch", "summary": "Search audit events (privacy officers)",
                "parameters": [
                    { "name": "actor", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "patient", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "document", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "address", "in": "query", "schema": { "type": "string" }, "description": "IP address or CIDR range" },
                    { "name": "from", "in": "query", "schema": { "type": "string", "format": "date" } },
                    { "name": "to", "in": "query", "schema": { "type": "string", "format": "date" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }],
                "responses": { "200": ok_json("Events", json!({ "type": "array", "items": { "$ref": "#/components/schemas/Access" } })), "400": error_response("Bad query") } })) },
            "/api/v1/audit/events/{access_id}/proof": { "get": authed(json!({
                "operationId": "auditProof", "summary": "Inclusion proof of one event against a signed checkpoint",
                "parameters": [id_param("access_id")],
                "responses": { "200": ok_json("Proof", json!({ "type": "object", "properties": {
                    "leaf_index": { "type": "integer" }, "tree_size": { "type": "integer" }, "leaf_hash": { "type": "string" },
                    "hashes": { "type": "array", "items": { "type": "string" } }, "checkpoint": { "type": "string" } } })) } })) },
            "/api/v1/patients/{patient_id}/access-history": { "get": authed(json!({
                "operationId": "accessHistory", "summary": "Who accessed this patient's records (the patient and privacy officers only)",
                "parameters": [id_param("patient_id"),
                    { "name": "from", "in": "query", "schema": { "type": "string", "format": "date" } },
                    { "name": "to", "in": "query", "schema": { "type": "string", "format": "date" } },
                    { "name": "format", "in": "query", "schema": { "type": "string", "enum": ["json", "csv", "fhir"] } }],
                "responses": { "200": { "description": "Accesses, newest first", "content": {
                    "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Access" } } },
                    "text/csv": { "schema": { "type": "string" } } } }, "400": error_response("Bad date or format") } })) },
            "/api/v1/platform/practices": { "get": authed(json!({
                "operationId": "platformPractices", "summary": "Practices and counts (operators only; no clinical content)",
                "responses": { "200": ok_json("Practices", json!({ "type": "array", "items": { "$ref": "#/components/schemas/PracticeCounts" } })) } })) }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" } } },
                "Credentials": sessions::credentials_schema(),
                "Session": sessions::session_schema(),
                "Token": { "type": "object", "required": ["token", "expires_at"], "properties": {
                    "token": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } } },
                "Me": { "type": "object", "required": ["account_id", "username", "display_name", "role"], "properties": {
                    "account_id": { "type": "string", "format": "uuid" }, "username": { "type": "string" },
                    "display_name": { "type": "string" }, "role": { "type": "string" },
                    "practice_id": { "type": ["string", "null"], "format": "uuid" },
                    "patient_id": { "type": ["string", "null"], "format": "uuid" } } },
                "Patient": { "type": "object", "required": ["id", "practice_id", "nhi", "given_name", "family_name", "date_of_birth"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "practice_id": { "type": "string", "format": "uuid" },
                    "nhi": { "type": "string" }, "given_name": { "type": "string" }, "family_name": { "type": "string" },
                    "date_of_birth": { "type": "string", "format": "date" } } },
                "Document": { "type": "object", "required": ["id", "patient_id", "practice_id", "kind", "title", "filename", "content_type", "size_bytes", "created_at", "content_url"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "patient_id": { "type": "string", "format": "uuid" },
                    "practice_id": { "type": "string", "format": "uuid" }, "kind": { "type": "string" },
                    "title": { "type": "string" }, "filename": { "type": "string" },
                    "content_type": { "type": "string" }, "size_bytes": { "type": "integer", "minimum": 0 },
                    "created_at": { "type": "string", "format": "date-time" }, "content_url": { "type": "string" } } },
                "Access": { "type": "object", "properties": {
                    "leaf_index": { "type": "integer" }, "access_id": { "type": "string", "format": "uuid" },
                    "at": { "type": "string", "format": "date-time" }, "who": { "type": "string" }, "role": { "type": "string" },
                    "practice": { "type": ["string", "null"] }, "what": { "type": "string" },
                    "document": { "type": ["string", "null"], "format": "uuid" }, "document_title": { "type": ["string", "null"] },
                    "outcome": { "type": "string", "enum": ["allowed", "denied", "not_found"] } } },
                "PracticeCounts": { "type": "object", "required": ["id", "name", "region", "patients", "documents", "staff"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "region": { "type": "string" },
                    "patients": { "type": "integer" }, "documents": { "type": "integer" }, "staff": { "type": "integer" } } }
            }
        }
    })
}
