//! Every route Tiaki serves, declared once. The router is built from this table, so a
//! route cannot exist without an entry here — and the BOLA matrix test walks this
//! table against its committed expectations, and the OpenAPI test checks the `Api`
//! rows against `/api/v1/openapi.json`.

use crate::{AppState, api, pages};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post};

/// Who a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// JSON API under `/api/v1`, bearer tokens.
    Api,
    /// HTML pages and their forms, session cookie.
    Page,
    /// No credentials at all (health, sign-in, static files, the OpenAPI document).
    Public,
}

/// One route.
#[derive(Debug)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub surface: Surface,
    pub summary: &'static str,
    handler: fn() -> MethodRouter<AppState>,
}

macro_rules! route {
    ($method:literal, $path:literal, $surface:ident, $summary:literal, $handler:expr) => {
        RouteSpec {
            method: $method,
            path: $path,
            surface: Surface::$surface,
            summary: $summary,
            handler: || $handler,
        }
    };
}

/// The table.
pub const ROUTES: &[RouteSpec] = &[
    route!(
        "GET",
        "/healthz",
        Public,
        "Liveness",
        get(api::health::healthz)
    ),
    route!(
        "GET",
        "/readyz",
        Public,
        "Readiness (the store answers)",
        get(api::health::readyz)
    ),
    route!(
        "GET",
        "/static/tiaki.css",
        Public,
        "Stylesheet",
        get(pages::assets::stylesheet)
    ),
    route!(
        "GET",
        "/api/v1/openapi.json",
        Public,
        "This API's OpenAPI document",
        get(api::openapi::document)
    ),
    route!(
        "POST",
        "/api/v1/sessions",
        Public,
        "Sign in; returns a bearer token",
        post(api::sessions::create)
    ),
    route!(
        "DELETE",
        "/api/v1/sessions/current",
        Api,
        "Sign out this token",
        delete(api::sessions::delete_current)
    ),
    route!(
        "GET",
        "/api/v1/sessions",
        Api,
        "The caller's active sessions",
        get(api::sessions::list)
    ),
    route!(
        "DELETE",
        "/api/v1/sessions/others",
        Api,
        "Sign out every other session of the caller",
        delete(api::sessions::delete_others)
    ),
    route!(
        "DELETE",
        "/api/v1/sessions/{session_id}",
        Api,
        "Sign out one of the caller's sessions",
        delete(api::sessions::delete_one)
    ),
    route!(
        "GET",
        "/api/v1/me",
        Api,
        "The signed-in account",
        get(api::sessions::me)
    ),
    route!(
        "GET",
        "/api/v1/patients",
        Api,
        "Search the practice's patients (staff)",
        get(api::patients::search)
    ),
    route!(
        "GET",
        "/api/v1/patients/{patient_id}",
        Api,
        "A patient's header",
        get(api::patients::view)
    ),
    route!(
        "GET",
        "/api/v1/patients/{patient_id}/documents",
        Api,
        "A patient's documents",
        get(api::documents::list)
    ),
    route!(
        "POST",
        "/api/v1/patients/{patient_id}/documents",
        Api,
        "Upload a document",
        post(api::documents::upload).layer(DefaultBodyLimit::disable())
    ),
    route!(
        "GET",
        "/api/v1/documents/{document_id}",
        Api,
        "A document's metadata",
        get(api::documents::meta)
    ),
    route!(
        "GET",
        "/api/v1/documents/{document_id}/content",
        Api,
        "A document's content",
        get(api::documents::content)
    ),
    route!(
        "GET",
        "/api/v1/platform/practices",
        Api,
        "Practices and counts (operators)",
        get(api::platform::practices)
    ),
    route!(
        "GET",
        "/api/v1/audit/checkpoint",
        Public,
        "The latest signed checkpoint of the audit log",
        get(api::audit::checkpoint)
    ),
    route!(
        "GET",
        "/api/v1/audit/key",
        Public,
        "The audit log's checkpoint verifier key",
        get(api::audit::key)
    ),
    route!(
        "GET",
        "/api/v1/audit/consistency",
        Public,
        "Consistency proof between two tree sizes",
        get(api::audit::consistency)
    ),
    route!(
        "GET",
        "/api/v1/audit/events",
        Api,
        "Search audit events (privacy officers)",
        get(api::audit::search)
    ),
    route!(
        "GET",
        "/api/v1/audit/events/{access_id}/proof",
        Api,
        "Inclusion proof for one audit event",
        get(api::audit::proof)
    ),
    route!(
        "GET",
        "/api/v1/patients/{patient_id}/access-history",
        Api,
        "Who accessed this patient's records",
        get(api::audit::history)
    ),
    route!(
        "GET",
        "/",
        Public,
        "Front door",
        get(pages::home::front_door)
    ),
    route!(
        "GET",
        "/login",
        Public,
        "Sign-in page",
        get(pages::login::form)
    ),
    route!(
        "POST",
        "/login",
        Public,
        "Sign in",
        post(pages::login::submit)
    ),
    route!(
        "POST",
        "/logout",
        Page,
        "Sign out",
        post(pages::login::logout)
    ),
    route!(
        "GET",
        "/login/second-factor",
        Page,
        "Second step of signing in: a code, or authenticator enrolment (password-only session)",
        get(pages::second_factor::show)
    ),
    route!(
        "POST",
        "/login/second-factor",
        Page,
        "Present a code (password-only session)",
        post(pages::second_factor::verify)
    ),
    route!(
        "POST",
        "/login/second-factor/enrol",
        Page,
        "Confirm a new authenticator and show recovery codes (password-only session)",
        post(pages::second_factor::enrol)
    ),
    route!(
        "GET",
        "/account/sessions",
        Page,
        "Where the person is signed in",
        get(pages::account::sessions)
    ),
    route!(
        "POST",
        "/account/sessions/{session_id}/revoke",
        Page,
        "Sign out one of the person's sessions",
        post(pages::account::revoke)
    ),
    route!(
        "POST",
        "/account/sessions/revoke-others",
        Page,
        "Sign out every other session",
        post(pages::account::revoke_others)
    ),
    route!(
        "GET",
        "/home",
        Page,
        "Home for the signed-in person",
        get(pages::home::home)
    ),
    route!(
        "GET",
        "/patients",
        Page,
        "Patient search (staff)",
        get(pages::patients::search)
    ),
    route!(
        "GET",
        "/patients/{patient_id}",
        Page,
        "A patient's documents",
        get(pages::patients::documents)
    ),
    route!(
        "POST",
        "/patients/{patient_id}/documents",
        Page,
        "Upload a document",
        post(pages::documents::upload).layer(DefaultBodyLimit::disable())
    ),
    route!(
        "GET",
        "/documents/{document_id}",
        Page,
        "A document",
        get(pages::documents::view)
    ),
    route!(
        "GET",
        "/documents/{document_id}/content",
        Page,
        "View a document's content",
        get(pages::documents::content)
    ),
    route!(
        "GET",
        "/documents/{document_id}/download",
        Page,
        "Download a document",
        get(pages::documents::download)
    ),
    route!(
        "GET",
        "/operator",
        Page,
        "Platform overview (operators)",
        get(pages::home::operator)
    ),
    route!(
        "GET",
        "/patients/{patient_id}/access-history",
        Page,
        "Who accessed my records",
        get(pages::access::history)
    ),
    route!(
        "GET",
        "/patients/{patient_id}/access-history.csv",
        Page,
        "Access history as CSV",
        get(pages::access::history_csv)
    ),
    route!(
        "GET",
        "/audit",
        Page,
        "Audit search (privacy officers)",
        get(pages::access::search)
    ),
];

/// Builds the router from [`ROUTES`].
pub fn build(state: AppState) -> Router {
    let router = ROUTES.iter().fold(Router::new(), |router, spec| {
        router.route(spec.path, (spec.handler)())
    });
    router
        .fallback(api::health::not_found)
        .layer(axum::middleware::from_fn(crate::headers::security_headers))
        .with_state(state)
}
