//! The OpenAPI description of the email-related routes: password change and reset,
//! email addresses, invitations and registration.

use super::openapi::{authed, error_response, id_param, ok_json};
use serde_json::{Value, json};

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn too_many() -> Value {
    json!({
        "description": "Too many requests from here (or for this account); nothing about any other account is revealed",
        "headers": { "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer" } } },
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn paths() -> Value {
    let token = json!({ "type": "object", "required": ["token", "expires_at"], "properties": {
        "token": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } } });
    json!({
        "/api/v1/account/password": { "post": authed(json!({
            "operationId": "changePassword",
            "summary": "Change the caller's password: the current password and a current second factor (totp or recovery_code) in the same call",
            "description": "On success every other session of the account ends, the calling token is replaced by the one returned (the old one is dead), and the owner is emailed. A wrong password or code answers 400 reauthentication_failed, never saying which.",
            "requestBody": body(json!({ "type": "object", "required": ["current_password", "new_password"], "additionalProperties": false, "properties": {
                "current_password": { "type": "string" },
                "totp": { "type": "string", "pattern": "^[0-9]{6}$" },
                "recovery_code": { "type": "string" },
                "new_password": { "type": "string", "minLength": 8, "maxLength": 256 } } })),
            "responses": {
                "200": ok_json("Changed; the new token replaces the caller's", token),
                "400": error_response("reauthentication_failed, or the new password is refused by the policy (password_too_short, password_common, password_guessable, ...)"),
                "429": too_many() } })) },
        "/api/v1/account/email": {
            "get": authed(json!({
                "operationId": "getEmail", "summary": "The caller's confirmed email address and any address waiting for confirmation",
                "responses": { "200": ok_json("Addresses", json!({ "type": "object", "properties": {
                    "address": { "type": ["string", "null"], "format": "email" },
                    "pending_address": { "type": ["string", "null"], "format": "email" } } })) } })),
            "post": authed(json!({
                "operationId": "addEmail", "summary": "Add an email address: a single-use confirmation link is sent to it; it counts only once opened",
                "requestBody": body(json!({ "type": "object", "required": ["address"], "additionalProperties": false, "properties": {
                    "address": { "type": "string", "format": "email", "maxLength": 254 } } })),
                "responses": {
                    "202": ok_json("Link sent", json!({ "type": "object", "properties": { "message": { "type": "string" } } })),
                    "400": error_response("Not an email address (email_invalid)"),
                    "429": too_many() } }))
        },
        "/api/v1/account/email/verify": { "post": {
            "operationId": "verifyEmail", "summary": "Confirm an email address with the token of its emailed link (single use, short-lived)",
            "requestBody": body(json!({ "type": "object", "required": ["token"], "additionalProperties": false, "properties": { "token": { "type": "string" } } })),
            "responses": {
                "204": { "description": "Confirmed" },
                "400": error_response("link_invalid: unknown, used, replaced or expired (one answer)"),
                "503": error_response("Failed closed") } } },
        "/api/v1/password-resets": { "post": {
            "operationId": "requestPasswordReset",
            "summary": "Ask for a password-reset link by username or email address",
            "description": "Always 202 with the same body, in the same time, whether or not an account matches; the link goes to the account's confirmed address. Past three requests an hour for one username or address nothing more is sent; a flood from one network address answers 429.",
            "requestBody": body(json!({ "type": "object", "required": ["username_or_email"], "additionalProperties": false, "properties": { "username_or_email": { "type": "string", "maxLength": 254 } } })),
            "responses": {
                "202": ok_json("Accepted (the same answer for every username and address)", json!({ "type": "object", "properties": { "message": { "type": "string" } } })),
                "400": error_response("Empty"),
                "429": too_many(),
                "503": error_response("Failed closed") } } },
        "/api/v1/password-resets/complete": { "post": {
            "operationId": "completePasswordReset",
            "summary": "Set a new password with a reset link's token; every session of the account ends. The next sign-in still needs the second factor.",
            "requestBody": body(json!({ "type": "object", "required": ["token", "password"], "additionalProperties": false, "properties": {
                "token": { "type": "string" }, "password": { "type": "string", "minLength": 8, "maxLength": 256 } } })),
            "responses": {
                "204": { "description": "Password set; signed out everywhere" },
                "400": error_response("link_invalid (unknown, used, replaced or expired: one answer), or the password is refused by the policy (the link stays usable)"),
                "503": error_response("Failed closed") } } },
        "/api/v1/registrations": { "post": {
            "operationId": "register",
            "summary": "Register with an invitation from one's practice; the account then sets up its authenticator through the web sign-in",
            "requestBody": body(json!({ "type": "object", "required": ["invitation", "username", "password"], "additionalProperties": false, "properties": {
                "invitation": { "type": "string", "description": "The code (token) of the invitation" },
                "username": { "type": "string", "pattern": "^[a-z0-9._-]{3,64}$" },
                "password": { "type": "string", "minLength": 8, "maxLength": 256 } } })),
            "responses": {
                "201": ok_json("Registered", json!({ "type": "object", "properties": { "username": { "type": "string" }, "message": { "type": "string" } } })),
                "400": error_response("invitation_invalid (unknown, used, replaced or expired: one answer), username_invalid, username_taken, or a refused password"),
                "429": too_many(),
                "503": error_response("Failed closed") } } },
        "/api/v1/patients/{patient_id}/invitations": {
            "get": authed(json!({
                "operationId": "listInvitations", "summary": "Whether the patient has registered, and their invitations (staff who may invite; never the tokens)",
                "parameters": [id_param("patient_id")],
                "responses": { "200": ok_json("Registration", json!({ "type": "object", "required": ["registered", "invitations"], "properties": {
                    "registered": { "type": "boolean" },
                    "invitations": { "type": "array", "items": { "type": "object", "properties": {
                        "id": { "type": "string", "format": "uuid" }, "email": { "type": "string" },
                        "created_at": { "type": "string", "format": "date-time" }, "expires_at": { "type": "string", "format": "date-time" },
                        "status": { "type": "string", "enum": ["pending", "used", "revoked", "expired"] } } } } } })) } })),
            "post": authed(json!({
                "operationId": "invitePatient", "summary": "Invite an enrolled patient without an account to register (practice admin, reception, clinician of the patient's practice); emailed, and returned once",
                "parameters": [id_param("patient_id")],
                "requestBody": body(json!({ "type": "object", "required": ["email"], "additionalProperties": false, "properties": { "email": { "type": "string", "format": "email" } } })),
                "responses": {
                    "201": ok_json("Issued (shown once)", json!({ "type": "object", "properties": {
                        "id": { "type": "string", "format": "uuid" }, "link": { "type": "string" }, "code": { "type": "string" },
                        "expires_at": { "type": "string", "format": "date-time" } } })),
                    "400": error_response("already_registered or email_invalid") } }))
        }
    })
}

/// Adds these routes to the document.
pub(super) fn extend_openapi(doc: &mut Value) {
    if let (Some(target), Value::Object(more)) =
        (doc.get_mut("paths").and_then(Value::as_object_mut), paths())
    {
        target.extend(more);
    }
}
