//! Every route Tiaki serves, declared once. The router is built from this table, so a
//! route cannot exist without an entry here — and the BOLA matrix test walks this
//! table against its committed expectations, and the OpenAPI test checks the `Api`
//! rows against `/api/v1/openapi.json`.

use crate::{AppState, api, pages};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};

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
        "/static/passkeys.js",
        Public,
        "The passkey script (WebAuthn ceremonies)",
        get(pages::assets::passkeys_script)
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
        "POST",
        "/api/v1/sessions/current/step-up",
        Api,
        "Present a second factor for sensitive changes; answers a new token",
        post(api::factors::step_up)
    ),
    route!(
        "GET",
        "/api/v1/account/factors",
        Api,
        "The caller's passkeys, authenticator app and recovery codes left",
        get(api::factors::factors)
    ),
    route!(
        "POST",
        "/api/v1/account/recovery-codes",
        Api,
        "Replace the caller's recovery codes (needs step-up)",
        post(api::factors::new_recovery_codes)
    ),
    route!(
        "DELETE",
        "/api/v1/account/passkeys/{passkey_id}",
        Api,
        "Remove one of the caller's passkeys (needs step-up)",
        delete(api::factors::delete_passkey)
    ),
    route!(
        "GET",
        "/api/v1/trusted-devices",
        Api,
        "The caller's trusted devices",
        get(api::factors::devices)
    ),
    route!(
        "DELETE",
        "/api/v1/trusted-devices/{device_id}",
        Api,
        "Stop trusting one of the caller's devices",
        delete(api::factors::delete_device)
    ),
    route!(
        "GET",
        "/api/v1/me",
        Api,
        "The signed-in account",
        get(api::sessions::me)
    ),
    route!(
        "POST",
        "/api/v1/account/password",
        Api,
        "Change the caller's password (current password and a second factor)",
        post(api::password::change)
    ),
    route!(
        "GET",
        "/api/v1/account/email",
        Api,
        "The caller's email address",
        get(api::email::show)
    ),
    route!(
        "POST",
        "/api/v1/account/email",
        Api,
        "Add an email address (a confirmation link is sent to it)",
        post(api::email::add)
    ),
    route!(
        "POST",
        "/api/v1/account/email/verify",
        Public,
        "Confirm an email address with its link's token",
        post(api::email::verify)
    ),
    route!(
        "POST",
        "/api/v1/password-resets",
        Public,
        "Ask for a password-reset link (the same answer whether or not an account matches)",
        post(api::password::request_reset)
    ),
    route!(
        "POST",
        "/api/v1/password-resets/complete",
        Public,
        "Set a new password with a reset link's token",
        post(api::password::complete_reset)
    ),
    route!(
        "POST",
        "/api/v1/registrations",
        Public,
        "Register with an invitation from one's practice",
        post(api::invitations::register)
    ),
    route!(
        "GET",
        "/api/v1/patients/{patient_id}/invitations",
        Api,
        "A patient's registration status and invitations (staff)",
        get(api::invitations::list)
    ),
    route!(
        "POST",
        "/api/v1/patients/{patient_id}/invitations",
        Api,
        "Invite an enrolled patient to register (staff)",
        post(api::invitations::create)
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
        "POST",
        "/api/v1/documents/{document_id}/retrieval-request",
        Api,
        "Ask for an archived document back",
        post(api::archive::request_retrieval)
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
        "/api/v1/patients/{patient_id}/security-status",
        Api,
        "Whether an incident reached this patient's record",
        get(api::security_status::status)
    ),
    route!(
        "GET",
        "/api/v1/patients/{patient_id}/proxies",
        Api,
        "Who can act for this patient (the patient)",
        get(api::proxies::list)
    ),
    route!(
        "POST",
        "/api/v1/patients/{patient_id}/proxies",
        Api,
        "Let another account act for this patient (the patient; step-up)",
        post(api::proxies::grant)
    ),
    route!(
        "DELETE",
        "/api/v1/patients/{patient_id}/proxies/{grant_id}",
        Api,
        "End a proxy's access (the patient)",
        delete(api::proxies::revoke)
    ),
    route!(
        "GET",
        "/api/v1/patients/{patient_id}/guardians",
        Api,
        "A child's guardians (practice admin, clinician)",
        get(api::proxies::guardians)
    ),
    route!(
        "POST",
        "/api/v1/patients/{patient_id}/guardians",
        Api,
        "Give a guardian access to a child's record (practice admin, clinician; step-up)",
        post(api::proxies::add_guardian)
    ),
    route!(
        "DELETE",
        "/api/v1/patients/{patient_id}/guardians/{grant_id}",
        Api,
        "End a guardian's access (practice admin, clinician)",
        delete(api::proxies::end_guardian)
    ),
    route!(
        "GET",
        "/api/v1/me/acting-for",
        Api,
        "Whose records the caller may act for",
        get(api::proxies::acting_for)
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
        "/login/passkey/options",
        Public,
        "Options to sign in with a passkey alone (no username or password)",
        post(pages::passkeys::discover_options)
    ),
    route!(
        "POST",
        "/login/passkey",
        Public,
        "Sign in with a passkey alone",
        post(pages::passkeys::discover)
    ),
    route!(
        "POST",
        "/login/second-factor/enrol",
        Page,
        "Confirm a new authenticator and show recovery codes (password-only session)",
        post(pages::second_factor::enrol)
    ),
    route!(
        "POST",
        "/login/second-factor/confirm",
        Page,
        "Present an existing factor before registering a passkey (password-only session)",
        post(pages::second_factor::confirm)
    ),
    route!(
        "POST",
        "/login/second-factor/passkey/options",
        Page,
        "Options to sign in with a passkey (password-only session)",
        post(pages::passkeys::sign_in_options)
    ),
    route!(
        "POST",
        "/login/second-factor/passkey",
        Page,
        "Sign in with a passkey (password-only session)",
        post(pages::passkeys::sign_in)
    ),
    route!(
        "POST",
        "/login/second-factor/passkey/register/options",
        Page,
        "Options to register a first passkey (password-only session)",
        post(pages::passkeys::enrol_options)
    ),
    route!(
        "POST",
        "/login/second-factor/passkey/register",
        Page,
        "Register a first passkey and finish signing in (password-only session)",
        post(pages::passkeys::enrol)
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
        "POST",
        "/account/devices/{device_id}/revoke",
        Page,
        "Stop trusting one of the person's devices",
        post(pages::devices::revoke)
    ),
    route!(
        "GET",
        "/account/security",
        Page,
        "Passkeys, authenticator app and recovery codes",
        get(pages::security::show)
    ),
    route!(
        "POST",
        "/account/passkeys/options",
        Page,
        "Options to add a passkey (needs step-up)",
        post(pages::passkeys::add_options)
    ),
    route!(
        "POST",
        "/account/passkeys",
        Page,
        "Add a passkey (needs step-up)",
        post(pages::passkeys::add)
    ),
    route!(
        "POST",
        "/account/passkeys/{passkey_id}/remove",
        Page,
        "Remove a passkey (needs step-up)",
        post(pages::security::remove_passkey)
    ),
    route!(
        "POST",
        "/account/recovery-codes",
        Page,
        "Make new recovery codes (needs step-up)",
        post(pages::security::new_recovery_codes)
    ),
    route!(
        "GET",
        "/account/step-up",
        Page,
        "Confirm it's you before a sensitive change",
        get(pages::step_up::form)
    ),
    route!(
        "POST",
        "/account/step-up",
        Page,
        "Confirm it's you with a code",
        post(pages::step_up::submit)
    ),
    route!(
        "POST",
        "/account/step-up/passkey/options",
        Page,
        "Options to confirm it's you with a passkey",
        post(pages::passkeys::step_up_options)
    ),
    route!(
        "POST",
        "/account/step-up/passkey",
        Page,
        "Confirm it's you with a passkey",
        post(pages::passkeys::step_up)
    ),
    route!(
        "GET",
        "/account/password",
        Page,
        "Change your password",
        get(pages::password_change::form)
    ),
    route!(
        "POST",
        "/account/password",
        Page,
        "Change your password (current password and a code)",
        post(pages::password_change::change)
    ),
    route!(
        "GET",
        "/account/email",
        Page,
        "Your email address",
        get(pages::email::show)
    ),
    route!(
        "POST",
        "/account/email",
        Page,
        "Add an email address",
        post(pages::email::add)
    ),
    route!(
        "GET",
        "/account/email/verify",
        Public,
        "Confirm an email address (the emailed link)",
        get(pages::email::verify_form)
    ),
    route!(
        "POST",
        "/account/email/verify",
        Public,
        "Confirm an email address",
        post(pages::email::verify)
    ),
    route!(
        "GET",
        "/password-reset",
        Public,
        "Forgot your password",
        get(pages::password_reset::form)
    ),
    route!(
        "POST",
        "/password-reset",
        Public,
        "Ask for a password-reset link",
        post(pages::password_reset::request)
    ),
    route!(
        "GET",
        "/password-reset/complete",
        Public,
        "Choose a new password (the emailed link)",
        get(pages::password_reset::complete_form)
    ),
    route!(
        "POST",
        "/password-reset/complete",
        Public,
        "Set a new password",
        post(pages::password_reset::complete)
    ),
    route!(
        "GET",
        "/register",
        Public,
        "Register with an invitation",
        get(pages::register::form)
    ),
    route!(
        "POST",
        "/register",
        Public,
        "Create an account with an invitation",
        post(pages::register::register)
    ),
    route!(
        "GET",
        "/patients/{patient_id}/invitation",
        Page,
        "A patient's registration and invitations (staff)",
        get(pages::invitations::show)
    ),
    route!(
        "POST",
        "/patients/{patient_id}/invitation",
        Page,
        "Invite a patient to register (staff)",
        post(pages::invitations::invite)
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
        "POST",
        "/documents/{document_id}/retrieval-request",
        Page,
        "Ask for an archived document back",
        post(pages::documents::request_retrieval)
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
        "/operator/guard",
        Page,
        "The guard: alerts, containments, module switches (operators)",
        get(pages::guard::page)
    ),
    route!(
        "POST",
        "/operator/guard/contain",
        Page,
        "Contain an account (operators)",
        post(pages::guard::contain)
    ),
    route!(
        "POST",
        "/operator/guard/containments/{containment_id}/release",
        Page,
        "Release a containment with a reason (operators)",
        post(pages::guard::release)
    ),
    route!(
        "POST",
        "/operator/guard/modules/{module}",
        Page,
        "Set a module's kill switch (operators)",
        post(pages::guard::set_module)
    ),
    route!(
        "GET",
        "/api/v1/guard",
        Api,
        "The guard's alerts, containments and module switches (operators)",
        get(api::guard::overview)
    ),
    route!(
        "POST",
        "/api/v1/guard/containments",
        Api,
        "Contain an account (operators)",
        post(api::guard::contain)
    ),
    route!(
        "POST",
        "/api/v1/guard/containments/{containment_id}/release",
        Api,
        "Release a containment with a reason (operators)",
        post(api::guard::release)
    ),
    route!(
        "PUT",
        "/api/v1/guard/modules/{module}",
        Api,
        "Set a module's kill switch (operators)",
        put(api::guard::set_module)
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
        "/patients/{patient_id}/security-status",
        Page,
        "Security status",
        get(pages::security_status::status)
    ),
    route!(
        "GET",
        "/patients/{patient_id}/proxies",
        Page,
        "Who can act for me",
        get(pages::proxies::proxies)
    ),
    route!(
        "POST",
        "/patients/{patient_id}/proxies",
        Page,
        "Let someone act for me (step-up)",
        post(pages::proxies::grant)
    ),
    route!(
        "POST",
        "/patients/{patient_id}/proxies/{grant_id}/revoke",
        Page,
        "End someone's access to act for me",
        post(pages::proxies::revoke)
    ),
    route!(
        "GET",
        "/patients/{patient_id}/guardians",
        Page,
        "A child's guardians (practice admin, clinician)",
        get(pages::proxies::guardians)
    ),
    route!(
        "POST",
        "/patients/{patient_id}/guardians",
        Page,
        "Give a guardian access (practice admin, clinician; step-up)",
        post(pages::proxies::add_guardian)
    ),
    route!(
        "POST",
        "/patients/{patient_id}/guardians/{grant_id}/end",
        Page,
        "End a guardian's access (practice admin, clinician)",
        post(pages::proxies::end_guardian)
    ),
    route!(
        "GET",
        "/acting-for",
        Page,
        "People I can act for",
        get(pages::proxies::acting_for)
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
